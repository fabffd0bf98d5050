package httpapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// BenchmarkIngest is the server side of ingesting one recording: a
// 150,000-byte audio/mp3 PUT (encrypted on the way in, hashed, checked
// against what is stored) and a metadata PUT, several in parallel, as
// bench/serverbench's ingest scenario sends them but without the network.
//
//	TMPDIR=/dev/shm go test ./internal/httpapi -run '^$' -bench Ingest -benchtime 4000x
func BenchmarkIngest(b *testing.B) {
	srv, _ := benchVoiceServer(b)
	body := bytes.Repeat([]byte("0123456789abcdef"), 150000/16)
	h := srv.Handler()
	var next atomic.Int64
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("R%07d", next.Add(1))
			req := httptest.NewRequest("PUT", "/api/v2/recordings/"+id+"/media/"+id+".mp3", bytes.NewReader(body))
			req.SetBasicAuth("admin@bench", "bench-password")
			req.Header.Set("Content-Type", "audio/mp3")
			req.ContentLength = int64(len(body))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusCreated {
				b.Fatalf("media PUT: %d %s", w.Code, w.Body)
			}
			meta := `{"id":"` + id + `","startTime":"2024-03-01T10:00:00.000Z","stopTime":"2024-03-01T10:05:00.000Z",` +
				`"callerPhoneNumber":"+14155550100","mediaFiles":[{"mediaId":"` + id + `.mp3","type":"audio/mp3"}]}`
			req = httptest.NewRequest("PUT", "/api/v2/recordings/"+id, strings.NewReader(meta))
			req.SetBasicAuth("admin@bench", "bench-password")
			req.Header.Set("Content-Type", "application/json")
			w = httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("metadata PUT: %d %s", w.Code, w.Body)
			}
		}
	})
}
