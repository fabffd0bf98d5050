package record

import (
	"encoding/json"
	"testing"
	"time"

	"callvault/internal/vault"
)

func FuzzParse(f *testing.F) {
	f.Add(example1ID, readExample(f, 1))
	f.Add(example2ID, readExample(f, 2))
	f.Add("R", []byte(`{"mediaFiles":[{"mediaID":"m","startTime":"2021-07-21T16:49:00Z"}],"eventHistory":[{"event":"Left","contact":{"type":"User","userName":"u"}}]}`))
	f.Add("R", []byte(`{"eventHistory":[{"event":"Data","data":{"deleted":{"GRECORD_PARTITIONS":"/a,/b"}}}]}`))
	f.Add("R", []byte(`[]`))
	f.Fuzz(func(t *testing.T, id string, body []byte) {
		doc, err := Parse(id, body)
		if err != nil {
			if vault.ErrorCode(err) != vault.EINVALID {
				t.Fatalf("Parse error %v, want EINVALID", err)
			}
			return
		}
		merged, err := Merge(nil, doc)
		if err != nil {
			t.Fatalf("Merge(nil, doc): %v", err)
		}
		if !json.Valid(merged) {
			t.Fatalf("Merge gave invalid JSON: %s", merged)
		}
		if _, err := IndexOf(merged); err != nil {
			t.Fatalf("IndexOf: %v", err)
		}
		again, err := Merge(merged, doc)
		if err != nil || string(again) != string(merged) {
			t.Fatalf("Merge not idempotent: %v\n%s\n%s", err, merged, again)
		}
		if _, err := Parse(id, merged); err != nil {
			t.Fatalf("merged record does not parse: %v\n%s", err, merged)
		}
		media := []vault.Media{{RecordingID: id, MediaID: "m", Type: "audio/mp3", Size: 1}}
		if out, err := Render(merged, id, media, func(m string) string { return "/media/" + m }); err != nil || !json.Valid(out) {
			t.Fatalf("Render: %v\n%s", err, out)
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2021-07-21T16:49:00.000+0000", "2021-07-21T16:49:00Z", "2021-07-21T16:49:00+00:00",
		"2021-07-21T16:49:00.123456789-07:30", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s)
		if err != nil {
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) not in UTC: %v", s, got)
		}
		back, err := ParseTime(got.Format(time.RFC3339Nano))
		if err != nil || !back.Equal(got) {
			t.Fatalf("ParseTime(%q) = %v does not round-trip: %v, %v", s, got, back, err)
		}
	})
}
