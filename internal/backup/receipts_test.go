package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"callvault/internal/apiclient"
)

// receiptServer implements the receipts contract: POST
// /api/v2/backups/receipts with a JSON array; 200 {accepted, rejected}.
// It remembers each batch it was sent and can answer 503, 404 or 400.
type receiptServer struct {
	t   *testing.T
	url string

	mu       sync.Mutex
	batches  [][]apiclient.Receipt // every well-formed request, answered or not
	kept     map[apiclient.Receipt]bool
	fail503  int                            // the next n requests get 503
	notFound bool                           // every request gets 404
	reject   func(apiclient.Receipt) string // a code: rejected in the answer
	bad      func(apiclient.Receipt) bool   // one such receipt makes the batch a 400
	block    chan struct{}                  // when set, requests wait for it
	auths    []string
}

func newReceiptServer(t *testing.T) *receiptServer {
	rs := &receiptServer{t: t, kept: map[apiclient.Receipt]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(rs.serve))
	t.Cleanup(srv.Close)
	rs.url = srv.URL
	return rs
}

func (rs *receiptServer) serve(w http.ResponseWriter, r *http.Request) {
	answer := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	rs.mu.Lock()
	block := rs.block
	user, pass, _ := r.BasicAuth()
	rs.auths = append(rs.auths, user+":"+pass)
	rs.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-r.Context().Done():
			return
		}
	}
	if r.URL.Path != "/api/v2/backups/receipts" || r.Method != http.MethodPost {
		answer(404, map[string]string{"code": "not_found", "message": "no such route"})
		return
	}
	var batch []apiclient.Receipt
	if err := json.NewDecoder(r.Body).Decode(&batch); err != nil || r.Header.Get("Content-Type") != "application/json" {
		answer(400, map[string]string{"code": "bad_request", "message": "want a JSON array"})
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.batches = append(rs.batches, batch)
	switch {
	case rs.notFound:
		answer(404, map[string]string{"code": "not_found", "message": "no such route"})
		return
	case rs.fail503 > 0:
		rs.fail503--
		answer(503, map[string]string{"code": "unavailable", "message": "injected"})
		return
	case len(batch) > apiclient.MaxReceiptsBatch:
		answer(400, map[string]string{"code": "too_many", "message": "at most 500"})
		return
	}
	for _, rc := range batch {
		if rs.bad != nil && rs.bad(rc) {
			answer(400, map[string]string{"code": "bad_sha256", "message": "sha256 is not 64 hex digits"})
			return
		}
	}
	ans := apiclient.ReceiptsAnswer{Rejected: []apiclient.RejectedReceipt{}}
	for _, rc := range batch {
		if rs.reject != nil {
			if code := rs.reject(rc); code != "" {
				ans.Rejected = append(ans.Rejected, apiclient.RejectedReceipt{RecordingID: rc.RecordingID, MediaID: rc.MediaID, Code: code, Message: "the hash is not what the server stores"})
				continue
			}
		}
		rs.kept[rc] = true
		ans.Accepted++
	}
	answer(200, ans)
}

func (rs *receiptServer) sent() [][]apiclient.Receipt {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([][]apiclient.Receipt(nil), rs.batches...)
}

func makeReceipts(prefix string, n int) []Receipt {
	var out []Receipt
	for i := range n {
		out = append(out, Receipt{RecordingID: fmt.Sprintf("%s%04d", prefix, i), MediaID: "m.mp3", SHA256: fmt.Sprintf("%064x", i)})
	}
	return out
}

// newSender is a sender on rs with quick retries, logging into logBuf.
func newSender(t *testing.T, rs *receiptServer, file string, logBuf *bytes.Buffer) *ReceiptSender {
	client := &apiclient.Client{Prefix: rs.url + "/api/v2", User: "rcbs@acme", Password: "pw", Attempts: 1, Backoff: func(int) time.Duration { return 0 }}
	return &ReceiptSender{Client: client, File: file, Log: slog.New(slog.NewTextHandler(logBuf, nil)),
		Backoff: func(int) time.Duration { return 5 * time.Millisecond }}
}

func TestReceiptsBatchedAndRetried(t *testing.T) {
	rs := newReceiptServer(t)
	rs.fail503 = 3
	rs.reject = func(r apiclient.Receipt) string {
		if r.RecordingID == "R0007" {
			return "hash_mismatch"
		}
		return ""
	}
	file := filepath.Join(t.TempDir(), ReceiptsFile)
	var logBuf bytes.Buffer
	s := newSender(t, rs, file, &logBuf)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	all := makeReceipts("R", 1203)
	// Queued while the sender works, some twice.
	s.Add(all[:700]...)
	s.Add(all[600:]...)
	st := s.Finish(10 * time.Second)
	if st.Accepted != 1202 || st.Rejected != 1 || st.Pending != 0 || st.Stopped != "" {
		t.Errorf("stats %+v", st)
	}
	got := map[apiclient.Receipt]int{}
	for i, b := range rs.sent() {
		if len(b) == 0 || len(b) > apiclient.MaxReceiptsBatch {
			t.Errorf("batch %d holds %d receipts", i, len(b))
		}
		for _, r := range b {
			got[r]++
		}
	}
	if len(rs.kept) != 1202 || len(got) != 1203 {
		t.Errorf("the server kept %d and saw %d distinct receipts", len(rs.kept), len(got))
	}
	if n := len(rs.sent()); n < 3+3 {
		t.Errorf("%d requests: the 503s were not retried", n)
	}
	if !strings.Contains(logBuf.String(), `msg="backup receipt rejected by the server" recording=R0007 media=m.mp3 code=hash_mismatch`) {
		t.Errorf("the rejection is not logged:\n%s", logBuf.String())
	}
	if strings.Count(logBuf.String(), "retrying") != 3 {
		t.Errorf("want one line per failed attempt:\n%s", logBuf.String())
	}
	if _, err := os.Stat(file); err == nil {
		t.Error("a receipts file is left though nothing is pending")
	}
	for _, a := range rs.auths {
		if a != "rcbs@acme:pw" {
			t.Errorf("request with credentials %q", a)
		}
	}
}

