package cli

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"callvault/internal/apiclient"
	"callvault/internal/backup"
)

// TestRCBSReceipts: rcbs sends a receipt for each media file of a
// recording whose files are all verified on disk, none for one with a
// media file left out by mediaTypePattern; receipts the server cannot
// take (503) are kept for the next run, which sends them first; rejected
// ones are logged and dropped; a server without the endpoint (404) stops
// the sending with one log line. The backup itself succeeds throughout.
func TestRCBSReceipts(t *testing.T) {
	shortRetries(t)
	rcbsReceiptWait = 500 * time.Millisecond
	rcbsReceiptBackoff = func(int) time.Duration { return 20 * time.Millisecond }
	t.Cleanup(func() { rcbsReceiptWait, rcbsReceiptBackoff = 30*time.Second, nil })

	h := newHostileServer(t)
	h.add("R1", hostileStop,
		&hostileMedia{id: "r1.mp3", mediaType: "audio/mp3", data: []byte("cms r1 voice"), certAlias: "c1"},
		&hostileMedia{id: "r1.mp4", mediaType: "video/mp4", data: []byte("cms r1 screen"), certAlias: "c1"})
	h.add("R2", hostileStop.Add(time.Minute), &hostileMedia{id: "r2.mp3", mediaType: "audio/mp3", data: []byte("cms r2"), certAlias: "c1"})
	// Not all of R3 is backed up: no receipt.
	h.add("R3", hostileStop.Add(2*time.Minute),
		&hostileMedia{id: "r3.mp3", mediaType: "audio/mp3", data: []byte("cms r3"), certAlias: "c1"},
		&hostileMedia{id: "r3.wav", mediaType: "audio/wav", data: []byte("cms r3 wav"), certAlias: "c1"})
	want := []apiclient.Receipt{
		{RecordingID: "R1", MediaID: "r1.mp3", SHA256: sha256Hex([]byte("cms r1 voice"))},
		{RecordingID: "R1", MediaID: "r1.mp4", SHA256: sha256Hex([]byte("cms r1 screen"))},
		{RecordingID: "R2", MediaID: "r2.mp3", SHA256: sha256Hex([]byte("cms r2"))},
	}
	sortReceipts := func(rs []apiclient.Receipt) {
		slices.SortFunc(rs, func(a, b apiclient.Receipt) int {
			return strings.Compare(a.RecordingID+a.MediaID, b.RecordingID+b.MediaID)
		})
	}

	var mu sync.Mutex
	var got [][]apiclient.Receipt
	status := http.StatusServiceUnavailable
	h.mu.Lock()
	h.receipts = func(w http.ResponseWriter, r *http.Request) {
		var batch []apiclient.Receipt
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			writeJSONAnswer(w, 400, map[string]string{"code": "bad_request", "message": err.Error()})
			return
		}
		mu.Lock()
		got = append(got, batch)
		st := status
		mu.Unlock()
		if st != http.StatusOK {
			writeJSONAnswer(w, st, map[string]string{"code": "unavailable", "message": "try later"})
			return
		}
		ans := apiclient.ReceiptsAnswer{Rejected: []apiclient.RejectedReceipt{}}
		for _, rc := range batch {
			if rc.MediaID == "r1.mp4" {
				ans.Rejected = append(ans.Rejected, apiclient.RejectedReceipt{RecordingID: rc.RecordingID, MediaID: rc.MediaID, Code: "hash_mismatch", Message: "not the stored bytes"})
			} else {
				ans.Accepted++
			}
		}
		writeJSONAnswer(w, 200, ans)
	}
	h.mu.Unlock()
	target := t.TempDir()
	pending := filepath.Join(target, "acme", backup.ReceiptsFile)
	run := func(wantLine string) string {
		t.Helper()
		r, logText := hostileRun(t, h, target, nil, "mediaTypePattern", "^(audio/mp3|video/mp4)$")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, "\n"+wantLine+"\n") {
			t.Errorf("no %q in:\n%s", wantLine, r.stdout)
		}
		return logText
	}

	// 1. The server answers 503 to every batch: retried until the run's
	// wait is up, then kept.
	start := time.Now()
	run("receipts: 0 accepted, 0 rejected, 3 pending")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the run took %v", d)
	}
	mu.Lock()
	tries := len(got)
	mu.Unlock()
	if tries < 2 {
		t.Errorf("%d attempts, want retries", tries)
	}
	b, err := os.ReadFile(pending)
	if err != nil {
		t.Fatal(err)
	}
	var kept []apiclient.Receipt
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rc apiclient.Receipt
		if err := json.Unmarshal([]byte(line), &rc); err != nil {
			t.Fatalf("%s: %q: %v", pending, line, err)
		}
		kept = append(kept, rc)
	}
	sortReceipts(kept)
	if !slices.Equal(kept, want) {
		t.Errorf("kept %v, want %v", kept, want)
	}

	// 2. The server takes them, but rejects one: logged, dropped; the
	// kept ones go first, and none twice.
	mu.Lock()
	status, got = http.StatusOK, nil
	mu.Unlock()
	logText := run("receipts: 2 accepted, 1 rejected, 0 pending")
	if !strings.Contains(logText, `msg="backup receipt rejected by the server" recording=R1 media=r1.mp4 code=hash_mismatch message="not the stored bytes"`) {
		t.Errorf("the rejection is not logged:\n%s", logText)
	}
	var sent []apiclient.Receipt
	mu.Lock()
	for _, b := range got {
		sent = append(sent, b...)
	}
	mu.Unlock()
	sortReceipts(sent)
	if !slices.Equal(sent, want) {
		t.Errorf("sent %v, want %v", sent, want)
	}
	if _, err := os.Stat(pending); err == nil {
		t.Error("the receipts file is left")
	}

	// 3. An older server: 404, one log line, kept for later.
	h.mu.Lock()
	h.receipts = nil
	h.mu.Unlock()
	logText = run("receipts: 0 accepted, 0 rejected, 3 pending")
	if n := strings.Count(logText, "not sending backup receipts for the rest of this run"); n != 1 {
		t.Errorf("%d log lines for the 404:\n%s", n, logText)
	}
	if _, err := os.Stat(pending); err != nil {
		t.Errorf("nothing kept: %v", err)
	}
}
