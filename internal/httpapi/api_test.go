package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"callvault/internal/samples"
	"callvault/internal/server"
	"callvault/internal/service"
	"callvault/internal/testenv"
)

// env is a real server (SQLite + files in a temp dir) behind httptest, with
// an injectable clock.
type env struct {
	t        *testing.T
	backends *testenv.Backends
	srv      *server.Server
	http     *httptest.Server
	dir      string
	mu       sync.Mutex
	now      time.Time
}

const adminPassword = "correct horse battery"

func newEnv(t *testing.T, maxUpload int64) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), now: time.Now().UTC().Truncate(time.Second), backends: testenv.Backend(t)}
	srv, err := server.Open(context.Background(), server.Config{
		DataDir: e.dir, DB: e.backends.DB, Blob: e.backends.Blob, MaxUpload: maxUpload, Now: e.clock,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.http = httptest.NewServer(srv.Handler())
	t.Cleanup(func() { e.http.Close(); srv.Close() })
	for _, tenant := range []string{"acme", "other"} {
		if _, err := srv.Svc.InitTenant(context.Background(), tenant, "admin", adminPassword); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// do sends a request as login (user@tenant) with password.
func (e *env) do(method, path, login, password, contentType string, body io.Reader, header ...string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if login != "" {
		req.SetBasicAuth(login, password)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) admin(method, path, contentType string, body io.Reader, header ...string) resp {
	e.t.Helper()
	return e.do(method, path, "admin@acme", adminPassword, contentType, body, header...)
}

// wantError checks a JSON error answer.
func wantError(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	m := r.json(t)
	if m["code"] != code || m["message"] == "" {
		t.Fatalf("error body %s, want code %q and a message", r.body, code)
	}
	if strings.Contains(string(r.body), "goroutine") || strings.Contains(string(r.body), ".go:") {
		t.Fatalf("error body leaks internals: %s", r.body)
	}
}

func openssl(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %v: %v: %s", args, err, out)
	}
}

// guideCert makes a key and certificate with the guide's openssl commands.
func guideCert(t *testing.T, dir, name string, bits int) (certPath, keyPath string) {
	t.Helper()
	keyPath = filepath.Join(dir, name+".key")
	certPath = filepath.Join(dir, name+".pem")
	openssl(t, "genrsa", "-out", keyPath, fmt.Sprint(bits))
	openssl(t, "req", "-new", "-x509", "-key", keyPath, "-out", certPath, "-days", "3650", "-subj", "/CN=Genesys Recording/C=US/ST=California/O=Genesys")
	return certPath, keyPath
}

func multipartBody(t *testing.T, fields map[string]string, files map[string]string) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for name, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fw, _ := mw.CreateFormFile(name, filepath.Base(path))
		fw.Write(data)
	}
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func (e *env) uploadCert(certPath, keyPath string, fields map[string]string) resp {
	e.t.Helper()
	ct, body := multipartBody(e.t, fields, map[string]string{"certificate": certPath, "key": keyPath})
	return e.admin("POST", "/api/v2/certificates", ct, body)
}

func (e *env) certCount() int {
	e.t.Helper()
	r := e.admin("GET", "/api/v2/certificates", "", nil)
	var out struct{ Certificates []map[string]any }
	json.Unmarshal(r.body, &out)
	return len(out.Certificates)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestCertificatesAPI(t *testing.T) {
	e := newEnv(t, 0)
	dir := t.TempDir()
	certPath, keyPath := guideCert(t, dir, "tenant", 2048)

	r := e.uploadCert(certPath, keyPath, map[string]string{"assign": "voice"})
	if r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	c := r.json(t)
	for field, want := range map[string]string{
		"subjectName": "Genesys Recording <Email not set>",
		"subjectDN":   "CN=Genesys Recording,C=US,ST=California,O=Genesys",
		"issuerDN":    "CN=Genesys Recording,C=US,ST=California,O=Genesys",
	} {
		if c[field] != want {
			t.Errorf("%s = %v, want %q", field, c[field], want)
		}
	}
	alias := c["alias"].(string)
	if strings.Contains(string(r.body), "PRIVATE KEY") {
		t.Fatal("the answer contains the private key")
	}

	// List, filter, details.
	if n := e.certCount(); n != 1 {
		t.Fatalf("%d certificates, want 1", n)
	}
	r = e.admin("GET", "/api/v2/certificates?q=genesys", "", nil)
	if !strings.Contains(string(r.body), alias) {
		t.Errorf("quick filter 'genesys' misses the certificate: %s", r.body)
	}
	r = e.admin("GET", "/api/v2/certificates?q=nomatch", "", nil)
	if strings.Contains(string(r.body), alias) {
		t.Errorf("quick filter 'nomatch' finds the certificate")
	}
	r = e.admin("GET", "/api/v2/certificates/"+alias, "", nil)
	if r.status != 200 || r.json(t)["deployedCount"] != float64(0) {
		t.Fatalf("details: %d %s", r.status, r.body)
	}
	// The other tenant sees nothing of it.
	r = e.do("GET", "/api/v2/certificates/"+alias, "admin@other", adminPassword, "", nil)
	wantError(t, r, 404, "not_found")

	// Bad uploads: each a 4xx with a JSON error, nothing stored.
	other, otherKey := guideCert(t, dir, "other", 2048)
	small, smallKey := guideCert(t, dir, "small", 1024)
	encKey := filepath.Join(dir, "enc.key")
	openssl(t, "pkcs8", "-topk8", "-in", otherKey, "-out", encKey, "-v2", "aes256", "-passout", "pass:s3cret-pw")
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("this is not a certificate"), 0o600)
	bad := []struct {
		name       string
		cert, key  string
		fields     map[string]string
		wantStatus int
	}{
		{"not PEM", notPEM, keyPath, nil, 400},
		{"key does not match", other, keyPath, nil, 400},
		{"key under 2048 bits", small, smallKey, nil, 400},
		{"wrong key password", other, encKey, map[string]string{"password": "wrong-pw"}, 400},
		{"missing key password", other, encKey, nil, 400},
		{"bad usage", other, otherKey, map[string]string{"assign": "fax"}, 400},
		{"duplicate", certPath, keyPath, nil, 409},
	}
	for _, b := range bad {
		r := e.uploadCert(b.cert, b.key, b.fields)
		if r.status != b.wantStatus {
			t.Errorf("%s: status %d, want %d: %s", b.name, r.status, b.wantStatus, r.body)
		}
		if strings.Contains(string(r.body), "s3cret-pw") || strings.Contains(string(r.body), "wrong-pw") {
			t.Errorf("%s: the answer repeats the password", b.name)
		}
	}
	if n := e.certCount(); n != 1 {
		t.Fatalf("after bad uploads: %d certificates, want 1", n)
	}
	// The right password works.
	r = e.uploadCert(other, encKey, map[string]string{"password": "s3cret-pw"})
	if r.status != 201 {
		t.Fatalf("encrypted key with its password: %d %s", r.status, r.body)
	}
	otherAlias := r.json(t)["alias"].(string)

	// Assign and unassign.
	r = e.admin("POST", "/api/v2/certificates/"+otherAlias+"/assign?usage=screen", "", nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"screen"`) {
		t.Fatalf("assign: %d %s", r.status, r.body)
	}
	r = e.admin("POST", "/api/v2/certificates/"+otherAlias+"/unassign?usage=screen", "", nil)
	if r.status != 200 || strings.Contains(string(r.body), `"screen"`) {
		t.Fatalf("unassign: %d %s", r.status, r.body)
	}

	// Delete: refused while media needs it, allowed once it does not.
	audio := samples.Recordings()[0].Media[0].Data
	r = e.admin("PUT", "/api/v2/recordings/R1/media/a.mp3", "audio/mp3", bytes.NewReader(audio))
	if r.status != 201 {
		t.Fatalf("media: %d %s", r.status, r.body)
	}
	wantError(t, e.admin("DELETE", "/api/v2/certificates/"+alias, "", nil), 409, "conflict")
	r = e.admin("GET", "/api/v2/certificates/"+alias, "", nil)
	if r.json(t)["deployedCount"] != float64(1) {
		t.Errorf("deployedCount after one upload: %s", r.body)
	}
	if r := e.admin("DELETE", "/api/v2/recordings/R1", "", nil); r.status != 204 {
		t.Fatalf("delete recording: %d %s", r.status, r.body)
	}
	if r := e.admin("DELETE", "/api/v2/certificates/"+alias, "", nil); r.status != 204 {
		t.Fatalf("delete unused certificate: %d %s", r.status, r.body)
	}
}

// setUpVoice uploads a guide certificate assigned for voice and returns
// its key path.
func (e *env) setUpVoice() (certPath, keyPath string) {
	e.t.Helper()
	certPath, keyPath = guideCert(e.t, e.t.TempDir(), "tenant", 2048)
	if r := e.uploadCert(certPath, keyPath, map[string]string{"assign": "voice"}); r.status != 201 {
		e.t.Fatalf("upload: %d %s", r.status, r.body)
	}
	return certPath, keyPath
}

func TestIngestFetchPlay(t *testing.T) {
	e := newEnv(t, 0)
	_, keyPath := e.setUpVoice()
	sample := samples.Recordings()[0]
	audio, video := sample.Media[0], sample.Media[1]
	id := sample.ID

	// Media first, metadata after (either order must work).
	r := e.admin("PUT", "/api/v2/recordings/"+id+"/media/"+url.PathEscape(audio.MediaID), audio.Type, bytes.NewReader(audio.Data))
	if r.status != 201 {
		t.Fatalf("audio: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["encrypted"] != true || len(m["certAlias"].([]any)) != 1 {
		t.Fatalf("audio not encrypted for the voice certificate: %s", r.body)
	}
	// No screen certificate: the video is stored unencrypted, and says so.
	r = e.admin("PUT", "/api/v2/recordings/"+id+"/media/"+url.PathEscape(video.MediaID), video.Type, bytes.NewReader(video.Data))
	if r.status != 201 || r.json(t)["encrypted"] != false || r.json(t)["warning"] == nil {
		t.Fatalf("video without screen certificate: %d %s", r.status, r.body)
	}
	r = e.admin("PUT", "/api/v2/recordings/"+id, "application/json", bytes.NewReader(sample.Metadata))
	if r.status != 200 {
		t.Fatalf("metadata: %d %s", r.status, r.body)
	}

	r = e.admin("GET", "/api/v2/recordings/"+id, "", nil)
	var rec struct {
		ID         string
		MediaFiles []map[string]any
	}
	if err := json.Unmarshal(r.body, &rec); err != nil || rec.ID != id || len(rec.MediaFiles) != 2 {
		t.Fatalf("recording: %v %s", err, r.body)
	}
	byID := map[string]map[string]any{}
	for _, mf := range rec.MediaFiles {
		byID[mf["mediaId"].(string)] = mf
		for _, field := range []string{"mediaUri", "size", "sha256", "certAlias"} {
			if _, ok := mf[field]; !ok {
				t.Errorf("media %v lacks %s", mf["mediaId"], field)
			}
		}
	}

	// Stored bytes: Content-Length and SHA-256 as recorded; openssl opens them.
	mf := byID[audio.MediaID]
	mediaURL, _ := url.Parse(mf["mediaUri"].(string))
	r = e.admin("GET", mediaURL.EscapedPath(), "", nil)
	if r.status != 200 || r.header.Get("Content-Length") != fmt.Sprint(len(r.body)) {
		t.Fatalf("stored media: %d, %d bytes, Content-Length %s", r.status, len(r.body), r.header.Get("Content-Length"))
	}
	if sha(r.body) != mf["sha256"] || r.header.Get("X-Content-SHA256") != mf["sha256"] || float64(len(r.body)) != mf["size"] {
		t.Fatal("stored media does not match its recorded size and SHA-256")
	}
	dir := t.TempDir()
	enc := filepath.Join(dir, "a.bin")
	os.WriteFile(enc, r.body, 0o600)
	openssl(t, "cms", "-decrypt", "-inform", "DER", "-in", enc, "-binary", "-inkey", keyPath, "-out", filepath.Join(dir, "a.mp3"))
	if plain, _ := os.ReadFile(filepath.Join(dir, "a.mp3")); !bytes.Equal(plain, audio.Data) {
		t.Fatal("openssl's decryption of the stored media differs from what was uploaded")
	}

	// Playback: decrypted, with Range.
	play := "/api/v2/recordings/" + id + "/play/" + url.PathEscape(audio.MediaID)
	r = e.admin("GET", play, "", nil)
	if r.status != 200 || !bytes.Equal(r.body, audio.Data) || r.header.Get("Content-Type") != "audio/mpeg" {
		t.Fatalf("play: %d, %d bytes, %s", r.status, len(r.body), r.header.Get("Content-Type"))
	}
	for _, rg := range [][2]int{{0, 0}, {1000, 1999}, {len(audio.Data) - 17, len(audio.Data) - 1}, {5, 40000}} {
		r = e.admin("GET", play, "", nil, "Range", fmt.Sprintf("bytes=%d-%d", rg[0], rg[1]))
		if r.status != 206 || !bytes.Equal(r.body, audio.Data[rg[0]:rg[1]+1]) {
			t.Fatalf("range %v: %d, %d bytes", rg, r.status, len(r.body))
		}
	}
	r = e.admin("GET", "/api/v2/recordings/"+id+"/play/"+url.PathEscape(video.MediaID), "", nil)
	if r.status != 200 || !bytes.Equal(r.body, video.Data) {
		t.Fatalf("play unencrypted video: %d", r.status)
	}

	// Pre-encrypted CMS is stored as it came, and recognised.
	cmsPath := filepath.Join(dir, "pre.bin")
	os.WriteFile(filepath.Join(dir, "pre.mp3"), audio.Data, 0o600)
	certPath := strings.TrimSuffix(keyPath, ".key") + ".pem"
	openssl(t, "cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-in", filepath.Join(dir, "pre.mp3"), "-out", cmsPath, certPath)
	pre, _ := os.ReadFile(cmsPath)
	r = e.admin("PUT", "/api/v2/recordings/"+id+"/media/pre.mp3.bin", "application/pkcs7-mime", bytes.NewReader(pre))
	if r.status != 201 || r.json(t)["sha256"] != sha(pre) || len(r.json(t)["certAlias"].([]any)) != 1 {
		t.Fatalf("pre-encrypted: %d %s", r.status, r.body)
	}
	r = e.admin("GET", "/api/v2/recordings/"+id+"/play/pre.mp3.bin", "", nil)
	if !bytes.Equal(r.body, audio.Data) {
		t.Fatal("pre-encrypted media does not play back as its plaintext")
	}

	// Both guide examples load unchanged.
	for _, s := range samples.Recordings() {
		if r := e.admin("PUT", "/api/v2/recordings/"+s.ID, "application/json", bytes.NewReader(s.Metadata)); r.status != 200 {
			t.Fatalf("guide example %s: %d %s", s.ID, r.status, r.body)
		}
	}
}

func TestBadInputStoresNothing(t *testing.T) {
	e := newEnv(t, 1<<20)
	e.setUpVoice()
	audio := samples.Recordings()[0].Media[0].Data
	cases := []struct {
		name, method, path, ct string
		body                   []byte
		status                 int
		code                   string
	}{
		{"malformed metadata JSON", "PUT", "/api/v2/recordings/R1", "application/json", []byte(`{"id": "R1",`), 400, "invalid"},
		{"metadata field of the wrong type", "PUT", "/api/v2/recordings/R1", "application/json", []byte(`{"startTime": 5}`), 400, "invalid"},
		{"metadata id mismatch", "PUT", "/api/v2/recordings/R1", "application/json", []byte(`{"id": "R2"}`), 400, "invalid"},
		{"metadata mediaId with ..", "PUT", "/api/v2/recordings/R1", "application/json", []byte(`{"mediaFiles":[{"mediaId":"../../etc/x"}]}`), 400, "invalid"},
		{"recording id with ..", "PUT", "/api/v2/recordings/a..b/media/m.mp3", "audio/mp3", audio, 400, "invalid"},
		{"recording id with encoded /", "PUT", "/api/v2/recordings/a%2Fb/media/m.mp3", "audio/mp3", audio, 400, "invalid"},
		{"media id with ..", "PUT", "/api/v2/recordings/R1/media/..", "audio/mp3", audio, 400, "invalid"},
		{"media type not allowed", "PUT", "/api/v2/recordings/R1/media/m.exe", "application/x-msdownload", audio, 415, "unsupported"},
		{"no media type", "PUT", "/api/v2/recordings/R1/media/m.mp3", "", audio, 415, "unsupported"},
		{"body over the limit", "PUT", "/api/v2/recordings/R1/media/big.mp3", "audio/mp3", make([]byte, 1<<20+1), 413, "too_large"},
		{"CMS that is not CMS", "PUT", "/api/v2/recordings/R1/media/x.mp3", "application/pkcs7-mime", audio, 400, "invalid"},
		{"unknown search parameter", "GET", "/api/v2/recordings?colour=red", "", nil, 400, "invalid"},
		{"bad search time", "GET", "/api/v2/recordings?startTime=yesterday", "", nil, 400, "invalid"},
		{"limit over 1000", "GET", "/api/v2/recordings?limit=1001", "", nil, 400, "invalid"},
		{"bad cursor", "GET", "/api/v2/recordings?cursor=xyz", "", nil, 400, "invalid"},
		{"user with unknown field", "POST", "/api/v2/users", "application/json", []byte(`{"userName":"x","password":"12345678","colour":1}`), 400, "invalid"},
		{"user field of wrong type", "POST", "/api/v2/users", "application/json", []byte(`{"userName":"x","password":"12345678","roles":"admin"}`), 400, "invalid"},
		{"retention negative", "PUT", "/api/v2/settings/retention", "application/json", []byte(`{"retentionDays":-1}`), 400, "invalid"},
		{"no such call", "GET", "/api/v2/nothing", "", nil, 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader
			if c.body != nil {
				body = bytes.NewReader(c.body)
			}
			wantError(t, e.admin(c.method, c.path, c.ct, body), c.status, c.code)
		})
	}
	// Nothing was stored: no recordings, no media files on disk.
	r := e.admin("GET", "/api/v2/recordings", "", nil)
	if !strings.Contains(string(r.body), `"recordings":[]`) {
		t.Fatalf("bad input left recordings: %s", r.body)
	}
	if files := e.backends.Objects(t, e.dir); len(files) > 0 {
		t.Fatalf("bad input left media files: %v", files)
	}
}

// TestInterruptedUploadLeavesNothing cuts an upload off mid-body: no
// media row, no file under a final name.
func TestInterruptedUploadLeavesNothing(t *testing.T) {
	e := newEnv(t, 0)
	e.setUpVoice()
	pr, pw := io.Pipe()
	go func() {
		pw.Write(make([]byte, 300<<10))
		pw.CloseWithError(fmt.Errorf("client went away"))
	}()
	req, _ := http.NewRequest("PUT", e.http.URL+"/api/v2/recordings/R9/media/cut.mp3", pr)
	req.SetBasicAuth("admin@acme", adminPassword)
	req.Header.Set("Content-Type", "audio/mp3")
	req.ContentLength = 1 << 20
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
	}
	// The handler notices the cut and cleans up; give it a moment.
	var files []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if files = e.backends.Objects(t, e.dir); len(files) == 0 {
			break
		}
	}
	if len(files) > 0 {
		t.Fatalf("an interrupted upload left files: %v", files)
	}
	r := e.admin("GET", "/api/v2/recordings/R9", "", nil)
	if r.status == 200 && strings.Contains(string(r.body), "cut.mp3") {
		t.Fatalf("an interrupted upload is recorded: %s", r.body)
	}
}

func TestTenantsAreIsolated(t *testing.T) {
	e := newEnv(t, 0)
	e.setUpVoice()
	sample := samples.Recordings()[1]
	if r := e.admin("PUT", "/api/v2/recordings/"+sample.ID, "application/json", bytes.NewReader(sample.Metadata)); r.status != 200 {
		t.Fatal(r.status)
	}
	other := func(method, path string) resp {
		return e.do(method, path, "admin@other", adminPassword, "", nil)
	}
	if r := other("GET", "/api/v2/recordings"); !strings.Contains(string(r.body), `"recordings":[]`) {
		t.Fatalf("other tenant sees recordings: %s", r.body)
	}
	wantError(t, other("GET", "/api/v2/recordings/"+sample.ID), 404, "not_found")
	wantError(t, other("DELETE", "/api/v2/recordings/"+sample.ID), 404, "not_found")
	if r := other("GET", "/api/v2/users"); strings.Contains(string(r.body), "acme") {
		t.Fatalf("other tenant sees acme's users: %s", r.body)
	}
}

// TestAccessControl builds the guide's example: Anthony over John (Agent1,
// Agent2) and Paul (Agent3, Agent4), partitions /sales,/support, an
// IVR-only segment.
func TestAccessControl(t *testing.T) {
	e := newEnv(t, 0)
	users := []struct{ name, role, hierarchy, groups string }{
		{"Agent1", "agent", "/Anthony/John", ""},
		{"Agent2", "agent", "/Anthony/John", ""},
		{"Agent3", "agent", "/Anthony/Paul", ""},
		{"Agent4", "agent", "/Anthony/Paul", ""},
		{"anthony", "supervisor", "", "/Anthony"},
		{"john", "supervisor", "", "/Anthony/John"},
		{"paul", "supervisor", "", "/Anthony/Paul"},
		{"sales", "supervisor", "", "/sales"},
		{"everyone", "supervisor", "", "/"},
		{"nobody", "supervisor", "", ""},
	}
	for _, u := range users {
		body := map[string]any{"userName": u.name, "password": "password-" + u.name, "roles": []string{u.role}, "accessGroups": []string{}}
		if u.hierarchy != "" {
			body["agentHierarchy"] = u.hierarchy
		}
		if u.groups != "" {
			body["accessGroups"] = []string{u.groups}
		}
		b, _ := json.Marshal(body)
		if r := e.admin("POST", "/api/v2/users", "application/json", bytes.NewReader(b)); r.status != 201 {
			t.Fatalf("create %s: %d %s", u.name, r.status, r.body)
		}
	}
	put := func(id, agent, partitions string, start int) {
		doc := map[string]any{"id": id, "startTime": fmt.Sprintf("2026-10-01T10:%02d:00.000+0000", start),
			"stopTime": fmt.Sprintf("2026-10-01T10:%02d:30.000+0000", start)}
		events := []map[string]any{}
		if agent != "" {
			events = append(events, map[string]any{"occurredAt": "2026-10-01T10:00:01.000+0000", "event": "Joined", "calluuid": id,
				"contact": map[string]any{"type": "User", "userName": agent}})
		}
		if partitions != "" {
			events = append(events, map[string]any{"occurredAt": "2026-10-01T10:00:02.000+0000", "eventId": id + "_p", "event": "Data", "calluuid": id,
				"data": map[string]any{"added": map[string]any{"GRECORD_PARTITIONS": partitions}}})
		}
		doc["eventHistory"] = events
		b, _ := json.Marshal(doc)
		if r := e.admin("PUT", "/api/v2/recordings/"+id, "application/json", bytes.NewReader(b)); r.status != 200 {
			t.Fatalf("put %s: %d %s", id, r.status, r.body)
		}
	}
	put("r-agent1", "Agent1", "", 1)
	put("r-agent2", "Agent2", "", 2)
	put("r-agent3", "Agent3", "", 3)
	put("r-agent4-sales", "Agent4", "/sales,/support", 4)
	put("r-ivr", "", "", 5)
	put("r-ivr-sales", "", "/sales", 6)

	cases := map[string][]string{
		"everyone": {"r-agent1", "r-agent2", "r-agent3", "r-agent4-sales", "r-ivr", "r-ivr-sales"},
		"anthony":  {"r-agent1", "r-agent2", "r-agent3", "r-agent4-sales"},
		"john":     {"r-agent1", "r-agent2"},
		"paul":     {"r-agent3", "r-agent4-sales"},
		"sales":    {"r-agent4-sales", "r-ivr-sales"},
		"Agent3":   {"r-agent3"},
		"nobody":   nil,
	}
	for user, want := range cases {
		login := user + "@acme"
		pw := "password-" + user
		// Page size 1: paging must give full, correct pages of visible
		// records only.
		var got []string
		next := "/api/v2/recordings?limit=1"
		for next != "" {
			r := e.do("GET", next, login, pw, "", nil)
			if r.status != 200 {
				t.Fatalf("%s: %d %s", user, r.status, r.body)
			}
			var page struct {
				Recordings []struct{ ID string }
				Next       *string
			}
			json.Unmarshal(r.body, &page)
			for _, rec := range page.Recordings {
				got = append(got, rec.ID)
			}
			next = ""
			if page.Next != nil {
				u, _ := url.Parse(*page.Next)
				next = u.RequestURI()
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s sees %v, want %v", user, got, want)
		}
		for _, id := range []string{"r-agent1", "r-ivr"} {
			r := e.do("GET", "/api/v2/recordings/"+id, login, pw, "", nil)
			visible := slices.Contains(want, id)
			if visible != (r.status == 200) {
				t.Errorf("%s GET %s: %d, visible=%v", user, id, r.status, visible)
			}
		}
	}
	// Only admins delete; an agent cannot, even their own.
	wantError(t, e.do("DELETE", "/api/v2/recordings/r-agent3", "Agent3@acme", "password-Agent3", "", nil), 403, "forbidden")
	// Agents cannot manage certificates or users.
	wantError(t, e.do("GET", "/api/v2/users", "Agent3@acme", "password-Agent3", "", nil), 403, "forbidden")
}

func TestSearchFiltersAndPaging(t *testing.T) {
	e := newEnv(t, 0)
	base := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 30; i++ {
		start := base.Add(time.Duration(i) * time.Hour)
		doc := map[string]any{"id": fmt.Sprintf("rec-%02d", i), "callerPhoneNumber": fmt.Sprintf("+1905%03d", i),
			"dialedPhoneNumber": "+15126401290", "startTime": start.Format(time.RFC3339), "stopTime": start.Add(10 * time.Minute).Format(time.RFC3339),
			"mediaFiles": []map[string]any{{"mediaId": fmt.Sprintf("m%d.mp3", i), "type": map[bool]string{true: "video/mp4", false: "audio/mp3"}[i%3 == 0],
				"parameters": map[string]any{"username": fmt.Sprintf("agent%d", i%4)}}}}
		b, _ := json.Marshal(doc)
		if r := e.admin("PUT", "/api/v2/recordings/"+doc["id"].(string), "application/json", bytes.NewReader(b)); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	ids := func(q string) []string {
		r := e.admin("GET", "/api/v2/recordings?"+q, "", nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		var page struct{ Recordings []struct{ ID string } }
		json.Unmarshal(r.body, &page)
		var out []string
		for _, rec := range page.Recordings {
			out = append(out, rec.ID)
		}
		return out
	}
	ms := func(h int) int64 { return base.Add(time.Duration(h) * time.Hour).UnixMilli() }
	checks := map[string]int{
		fmt.Sprintf("startTimeRange=%d,%d", ms(0), ms(10)):                     10,
		fmt.Sprintf("endTimeRange=%d,%d", ms(0), ms(1)):                        1,
		"startTime=" + base.Add(25*time.Hour).Format(time.RFC3339):             5,
		fmt.Sprintf("endTime=%d", base.Add(2*time.Hour).UnixMilli()):           2,
		"callerPhoneNumber=%2B1905007":                                         1,
		"callerPhoneNumber=%2B190500*":                                         10,
		"callerPhoneNumber=*29":                                                1,
		"dialedPhoneNumber=%2B15126401290":                                     30,
		"userName=agent1":                                                      8,
		"mediaType=video/mp4":                                                  10,
		"mediaType=video/mp4&userName=agent0":                                  3,
		fmt.Sprintf("startTimeRange=%d,%d&mediaType=audio/mp3", ms(0), ms(10)): 6,
	}
	for q, want := range checks {
		if got := ids(q); len(got) != want {
			t.Errorf("%s: %d results, want %d: %v", q, len(got), want, got)
		}
	}
	// Paging in (start time, id) order never repeats or skips, even with
	// new recordings arriving between pages.
	seen := map[string]bool{}
	var order []string
	next := "/api/v2/recordings?limit=7"
	for page := 0; next != ""; page++ {
		r := e.admin("GET", next, "", nil)
		var p struct {
			Recordings []struct{ ID string }
			Next       *string
		}
		json.Unmarshal(r.body, &p)
		for _, rec := range p.Recordings {
			if seen[rec.ID] {
				t.Fatalf("%s repeated", rec.ID)
			}
			seen[rec.ID] = true
			order = append(order, rec.ID)
		}
		if page == 1 { // a late arrival, after everything seen so far
			b := []byte(`{"id":"rec-late","startTime":"2026-12-01T00:00:00Z"}`)
			e.admin("PUT", "/api/v2/recordings/rec-late", "application/json", bytes.NewReader(b))
		}
		next = ""
		if p.Next != nil {
			u, _ := url.Parse(*p.Next)
			next = u.RequestURI()
		}
	}
	for i := 0; i < 30; i++ {
		if !seen[fmt.Sprintf("rec-%02d", i)] {
			t.Fatalf("rec-%02d skipped", i)
		}
	}
	if !sort.StringsAreSorted(order) {
		t.Fatalf("not in start-time order: %v", order)
	}
}

func TestUsersAndRetention(t *testing.T) {
	e := newEnv(t, 0)
	b := []byte(`{"userName":"sup","password":"supervisor-pw","roles":["supervisor"],"agentHierarchy":"Anthony/John/","accessGroups":["/sales/"]}`)
	r := e.admin("POST", "/api/v2/users", "application/json", bytes.NewReader(b))
	if r.status != 201 || strings.Contains(string(r.body), "argon2") {
		t.Fatalf("create user: %d %s", r.status, r.body)
	}
	u := r.json(t)
	if u["agentHierarchy"] != "/Anthony/John" || fmt.Sprint(u["accessGroups"]) != "[/sales]" {
		t.Errorf("not normalised: %s", r.body)
	}
	wantError(t, e.admin("POST", "/api/v2/users", "application/json", bytes.NewReader(b)), 409, "conflict")
	if r := e.admin("GET", "/api/v2/users/sup", "", nil); r.status != 200 || r.json(t)["userName"] != "sup" {
		t.Fatalf("get user: %d %s", r.status, r.body)
	}
	wantError(t, e.admin("GET", "/api/v2/users/nobody", "", nil), 404, "not_found")
	r = e.admin("PUT", "/api/v2/users/sup", "application/json", strings.NewReader(`{"accessGroups":["/support"],"password":"new-password"}`))
	if r.status != 200 || !strings.Contains(string(r.body), "/support") {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v2/me", "sup@acme", "new-password", "", nil); r.status != 200 || r.json(t)["userName"] != "sup" {
		t.Fatalf("me after password change: %d %s", r.status, r.body)
	}
	wantError(t, e.do("GET", "/api/v2/me", "sup@acme", "supervisor-pw", "", nil), 401, "unauthorized")

	// Retention: a sweep deletes what is past it, and nothing earlier.
	e.setUpVoice()
	audio := samples.Recordings()[0].Media[0].Data
	stop := e.clock().Add(-10 * 24 * time.Hour)
	for i, age := range []time.Duration{40 * 24 * time.Hour, 10 * 24 * time.Hour} {
		s := e.clock().Add(-age)
		doc := fmt.Sprintf(`{"startTime":%q,"stopTime":%q}`, s.Add(-time.Minute).Format(time.RFC3339), s.Format(time.RFC3339))
		id := fmt.Sprintf("ret-%d", i)
		e.admin("PUT", "/api/v2/recordings/"+id, "application/json", strings.NewReader(doc))
		e.admin("PUT", "/api/v2/recordings/"+id+"/media/a.mp3", "audio/mp3", bytes.NewReader(audio))
	}
	_ = stop
	if r := e.admin("PUT", "/api/v2/settings/retention", "application/json", strings.NewReader(`{"retentionDays":30}`)); r.status != 200 {
		t.Fatalf("set retention: %d %s", r.status, r.body)
	}
	if r := e.admin("GET", "/api/v2/settings/retention", "", nil); r.json(t)["retentionDays"] != float64(30) {
		t.Fatalf("get retention: %s", r.body)
	}
	res, err := e.srv.Svc.Sweep(context.Background())
	if n := service.Deleted(res); err != nil || n != 1 {
		t.Fatalf("sweep: %d deleted, %v; want 1", n, err)
	}
	wantError(t, e.admin("GET", "/api/v2/recordings/ret-0", "", nil), 404, "not_found")
	if r := e.admin("GET", "/api/v2/recordings/ret-1", "", nil); r.status != 200 {
		t.Fatal("the sweep deleted a recording inside the retention period")
	}
	e.advance(21 * 24 * time.Hour) // ret-1 now stopped 31 days ago
	if res, err := e.srv.Svc.Sweep(context.Background()); err != nil || service.Deleted(res) != 1 {
		n := service.Deleted(res)
		t.Fatalf("second sweep: %d, %v", n, err)
	}
	if files := e.backends.Objects(t, e.dir); len(files) > 0 {
		t.Fatalf("retention left media files: %v", files)
	}
}

func TestAuthSessionsAndRateLimit(t *testing.T) {
	e := newEnv(t, 0)
	wantError(t, e.do("GET", "/api/v2/me", "", "", "", nil), 401, "unauthorized")
	wantError(t, e.do("GET", "/api/v2/me", "admin@acme", "wrong", "", nil), 401, "unauthorized")
	wantError(t, e.do("GET", "/api/v2/me", "admin", adminPassword, "", nil), 401, "unauthorized")

	// Browser session: cookie, and the CSRF token on changes.
	r := e.do("POST", "/api/v2/login", "", "", "application/json", strings.NewReader(`{"userName":"admin@acme","password":"`+adminPassword+`"}`))
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	csrf := r.json(t)["csrfToken"].(string)
	var cookie string
	for _, c := range strings.Split(r.header.Get("Set-Cookie"), ";") {
		if strings.HasPrefix(c, "callvault_session=") {
			cookie = c
		}
	}
	if cookie == "" || !strings.Contains(r.header.Get("Set-Cookie"), "HttpOnly") {
		t.Fatalf("session cookie: %q", r.header.Get("Set-Cookie"))
	}
	if r := e.do("GET", "/api/v2/me", "", "", "", nil, "Cookie", cookie); r.status != 200 {
		t.Fatalf("me with cookie: %d", r.status)
	}
	body := `{"retentionDays":7}`
	wantError(t, e.do("PUT", "/api/v2/settings/retention", "", "", "application/json", strings.NewReader(body), "Cookie", cookie), 403, "forbidden")
	if r := e.do("PUT", "/api/v2/settings/retention", "", "", "application/json", strings.NewReader(body), "Cookie", cookie, "X-CSRF-TOKEN", csrf); r.status != 200 {
		t.Fatalf("change with CSRF token: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v2/logout", "", "", "", nil, "Cookie", cookie, "X-CSRF-TOKEN", csrf); r.status != 204 {
		t.Fatalf("logout: %d", r.status)
	}
	wantError(t, e.do("GET", "/api/v2/me", "", "", "", nil, "Cookie", cookie), 401, "unauthorized")

	// Guessing: after 5 failures the login is refused for a while, even
	// with the right password.
	for i := 0; i < 5; i++ {
		e.do("GET", "/api/v2/me", "admin@other", "guess", "", nil)
	}
	r = e.do("GET", "/api/v2/me", "admin@other", adminPassword, "", nil)
	wantError(t, r, 429, "rate_limited")
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	e.advance(2 * time.Minute)
	if r := e.do("GET", "/api/v2/me", "admin@other", adminPassword, "", nil); r.status != 200 {
		t.Fatalf("after the window: %d", r.status)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t, 0)
	if r := e.do("GET", "/healthz", "", "", "", nil); r.status != 200 {
		t.Fatalf("healthz: %d", r.status)
	}
	e.admin("GET", "/api/v2/me", "", nil)
	// Without -metrics-addr, /metrics is on the main listener for
	// administrators only (issue 9: no longer anonymous).
	wantError(t, e.do("GET", "/metrics", "", "", "", nil), 401, "unauthorized")
	r := e.admin("GET", "/metrics", "", nil)
	if r.status != 200 || !strings.Contains(string(r.body), `callvault_http_requests_total{code="200",route="GET /api/v2/me"}`) {
		t.Fatalf("metrics: %d %s", r.status, r.body[:min(len(r.body), 300)])
	}
}
