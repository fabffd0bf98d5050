package srs

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"callvault/internal/ffmpeg"
	"callvault/internal/httpx"
)

// apiServer is a small stand-in of the vault's API as srs uses it (the
// real server is tested end to end with srs in internal/cli).
type apiServer struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	users     map[string]string // userName → password
	sessions  map[string]string // token → userName
	csrf      map[string]string // token → csrf
	settings  ScreenSettings
	commands  []Command
	active    map[string]Command // recordingId → its start, while in progress
	changed   chan struct{}      // closed and replaced when commands change
	media     map[string]*storedMedia
	records   map[string][]json.RawMessage
	stopped   []map[string]string
	polls     int
	logins    int
	logouts   int
	mediaPuts int
	noWait    bool // polls answer at once, ignoring wait
	// failMedia, when set, answers a media PUT with its status instead
	// of storing it (0: store).
	failMedia func(n int) int
}

type storedMedia struct {
	body      []byte
	header    http.Header
	recording string
}

func newAPIServer(t *testing.T) *apiServer {
	a := &apiServer{
		t: t, users: map[string]string{"agent1@acme": "pw-agent1", "agent2@acme": "pw-agent2"},
		sessions: map[string]string{}, csrf: map[string]string{}, active: map[string]Command{},
		changed: make(chan struct{}), media: map[string]*storedMedia{}, records: map[string][]json.RawMessage{},
		settings: ScreenSettings{RecordingWhen: "voice", FrameRate: 5, MaxWidth: 1920, Certificates: []ScreenCertificate{}},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/login", a.login)
	mux.HandleFunc("GET /api/v2/me", a.auth(a.me))
	mux.HandleFunc("GET /api/v2/me/settings/screen-recording", a.auth(a.screenSettings))
	mux.HandleFunc("GET /api/v2/me/screen-recording/commands", a.auth(a.pollCommands))
	mux.HandleFunc("POST /api/v2/me/screen-recording/stopped", a.auth(a.reportStopped))
	mux.HandleFunc("PUT /api/v2/recordings/{id}/media/{mediaId}", a.auth(a.putMedia))
	mux.HandleFunc("PUT /api/v2/recordings/{id}", a.auth(a.putRecording))
	mux.HandleFunc("POST /api/v2/logout", a.auth(a.logout))
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *apiServer) URL() string { return a.srv.URL + "/api/v2" }

func (a *apiServer) login(w http.ResponseWriter, r *http.Request) {
	var body struct{ UserName, Password string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		httpx.WriteJSON(w, 400, map[string]string{"code": "EINVALID", "message": "bad JSON"})
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if pw, ok := a.users[body.UserName]; !ok || pw != body.Password {
		httpx.WriteJSON(w, 401, map[string]string{"code": "EUNAUTHORIZED", "message": "wrong user name or password"})
		return
	}
	a.logins++
	token, csrf := randomHex(), randomHex()
	a.sessions[token], a.csrf[token] = body.UserName, csrf
	http.SetCookie(w, &http.Cookie{Name: httpx.SessionCookie, Value: token, Path: "/", HttpOnly: true})
	tenant := body.UserName[strings.Index(body.UserName, "@")+1:]
	httpx.WriteJSON(w, 200, map[string]any{"userName": body.UserName, "tenant": tenant, "csrfToken": csrf, "expires": time.Now().Add(time.Hour)})
}

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type apiHandler func(w http.ResponseWriter, r *http.Request, user string)

func (a *apiServer) auth(h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); ok {
			a.t.Errorf("%s %s: srs sent Basic credentials after login", r.Method, r.URL.Path)
		}
		c, err := r.Cookie(httpx.SessionCookie)
		a.mu.Lock()
		user := ""
		csrf := ""
		if err == nil {
			user, csrf = a.sessions[c.Value], a.csrf[c.Value]
		}
		a.mu.Unlock()
		if user == "" {
			httpx.WriteJSON(w, 401, map[string]string{"code": "EUNAUTHORIZED", "message": "log in first"})
			return
		}
		if r.Method != http.MethodGet && r.Header.Get("X-CSRF-TOKEN") != csrf {
			httpx.WriteJSON(w, 403, map[string]string{"code": "EFORBIDDEN", "message": "missing CSRF token"})
			return
		}
		h(w, r, user)
	}
}

