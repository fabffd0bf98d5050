package backup

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestStateRoundTrip(t *testing.T) {
	for _, want := range []time.Time{
		time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC),
		time.Date(2021, 7, 21, 16, 49, 37, 123e6, time.UTC),
		time.Unix(0, 0).UTC(),
	} {
		text := FormatState(want)
		if !strings.HasSuffix(text, "\n") || !strings.Contains(text, want.Format(time.RFC3339)) {
			t.Errorf("FormatState(%v) = %q: want epoch ms, a readable date and a newline", want, text)
		}
		got, err := ParseState(text)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseState(%q) = %v, %v; want %v", text, got, err, want)
		}
	}
	// Below a millisecond is not kept: the API speaks milliseconds.
	fine := time.Date(2026, 1, 1, 0, 0, 0, 1_500_000, time.UTC)
	if got, _ := ParseState(FormatState(fine)); !got.Equal(fine.Truncate(time.Millisecond)) {
		t.Errorf("sub-millisecond state read back as %v", got)
	}
	// A time zone other than UTC gives the same instant.
	paris := time.FixedZone("CET", 3600)
	if got, _ := ParseState(FormatState(time.Date(2026, 1, 1, 1, 0, 0, 0, paris))); !got.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("state in CET read back as %v", got)
	}
}

func TestParseState(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"1767657600000", time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)},
		{"  1767657600000 \n", time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)},
		{"1767657600000 2026-01-06T00:00:00Z", time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)},
		{"1767657600000 anything after the first field is a comment", time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)},
		{"2021-07-21T16:49:37.000+0000", time.Date(2021, 7, 21, 16, 49, 37, 0, time.UTC)},
		{"2021-07-21T18:49:37+02:00", time.Date(2021, 7, 21, 16, 49, 37, 0, time.UTC)},
	} {
		got, err := ParseState(tc.in)
		if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("ParseState(%q) = %v, %v; want %v in UTC", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", " \n", "yesterday", "1767657600000x", "2026-01-06", "12:00"} {
		if got, err := ParseState(bad); err == nil {
			t.Errorf("ParseState(%q) = %v, want an error", bad, got)
		}
	}
}

func FuzzParseState(f *testing.F) {
	for _, seed := range []string{"1767657600000 2026-01-06T00:00:00Z\n", "0", "-1", "2021-07-21T16:49:37.000+0000", "", "9223372036854775807"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseState(s)
		if err != nil {
			return
		}
		// What was read is written back and read again as the same
		// millisecond.
		again, err := ParseState(FormatState(got))
		if err != nil || !again.Equal(got.Truncate(time.Millisecond)) {
			t.Fatalf("ParseState(%q) = %v, but its FormatState reads back as %v, %v", s, got, again, err)
		}
	})
}

const sampleRecord = `{"id":"R1","callerPhoneNumber":"+19059683343","startTime":"2021-07-21T16:49:00.000+0000",` +
	`"eventHistory":[{"event":"Joined"}],"mediaFiles":[{"mediaId":"a.mp3","size":10}],"region":"usw1"}`

