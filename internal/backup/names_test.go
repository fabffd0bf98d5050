package backup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"callvault/internal/apiclient"
)

func TestSameName(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"A.mp3", "a.mp3", true},
		{"R1.JSON", "r1.json", true},
		{"caf\u00e9.mp3", "cafe\u0301.mp3", true}, // NFC and NFD
		{"CAF\u00c9.mp3", "cafe\u0301.mp3", true}, // and case
		{"\u212a.mp3", "k.mp3", true},             // KELVIN SIGN folds to k
		{"\u03a3.mp3", "\u03c2.mp3", true},        // Σ and final ς
		{"a.mp3", "b.mp3", false},
		{"stra\u00dfe", "strasse", false}, // full case folding is not applied
		{"a.mp3", "a.mp3 ", false},
	} {
		if got := SameName(tc.a, tc.b); got != tc.same {
			t.Errorf("SameName(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
		if got := nameKey(tc.a) == nameKey(tc.b); got != tc.same {
			t.Errorf("nameKey(%q) == nameKey(%q) is %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}

func TestCheckMediaNames(t *testing.T) {
	rec := func(ids ...string) apiclient.Recording {
		r := apiclient.Recording{ID: "R1"}
		for _, id := range ids {
			r.MediaFiles = append(r.MediaFiles, apiclient.MediaFile{MediaID: id})
		}
		return r
	}
	for _, ok := range [][]string{nil, {"a.mp3"}, {"a.mp3", "b.mp3", "a.mp4"},
		// Ids refused one by one are never written: no collision.
		{"R1.json", "r1.JSON"}, {"x.partial", "X.PARTIAL"}} {
		if err := checkMediaNames(rec(ok...)); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, tc := range []struct {
		ids  []string
		says string
	}{
		{[]string{"A.mp3", "a.mp3"}, `media ids "A.mp3" and "a.mp3" differ only in case`},
		{[]string{"x.mp3", "caf\u00e9.mp3", "cafe\u0301.mp3"}, "differ only in case or Unicode normalisation"},
		{[]string{"a.mp3", "b.mp3", "a.mp3"}, `lists media id "a.mp3" twice`},
	} {
		err := checkMediaNames(rec(tc.ids...))
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%q: %v, want it to say %q", tc.ids, err, tc.says)
		}
	}
	// <id>.json in another normalisation is refused on its own.
	if err := checkMediaID("caf\u00e9", "cafe\u0301.json"); err == nil {
		t.Error("checkMediaID accepted the record's file name in NFD")
	}
	if err := checkMediaID("R1", "R1.json.mp3"); err != nil {
		t.Errorf("checkMediaID(R1.json.mp3): %v", err)
	}
}

// What a disk that ignores case shows recording r1 when R1 was backed up
// first: the folder's r1.json is R1.json, holding R1's record.
func TestCheckFolderOwner(t *testing.T) {
	dir := t.TempDir()
	if err := checkFolderOwner(dir, "r1"); err != nil {
		t.Errorf("no record yet: %v", err)
	}
	write := func(content string) {
		if err := os.WriteFile(filepath.Join(dir, "r1.json"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"id": "r1", "mediaFiles": []}`)
	if err := checkFolderOwner(dir, "r1"); err != nil {
		t.Errorf("its own record: %v", err)
	}
	for content, says := range map[string]string{
		`{"id": "R1", "mediaFiles": []}`: `is the record of "R1", not of "r1"`,
		`{"id": "r1\u0301"}`:             "not of",
		`{"mediaFiles": []}`:             "no readable id",
		`not json`:                       "no readable id",
		`{"id": 1}`:                      "no readable id",
		`{"id": "r1", "id": "R1", "mediaFiles":[]}`: `is the record of "R1"`,
	} {
		write(content)
		err := checkFolderOwner(dir, "r1")
		if !errors.Is(err, ErrFolderOwned) || !strings.Contains(err.Error(), says) {
			t.Errorf("%s: %v, want ErrFolderOwned saying %q", content, err, says)
		}
	}
}
