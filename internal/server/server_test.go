package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"callvault/internal/certs"
	"callvault/internal/vault"
)

func openTest(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Addr = "127.0.0.1:0"
	cfg.Log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	return srv
}

// TestTLS serves HTTPS with -tls-cert/-tls-key.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	pair, err := certs.Generate(certs.GenerateOptions{Subject: "/CN=127.0.0.1", Days: 1})
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls.key")
	keyPEM, _ := certs.EncodePrivateKeyPEM(pair.Key, true)
	os.WriteFile(certPath, certs.EncodeCertificatePEM(pair.Cert), 0o600)
	os.WriteFile(keyPath, keyPEM, 0o600)

	srv := openTest(t, Config{TLSCert: certPath, TLSKey: keyPath})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("URL %s is not https", srv.URL())
	}
	pool := x509.NewCertPool()
	pool.AddCert(pair.Cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, InsecureSkipVerify: true}}}
	res, err := client.Get(srv.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil {
		t.Fatalf("healthz over TLS: %d, TLS %v", res.StatusCode, res.TLS != nil)
	}
	// Plain HTTP to the TLS port is refused.
	if res, err := http.Get(strings.Replace(srv.URL(), "https", "http", 1) + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Fatal("plain HTTP accepted on the TLS port")
		}
	}
}

// slowBody sends size bytes in small steps.
type slowBody struct {
	left int
	step time.Duration
}

func (b *slowBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(b.step)
	n := min(len(p), b.left, 64<<10)
	clear(p[:n])
	b.left -= n
	return n, nil
}

// TestGracefulShutdownFinishesUploads stops the server while an upload is
// in flight: the upload completes and is stored, and the server exits.
func TestGracefulShutdownFinishesUploads(t *testing.T) {
	srv := openTest(t, Config{ShutdownTimeout: 20 * time.Second})
	ctx := context.Background()
	admin, err := srv.Svc.InitTenant(ctx, "acme", "admin", "shutdown-test-pw")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := certs.Generate(certs.GenerateOptions{Subject: "/CN=Shutdown/O=callvault", Days: 30})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := certs.EncodePrivateKeyPEM(pair.Key, false)
	if _, err := srv.Svc.UploadCertificate(ctx, admin, certs.EncodeCertificatePEM(pair.Cert), keyPEM, nil, []vault.Usage{vault.UsageVoice}); err != nil {
		t.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(serveCtx) }()

	const size = 2 << 20
	req, _ := http.NewRequest("PUT", srv.URL()+"/api/v2/recordings/S1/media/slow.mp3", &slowBody{left: size, step: 30 * time.Millisecond})
	req.ContentLength = size
	req.Header.Set("Content-Type", "audio/mp3")
	req.SetBasicAuth("admin@acme", "shutdown-test-pw")
	result := make(chan int, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			result <- -1
			return
		}
		res.Body.Close()
		result <- res.StatusCode
	}()
	time.Sleep(200 * time.Millisecond) // the upload is under way
	stop()
	if code := <-result; code != http.StatusCreated {
		t.Fatalf("upload in flight at shutdown: status %d, want 201", code)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	_, media, err := srv.Svc.Recording(ctx, admin, "S1")
	if err != nil || len(media) != 1 || !media[0].Encrypted {
		t.Fatalf("the upload finished during shutdown is not stored: %v %v", err, media)
	}
}
