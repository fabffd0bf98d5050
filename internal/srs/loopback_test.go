package srs

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestVersionAndStartLine(t *testing.T) {
	ts := startSRS(t, srsSetup{})
	a := ts.call("GET", "/version", "")
	if a.status != 200 || a.json(t)["version"] != "9.9.9-test" {
		t.Errorf("/version: %d %s", a.status, a.body)
	}
	if !strings.Contains(ts.log(), "INFO  ServiceHandler: Running Version:9.9.9-test, IP:127.0.0.1, OS:linux\n") {
		t.Errorf("log lacks the start line:\n%s", ts.log())
	}
	if a := ts.call("GET", "/version", "", "Host", "evil.example:8080"); a.status != 403 || a.json(t)["code"] != "BAD_HOST" {
		t.Errorf("DNS-rebound Host: %d %s", a.status, a.body)
	}
	if a := ts.call("GET", "/nothing", ""); a.status != 404 || a.json(t)["code"] != "NOT_FOUND" {
		t.Errorf("unknown path: %d %s", a.status, a.body)
	}
}

func TestCORS(t *testing.T) {
	ts := startSRS(t, srsSetup{})
	allowed := ts.api.srv.URL // the default allowedOrigins: the server's origin
	preflight := func(origin string) loopbackAnswer {
		h := []string{"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization"}
		if origin != "" {
			h = append(h, "Origin", origin)
		}
		return ts.call("OPTIONS", "/api/v2/me", "", h...)
	}
	a := preflight(allowed)
	if a.status != 204 || a.header.Get("Access-Control-Allow-Origin") != allowed ||
		a.header.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(a.header.Get("Access-Control-Allow-Methods"), "DELETE") ||
		!strings.Contains(strings.ToLower(a.header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Errorf("allowed preflight: %d %v", a.status, a.header)
	}
	for _, origin := range []string{"https://evil.example", "null", ""} {
		if a := preflight(origin); a.status != 403 || a.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from %q: %d %v", origin, a.status, a.header)
		}
	}
	if a := ts.call("GET", "/version", "", "Origin", "https://evil.example"); a.status != 403 ||
		a.json(t)["code"] != "FORBIDDEN_ORIGIN" || a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign origin: %d %s", a.status, a.body)
	}
	if a := ts.call("GET", "/api/v2/me", "", "Origin", "https://evil.example", "Basic", "agent1@acme:pw-agent1"); a.status != 403 {
		t.Errorf("login from a foreign origin: %d %s", a.status, a.body)
	}
	if l, _, _ := ts.api.counts(); l != 0 {
		t.Errorf("a foreign origin's login reached the server")
	}
	if a := ts.call("GET", "/version", "", "Origin", allowed); a.status != 200 || a.header.Get("Access-Control-Allow-Origin") != allowed {
		t.Errorf("allowed origin: %d %v", a.status, a.header)
	}
	if a := ts.call("GET", "/version", ""); a.status != 200 || a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("no origin: %d %v", a.status, a.header)
	}
}

func TestLoginWrongPassword(t *testing.T) {
	ts := startSRS(t, srsSetup{})
	a := ts.call("GET", "/api/v2/me", "", "Basic", "agent1@acme:not-the-password")
	if a.status != 401 {
		t.Fatalf("wrong password: %d %s", a.status, a.body)
	}
	m := a.json(t)
	if m["code"] != "LOGIN_FAILED" || !strings.Contains(m["message"].(string), "wrong user name or password") {
		t.Errorf("answer %s", a.body)
	}
	if strings.Contains(a.body, "not-the-password") || strings.Contains(ts.log(), "not-the-password") {
		t.Errorf("the password shows in the answer or the log")
	}
	if a := ts.call("GET", "/api/v2/me", ""); a.status != 401 || a.json(t)["code"] != "UNAUTHENTICATED" {
		t.Errorf("no credentials: %d %s", a.status, a.body)
	}
	if a := ts.call("GET", "/ping", "", "Basic", "agent1@acme:pw-agent1"); a.status != 401 {
		t.Errorf("ping before login: %d", a.status)
	}
}

