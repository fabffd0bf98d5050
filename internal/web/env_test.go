package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"callvault/internal/samples"
	"callvault/internal/server"
	"callvault/internal/service"
	"callvault/internal/testenv"
	"callvault/internal/vault"
)

const adminPassword = "correct horse battery"

// env is a real server (the configured backends, SQLite and files by
// default) behind httptest, with the guide's two recordings ingested.
type env struct {
	t        *testing.T
	srv      *server.Server
	http     *httptest.Server
	admin    *vault.User
	certPath string
	keyPath  string
	alias    string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	backends := testenv.Backend(t)
	srv, err := server.Open(context.Background(), server.Config{
		DataDir: t.TempDir(), DB: backends.DB, Blob: backends.Blob,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv, http: httptest.NewServer(srv.Handler())}
	t.Cleanup(func() { e.http.Close(); srv.Close() })
	ctx := context.Background()
	if e.admin, err = srv.Svc.InitTenant(ctx, "acme", "admin", adminPassword); err != nil {
		t.Fatal(err)
	}
	return e
}

// withSamples uploads a guide certificate for voice and ingests the
// guide's recordings (agent_103001 is the agent of the first), and adds
// users: agent_103001 and agent_other (agents), sup (supervisor of /).
func (e *env) withSamples() *env {
	t := e.t
	t.Helper()
	ctx := context.Background()
	e.withVoiceCert()
	for _, u := range []service.UserInput{
		{UserName: "agent_103001", Roles: []vault.Role{vault.RoleAgent}, AgentHierarchy: ptr("/Anthony/John")},
		{UserName: "agent_other", Roles: []vault.Role{vault.RoleAgent}, AgentHierarchy: ptr("/Anthony/Paul")},
		{UserName: "sup", Roles: []vault.Role{vault.RoleSupervisor}, AccessGroups: []string{"/"}},
	} {
		u.Password = ptr("password-" + u.UserName)
		if _, err := e.srv.Svc.CreateUser(ctx, e.admin, u); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range samples.Recordings() {
		for _, m := range s.Media {
			if _, err := e.srv.Svc.PutMedia(ctx, e.admin, service.PutMediaInput{RecordingID: s.ID, MediaID: m.MediaID,
				ContentType: m.Type, Size: int64(len(m.Data)), Body: bytes.NewReader(m.Data)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := e.srv.Svc.PutMetadata(ctx, e.admin, s.ID, s.Metadata); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// withVoiceCert uploads a guide certificate for voice recordings (media
// cannot be stored without one).
func (e *env) withVoiceCert() *env {
	t := e.t
	t.Helper()
	e.certPath, e.keyPath = guideCert(t, t.TempDir(), "tenant")
	c, err := e.srv.Svc.UploadCertificate(context.Background(), e.admin, readFile(t, e.certPath), readFile(t, e.keyPath), nil, []vault.Usage{vault.UsageVoice})
	if err != nil {
		t.Fatal(err)
	}
	e.alias = c.Alias
	return e
}

// runJobs runs the server's job queue (River, in the metadata database)
// for the rest of the test, as serve does beside the HTTP server.
func (e *env) runJobs() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.srv.RunJobs(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

// ingestAudio stores a recording with the first guide recording's MP3
// (encrypted for the voice certificates on the way in).
func (e *env) ingestAudio(id string, start time.Time, caller string) {
	e.t.Helper()
	ctx := context.Background()
	audio := samples.Recordings()[0].Media[0]
	if _, err := e.srv.Svc.PutMedia(ctx, e.admin, service.PutMediaInput{RecordingID: id, MediaID: "a.mp3",
		ContentType: audio.Type, Size: int64(len(audio.Data)), Body: bytes.NewReader(audio.Data)}); err != nil {
		e.t.Fatal(err)
	}
	doc := fmt.Sprintf(`{"id":%q,"callerPhoneNumber":%q,"dialedPhoneNumber":"+15126401290","startTime":%q,"stopTime":%q}`,
		id, caller, start.Format(time.RFC3339), start.Add(time.Minute).Format(time.RFC3339))
	if _, _, err := e.srv.Svc.PutMetadata(ctx, e.admin, id, []byte(doc)); err != nil {
		e.t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// guideCert makes a key and certificate with the guide's openssl commands.
func guideCert(t *testing.T, dir, name string) (certPath, keyPath string) {
	t.Helper()
	keyPath, certPath = filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pem")
	for _, args := range [][]string{
		{"genrsa", "-out", keyPath, "2048"},
		{"req", "-new", "-x509", "-key", keyPath, "-out", certPath, "-days", "3650", "-subj", "/CN=Genesys Recording/C=US/ST=California/O=Genesys"},
	} {
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v: %s", args, err, out)
		}
	}
	return certPath, keyPath
}

// client is a browser without a browser: a cookie jar, no redirects
// followed, and the CSRF token of the last page seen.
type client struct {
	e    *env
	c    *http.Client
	csrf string
}

type resp struct {
	status int
	header http.Header
	body   string
}

func (e *env) client(lang string) *client {
	jar, _ := cookiejar.New(nil)
	c := &client{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if lang != "" {
		u, _ := url.Parse(e.http.URL)
		jar.SetCookies(u, []*http.Cookie{{Name: "callvault_lang", Value: lang, Path: "/"}})
	}
	return c
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) do(req *http.Request) resp {
	c.e.t.Helper()
	res, err := c.c.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if m := csrfRE.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return resp{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (c *client) get(path string, header ...string) resp {
	c.e.t.Helper()
	req, _ := http.NewRequest("GET", c.e.http.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.do(req)
}

// post sends a form; withCSRF adds the token of the last page.
func (c *client) post(path string, form url.Values, withCSRF bool) resp {
	c.e.t.Helper()
	if withCSRF {
		form.Set("csrf", c.csrf)
	}
	req, _ := http.NewRequest("POST", c.e.http.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// postFiles sends a multipart form with files (field → path).
func (c *client) postFiles(path string, fields map[string]string, files map[string]string) resp {
	c.e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for name, p := range files {
		fw, _ := mw.CreateFormFile(name, filepath.Base(p))
		fw.Write(readFile(c.e.t, p))
	}
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", c.e.http.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(req)
}

func (e *env) login(user, password string) *client {
	e.t.Helper()
	c := e.client("")
	r := c.post("/login", url.Values{"user": {user}, "password": {password}}, false)
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	c.get("/recordings") // for the CSRF token
	return c
}

func wantStatus(t *testing.T, r resp, status int, contains ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %.2000s", r.status, status, r.body)
	}
	for _, s := range contains {
		if !strings.Contains(r.body, s) {
			t.Fatalf("page lacks %q: %.3000s", s, r.body)
		}
	}
}

func playURL(id, mediaID string) string {
	return fmt.Sprintf("/api/v2/recordings/%s/play/%s", url.PathEscape(id), url.PathEscape(mediaID))
}
