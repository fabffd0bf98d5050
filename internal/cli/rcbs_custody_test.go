package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestRCBSReceiptsReachTheServer: after a backup every recording rcbs
// verified is backedUp on the server, by the backup's user; a recording
// whose media rcbs left out (mediaTypePattern) is not.
func TestRCBSReceiptsReachTheServer(t *testing.T) {
	e := newVaultEnv(t, true)
	day := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	e.putRecording("B1", day.Add(9*time.Hour), testMedia{"b1.mp3", "audio/mp3", plaintext(11, 4000)})
	e.putRecording("B2", day.Add(10*time.Hour), testMedia{"b2.mp3", "audio/mp3", plaintext(12, 4000)}, testMedia{"b2.mp4", "video/mp4", plaintext(13, 4000)})
	target := t.TempDir()
	cfg := rcbsConfig(t, e.baseConfig("", target, "maxDate", "2026-03-04", "minDate", "2026-03-05", "mediaTypePattern", "audio/.*")...)
	_, r := backupOK(t, cfg, nil)
	if !strings.Contains(r.stdout, "receipts: 1 accepted, 0 rejected, 0 pending") {
		t.Fatalf("rcbs output:\n%s", r.stdout)
	}
	backedUp := func(id string) map[string]any {
		status, body := e.call("GET", "/api/v2/recordings/"+id, "", nil)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", id, status, body)
		}
		var rec map[string]any
		json.Unmarshal(body, &rec)
		return rec
	}
	if rec := backedUp("B1"); rec["backedUp"] != true || rec["backedUpBy"] != "admin" {
		t.Fatalf("B1 after its backup: backedUp %v by %v", rec["backedUp"], rec["backedUpBy"])
	}
	if rec := backedUp("B2"); rec["backedUp"] != false {
		t.Fatalf("B2, whose video rcbs left out, is backedUp %v", rec["backedUp"])
	}
	// The whole of B2 backed up by a run without the pattern.
	target2 := t.TempDir()
	cfg2 := rcbsConfig(t, e.baseConfig("", target2, "maxDate", "2026-03-04", "minDate", "2026-03-05")...)
	_, r = backupOK(t, cfg2, nil)
	if !strings.Contains(r.stdout, "receipts: 3 accepted") {
		t.Fatalf("rcbs output:\n%s", r.stdout)
	}
	if rec := backedUp("B2"); rec["backedUp"] != true {
		t.Fatalf("B2 after a full backup: backedUp %v", rec["backedUp"])
	}
	// And the server's audit trail has the batches.
	status, body := e.call("GET", "/api/v2/audit?action=backup.receipt", "", nil)
	if status != 200 || strings.Count(string(body), `"action":"backup.receipt"`) < 2 {
		t.Fatalf("audit of receipts: %d %s", status, body)
	}
}
