package server

import (
	"bytes"
	"callvault/internal/service"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"callvault/internal/certs"
	"callvault/internal/samples"
	"callvault/internal/testenv"
	"callvault/internal/vault"
)

// replica is one `callvault serve` on the shared PostgreSQL and MinIO.
type replica struct {
	srv  *Server
	http *httptest.Server
}

func openReplica(t *testing.T, db, blobURL string) *replica {
	t.Helper()
	srv, err := Open(context.Background(), Config{
		DataDir: t.TempDir(), DB: db, Blob: blobURL,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{srv: srv, http: httptest.NewServer(srv.Handler())}
	t.Cleanup(func() { r.http.Close(); srv.Close() })
	return r
}

func (r *replica) do(t *testing.T, method, path, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, r.http.URL+path, bytes.NewReader(body))
	req.SetBasicAuth("admin@acme", "replica-test-pw")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// TestTwoReplicas runs two servers on one PostgreSQL and one MinIO bucket:
// what is stored through one is found, fetched and played through the
// other, and the retention sweep deletes each recording once.
func TestTwoReplicas(t *testing.T) {
	master := make([]byte, 32)
	rand.Read(master)
	t.Setenv("CALLVAULT_MASTER_KEY", base64.StdEncoding.EncodeToString(master))
	db := testenv.Postgres(t)
	minio := testenv.MinIO(t)
	bucketName := minio.NewBucket(t)
	bucket := minio.URL(bucketName) + "&prefix=media/"
	a, b := openReplica(t, db, bucket), openReplica(t, db, bucket)
	ctx := context.Background()

	admin, err := a.srv.Svc.InitTenant(ctx, "acme", "admin", "replica-test-pw")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := certs.Generate(certs.GenerateOptions{Subject: "/CN=Replicas/O=callvault", Days: 30})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := certs.EncodePrivateKeyPEM(pair.Key, false)
	// The key is sealed by replica A and must open in replica B.
	if _, err := a.srv.Svc.UploadCertificate(ctx, admin, certs.EncodeCertificatePEM(pair.Cert), keyPEM, nil, []vault.Usage{vault.UsageVoice}); err != nil {
		t.Fatal(err)
	}
	sample := samples.Recordings()[1]
	audio := sample.Media[0]
	if code, body := a.do(t, "PUT", "/api/v2/recordings/"+sample.ID+"/media/"+url.PathEscape(audio.MediaID), audio.Type, audio.Data); code != 201 {
		t.Fatalf("upload through A: %d %s", code, body)
	}
	if code, body := a.do(t, "PUT", "/api/v2/recordings/"+sample.ID, "application/json", sample.Metadata); code != 200 {
		t.Fatalf("metadata through A: %d %s", code, body)
	}

	// Found, fetched and played through B.
	code, body := b.do(t, "GET", "/api/v2/recordings?limit=10", "", nil)
	if code != 200 || !bytes.Contains(body, []byte(sample.ID)) {
		t.Fatalf("search through B: %d %s", code, body)
	}
	code, body = b.do(t, "GET", "/api/v2/recordings/"+sample.ID, "", nil)
	var rec struct {
		MediaFiles []struct {
			MediaID    string `json:"mediaId"`
			SHA256     string `json:"sha256"`
			StorageKey string `json:"storageKey"`
		}
	}
	if code != 200 || json.Unmarshal(body, &rec) != nil {
		t.Fatalf("recording through B: %d %s", code, body)
	}
	var storageKey string
	for _, mf := range rec.MediaFiles {
		if mf.MediaID == audio.MediaID {
			storageKey = mf.StorageKey
		}
	}
	if len(storageKey) < len("media/acme/") || storageKey[:len("media/acme/")] != "media/acme/" {
		t.Fatalf("storageKey %q does not lie under the bucket prefix and tenant", storageKey)
	}
	// An independent S3 client reads the stored file unchanged.
	var wantSHA string
	for _, mf := range rec.MediaFiles {
		if mf.MediaID == audio.MediaID {
			wantSHA = mf.SHA256
		}
	}
	if got := minio.RcloneSHA256(t, bucketName+"/"+storageKey); got != wantSHA {
		t.Fatalf("rclone reads SHA-256 %s from MinIO, the server recorded %s", got, wantSHA)
	}
	code, played := b.do(t, "GET", "/api/v2/recordings/"+sample.ID+"/play/"+url.PathEscape(audio.MediaID), "", nil)
	if code != 200 || !bytes.Equal(played, audio.Data) {
		t.Fatalf("play through B: %d, %d bytes", code, len(played))
	}
	code, body = b.do(t, "GET", "/api/v2/me/settings/rcbs", "", nil)
	if code != 200 || !bytes.Contains(body, []byte(`"mediaSource":"s3"`)) || !bytes.Contains(body, []byte(`"prefix":"media/acme/"`)) {
		t.Fatalf("settings through B: %d %s", code, body)
	}

	// Retention with both replicas sweeping at once: every expired
	// recording deleted once, no errors.
	const n = 20
	for i := 0; i < n; i++ {
		doc := fmt.Sprintf(`{"startTime":"2020-01-01T00:%02d:00Z","stopTime":"2020-01-01T00:%02d:30Z"}`, i, i)
		if code, body := a.do(t, "PUT", fmt.Sprintf("/api/v2/recordings/old-%02d", i), "application/json", []byte(doc)); code != 200 {
			t.Fatalf("old recording: %d %s", code, body)
		}
	}
	if err := a.srv.Svc.SetRetention(ctx, admin, vault.RetentionSettings{RetentionDays: 365}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	deleted := make([]int, 2)
	errs := make([]error, 2)
	for i, r := range []*replica{a, b} {
		wg.Add(1)
		go func(i int, r *replica) {
			defer wg.Done()
			var res []service.SweepResult
			res, errs[i] = r.srv.Svc.Sweep(ctx)
			deleted[i] = service.Deleted(res)
		}(i, r)
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("sweeps: %v, %v", errs[0], errs[1])
	}
	// The guide's sample stopped in 2015: it is past retention too.
	if got := deleted[0] + deleted[1]; got != n+1 {
		t.Fatalf("the replicas deleted %d + %d recordings, want %d in all", deleted[0], deleted[1], n+1)
	}
	if code, _ := b.do(t, "GET", "/api/v2/recordings/old-00", "", nil); code != 404 {
		t.Fatalf("an expired recording is still there: %d", code)
	}
}