func (a *apiServer) me(w http.ResponseWriter, r *http.Request, user string) {
	httpx.WriteJSON(w, 200, map[string]any{"userName": user, "tenant": "acme", "roles": []string{"agent"}, "firstName": "Ann", "lastName": "Agent"})
}

func (a *apiServer) screenSettings(w http.ResponseWriter, r *http.Request, user string) {
	a.mu.Lock()
	s := a.settings
	a.mu.Unlock()
	httpx.WriteJSON(w, 200, s)
}

func (a *apiServer) setSettings(s ScreenSettings) {
	a.mu.Lock()
	a.settings = s
	a.mu.Unlock()
}

// issue adds a command for srs.
func (a *apiServer) issue(command, recordingID, mediaID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := Command{Seq: int64(len(a.commands) + 1), Command: command, RecordingID: recordingID, MediaID: mediaID, IssuedAt: time.Now().UTC()}
	a.commands = append(a.commands, c)
	switch command {
	case "start":
		a.active[recordingID] = c
	case "stop":
		delete(a.active, recordingID)
	}
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *apiServer) pollCommands(w http.ResponseWriter, r *http.Request, user string) {
	a.mu.Lock()
	a.polls++
	a.mu.Unlock()
	q := r.URL.Query()
	if !q.Has("after") {
		a.mu.Lock()
		out := Commands{Commands: []Command{}, Seq: int64(len(a.commands))}
		for _, c := range a.active {
			out.Commands = append(out.Commands, c)
		}
		a.mu.Unlock()
		httpx.WriteJSON(w, 200, out)
		return
	}
	after, err := strconv.ParseInt(q.Get("after"), 10, 64)
	wait, err2 := strconv.Atoi(q.Get("wait"))
	if err != nil || err2 != nil || wait > 30 {
		httpx.WriteJSON(w, 400, map[string]string{"code": "EINVALID", "message": "bad after or wait"})
		return
	}
	a.mu.Lock()
	if a.noWait {
		wait = 0
	}
	a.mu.Unlock()
	deadline := time.After(time.Duration(wait) * time.Second)
	for {
		a.mu.Lock()
		var out []Command
		for _, c := range a.commands {
			if c.Seq > after {
				out = append(out, c)
			}
		}
		seq, changed := int64(len(a.commands)), a.changed
		a.mu.Unlock()
		if len(out) > 0 {
			httpx.WriteJSON(w, 200, Commands{Commands: out, Seq: seq})
			return
		}
		select {
		case <-changed:
		case <-deadline:
			httpx.WriteJSON(w, 200, Commands{Commands: []Command{}, Seq: seq})
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (a *apiServer) reportStopped(w http.ResponseWriter, r *http.Request, user string) {
	var body map[string]string
	_ = json.NewDecoder(r.Body).Decode(&body)
	a.mu.Lock()
	a.stopped = append(a.stopped, body)
	delete(a.active, body["recordingId"])
	a.mu.Unlock()
	httpx.WriteJSON(w, 200, map[string]string{"status": "ok"})
}

func (a *apiServer) putMedia(w http.ResponseWriter, r *http.Request, user string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	a.mu.Lock()
	a.mediaPuts++
	n, fail := a.mediaPuts, a.failMedia
	a.mu.Unlock()
	if fail != nil {
		if status := fail(n); status != 0 {
			httpx.WriteJSON(w, status, map[string]string{"code": "EFAIL", "message": "failing on purpose"})
			return
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	id := r.PathValue("mediaId")
	if old, ok := a.media[id]; ok && !bytes.Equal(old.body, body) {
		httpx.WriteJSON(w, 409, map[string]string{"code": "ECONFLICT", "message": "a different file is stored under this id"})
		return
	}
	a.media[id] = &storedMedia{body: body, header: r.Header.Clone(), recording: r.PathValue("id")}
	httpx.WriteJSON(w, 201, map[string]any{"mediaId": id, "size": len(body)})
}

func (a *apiServer) putRecording(w http.ResponseWriter, r *http.Request, user string) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.records[r.PathValue("id")] = append(a.records[r.PathValue("id")], body)
	a.mu.Unlock()
	httpx.WriteJSON(w, 200, map[string]string{"id": r.PathValue("id")})
}

func (a *apiServer) logout(w http.ResponseWriter, r *http.Request, user string) {
	c, _ := r.Cookie(httpx.SessionCookie)
	a.mu.Lock()
	delete(a.sessions, c.Value)
	a.logouts++
	a.mu.Unlock()
	httpx.WriteJSON(w, 200, map[string]string{"status": "logged out"})
}

// resetChannel forgets every command, as a server whose store was
// replaced would.
func (a *apiServer) resetChannel() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.commands, a.active = nil, map[string]Command{}
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *apiServer) pollCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.polls
}

// expireSessions drops every server session, as a password change would.
func (a *apiServer) expireSessions() {
	a.mu.Lock()
	a.sessions = map[string]string{}
	a.mu.Unlock()
}

func (a *apiServer) storedMedia(id string) *storedMedia {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.media[id]
}

func (a *apiServer) recordPuts(id string) []json.RawMessage {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]json.RawMessage(nil), a.records[id]...)
}