func keysOf(t *testing.T, doc []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.Token()
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestFilterRecord(t *testing.T) {
	all := []string{"id", "callerPhoneNumber", "startTime", "eventHistory", "mediaFiles", "region"}
	for _, tc := range []struct {
		name             string
		include, exclude []string
		want             []string
	}{
		{"no lists: everything, in the server's order", nil, nil, all},
		{"include keeps id and mediaFiles too", []string{"region"}, nil, []string{"id", "mediaFiles", "region"}},
		{"include of a missing key", []string{"nothere"}, nil, []string{"id", "mediaFiles"}},
		{"exclude", nil, []string{"eventHistory", "callerPhoneNumber"}, []string{"id", "startTime", "mediaFiles", "region"}},
		{"exclude cannot drop id or mediaFiles", nil, []string{"id", "mediaFiles"}, all},
		{"exclude wins over include", []string{"region", "startTime"}, []string{"region"}, []string{"id", "startTime", "mediaFiles"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := filterRecord(json.RawMessage(sampleRecord), tc.include, tc.exclude)
			if err != nil {
				t.Fatal(err)
			}
			if got := keysOf(t, out); !slices.Equal(got, tc.want) {
				t.Errorf("keys %v, want %v", got, tc.want)
			}
			if !bytes.HasSuffix(out, []byte("}\n")) || !bytes.Contains(out, []byte("\n  \"id\": \"R1\"")) {
				t.Errorf("not indented as the guide prints records:\n%s", out)
			}
			// Values are kept as the server sent them.
			var rec struct {
				MediaFiles []struct {
					MediaID string
					Size    int
				}
			}
			if err := json.Unmarshal(out, &rec); err != nil || len(rec.MediaFiles) != 1 || rec.MediaFiles[0].MediaID != "a.mp3" || rec.MediaFiles[0].Size != 10 {
				t.Errorf("mediaFiles changed: %+v, %v", rec, err)
			}
		})
	}
	// A repeated key keeps its first place and its last value, as a JSON
	// reader would see it.
	out, err := filterRecord(json.RawMessage(`{"id":"R1","a":1,"b":2,"a":3}`), nil, nil)
	if err != nil || !slices.Equal(keysOf(t, out), []string{"id", "a", "b"}) || !bytes.Contains(out, []byte(`"a": 3`)) {
		t.Errorf("repeated key: %s, %v", out, err)
	}
	for _, bad := range []string{`[]`, `"id"`, `{"id":`, ``, `{"id" "R1"}`} {
		if out, err := filterRecord(json.RawMessage(bad), nil, nil); err == nil {
			t.Errorf("filterRecord(%q) = %s, want an error", bad, out)
		}
	}
}

func FuzzFilterRecord(f *testing.F) {
	f.Add(sampleRecord, "region", "eventHistory")
	f.Add(`{"id":"x","mediaFiles":null}`, "", "id")
	f.Add(`{"a":{"b":[1,2,{"c":"\u00e9"}]}}`, "a", "")
	f.Fuzz(func(t *testing.T, doc, include, exclude string) {
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, ",")
		}
		out, err := filterRecord(json.RawMessage(doc), split(include), split(exclude))
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("output is not a JSON object: %v\n%s", err, out)
		}
		var in map[string]json.RawMessage
		if json.Unmarshal([]byte(doc), &in) == nil {
			for _, k := range []string{"id", "mediaFiles"} {
				if _, had := in[k]; had {
					if _, kept := m[k]; !kept {
						t.Fatalf("%s dropped", k)
					}
				}
			}
		}
	})
}