func TestLoginBasicPingLogout(t *testing.T) {
	ts := startSRS(t, srsSetup{})
	a := ts.call("GET", "/api/v2/me", "", "Basic", "agent1@acme:pw-agent1")
	if a.status != 200 {
		t.Fatalf("login: %d %s", a.status, a.body)
	}
	if m := a.json(t); m["userName"] != "agent1@acme" || m["firstName"] != "Ann" {
		t.Errorf("user %s", a.body)
	}
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == LoopbackCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || len(cookie.Value) < 32 {
		t.Fatalf("loopback cookie %+v", cookie)
	}
	ck := LoopbackCookie + "=" + cookie.Value
	waitFor(t, 5*time.Second, "a command poll", func() bool {
		ts.api.mu.Lock()
		defer ts.api.mu.Unlock()
		return ts.api.polls > 0
	})
	for _, h := range [][]string{{"Cookie", ck}, {"Basic", "agent1@acme:pw-agent1"}} {
		if a := ts.call("GET", "/ping", "", h...); a.status != 200 {
			t.Errorf("ping with %s: %d %s", h[0], a.status, a.body)
		}
	}
	for _, h := range [][]string{{"Cookie", LoopbackCookie + "=forged"}, {"Basic", "agent1@acme:wrong"}, {"Basic", "agent2@acme:pw-agent2"}, {}} {
		if a := ts.call("GET", "/ping", "", h...); a.status != 401 {
			t.Errorf("ping with %v: %d", h, a.status)
		}
	}
	if a := ts.call("GET", "/api/v2/me", "", "Cookie", ck); a.status != 200 || a.json(t)["userName"] != "agent1@acme" {
		t.Errorf("GET /api/v2/me with the cookie: %d %s", a.status, a.body)
	}
	// Logging in again with the same credentials keeps the session.
	if a := ts.call("GET", "/api/v2/me", "", "Basic", "agent1@acme:pw-agent1"); a.status != 200 {
		t.Errorf("second login: %d", a.status)
	}
	if logins, _, _ := ts.api.counts(); logins != 1 {
		t.Errorf("%d server logins, want 1", logins)
	}
	st := ts.call("GET", "/api/v2/me/recording", "").json(t)
	if st["loggedIn"] != true || st["userName"] != "agent1@acme" || st["state"] != "idle" {
		t.Errorf("status %v", st)
	}
	if a := ts.call("DELETE", "/api/v2/me", ""); a.status != 401 {
		t.Errorf("logout without credentials: %d", a.status)
	}
	if a := ts.call("DELETE", "/api/v2/me", "", "Cookie", ck); a.status != 200 {
		t.Errorf("logout: %d %s", a.status, a.body)
	}
	if _, logouts, _ := ts.api.counts(); logouts != 1 {
		t.Errorf("%d server logouts, want 1", logouts)
	}
	if a := ts.call("GET", "/ping", "", "Cookie", ck); a.status != 401 {
		t.Errorf("ping after logout: %d", a.status)
	}
	ts.api.mu.Lock()
	for token := range ts.api.sessions {
		if strings.Contains(ts.log(), token) {
			t.Errorf("the log shows a session token")
		}
	}
	ts.api.mu.Unlock()
	if strings.Contains(ts.log(), cookie.Value) || strings.Contains(ts.log(), "pw-agent1") {
		t.Errorf("the log shows a secret:\n%s", ts.log())
	}
}