func (a *apiServer) stopReports() []map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]map[string]string(nil), a.stopped...)
}

func (a *apiServer) counts() (logins, logouts, mediaPuts int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logins, a.logouts, a.mediaPuts
}

// testCert makes an RSA certificate and key, written as PEM to dir.
func testCert(t *testing.T, dir, cn string) (certPEM string, certPath, keyPath string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	certPath, keyPath = filepath.Join(dir, cn+".pem"), filepath.Join(dir, cn+".key")
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(certPath, []byte(certPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certPEM, certPath, keyPath
}

// testSRS is a running Service on a free loopback port.
type testSRS struct {
	t       *testing.T
	svc     *Service
	cfg     *Config
	api     *apiServer
	dir     string
	logPath string
	closed  bool
}

type srsSetup struct {
	configJSON string // extra config.json entries, comma-separated, without brackets
	opts       Options
	dir        string // reuse a folder (a restart)
	api        *apiServer
	configHook func(*Config) // sees the Config before New
}

func startSRS(t *testing.T, setup srsSetup) *testSRS {
	t.Helper()
	api := setup.api
	if api == nil {
		api = newAPIServer(t)
	}
	dir := setup.dir
	if dir == "" {
		dir = t.TempDir()
	}
	entries := fmt.Sprintf(`{"name":"server","value":%q},{"name":"authenticationPort","value":0}`, api.URL())
	if !strings.Contains(setup.configJSON, `"display"`) {
		entries += fmt.Sprintf(`,{"name":"display","value":%q}`, testDisplay(t))
	}
	if setup.configJSON != "" {
		entries += "," + setup.configJSON
	}
	cfg, err := ParseConfig([]byte("["+entries+"]"), ConfigEnv{Name: "config.json", Dir: dir, OS: "linux"})
	if err != nil {
		t.Fatal(err)
	}
	if setup.configHook != nil {
		setup.configHook(cfg)
	}
	opts := setup.opts
	if opts.Version == "" {
		opts.Version = "9.9.9-test"
	}
	svc, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	ts := &testSRS{t: t, svc: svc, cfg: cfg, api: api, dir: dir, logPath: cfg.LogFile}
	t.Cleanup(ts.close)
	return ts
}

func (ts *testSRS) close() {
	if ts.closed {
		return
	}
	ts.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ts.svc.Close(ctx); err != nil {
		ts.t.Errorf("Close: %v", err)
	}
	if os.Getenv("SRS_SHOW_LOG") != "" || ts.t.Failed() {
		ts.t.Logf("%s:\n%s", ts.logPath, ts.log())
	}
}

type loopbackAnswer struct {
	status int
	header http.Header
	body   string
}

func (a loopbackAnswer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(a.body), &m); err != nil {
		t.Fatalf("answer %d %q is not JSON: %v", a.status, a.body, err)
	}
	return m
}

// call makes one loopback request; headers are name/value pairs.
func (ts *testSRS) call(method, path, body string, headers ...string) loopbackAnswer {
	ts.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.svc.URL()+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Basic" {
			user, pw, _ := strings.Cut(headers[i+1], ":")
			req.SetBasicAuth(user, pw)
			continue
		}
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return loopbackAnswer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// loginAgent logs agent1 in with Basic and returns the loopback cookie.
func (ts *testSRS) loginAgent() string {
	ts.t.Helper()
	a := ts.call("GET", "/api/v2/me", "", "Basic", "agent1@acme:pw-agent1")
	if a.status != 200 {
		ts.t.Fatalf("login: %d %s", a.status, a.body)
	}
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == LoopbackCookie {
			return LoopbackCookie + "=" + c.Value
		}
	}
	ts.t.Fatal("login set no loopback cookie")
	return ""
}