func TestCheckTenant(t *testing.T) {
	for _, ok := range []string{"acme", "demo", "Tenant-1", "a.b", ".hidden"} {
		if err := CheckTenant(ok); err != nil {
			t.Errorf("CheckTenant(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{
		"", ".", "..", "../../x", "a/b", `a\b`, "/abs", "x\x00y", "C:", "con", "NUL", "LPT1.txt",
		StateFile, strings.ToUpper(StateFile), LockFile, VerifiedFile, "x.partial", "trailing.", " lead",
	} {
		err := CheckTenant(bad)
		if err == nil {
			t.Errorf("CheckTenant(%q) accepted it", bad)
		} else if !strings.Contains(err.Error(), "tenant name") {
			t.Errorf("CheckTenant(%q): %q does not say what is wrong", bad, err)
		}
	}
	if err := CheckTenant("rcbs.log", "rcbs.log"); err == nil {
		t.Error("a reserved name given by the caller was accepted")
	}
}

func TestWithin(t *testing.T) {
	root := filepath.Join("srv", "target")
	for _, ok := range []string{
		filepath.Join(root, "acme", "2026", "R1"),
		filepath.Join(root, "acme", "R1", "m.mp3"),
		filepath.Join(root, "acme", "..", "acme", "R1"),
	} {
		if err := within(root, ok); err != nil {
			t.Errorf("within(%q, %q): %v", root, ok, err)
		}
	}
	for _, bad := range []string{
		root,
		filepath.Join(root, ".."),
		filepath.Join(root, "..", "x"),
		filepath.Join(root, "acme", "..", "..", "x"),
		filepath.Join("srv", "target2", "x"),
		"elsewhere",
	} {
		if err := within(root, bad); err == nil {
			t.Errorf("within(%q, %q) accepted it", root, bad)
		}
	}
}

func TestNextState(t *testing.T) {
	at := func(h int) time.Time {
		return time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC).Add(time.Duration(h) * time.Hour)
	}
	ptr := func(t time.Time) *time.Time { return &t }
	for _, tc := range []struct {
		name               string
		previous           *time.Time
		from, to           time.Time
		pending            *time.Time
		want               time.Time
		write, held, noted bool
	}{
		{"no state yet", nil, at(0), at(24), nil, at(24), true, false, false},
		{"no state yet, pending", nil, at(0), at(24), ptr(at(5)), at(5), true, false, true},
		{"continues the stored end", ptr(at(10)), at(4), at(24), nil, at(24), true, false, false},
		{"begins exactly at the stored end", ptr(at(10)), at(10), at(24), nil, at(24), true, false, false},
		{"a gap: maxDate after the stored end", ptr(at(10)), at(11), at(24), nil, at(10), false, true, true},
		{"a gap, pending too", ptr(at(10)), at(11), at(24), ptr(at(12)), at(10), false, true, true},
		{"an older period never moves it back", ptr(at(30)), at(0), at(24), nil, at(30), false, false, true},
		{"pending holds it", ptr(at(10)), at(4), at(24), ptr(at(15)), at(15), true, false, true},
		{"pending before the stored end holds it there", ptr(at(10)), at(4), at(24), ptr(at(6)), at(6), true, false, true},
		{"same end again", ptr(at(24)), at(0), at(24), nil, at(24), false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := NextState(tc.previous, tc.from, tc.to, tc.pending)
			if !got.Time.Equal(tc.want) || got.Write != tc.write || got.Held != tc.held || (got.Note != "") != tc.noted {
				t.Errorf("NextState = %+v; want time %v, write %v, held %v, note %v", got, tc.want, tc.write, tc.held, tc.noted)
			}
		})
	}
}

func TestPartialName(t *testing.T) {
	for _, final := range []string{
		filepath.Join("target", "acme", "2021", "07", "21", "16", "R1", "a.mp3"),
		filepath.Join("target", "acme", "R1", "R1.json"),
		filepath.Join("target", StateFile),
	} {
		p := partialName(final)
		if filepath.Dir(p) != filepath.Dir(final) {
			t.Errorf("partialName(%q) = %q: not in the same directory, so the rename would not be atomic", final, p)
		}
		base := filepath.Base(p)
		if !strings.HasPrefix(base, ".") || !strings.HasSuffix(base, ".partial") || !strings.Contains(base, filepath.Base(final)) {
			t.Errorf("partialName(%q) = %q: want hidden, named after the file, ending .partial", final, p)
		}
		if p == final {
			t.Errorf("partialName(%q) is the final name", final)
		}
	}
	// Two files never share a temporary name.
	if partialName("d/a") == partialName("d/b") {
		t.Error("two files share a temporary name")
	}
}

func TestFilterRecordDropsBackupState(t *testing.T) {
	rec := `{"id":"R1","mediaFiles":[],"legalHolds":["h1"],"backedUp":true,"backedUpAt":"2026-12-01T11:00:00Z","backedUpBy":"rcbs"}`
	for _, include := range [][]string{nil, {"backedUp", "legalHolds"}} {
		out, err := filterRecord(json.RawMessage(rec), include, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := keysOf(t, out); !slices.Equal(got, []string{"id", "mediaFiles", "legalHolds"}) {
			t.Errorf("include %v: keys %v", include, got)
		}
	}
}
