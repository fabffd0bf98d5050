package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestManifestNames(t *testing.T) {
	at := time.Date(2026, 12, 1, 11, 2, 3, 999e6, time.FixedZone("CET", 3600))
	if got := ManifestName(at, 1); got != "20261201T100203Z.jsonl" {
		t.Errorf("ManifestName = %s", got)
	}
	if got := ManifestName(at, 2); got != "20261201T100203Z_2.jsonl" {
		t.Errorf("ManifestName n=2 = %s", got)
	}
	names := []string{"20261201T100203Z_10.jsonl", "20261201T100204Z.jsonl", "20261201T100203Z_2.jsonl", "20261201T100203Z.jsonl", "20251231T235959Z.jsonl"}
	slices.SortFunc(names, compareManifestNames)
	want := []string{"20251231T235959Z.jsonl", "20261201T100203Z.jsonl", "20261201T100203Z_2.jsonl", "20261201T100203Z_10.jsonl", "20261201T100204Z.jsonl"}
	if !slices.Equal(names, want) {
		t.Errorf("sorted %v, want %v", names, want)
	}
	for _, bad := range []string{"x.jsonl", "20261201T100203Z_1.jsonl", "20261201T100203Z_02.jsonl", "20261301T100203Z.jsonl", "20261201T100203Z.json", "20261201T100203Z_.jsonl"} {
		if _, _, ok := parseManifestName(bad); ok {
			t.Errorf("%s read as a manifest name", bad)
		}
	}
	// After the newest, whatever the clock says.
	complete := []string{"20261201T100203Z.jsonl", "20261201T100203Z_2.jsonl"}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 12, 1, 10, 2, 3, 0, time.UTC), "20261201T100203Z_3.jsonl"},
		{time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), "20261201T100203Z_3.jsonl"},
		{time.Date(2026, 12, 1, 10, 2, 4, 0, time.UTC), "20261201T100204Z.jsonl"},
	} {
		if got := nextManifestName(complete, tc.at); got != tc.want {
			t.Errorf("nextManifestName(%v) = %s, want %s", tc.at, got, tc.want)
		}
	}
}

// readManifestFile splits a manifest into its file lines and its seal.
func readManifestFile(t *testing.T, path string) ([]ManifestLine, ManifestSeal, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] != "" {
		t.Fatalf("%s does not end in a newline", path)
	}
	lines = lines[:len(lines)-1]
	var out []ManifestLine
	for _, l := range lines[:len(lines)-1] {
		ml, ok := parseFileLine([]byte(strings.TrimSuffix(l, "\n")))
		if !ok {
			t.Fatalf("%s: not a file line: %q", path, l)
		}
		out = append(out, ml)
	}
	s, ok := parseSeal([]byte(strings.TrimSuffix(lines[len(lines)-1], "\n")))
	if !ok {
		t.Fatalf("%s: last line is no seal: %q", path, lines[len(lines)-1])
	}
	return out, s, b
}

func sumHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestManifestChain(t *testing.T) {
	tenant := t.TempDir()
	t0 := time.Date(2026, 12, 1, 11, 2, 3, 0, time.UTC)

	// Nothing written: no manifest, no folder.
	if name, err := NewManifest(tenant, t0).Close(t0); err != nil || name != "" {
		t.Fatalf("empty run: %q, %v", name, err)
	}
	if _, err := os.Stat(filepath.Join(tenant, ManifestDir)); err == nil {
		t.Error("an empty run created the manifests folder")
	}

	first := NewManifest(tenant, t0)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := first.Add(ManifestLine{Path: "2026/12/01/11/R/m" + string(rune('a'+i)), Size: int64(i), SHA256: sumHex([]byte{byte(i)}), RecordingID: "R", MediaID: "m"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	name1, err := first.Close(t0.Add(time.Minute))
	if err != nil || name1 != "20261201T110303Z.jsonl" {
		t.Fatalf("first manifest %q, %v", name1, err)
	}
	lines, seal, b1 := readManifestFile(t, filepath.Join(tenant, ManifestDir, name1))
	if len(lines) != 20 || seal.Files != 20 || seal.PrevManifest != "" || seal.PrevSHA256 != "" {
		t.Errorf("first: %d lines, seal %+v", len(lines), seal)
	}
	if body := b1[:bytes.LastIndexByte(b1[:len(b1)-1], '\n')+1]; seal.LinesSHA256 != sumHex(body) {
		t.Errorf("linesSha256 %s, want %s", seal.LinesSHA256, sumHex(body))
	}

	// A second run ending in the same second.
	second := NewManifest(tenant, t0.Add(time.Minute))
	second.Add(ManifestLine{Path: "2026/12/01/11/R/R.json", Size: 3, SHA256: sumHex([]byte("{}\n")), RecordingID: "R"})
	name2, err := second.Close(t0.Add(time.Minute))
	if err != nil || name2 != "20261201T110303Z_2.jsonl" {
		t.Fatalf("second manifest %q, %v", name2, err)
	}
	_, seal2, _ := readManifestFile(t, filepath.Join(tenant, ManifestDir, name2))
	if seal2.PrevManifest != name1 || seal2.PrevSHA256 != sumHex(b1) || seal2.Files != 1 {
		t.Errorf("second seal %+v, want it chained to %s (%s)", seal2, name1, sumHex(b1))
	}
	if _, partial, _, _ := manifestFiles(filepath.Join(tenant, ManifestDir)); len(partial) > 0 {
		t.Errorf("partials left: %v", partial)
	}
	// The line as written: contentSha256 and mediaId only when known.
	raw, _ := os.ReadFile(filepath.Join(tenant, ManifestDir, name2))
	if first := strings.SplitN(string(raw), "\n", 2)[0]; strings.Contains(first, "mediaId") || strings.Contains(first, "contentSha256") {
		t.Errorf("record line %s", first)
	}
}

func TestSealPartials(t *testing.T) {
	tenant := t.TempDir()
	t0 := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	m := NewManifest(tenant, t0)
	m.Add(ManifestLine{Path: "a/R/R.json", Size: 1, SHA256: sumHex([]byte("x")), RecordingID: "R"})
	name1, err := m.Close(t0)
	if err != nil {
		t.Fatal(err)
	}
	// A run killed after two lines and half of a third.
	killed := NewManifest(tenant, t0.Add(time.Hour))
	for _, p := range []string{"a/S/s.mp3", "a/S/S.json"} {
		if err := killed.Add(ManifestLine{Path: p, Size: 2, SHA256: sumHex([]byte(p)), RecordingID: "S"}); err != nil {
			t.Fatal(err)
		}
	}
	const torn = `{"path":"a/S/t.mp3","si`
	killed.f.Write([]byte(torn))
	killed.f.Close()
	partial := killed.partial
	whole, _ := os.ReadFile(partial)
	whole = whole[:bytes.LastIndexByte(whole, '\n')+1]
	lastWrite := time.Date(2026, 12, 1, 12, 30, 15, 0, time.UTC)
	os.Chtimes(partial, lastWrite, lastWrite)
	// And an empty one.
	empty := filepath.Join(tenant, ManifestDir, "20261201T130000Z.jsonl.partial")
	os.WriteFile(empty, nil, 0o644)

	sealed, err := SealPartials(tenant)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != 2 || sealed[0].Name != "20261201T123015Z.jsonl" || sealed[0].Files != 2 || sealed[0].Dropped != int64(len(torn)) || sealed[1].Name != "" {
		t.Fatalf("sealed %+v", sealed)
	}
	lines, seal, _ := readManifestFile(t, filepath.Join(tenant, ManifestDir, sealed[0].Name))
	b1, _ := os.ReadFile(filepath.Join(tenant, ManifestDir, name1))
	if len(lines) != 2 || !seal.Recovered || seal.PrevManifest != name1 || seal.PrevSHA256 != sumHex(b1) || seal.LinesSHA256 != sumHex(whole) {
		t.Errorf("sealed manifest: %d lines, seal %+v", len(lines), seal)
	}
	for _, p := range []string{partial, empty} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left", p)
		}
	}
	// The next run chains after it.
	next := NewManifest(tenant, lastWrite)
	next.Add(ManifestLine{Path: "a/T/T.json", Size: 1, SHA256: sumHex([]byte("y")), RecordingID: "T"})
	name3, err := next.Close(t0) // a clock that went back
	if err != nil || compareManifestNames(name3, sealed[0].Name) <= 0 {
		t.Fatalf("next manifest %q after %s: %v", name3, sealed[0].Name, err)
	}
	res := &CheckResult{}
	if _, err := checkChain(tenant, res); err != nil || len(res.Problems) != 0 || res.Manifests != 3 {
		t.Errorf("chain: %v %+v", err, res)
	}
}

func TestManifestLineJSON(t *testing.T) {
	b, _ := json.Marshal(ManifestLine{Path: "p", Size: 1, SHA256: "s", ContentSHA256: "c", RecordingID: "r", MediaID: "m"})
	if string(b) != `{"path":"p","size":1,"sha256":"s","contentSha256":"c","recordingId":"r","mediaId":"m"}` {
		t.Errorf("%s", b)
	}
	b, _ = json.Marshal(ManifestSeal{LinesSHA256: "l", Files: 2})
	if string(b) != `{"prevManifest":"","prevSha256":"","linesSha256":"l","files":2}` {
		t.Errorf("%s", b)
	}
}

func TestCheckFolderRoot(t *testing.T) {
	for _, bad := range []string{"manifests", "Manifests/2026", ".rcbs-receipts.jsonl/x", "..RCBS-receipts.jsonl.partial"} {
		if CheckFolderRoot(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, ok := range []string{"2026/12/01", "manifests2026/x", "x/manifests"} {
		if err := CheckFolderRoot(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}