func TestReceiptsOlderServer(t *testing.T) {
	rs := newReceiptServer(t)
	rs.notFound = true
	file := filepath.Join(t.TempDir(), "acme", ReceiptsFile)
	var logBuf bytes.Buffer
	s := newSender(t, rs, file, &logBuf)
	s.Start(context.Background())
	s.Add(makeReceipts("A", 600)...)
	time.Sleep(50 * time.Millisecond)
	s.Add(makeReceipts("B", 10)...) // after the 404: only queued
	st := s.Finish(5 * time.Second)
	if st.Accepted != 0 || st.Pending != 610 || !strings.Contains(st.Stopped, "404") {
		t.Errorf("stats %+v", st)
	}
	if n := len(rs.sent()); n != 1 {
		t.Errorf("%d requests after a 404, want 1", n)
	}
	if n := strings.Count(logBuf.String(), "not sending backup receipts"); n != 1 {
		t.Errorf("%d log lines for the 404:\n%s", n, logBuf.String())
	}
	kept, err := readReceipts(file)
	if err != nil || len(kept) != 610 {
		t.Fatalf("the file keeps %d receipts: %v", len(kept), err)
	}

	// The next run, on a server that takes them: the kept ones first,
	// then the new ones; the file goes.
	rs.mu.Lock()
	rs.notFound, rs.batches = false, nil
	rs.mu.Unlock()
	s = newSender(t, rs, file, &logBuf)
	s.Start(context.Background())
	s.Add(makeReceipts("C", 5)...)
	s.Add(makeReceipts("A", 3)...) // verified again this run: not sent twice
	st = s.Finish(5 * time.Second)
	if st.Accepted != 615 || st.Pending != 0 {
		t.Errorf("second run %+v", st)
	}
	batches := rs.sent()
	if len(batches) == 0 || batches[0][0].RecordingID != "A0000" {
		t.Errorf("the kept receipts did not go first: %v", batches)
	}
	if _, err := os.Stat(file); err == nil {
		t.Error("the receipts file was not removed once they were sent")
	}
}

func TestReceiptsUnreachableServerDoesNotHold(t *testing.T) {
	rs := newReceiptServer(t)
	rs.block = make(chan struct{}) // never answers
	defer close(rs.block)
	file := filepath.Join(t.TempDir(), ReceiptsFile)
	var logBuf bytes.Buffer
	s := newSender(t, rs, file, &logBuf)
	s.Start(context.Background())
	added := time.Now()
	s.Add(makeReceipts("H", 20)...)
	if time.Since(added) > 100*time.Millisecond {
		t.Error("Add waited for the network")
	}
	start := time.Now()
	st := s.Finish(300 * time.Millisecond)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Finish took %v with a wait of 300ms", d)
	}
	if st.Pending != 20 {
		t.Errorf("stats %+v", st)
	}
	if kept, _ := readReceipts(file); len(kept) != 20 {
		t.Errorf("kept %d", len(kept))
	}
}

func TestReceiptsMalformedReceiptDropped(t *testing.T) {
	rs := newReceiptServer(t)
	rs.bad = func(r apiclient.Receipt) bool { return r.RecordingID == "M0042" }
	var logBuf bytes.Buffer
	s := newSender(t, rs, filepath.Join(t.TempDir(), ReceiptsFile), &logBuf)
	s.Start(context.Background())
	s.Add(makeReceipts("M", 100)...)
	st := s.Finish(5 * time.Second)
	if st.Accepted != 99 || st.Rejected != 1 || st.Pending != 0 {
		t.Errorf("stats %+v", st)
	}
	if rs.kept[makeReceipts("M", 100)[42]] {
		t.Error("the bad receipt was kept")
	}
	if !strings.Contains(logBuf.String(), `msg="backup receipt refused; dropped" recording=M0042`) {
		t.Errorf("not logged:\n%s", logBuf.String())
	}
}

func TestReceiptsFileDamaged(t *testing.T) {
	file := filepath.Join(t.TempDir(), ReceiptsFile)
	os.WriteFile(file, []byte(`{"recordingId":"R1","mediaId":"a","sha256":"00"}`+"\nnot json\n"+`{"recordingId":"R2","mediaId":"b","sha256":"11"}`+"\n"+`{"recordingId":"R3"`), 0o644)
	got, err := readReceipts(file)
	if err != nil || len(got) != 2 || got[1].RecordingID != "R2" {
		t.Errorf("read %v, %v", got, err)
	}
}
