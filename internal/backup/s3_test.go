package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"callvault/internal/apiclient"
	"callvault/internal/backup"
	"callvault/internal/testenv"
)

// minioPrefix is the tenant prefix the tests' sources read under.
const minioPrefix = "acme/"

// putObject stores data under key in bucket with the test's own client.
func putObject(t *testing.T, srv *testenv.S3Server, bucket, key string, data []byte) {
	t.Helper()
	_, err := srv.Client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data),
	})
	if err != nil {
		t.Fatalf("PutObject %s: %v", key, err)
	}
}

// newSource is an S3Source on the test's MinIO with cfg's fields, where
// set, in place of the right ones.
func newSource(t *testing.T, srv *testenv.S3Server, bucket string, cfg backup.S3Config) *backup.S3Source {
	t.Helper()
	cfg.Bucket = cmpOr(cfg.Bucket, bucket)
	cfg.Region = cmpOr(cfg.Region, srv.Region)
	cfg.Endpoint = cmpOr(cfg.Endpoint, srv.Endpoint)
	// awsEndpoint: the customer trusts the endpoint the test names.
	cfg.TrustedEndpoint = cmpOr(cfg.TrustedEndpoint, cfg.Endpoint)
	cfg.AccessKeyID = cmpOr(cfg.AccessKeyID, srv.AccessKeyID)
	cfg.SecretAccessKey = cmpOr(cfg.SecretAccessKey, srv.SecretAccessKey)
	if cfg.Backoff == nil {
		cfg.Backoff = func(int) time.Duration { return 10 * time.Millisecond }
	}
	src, err := backup.NewS3Source(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func cmpOr(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}

func readAll(t *testing.T, src *backup.S3Source, key string, offset int64) ([]byte, error) {
	t.Helper()
	body, err := src.Open(context.Background(), key, offset)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return io.ReadAll(body)
}

func TestS3SourceOpen(t *testing.T) {
	srv := testenv.MinIO(t)
	bucket := srv.NewBucket(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 40_000) // 640 kB
	const key = minioPrefix + "REC1/m.mp3/0a1b2c3d4e5f6a7b"
	putObject(t, srv, bucket, key, data)
	putObject(t, srv, bucket, "other/REC9/m.mp3/1", []byte("another tenant's"))
	src := newSource(t, srv, bucket, backup.S3Config{Prefix: minioPrefix})

	for _, offset := range []int64{0, 1, 16, int64(len(data)) / 2, int64(len(data)) - 1} {
		got, err := readAll(t, src, key, offset)
		if err != nil || !bytes.Equal(got, data[offset:]) {
			t.Errorf("Open(%d): read %d bytes, %v; want the %d bytes from there", offset, len(got), err, len(data)-int(offset))
		}
	}
	if _, err := readAll(t, src, minioPrefix+"REC1/missing", 0); err == nil || errors.Is(err, backup.ErrS3Auth) {
		t.Errorf("Open of a missing key: err = %v, want a not-found error", err)
	}
	// The server names keys; one outside the tenant's prefix is refused
	// without asking S3.
	for _, outside := range []string{"other/REC9/m.mp3/1", "", "acm"} {
		if _, err := readAll(t, src, outside, 0); err == nil || !strings.Contains(err.Error(), "not under the prefix") {
			t.Errorf("Open(%q): err = %v, want refused as outside the prefix", outside, err)
		}
	}
	if _, err := readAll(t, src, key, -1); err == nil {
		t.Error("Open at offset -1: no error")
	}
}

// s3Proxy is an HTTP proxy in front of MinIO that counts requests and
// answers 503 to the first failFirst of them.
type s3Proxy struct {
	hostPort  string
	mu        sync.Mutex
	requests  int
	ranges    []string // Range headers asked for
	failFirst int
}

func newS3Proxy(t *testing.T, failFirst int) *s3Proxy {
	p := &s3Proxy{failFirst: failFirst}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests++
		if rg := r.Header.Get("Range"); rg != "" {
			p.ranges = append(p.ranges, rg)
		}
		fail := p.requests <= p.failFirst
		p.mu.Unlock()
		if !r.URL.IsAbs() {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		if fail {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>injected</Message></Error>`)
			return
		}
		out := r.Clone(r.Context())
		out.RequestURI = ""
		res, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		io.Copy(w, res.Body)
	}))
	t.Cleanup(hs.Close)
	p.hostPort = strings.TrimPrefix(hs.URL, "http://")
	return p
}

func (p *s3Proxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests
}

// Transient faults are retried, through the configured proxy.
func TestS3SourceRetriesThroughProxy(t *testing.T) {
	srv := testenv.MinIO(t)
	bucket := srv.NewBucket(t)
	const key = minioPrefix + "REC1/m.mp3/1"
	putObject(t, srv, bucket, key, []byte("recorded"))
	proxy := newS3Proxy(t, 2)
	src := newSource(t, srv, bucket, backup.S3Config{Prefix: minioPrefix, Proxy: proxy.hostPort})
	got, err := readAll(t, src, key, 0)
	if err != nil || string(got) != "recorded" {
		t.Fatalf("Open through a proxy failing twice = %q, %v; want the object", got, err)
	}
	if n := proxy.count(); n != 3 {
		t.Errorf("%d requests through the proxy, want 3 (two 503s, then the object)", n)
	}

	// Faults that do not end give up after Attempts, with S3's answer.
	proxy = newS3Proxy(t, 1000)
	src = newSource(t, srv, bucket, backup.S3Config{Prefix: minioPrefix, Proxy: proxy.hostPort, Attempts: 4})
	if _, err := readAll(t, src, key, 0); err == nil || !strings.Contains(err.Error(), "SlowDown") {
		t.Errorf("Open through a failing proxy: err = %v, want SlowDown", err)
	}
	if n := proxy.count(); n != 4 {
		t.Errorf("%d requests through the proxy, want 4 attempts", n)
	}
}

// Wrong credentials fail at once, marked ErrS3Auth, with S3's reason
// and without the secret.
func TestS3SourceRefusedCredentials(t *testing.T) {
	srv := testenv.MinIO(t)
	bucket := srv.NewBucket(t)
	const key = minioPrefix + "REC1/m.mp3/1"
	putObject(t, srv, bucket, key, []byte("recorded"))
	const wrongSecret = "not-the-secret-4242"
	for _, tc := range []struct {
		name   string
		cfg    backup.S3Config
		reason string
	}{
		{"wrong secret", backup.S3Config{SecretAccessKey: wrongSecret}, "SignatureDoesNotMatch"},
		{"unknown key id", backup.S3Config{AccessKeyID: "no-such-key-id", SecretAccessKey: wrongSecret}, "InvalidAccessKeyId"},
	} {
		proxy := newS3Proxy(t, 0)
		tc.cfg.Prefix, tc.cfg.Proxy = minioPrefix, proxy.hostPort
		src := newSource(t, srv, bucket, tc.cfg)
		_, err := readAll(t, src, key, 0)
		t.Logf("%s: %v", tc.name, err)
		if !errors.Is(err, backup.ErrS3Auth) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: Open err = %v, want ErrS3Auth with %s", tc.name, err, tc.reason)
		}
		if err != nil && strings.Contains(err.Error(), wrongSecret) {
			t.Errorf("%s: the error shows the secret: %v", tc.name, err)
		}
		if err := src.Verify(context.Background()); !errors.Is(err, backup.ErrS3Auth) {
			t.Errorf("%s: Verify err = %v, want ErrS3Auth", tc.name, err)
		}
		if n := proxy.count(); n != 2 {
			t.Errorf("%s: %d requests, want 2 (one Open, one Verify): a refusal is not retried", tc.name, n)
		}
	}
	if _, err := backup.NewS3Source(backup.S3Config{Bucket: bucket, Endpoint: srv.Endpoint}); err == nil {
		t.Error("NewS3Source without credentials: no error")
	}
}

func TestS3SourceVerify(t *testing.T) {
	srv := testenv.MinIO(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	// An empty prefix can be read too: a new tenant has nothing yet.
	for _, prefix := range []string{minioPrefix, "", "empty/"} {
		if err := newSource(t, srv, bucket, backup.S3Config{Prefix: prefix}).Verify(ctx); err != nil {
			t.Errorf("Verify(%q): %v", prefix, err)
		}
	}
	err := newSource(t, srv, "callvault-no-such-bucket", backup.S3Config{Prefix: minioPrefix}).Verify(ctx)
	t.Logf("missing bucket: %v", err)
	if err == nil || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Errorf("Verify of a missing bucket: err = %v, want NoSuchBucket", err)
	}
	err = newSource(t, srv, bucket, backup.S3Config{Prefix: minioPrefix, Endpoint: "http://127.0.0.1:1"}).Verify(ctx)
	if err == nil {
		t.Error("Verify with nothing at the endpoint: no error")
	}
}

// The engine reads media that carry a storageKey from S3 (resuming a
// partial file by range) and the others through the API.
func TestEngineMediaFromS3(t *testing.T) {
	srv := testenv.MinIO(t)
	bucket := srv.NewBucket(t)
	fromS3 := bytes.Repeat([]byte("s3 media "), 100_000)
	fromAPI := []byte("api media")
	const storageKey = minioPrefix + "REC1/m1.mp3/0a1b"
	putObject(t, srv, bucket, storageKey, fromS3)

	var apiMu sync.Mutex
	var apiMedia []string
	var api *httptest.Server
	api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/v2/recordings":
			media := func(id string, data []byte, key string) map[string]any {
				sum := sha256.Sum256(data)
				m := map[string]any{"mediaId": id, "type": "audio/mp3", "size": len(data), "sha256": hex.EncodeToString(sum[:]),
					"certAlias": []string{"tenant"}, "mediaUri": api.URL + "/api/v2/recordings/REC1/media/" + id}
				if key != "" {
					m["storageKey"] = key
				}
				return m
			}
			json.NewEncoder(w).Encode(map[string]any{"recordings": []any{map[string]any{
				"id": "REC1", "startTime": "2026-02-10T08:00:00.000Z", "stopTime": "2026-02-10T08:05:00.000Z",
				"mediaFiles": []any{media("m1.mp3", fromS3, storageKey), media("m2.mp3", fromAPI, "")},
			}}, "next": nil})
		case strings.HasPrefix(r.URL.Path, "/api/v2/recordings/REC1/media/"):
			apiMu.Lock()
			apiMedia = append(apiMedia, r.URL.Path)
			apiMu.Unlock()
			w.Write(fromAPI)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(api.Close)

	target := t.TempDir()
	dir := filepath.Join(target, "acme", "2026", "REC1")
	// Half of m1 is there from an interrupted run: the rest is asked for.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".m1.mp3.partial"), fromS3[:len(fromS3)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	proxy := newS3Proxy(t, 0)
	windowStart := time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
	engine := &backup.Engine{
		Client: &apiclient.Client{Prefix: api.URL + "/api/v2", User: "admin@acme", Password: "x"},
		S3:     newSource(t, srv, bucket, backup.S3Config{Prefix: minioPrefix, Proxy: proxy.hostPort}),
		Options: backup.Options{
			TargetDir: target, Tenant: "acme",
			FolderPath: func(time.Time) (string, error) { return "2026", nil },
			Windows:    [][2]time.Time{{windowStart, windowStart.Add(24 * time.Hour)}}, PeriodEnd: windowStart.Add(24 * time.Hour),
		},
		Reporter: nopReporter{},
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:      time.Now,
	}
	res, err := engine.Run(context.Background())
	if err != nil || res.Failed != 0 || res.Downloaded != 3 {
		t.Fatalf("Run = %+v, %v; want 2 media and 1 record downloaded", res, err)
	}
	for name, want := range map[string][]byte{"m1.mp3": fromS3, "m2.mp3": fromAPI} {
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v; want %d", name, len(got), err, len(want))
		}
	}
	if want := []string{"/api/v2/recordings/REC1/media/m2.mp3"}; strings.Join(apiMedia, ",") != strings.Join(want, ",") {
		t.Errorf("media asked of the API: %q, want only %q", apiMedia, want)
	}
	if n, want := proxy.count(), fmt.Sprintf("bytes=%d-", len(fromS3)/2); n != 1 || len(proxy.ranges) != 1 || proxy.ranges[0] != want {
		t.Errorf("%d S3 requests with ranges %q, want one for %s (the rest of m1)", n, proxy.ranges, want)
	}

	// A refused secret stops the run instead of failing file after file.
	if err := os.RemoveAll(target); err != nil {
		t.Fatal(err)
	}
	engine.S3 = newSource(t, srv, bucket, backup.S3Config{Prefix: minioPrefix, SecretAccessKey: "wrong"})
	if _, err := engine.Run(context.Background()); !errors.Is(err, backup.ErrS3Auth) {
		t.Errorf("Run with a wrong secret: err = %v, want ErrS3Auth", err)
	}
}

type nopReporter struct{}

func (nopReporter) WindowStarted(time.Time, time.Time, int, string) {}
func (nopReporter) Transferred(int64)                               {}
func (nopReporter) FileDone()                                       {}
func (nopReporter) WindowDone()                                     {}