func TestLoginWithConfigurationBody(t *testing.T) {
	api := newAPIServer(t)
	// config.json names a dead server; the desktop's configuration wins.
	ts := startSRS(t, srsSetup{api: api, configJSON: `{"name":"allowedOrigins","value":["https://desk.example"]}`})
	ts.cfg.Server = "http://127.0.0.1:1/api/v2"
	body := `[{"name":"server","value":"` + api.URL() + `"},{"name":"peer_server","value":"https://peer/api/v2"},
		{"name":"place","value":"Place_101"},{"name":"devices","value":[{"dn":"7001","switch":"SIP_Switch"}]},{"name":"other","value":1}]`
	a := ts.call("POST", "/api/v2/me", body, "Basic", "agent1@acme:pw-agent1", "Origin", "https://desk.example", "Content-Type", "application/json")
	if a.status != 200 || a.json(t)["userName"] != "agent1@acme" || a.header.Get("Access-Control-Allow-Origin") != "https://desk.example" {
		t.Fatalf("POST login: %d %s %v", a.status, a.body, a.header)
	}
	st := ts.call("GET", "/api/v2/me/recording", "").json(t)
	desktop, _ := st["desktop"].(map[string]any)
	if st["server"] != api.URL() || desktop["place"] != "Place_101" || desktop["peerServer"] != "https://peer/api/v2" ||
		!strings.Contains(ts.call("GET", "/api/v2/me/recording", "").body, `"dn":"7001"`) {
		t.Errorf("status %v", st)
	}
	for _, bad := range []string{`{}`, `[{"name":"server","value":"ftp://x"}]`, `[{"name":"devices","value":"7001"}]`} {
		if a := ts.call("POST", "/api/v2/me", bad, "Basic", "agent1@acme:pw-agent1"); a.status != 400 {
			t.Errorf("body %s: %d %s", bad, a.status, a.body)
		}
	}
}

func TestStateChangingCallsNeedCredentials(t *testing.T) {
	ts := startSRS(t, srsSetup{})
	ck := ts.loginAgent()
	for _, path := range []string{"/api/v2/me/recording/pause", "/api/v2/me/recording/resume"} {
		if a := ts.call("POST", path, ""); a.status != 401 {
			t.Errorf("%s without credentials: %d", path, a.status)
		}
		if a := ts.call("POST", path, "", "Cookie", ck, "Origin", "https://evil.example"); a.status != 403 {
			t.Errorf("%s from a foreign origin: %d", path, a.status)
		}
		if a := ts.call("POST", path, "", "Cookie", ck); a.status != 409 || a.json(t)["code"] != "NOT_RECORDING" {
			t.Errorf("%s while idle: %d %s", path, a.status, a.body)
		}
	}
}

