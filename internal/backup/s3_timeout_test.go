package backup_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"callvault/internal/apiclient"
	"callvault/internal/backup"
)

// An S3 endpoint that stops sending halfway through an object fails the
// read after the read timeout, as the web service does, instead of
// holding rcbs (and its lock) for ever; one that never answers fails
// after the response-header timeout. No MinIO is needed: the endpoint is
// a test server that answers like S3 and then stalls.
func TestS3SourceTimeouts(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bucket/acme/silent" {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.Header().Set("Content-Length", "1000")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		w.Write(make([]byte, 400))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	src, err := backup.NewS3Source(backup.S3Config{
		Bucket: "bucket", Prefix: "acme/", Endpoint: srv.URL, TrustedEndpoint: srv.URL, AccessKeyID: "id", SecretAccessKey: "secret", Attempts: 1,
		Timeouts: apiclient.Timeouts{ResponseHeader: 200 * time.Millisecond, Read: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	body, err := src.Open(context.Background(), "acme/stall", 0)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, body)
	body.Close()
	var te *apiclient.TimeoutError
	if !errors.As(err, &te) || n != 400 || time.Since(start) > 3*time.Second {
		t.Errorf("read %d bytes, %v after %v; want 400 and a *TimeoutError", n, err, time.Since(start))
	}
	start = time.Now()
	if _, err := src.Open(context.Background(), "acme/silent", 0); err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("Open of a silent endpoint = %v after %v; want an error within 3 s", err, time.Since(start))
	}
}