func (ts *testSRS) log() string {
	b, _ := os.ReadFile(ts.logPath)
	return string(b)
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (ts *testSRS) waitLog(d time.Duration, line string) {
	ts.t.Helper()
	waitFor(ts.t, d, "log line "+line, func() bool { return strings.Contains(ts.log(), line) })
}

func (ts *testSRS) waitState(d time.Duration, state string) {
	ts.t.Helper()
	waitFor(ts.t, d, "state "+state, func() bool { return ts.svc.Status().State == state })
}

// decryptCMS decrypts a CMS file with openssl, as a tenant would, and
// returns the plaintext's path.
func decryptCMS(t *testing.T, path, certPath, keyPath string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "plain.mp4")
	cmd := exec.Command("openssl", "cms", "-decrypt", "-inform", "DER", "-in", path, "-recip", certPath, "-inkey", keyPath, "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl cms -decrypt %s: %v\n%s", path, err, b)
	}
	return out
}

// checkVideo asserts with ffprobe that path is an H.264 video with frames.
func checkVideo(t *testing.T, path string) {
	t.Helper()
	b, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "default=nw=1", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, b)
	}
	out := string(b)
	if !strings.Contains(out, "codec_name=h264") || strings.Contains(out, "nb_read_frames=0") {
		t.Fatalf("ffprobe %s:\n%s", path, out)
	}
}

// captures counts the captures srs started.
func (ts *testSRS) captures() int { return strings.Count(ts.log(), "INFO  Recorder: recording ") }

// The X display the tests record: one Xvfb of two side-by-side 320x180
// monitors showing moving content, started by the first test that needs
// it and shared by all (each recording test runs its own ffmpeg).
var shared struct {
	once    sync.Once
	display string
	skip    string
	err     error
	stops   []func()
}

func testDisplay(t *testing.T) string {
	t.Helper()
	shared.once.Do(func() {
		for _, tool := range []string{"Xvfb", "xrandr", "ffmpeg", "ffplay"} {
			if _, err := exec.LookPath(tool); err != nil {
				shared.skip = "needs " + tool
				return
			}
		}
		shared.display, shared.stops, shared.err = startXvfb(640, 180, 2)
	})
	if shared.skip != "" {
		t.Skip(shared.skip)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.display
}

// startXvfb starts an X server of w x h on a free display, splits it
// into side-by-side monitors (the first primary) and shows moving
// content on it.
func startXvfb(w, h, monitors int) (string, []func(), error) {
	ctx := context.Background()
	for n := 0; n < 50; n++ {
		display := fmt.Sprintf(":%d", 100+mrand.IntN(800))
		stop, err := ffmpeg.StartXvfb(ctx, display, w, h)
		if errors.Is(err, ffmpeg.ErrDisplayInUse) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		stops := []func(){stop}
		var list []ffmpeg.Monitor
		for i := 0; i < monitors; i++ {
			list = append(list, ffmpeg.Monitor{Name: fmt.Sprintf("M%d", i), Primary: i == 0, X: i * w / monitors, W: w / monitors, H: h})
		}
		if err := ffmpeg.SetVirtualMonitors(ctx, display, list); err != nil {
			stop()
			return "", nil, err
		}
		stopContent, err := ffmpeg.StartTestContent(ctx, display, ffmpeg.ContentMotion, 0, 0, w, h)
		if err != nil {
			stop()
			return "", nil, err
		}
		return display, append([]func(){stopContent}, stops...), nil
	}
	return "", nil, errors.New("no free X display")
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, stop := range shared.stops {
		stop()
	}
	os.Exit(code)
}
