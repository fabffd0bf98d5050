package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPostReceipts(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/api/v2/backups/receipts" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(404)
			return
		}
		if u, p, _ := r.BasicAuth(); u != "rcbs@acme" || p != "pw" {
			w.WriteHeader(401)
			return
		}
		if n == 1 {
			w.WriteHeader(503) // retried by the client
			return
		}
		body, _ := io.ReadAll(r.Body)
		var got []Receipt
		if json.Unmarshal(body, &got) != nil || len(got) != 2 || got[1].MediaID != "b" || !strings.Contains(string(body), `"recordingId":"R1"`) {
			w.WriteHeader(400)
			io.WriteString(w, `{"code":"bad_request","message":"bad batch"}`)
			return
		}
		io.WriteString(w, `{"accepted":1,"rejected":[{"recordingId":"R1","mediaId":"b","code":"hash_mismatch","message":"no"}]}`)
	}))
	defer srv.Close()
	c := &Client{Prefix: srv.URL + "/api/v2", User: "rcbs@acme", Password: "pw", Backoff: func(int) time.Duration { return 0 }}
	ans, err := c.PostReceipts(context.Background(), []Receipt{{"R1", "a", "00"}, {"R1", "b", "11"}})
	if err != nil || ans.Accepted != 1 || len(ans.Rejected) != 1 || ans.Rejected[0].Code != "hash_mismatch" {
		t.Fatalf("%+v, %v", ans, err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d calls, want the 503 retried once", calls.Load())
	}
	_, err = c.PostReceipts(context.Background(), []Receipt{{"R1", "a", "00"}})
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Code != "bad_request" || IsTransient(err) {
		t.Errorf("malformed batch: %v", err)
	}
	if _, err := c.PostReceipts(context.Background(), make([]Receipt, MaxReceiptsBatch+1)); err == nil {
		t.Error("a batch of 501 was sent")
	}
	old := &Client{Prefix: srv.URL + "/old/api/v2", User: "rcbs@acme", Password: "pw", Backoff: func(int) time.Duration { return 0 }}
	if _, err := old.PostReceipts(context.Background(), []Receipt{{"R1", "a", "00"}}); !IsNotFound(err) {
		t.Errorf("older server: %v, want a 404", err)
	}
}
