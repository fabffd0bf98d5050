package backup_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"callvault/internal/backup"
)

func TestCheckS3Endpoint(t *testing.T) {
	for _, tc := range []struct {
		endpoint, trusted string
		ok                bool
	}{
		{"", "", true}, // AWS S3 itself
		{"", "https://minio.example.com", true},
		{"https://minio.example.com:9000", "https://minio.example.com:9000", true},
		{"https://MinIO.Example.COM:9000", "https://minio.example.com:9000", true},
		{"HTTPS://minio.example.com:9000/", "https://minio.example.com:9000", true},
		{"https://minio.example.com", "https://minio.example.com:443", true},
		{"minio.example.com", "https://minio.example.com", true}, // https assumed, as NewS3Source does
		{"http://127.0.0.1:9100", "http://127.0.0.1:9100", true},
		{"http://[::1]:9100", "http://[::1]:9100", true},

		{"https://minio.example.com", "", false},                                    // nothing trusted
		{"http://minio.example.com:9000", "https://minio.example.com:9000", false},  // plain http
		{"https://minio.example.com:9001", "https://minio.example.com:9000", false}, // another port
		{"https://evil.example.com:9000", "https://minio.example.com:9000", false},  // another host
		{"https://minio.example.com.evil.com", "https://minio.example.com", false},
		{"http://127.0.0.1:9101", "http://127.0.0.1:9100", false},
		{"http://localhost:9100", "http://127.0.0.1:9100", false}, // another name for the same place is another host
		{"https://user:pw@minio.example.com", "https://minio.example.com", false},
		{"ftp://minio.example.com", "ftp://minio.example.com", false},
		{"https://minio.example.com?x=1", "https://minio.example.com", false},
	} {
		err := backup.CheckS3Endpoint(tc.endpoint, tc.trusted)
		if tc.ok != (err == nil) {
			t.Errorf("CheckS3Endpoint(%q, %q) = %v, want ok=%v", tc.endpoint, tc.trusted, err, tc.ok)
		}
		var ue *backup.UntrustedEndpointError
		if err != nil && !errors.As(err, &ue) {
			t.Errorf("CheckS3Endpoint(%q, %q) = %T, want *UntrustedEndpointError", tc.endpoint, tc.trusted, err)
		}
	}
	err := backup.CheckS3Endpoint("http://Evil.example.com:8080/x", "")
	if want := "set awsEndpoint=http://evil.example.com:8080 in config.properties"; err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("message %q, want one line that says %q", err, want)
	}
}

// An endpoint the server names that is not awsEndpoint gets no request:
// NewS3Source refuses it before anything is sent. The same endpoint,
// trusted, is used.
func TestS3SourceUntrustedEndpoint(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.String()+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		http.Error(w, "no", http.StatusNotFound)
	}))
	t.Cleanup(foreign.Close)
	cfg := backup.S3Config{Bucket: "b", Prefix: "acme/", Endpoint: foreign.URL, AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", Attempts: 1}
	for _, trusted := range []string{"", "http://127.0.0.1:1", "https" + strings.TrimPrefix(foreign.URL, "http")} {
		cfg.TrustedEndpoint = trusted
		src, err := backup.NewS3Source(cfg)
		var ue *backup.UntrustedEndpointError
		if src != nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), "set awsEndpoint="+foreign.URL) {
			t.Errorf("awsEndpoint %q: NewS3Source = %v, %v; want *UntrustedEndpointError naming %s", trusted, src, err, foreign.URL)
		}
	}
	mu.Lock()
	if len(seen) > 0 {
		t.Errorf("the untrusted endpoint got %q", seen)
	}
	mu.Unlock()

	cfg.TrustedEndpoint = foreign.URL + "/"
	src, err := backup.NewS3Source(cfg)
	if err != nil {
		t.Fatalf("trusted endpoint: %v", err)
	}
	src.Verify(context.Background())
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 {
		t.Errorf("the trusted endpoint got %q, want one request", seen)
	}
}

// With AWS's own endpoint the region names the host: the server may not
// give one that is not a region.
func TestS3SourceRegion(t *testing.T) {
	cfg := backup.S3Config{Bucket: "b", AccessKeyID: "id", SecretAccessKey: "secret"}
	for _, region := range []string{"evil.example.com", "us-east-1.evil.com", "us-east-1/", "US-EAST-1", "a b"} {
		cfg.Region = region
		if _, err := backup.NewS3Source(cfg); err == nil {
			t.Errorf("region %q accepted", region)
		}
	}
	for _, region := range []string{"", "us-east-1", "eu-central-2", "us-gov-west-1", "eusc-de-east-1"} {
		cfg.Region = region
		if _, err := backup.NewS3Source(cfg); err != nil {
			t.Errorf("region %q: %v", region, err)
		}
	}
}