func TestPingTimeoutStopsAndQueues(t *testing.T) {
	certPEM, certPath, keyPath := testCert(t, t.TempDir(), "screen1")
	ts := startSRS(t, srsSetup{opts: Options{PingTimeout: 1500 * time.Millisecond}})
	ts.api.setSettings(ScreenSettings{RecordingWhen: "voice", Certificates: []ScreenCertificate{{Alias: "screen1", Certificate: certPEM}}})
	ck := ts.loginAgent()
	ts.api.issue("start", "rec-1", "media-1")
	ts.waitState(10*time.Second, "recording")
	// Keep pinging a while: the capture goes on.
	for i := 0; i < 4; i++ {
		time.Sleep(500 * time.Millisecond)
		if a := ts.call("GET", "/ping", "", "Cookie", ck); a.status != 200 {
			t.Fatalf("ping %d: %d", i, a.status)
		}
	}
	if ts.svc.Status().State != "recording" {
		t.Fatalf("capture stopped while pinged")
	}
	// Silence: the watchdog logs out without waiting for a ping.
	ts.waitLog(10*time.Second, "ServiceHandler: agent1@acme logged out (ping-timeout)")
	if st := ts.svc.Status(); st.State != "idle" || st.LoggedIn {
		t.Errorf("status after the ping timeout: %+v", st)
	}
	if a := ts.call("GET", "/ping", "", "Cookie", ck); a.status != 401 {
		t.Errorf("ping after the timeout: %d", a.status)
	}
	items, errs := ts.svc.queue.List()
	if len(errs) > 0 || len(items) != 1 {
		t.Fatalf("queue %v %v", items, errs)
	}
	it := items[0]
	if it.State != StateComplete || it.StopReason != ReasonPingTimeout || !it.Encrypted || it.File != "media-1.cms" || !it.StopReported {
		t.Errorf("item %+v", it)
	}
	info, err := os.Stat(filepath.Join(ts.cfg.UploadFolder, "media-1.cms"))
	if err != nil || info.Size() < 1000 {
		t.Fatalf("queued file: %v %v", info, err)
	}
	stops := ts.api.stopReports()
	if len(stops) != 1 || stops[0]["reason"] != ReasonPingTimeout || stops[0]["mediaId"] != "media-1" {
		t.Errorf("stop reports %v", stops)
	}
	if _, logouts, mediaPuts := ts.api.counts(); logouts != 1 || mediaPuts != 0 {
		t.Errorf("logouts %d, media puts %d (nothing is uploaded while logged out)", logouts, mediaPuts)
	}
	checkVideo(t, decryptCMS(t, filepath.Join(ts.cfg.UploadFolder, "media-1.cms"), certPath, keyPath))
	// Logging in again uploads it.
	ts.loginAgent()
	ts.waitLog(20*time.Second, "Uploader: Upload of file was successful.")
}

func TestLoopbackHTTPS(t *testing.T) {
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "127.1.1.2"},
		IPAddresses: []net.IP{net.ParseIP("127.1.1.2")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "srs.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "srs.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	ts := startSRS(t, srsSetup{dir: dir, configJSON: `{"name":"authenticationHost","value":"127.1.1.2"},
		{"name":"authenticationCertificate","value":"srs.pem"},{"name":"authenticationKey","value":"srs.key"}`})
	if !strings.HasPrefix(ts.svc.URL(), "https://127.1.1.2:") || !strings.Contains(ts.log(), "ServiceHandler: Running Version:9.9.9-test, IP:127.1.1.2, OS:") {
		t.Fatalf("URL %s, log:\n%s", ts.svc.URL(), ts.log())
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("GET", ts.svc.URL()+"/api/v2/me", nil)
	req.SetBasicAuth("agent1@acme", "pw-agent1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == LoopbackCookie {
			cookie = c
		}
	}
	if resp.StatusCode != 200 || cookie == nil || !cookie.Secure || cookie.SameSite != http.SameSiteNoneMode || !cookie.HttpOnly {
		t.Errorf("HTTPS login: %d, cookie %+v", resp.StatusCode, cookie)
	}
	// Plain HTTP to the HTTPS port is refused.
	if resp, err := http.Get("http://" + ts.svc.Addr().String() + "/version"); err == nil {
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP answered 200")
		}
		resp.Body.Close()
	}
}

// TestPollerIsGentleAndResyncs: a server that answers polls at once is
// not polled in a tight loop, and one whose command channel starts again
// below what srs saw is read from its current state.
func TestPollerIsGentleAndResyncs(t *testing.T) {
	api := newAPIServer(t)
	api.noWait = true
	ts := startSRS(t, srsSetup{api: api})
	ts.loginAgent()
	for i := 0; i < 3; i++ {
		api.issue("pause", "rec-none", "media-none") // not recording: ignored
	}
	time.Sleep(2 * time.Second)
	if n := api.pollCount(); n > 5 {
		t.Errorf("%d polls in 2 s of a server that does not wait", n)
	}
	api.resetChannel()
	api.issue("start", "rec-G", "media-G") // seq 1, below the 3 srs saw
	ts.waitState(20*time.Second, "recording")
	ts.waitLog(5*time.Second, "Commands: the server's latest command is 1, below 3: reading the current state")
}
