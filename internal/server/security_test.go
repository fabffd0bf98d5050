package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"callvault/internal/certs"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// serveTest starts srv.Serve and stops it at the end of the test.
func serveTest(t *testing.T, srv *Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// Item 12: a body that does not arrive is cut off at its deadline (a
// slow body to /api/v2/login stayed open for 40 s and more); a media
// upload that keeps arriving is not, however long it takes, and one that
// stalls is.
func TestBodyDeadlines(t *testing.T) {
	srv := openTest(t, Config{BodyTimeout: time.Second, UploadIdle: time.Second})
	ctx := context.Background()
	admin, err := srv.Svc.InitTenant(ctx, "acme", "admin", "deadline-test-pw")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := certs.Generate(certs.GenerateOptions{Subject: "/CN=Deadlines/O=callvault", Days: 30})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := certs.EncodePrivateKeyPEM(pair.Key, false)
	if _, err := srv.Svc.UploadCertificate(ctx, admin, certs.EncodeCertificatePEM(pair.Cert), keyPEM, nil, []vault.Usage{vault.UsageVoice}); err != nil {
		t.Fatal(err)
	}
	serveTest(t, srv)
	addr := strings.TrimPrefix(srv.URL(), "http://")

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /api/v2/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"userName\":", addr)
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	elapsed := time.Since(start)
	t.Logf("slow login body: answered %q (%v) after %v", strings.TrimSpace(line), err, elapsed.Round(10*time.Millisecond))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server still waits for the body after %v", elapsed)
	}
	if elapsed < 900*time.Millisecond || elapsed > 3*time.Second {
		t.Fatalf("slow body cut off after %v, want about the 1 s deadline", elapsed)
	}

	// A body announcing a terabyte is refused before it is read, on the
	// UI's login as on the API: it cannot earn a deadline of months.
	for _, path := range []string{"/login", "/api/v2/login"} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000000000\r\n\r\nuser=", path, addr)
		conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if err != nil || !strings.Contains(line, " 413 ") || time.Since(start) > 2*time.Second {
			t.Fatalf("POST %s announcing 10^12 bytes: %q, %v after %v; want 413 at once", path, line, err, time.Since(start))
		}
	}

	// An upload trickling in for 3 s, 64 KiB every 250 ms: stored.
	upload := func(body io.Reader, size int64) (int, time.Duration, error) {
		req, _ := http.NewRequest("PUT", srv.URL()+"/api/v2/recordings/D1/media/"+fmt.Sprint(size)+".mp3", body)
		req.ContentLength = size
		req.Header.Set("Content-Type", "audio/mp3")
		req.SetBasicAuth("admin@acme", "deadline-test-pw")
		start := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, time.Since(start), err
		}
		res.Body.Close()
		return res.StatusCode, time.Since(start), nil
	}
	code, took, err := upload(&slowBody{left: 6 << 16, step: 250 * time.Millisecond}, 6<<16)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("trickling upload (%v): %d %v", took, code, err)
	}
	t.Logf("trickling upload of 384 KiB in %v (idle deadline 1 s): %d", took.Round(10*time.Millisecond), code)
	// An upload that stalls after its first bytes: cut off about 1 s
	// into the stall, not when the client gives up.
	code, took, err = upload(&stallingBody{first: 64 << 10, stall: 6 * time.Second}, 1<<20)
	t.Logf("stalled upload: %d %v after %v", code, err, took.Round(10*time.Millisecond))
	if took > 4*time.Second {
		t.Fatalf("stalled upload held for %v", took)
	}
	if err == nil && code != http.StatusBadRequest {
		t.Fatalf("a stalled upload answered %d, want 400 (or a closed connection)", code)
	}
	_, media, _ := srv.Svc.Recording(ctx, admin, "D1")
	if len(media) != 1 {
		t.Fatalf("media stored: %+v, want only the trickled upload", media)
	}
}

// stallingBody sends first bytes, then nothing for stall.
type stallingBody struct {
	first int
	stall time.Duration
	sent  bool
}

func (b *stallingBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		n := min(len(p), b.first)
		clear(p[:n])
		return n, nil
	}
	time.Sleep(b.stall)
	return 0, io.ErrUnexpectedEOF
}

// Item 12: /metrics is served on -metrics-addr without authentication and
// not on the main listener; without -metrics-addr, on the main listener
// to administrators only.
func TestMetricsListener(t *testing.T) {
	srv := openTest(t, Config{MetricsAddr: "127.0.0.1:0"})
	if _, err := srv.Svc.InitTenant(context.Background(), "acme", "admin", "metrics-test-pw"); err != nil {
		t.Fatal(err)
	}
	serveTest(t, srv)
	get := func(url, login, password string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if login != "" {
			req.SetBasicAuth(login, password)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if srv.MetricsURL() == "" {
		t.Fatal("no metrics listener")
	}
	if code, body := get(srv.MetricsURL(), "", ""); code != 200 || !strings.Contains(body, "callvault_login_check_slots") {
		t.Fatalf("metrics listener: %d %.300s", code, body)
	}
	if code, body := get(srv.URL()+"/metrics", "admin@acme", "metrics-test-pw"); code != 404 || strings.Contains(body, "callvault_http_requests_total") {
		t.Fatalf("main listener serves metrics too: %d", code)
	}

	main := openTest(t, Config{})
	admin, err := main.Svc.InitTenant(context.Background(), "acme", "admin", "metrics-test-pw")
	if err != nil {
		t.Fatal(err)
	}
	pw := "password-agent"
	if _, err := main.Svc.CreateUser(context.Background(), admin, service.UserInput{UserName: "agent", Password: &pw, Roles: []vault.Role{vault.RoleAgent}}); err != nil {
		t.Fatal(err)
	}
	serveTest(t, main)
	if main.MetricsURL() != "" {
		t.Fatal("a metrics listener without -metrics-addr")
	}
	for _, c := range []struct {
		login, password string
		want            int
	}{{"", "", 401}, {"agent@acme", pw, 403}, {"admin@acme", "metrics-test-pw", 200}} {
		if code, _ := get(main.URL()+"/metrics", c.login, c.password); code != c.want {
			t.Errorf("/metrics on the main listener as %q: %d, want %d", c.login, code, c.want)
		}
	}
}
