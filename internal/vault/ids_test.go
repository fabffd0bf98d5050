package vault_test

import (
	"path/filepath"
	"strings"
	"testing"

	"callvault/internal/vault"
)

func TestCheckID(t *testing.T) {
	for _, ok := range []string{
		"011AP643CSAPR4FKQGQE31TAES0001TH",
		"011AP643CSAPR4FKQGQE31TAES0001TH_2015-09-01_16-42-58-006B015E-10003E55-00000001.mp3",
		"call.mp3", "a b.mp4", "x.json", "R1.json.bak", "CONSOLE", "COM10", "lpt", "données.mp3", "a.b.c",
	} {
		if err := vault.CheckID("id", ok); err != nil {
			t.Errorf("CheckID(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{
		"", ".", "..", "a..b", "../x", "a/b", `a\b`, "a\x00b", "a\nb", "a\x7fb", "a:b", "C:", "a*b", "a?b", `a"b`,
		"a<b", "a>b", "a|b", "end.", "end ", " start", "CON", "con", "Con.mp3", "NUL", "nul.txt", "PRN", "AUX",
		"COM1", "com9.mp3", "LPT1", "lpt3.log", "COM¹", "CONIN$", "x.partial", "X.PARTIAL", ".rcbs-verified.json",
		strings.Repeat("a", 201), "\xff\xfe",
	} {
		if err := vault.CheckID("media id", bad); err == nil {
			t.Errorf("CheckID(%q) accepted it", bad)
		} else if vault.ErrorCode(err) != vault.EINVALID || !strings.HasPrefix(err.Error(), "media id") {
			t.Errorf("CheckID(%q) = %v: want an invalid error naming the id", bad, err)
		}
	}
	if err := vault.CheckMediaID("mediaId", "R1", "R1.json"); err == nil {
		t.Error("CheckMediaID accepts the recording's metadata file name")
	}
	if err := vault.CheckMediaID("mediaId", "R1", "R2.json"); err != nil {
		t.Errorf("CheckMediaID(R1, R2.json): %v", err)
	}
}

// FuzzCheckID: whatever CheckID accepts stays one path element inside
// its folder on every OS rcbs runs on.
func FuzzCheckID(f *testing.F) {
	for _, seed := range []string{"call.mp3", "../x", "a/b", `a\b`, "CON", "a:b", "x.partial", "R1.json", "", "é.mp3"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if vault.CheckID("id", id) != nil {
			return
		}
		dir := filepath.Join("target", "tenant")
		joined := filepath.Join(dir, id)
		if filepath.Dir(joined) != dir || filepath.Base(joined) != id {
			t.Fatalf("accepted %q leaves its folder: %q", id, joined)
		}
		if len("."+id+".json.partial") > 255 {
			t.Fatalf("accepted %q: rcbs's partial name of its record would be longer than 255 bytes", id)
		}
		if strings.ContainsAny(id, `/\:*?"<>|`) || strings.HasSuffix(id, ".") || strings.HasSuffix(id, " ") {
			t.Fatalf("accepted %q that Windows cannot hold as a file name", id)
		}
		if lower := strings.ToLower(id); strings.HasSuffix(lower, ".json") {
			if recordingID := id[:len(id)-len(".json")]; vault.CheckMediaID("mediaId", recordingID, id) == nil {
				t.Fatalf("CheckMediaID accepted %q, the metadata file name of recording %q", id, recordingID)
			}
		}
	})
}
