package httpapi_test

// Black-box tests of issue 9's hardening of the HTTP layer, against the
// real server (SQLite and files, or the configured backends) over HTTP.

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
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"callvault/internal/samples"
	"callvault/internal/server"
	"callvault/internal/testenv"
	"callvault/internal/vault"
)

// newEnvWith is newEnv with a say in the server's configuration.
func newEnvWith(t *testing.T, configure func(*server.Config)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), now: time.Now().UTC().Truncate(time.Second), backends: testenv.Backend(t)}
	cfg := server.Config{DataDir: e.dir, DB: e.backends.DB, Blob: e.backends.Blob, Now: e.clock,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	configure(&cfg)
	srv, err := server.Open(context.Background(), cfg)
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

// send is do with a hook on the request (Host, headers).
func (e *env) send(method, path, login, password, contentType string, body io.Reader, edit func(*http.Request)) resp {
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
	if edit != nil {
		edit(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) createUser(doc string) {
	e.t.Helper()
	if r := e.admin("POST", "/api/v2/users", "application/json", strings.NewReader(doc)); r.status != 201 {
		e.t.Fatalf("create user %s: %d %s", doc, r.status, r.body)
	}
}

// Item 6: a recorder stores records it may not read, so its PUT answers
// the id and status only; an administrator still gets the merged record.
func TestRecorderPutAnswersStatusOnly(t *testing.T) {
	e := newEnv(t, 0)
	e.createUser(`{"userName":"rec","password":"recorder-pw","roles":["recorder"]}`)
	sample := samples.Recordings()[0]
	// An administrator stores the record first: the recorder's merge
	// must not show it.
	r := e.admin("PUT", "/api/v2/recordings/"+sample.ID, "application/json", bytes.NewReader(sample.Metadata))
	if r.status != 200 || r.json(t)["id"] != sample.ID || r.json(t)["status"] != nil || !strings.Contains(string(r.body), "19059683343") {
		t.Fatalf("admin PUT: %d %s", r.status, r.body)
	}
	r = e.do("PUT", "/api/v2/recordings/"+sample.ID, "rec@acme", "recorder-pw", "application/json",
		strings.NewReader(`{"eventHistory":[]}`))
	if r.status != 200 {
		t.Fatalf("recorder PUT: %d %s", r.status, r.body)
	}
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil || len(got) != 2 || got["id"] != sample.ID || got["status"] != "stored" {
		t.Fatalf("recorder PUT answered %s, want only {\"id\", \"status\": \"stored\"}", r.body)
	}
	// A new record of its own: the same.
	r = e.do("PUT", "/api/v2/recordings/REC-2", "rec@acme", "recorder-pw", "application/json",
		strings.NewReader(`{"callerPhoneNumber":"+15550001111"}`))
	if r.status != 200 || strings.Contains(string(r.body), "15550001111") || r.json(t)["status"] != "stored" {
		t.Fatalf("recorder PUT of a new record: %d %s", r.status, r.body)
	}
}

// Item 8 (server half): absolute URLs come from -public-url, or by
// default from the listen address; never from the Host header.
func TestAbsoluteURLsIgnoreHost(t *testing.T) {
	evilHost := func(r *http.Request) { r.Host = "evil.example" }
	for _, c := range []struct {
		name      string
		publicURL string
	}{
		{"public URL", "https://vault.example.com:8443"},
		{"default: the listen address", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnvWith(t, func(cfg *server.Config) { cfg.PublicURL = c.publicURL })
			want := c.publicURL
			if want == "" {
				want = e.http.URL // httptest's listener: http://127.0.0.1:PORT
			}
			e.setUpVoice()
			audio := samples.Recordings()[0].Media[0]
			for i := 0; i < 2; i++ {
				id := fmt.Sprintf("U%d", i)
				r := e.send("PUT", "/api/v2/recordings/"+id+"/media/a.mp3", "admin@acme", adminPassword, audio.Type, bytes.NewReader(audio.Data), evilHost)
				if r.status != 201 || r.json(t)["mediaUri"] != want+"/api/v2/recordings/"+id+"/media/a.mp3" {
					t.Fatalf("upload: %d %s", r.status, r.body)
				}
				e.send("PUT", "/api/v2/recordings/"+id, "admin@acme", adminPassword, "application/json",
					strings.NewReader(fmt.Sprintf(`{"startTime":"2024-01-0%dT10:00:00Z"}`, i+1)), nil)
			}
			r := e.send("GET", "/api/v2/recordings/U0", "admin@acme", adminPassword, "", nil, evilHost)
			if !strings.Contains(string(r.body), `"mediaUri":"`+want+`/api/v2/recordings/U0/media/a.mp3"`) || strings.Contains(string(r.body), "evil.example") {
				t.Fatalf("recording: %s", r.body)
			}
			r = e.send("GET", "/api/v2/recordings?limit=1", "admin@acme", adminPassword, "", nil, evilHost)
			var page struct{ Next string }
			json.Unmarshal(r.body, &page)
			if !strings.HasPrefix(page.Next, want+"/api/v2/recordings?") || strings.Contains(string(r.body), "evil.example") {
				t.Fatalf("search: next %q in %s", page.Next, r.body)
			}
			r = e.send("GET", "/api/v2/me/settings/rcbs", "admin@acme", adminPassword, "", nil, evilHost)
			if r.json(t)["recordingsUri"] != want+"/api/v2/recordings" {
				t.Fatalf("rcbs settings: %s", r.body)
			}
		})
	}
}

// Item 9: parallel bad logins for one user (through the API's Basic auth,
// POST /api/v2/login and the UI's POST /login at once: one limiter) check
// at most 5 passwords; the user's owner from another address and other
// users get in; the password checks running at once are bounded (Go heap
// measured with runtime/metrics, the server being in this process); the
// attacked address waits out a back-off, it is not locked out.
func TestParallelLogins(t *testing.T) {
	var mu sync.Mutex
	checks := map[string]int{}
	e := newEnvWith(t, func(cfg *server.Config) {
		cfg.TrustedProxies = "127.0.0.1/32" // the test's client plays a proxy, to use many client addresses
		cfg.Login.OnCheck = func(login string) {
			mu.Lock()
			checks[login]++
			mu.Unlock()
		}
	})
	checksOf := func(login string) int {
		mu.Lock()
		defer mu.Unlock()
		return checks[login]
	}
	from := func(addr string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("X-Forwarded-For", addr) }
	}
	const attacker, owner = "203.0.113.7", "198.51.100.9"
	badLogin := func(i int) resp {
		switch i % 3 {
		case 0:
			return e.send("GET", "/api/v2/me", "admin@acme", fmt.Sprintf("guess-%d", i), "", nil, from(attacker))
		case 1:
			return e.send("POST", "/api/v2/login", "", "", "application/json",
				strings.NewReader(fmt.Sprintf(`{"userName":"admin@acme","password":"guess-%d"}`, i)), from(attacker))
		default:
			return e.send("POST", "/login", "", "", "application/x-www-form-urlencoded",
				strings.NewReader(url.Values{"user": {"admin@acme"}, "password": {fmt.Sprintf("guess-%d", i)}}.Encode()), from(attacker))
		}
	}

	// The owner has logged in from their desk before (a known address):
	// the attack's per-login budget for unknown addresses does not apply
	// to it.
	if r := e.send("GET", "/api/v2/me", "admin@acme", adminPassword, "", nil, from(owner)); r.status != 200 {
		t.Fatalf("owner's first login: %d %s", r.status, r.body)
	}
	const n = 100
	statuses := make([]int, n)
	retryAfter := make([]string, n)
	var good [2]resp
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			r := badLogin(i)
			statuses[i], retryAfter[i] = r.status, r.header.Get("Retry-After")
		}(i)
	}
	wg.Add(2)
	go func() { // another user, from the attacker's address
		defer wg.Done()
		<-start
		good[0] = e.send("GET", "/api/v2/me", "admin@other", adminPassword, "", nil, from(attacker))
	}()
	go func() { // the attacked user, from the owner's address
		defer wg.Done()
		<-start
		good[1] = e.send("GET", "/api/v2/me", "admin@acme", adminPassword, "", nil, from(owner))
	}()
	close(start)
	wg.Wait()

	failed, limited := 0, 0
	for i, s := range statuses {
		switch s {
		case 401:
			failed++
		case 429:
			limited++
			if retryAfter[i] == "" {
				t.Errorf("429 without Retry-After")
			}
		default:
			t.Errorf("bad login %d: status %d", i, s)
		}
	}
	// One check each for the two good logins.
	victimChecks := checksOf("admin@acme") - 1
	t.Logf("%d parallel bad logins of admin@acme: %d password checks, %d answered 401, %d answered 429", n, victimChecks, failed, limited)
	if victimChecks > 5 || failed != victimChecks {
		t.Fatalf("%d password checks for admin@acme from one address (%d answered 401), want at most 5", victimChecks, failed)
	}
	for i, r := range good {
		if r.status != 200 {
			t.Fatalf("good login %d during the attack: %d %s", i, r.status, r.body)
		}
	}

	// Back-off, not lockout: the attacked address waits about a minute,
	// even with the right password, then gets in.
	r := e.send("GET", "/api/v2/me", "admin@acme", adminPassword, "", nil, from(attacker))
	wantError(t, r, 429, "rate_limited")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	e.advance(61 * time.Second)
	if r := e.send("GET", "/api/v2/me", "admin@acme", adminPassword, "", nil, from(attacker)); r.status != 200 {
		t.Fatalf("after the back-off: %d %s", r.status, r.body)
	}

	// Successful Basic auth stays cheap: the password is checked once,
	// then remembered.
	before := checksOf("admin@other")
	for i := 0; i < 50; i++ {
		if r := e.send("GET", "/api/v2/me", "admin@other", adminPassword, "", nil, from(owner)); r.status != 200 {
			t.Fatalf("Basic auth %d: %d", i, r.status)
		}
	}
	if got := checksOf("admin@other") - before; got > 1 {
		t.Fatalf("50 Basic-auth requests ran %d password checks", got)
	}
	// In parallel too: rcbs's threads and a player's range requests send
	// the same credentials from one address at once, and a remembered
	// password is not an attempt to limit (an attempt in flight would
	// count against the 5 of the pair).
	var parallel sync.WaitGroup
	answers := make(chan int, 64)
	for range 64 {
		parallel.Add(1)
		go func() {
			defer parallel.Done()
			answers <- e.send("GET", "/api/v2/me", "admin@other", adminPassword, "", nil, from(owner)).status
		}()
	}
	parallel.Wait()
	close(answers)
	for status := range answers {
		if status != 200 {
			t.Fatalf("64 parallel Basic-auth requests of a logged-in user: one answered %d, want all 200", status)
		}
	}

	// Memory: 120 parallel bad logins of distinct names from distinct
	// addresses all pass the limiter; the password checks running at once
	// stay bounded, and so does the heap. Meanwhile a user who logged in
	// from the same address before gets in, though the remembered check
	// has expired: a slot is reserved for such logins.
	e.advance(6 * time.Minute)
	runtime.GC()
	heap := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(heap)
	baseline := heap[0].Value.Uint64()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
		}
	}()
	const flood = 120
	floodStatus := make([]int, flood)
	var known [5]resp
	for i := range known {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 20 * time.Millisecond)
			known[i] = e.send("GET", "/api/v2/me", "admin@other", adminPassword, "", nil, from(owner))
		}(i)
	}
	for i := 0; i < flood; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := e.send("GET", "/api/v2/me", fmt.Sprintf("ghost%d@acme", i), "wrong-password", "", nil, from(fmt.Sprintf("198.18.%d.%d", i/250, i%250+1)))
			floodStatus[i] = r.status
		}(i)
	}
	wg.Wait()
	close(stop)
	<-sampled
	stats := e.srv.Logins.Stats()
	busy := 0
	for _, s := range floodStatus {
		switch s {
		case 401:
		case 503:
			busy++
		default:
			t.Errorf("flood login: status %d", s)
		}
	}
	for i, r := range known {
		if r.status != 200 {
			t.Errorf("known user's login %d during the flood: %d %s", i, r.status, r.body)
		}
	}
	growth := int64(peak.Load()) - int64(baseline)
	t.Logf("%d parallel bad logins of distinct users: at most %d password checks at once (bound %d), %d answered 503; Go heap peak %.0f MiB above a baseline of %.0f MiB",
		flood, stats.Peak, stats.Slots, busy, float64(growth)/(1<<20), float64(baseline)/(1<<20))
	if stats.Peak > int64(stats.Slots) || stats.Slots > 5 {
		t.Fatalf("%d password checks ran at once, bound %d", stats.Peak, stats.Slots)
	}
	// argon2id takes 19 MiB per check: unbounded, 120 checks would take
	// 2.2 GiB; bounded, the live heap is a few checks, plus what the
	// garbage collector has not collected yet.
	if limit := int64(stats.Slots) * 19 << 20 * 3; growth > limit {
		t.Fatalf("heap grew by %d MiB during the flood, more than %d MiB", growth>>20, limit>>20)
	}
}

// Item 10: media are never served as something a browser would run.
func TestMediaAnswersAreInert(t *testing.T) {
	e := newEnv(t, 0)
	e.setUpVoice()
	audio := samples.Recordings()[0].Media[0]
	// An encrypted upload claiming to be HTML is refused.
	r := e.admin("PUT", "/api/v2/recordings/X1/media/page.html", "application/pkcs7-mime", bytes.NewReader([]byte("not even CMS")), "X-Media-Type", "text/html")
	wantError(t, r, 415, "unsupported")
	r = e.admin("PUT", "/api/v2/recordings/X1/media/page.html", "text/html", strings.NewReader("<script>alert(1)</script>"))
	wantError(t, r, 415, "unsupported")

	if r := e.admin("PUT", "/api/v2/recordings/X1/media/a.mp3", audio.Type, bytes.NewReader(audio.Data)); r.status != 201 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	wantHeaders := func(what string, r resp, contentType, disposition string) {
		t.Helper()
		for k, want := range map[string]string{
			"Content-Type":            contentType,
			"X-Content-Type-Options":  "nosniff",
			"Content-Security-Policy": "default-src 'none'; sandbox",
			"Content-Disposition":     disposition,
		} {
			if got := r.header.Get(k); got != want {
				t.Errorf("%s: %s: %q, want %q", what, k, got, want)
			}
		}
	}
	r = e.admin("GET", "/api/v2/recordings/X1/media/a.mp3", "", nil)
	wantHeaders("stored media", r, "application/pkcs7-mime", `attachment; filename=a.mp3`)
	r = e.admin("GET", "/api/v2/recordings/X1/play/a.mp3", "", nil)
	wantHeaders("play", r, "audio/mpeg", `inline; filename=a.mp3`)
	if !bytes.Equal(r.body, audio.Data) {
		t.Fatal("play does not answer the audio")
	}

	// A row of another type (from before types were checked) plays as a
	// download of opaque bytes, never as HTML.
	ctx := context.Background()
	page := []byte("<html><script>alert(document.cookie)</script></html>")
	key := "acme/old-row/page.html"
	wc, err := e.srv.Svc.Blobs.NewWriter(ctx, key, "text/html")
	if err != nil {
		t.Fatal(err)
	}
	wc.Write(page)
	if err := wc.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(page)
	if _, _, err := e.srv.Svc.Store.PutMedia(ctx, vault.Media{Tenant: "acme", RecordingID: "X1", MediaID: "old page.html", Type: "text/html",
		Size: int64(len(page)), SHA256: hex.EncodeToString(sum[:]), BlobKey: key, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r = e.admin("GET", "/api/v2/recordings/X1/play/"+url.PathEscape("old page.html"), "", nil)
	wantHeaders("play of an old text/html row", r, "application/octet-stream", `attachment; filename="old page.html"`)
	r = e.admin("GET", "/api/v2/recordings/X1/media/"+url.PathEscape("old page.html"), "", nil)
	wantHeaders("stored old text/html row", r, "application/octet-stream", `attachment; filename="old page.html"`)
}

// Item 11: a browser holding Basic credentials cannot be made to change
// anything by another site.
func TestCrossSiteChangesRefused(t *testing.T) {
	e := newEnv(t, 0)
	evilAdmin := `{"userName":"evil","password":"evil-password","roles":["admin"],"accessGroups":["/"]}`
	noUser := func() {
		t.Helper()
		if r := e.admin("GET", "/api/v2/users/evil", "", nil); r.status != 404 {
			t.Fatalf("a cross-site request created the user: %d %s", r.status, r.body)
		}
	}
	for _, c := range []struct {
		name        string
		contentType string
		header      []string
		status      int
		code        string
	}{
		{"text/plain form, old browser", "text/plain", nil, 415, "unsupported"},
		{"text/plain form", "text/plain", []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, 403, "forbidden"},
		{"urlencoded form", "application/x-www-form-urlencoded", nil, 415, "unsupported"},
		{"no content type", "", nil, 415, "unsupported"},
		{"JSON from another site", "application/json", []string{"Sec-Fetch-Site", "cross-site"}, 403, "forbidden"},
		{"JSON from a sibling site", "application/json", []string{"Sec-Fetch-Site", "same-site"}, 403, "forbidden"},
		{"JSON with another Origin", "application/json", []string{"Origin", "https://evil.example"}, 403, "forbidden"},
		{"JSON with Origin null", "application/json", []string{"Origin", "null"}, 403, "forbidden"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, e.admin("POST", "/api/v2/users", c.contentType, strings.NewReader(evilAdmin), c.header...), c.status, c.code)
			noUser()
		})
	}
	// Bodiless changes too: assigning, deleting.
	wantError(t, e.admin("DELETE", "/api/v2/users/admin", "", nil, "Sec-Fetch-Site", "cross-site"), 403, "forbidden")
	wantError(t, e.admin("POST", "/api/v2/certificates/x/assign?usage=voice", "text/plain", strings.NewReader(""), "Origin", "https://evil.example"), 403, "forbidden")
	wantError(t, e.admin("PUT", "/api/v2/recordings/R1/media/a.mp3", "application/json", strings.NewReader("{}")), 415, "unsupported")
	// Our own pages and API clients still work.
	if r := e.admin("POST", "/api/v2/users", "application/json", strings.NewReader(`{"userName":"a1","password":"password-a1"}`), "Sec-Fetch-Site", "same-origin"); r.status != 201 {
		t.Fatalf("same-origin: %d %s", r.status, r.body)
	}
	if r := e.admin("POST", "/api/v2/users", "application/json; charset=utf-8", strings.NewReader(`{"userName":"a2","password":"password-a2"}`), "Origin", e.http.URL); r.status != 201 {
		t.Fatalf("our Origin: %d %s", r.status, r.body)
	}

	// The 401 invites Basic credentials only from API clients, never
	// from a browser (which would cache them for every later request).
	r := e.do("GET", "/api/v2/me", "", "", "", nil)
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("API client's 401 lacks the challenge: %v", r.header)
	}
	for _, h := range [][]string{
		{"Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "none", "Sec-Fetch-Dest", "document"},
		{"Sec-Fetch-Mode", "cors", "Sec-Fetch-Site", "same-origin"},
		{"Accept", "text/html,application/xhtml+xml"},
	} {
		r := e.do("GET", "/api/v2/recordings", "", "", "", nil, h...)
		if r.status != 401 || r.header.Get("WWW-Authenticate") != "" {
			t.Errorf("browser request %v: %d, WWW-Authenticate %q", h, r.status, r.header.Get("WWW-Authenticate"))
		}
	}

	// Certificates arrive as files; PEM pasted into text fields only from
	// our own pages.
	certPath, keyPath := guideCert(t, t.TempDir(), "pasted", 2048)
	certPEM, _ := os.ReadFile(certPath)
	keyPEM, _ := os.ReadFile(keyPath)
	pasted := func() (string, *bytes.Buffer) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("certificate", string(certPEM))
		mw.WriteField("key", string(keyPEM))
		mw.Close()
		return mw.FormDataContentType(), &buf
	}
	ct, body := pasted()
	wantError(t, e.admin("POST", "/api/v2/certificates", ct, body), 400, "invalid")
	if e.certCount() != 0 {
		t.Fatal("pasted PEM from a client that is not our page was stored")
	}
	ct, body = pasted()
	if r := e.admin("POST", "/api/v2/certificates", ct, body, "Sec-Fetch-Site", "same-origin"); r.status != 201 {
		t.Fatalf("pasted PEM from our own page: %d %s", r.status, r.body)
	}
}

// Item 13: users have names, e-mail, a disabled flag, and can be
// deleted; a password change, role change or disabling ends the user's
// sessions at once.
func TestUserFieldsAndSessions(t *testing.T) {
	e := newEnv(t, 0)
	r := e.admin("POST", "/api/v2/users", "application/json", strings.NewReader(
		`{"userName":"jane","password":"password-jane","roles":["supervisor"],"firstName":"Jane","lastName":"Roe","email":"jane@example.com","accessGroups":["/"]}`))
	if r.status != 201 {
		t.Fatalf("create with names: %d %s", r.status, r.body)
	}
	u := r.json(t)
	if u["firstName"] != "Jane" || u["lastName"] != "Roe" || u["email"] != "jane@example.com" || u["disabled"] != false {
		t.Fatalf("created user: %s", r.body)
	}
	r = e.admin("PUT", "/api/v2/users/jane", "application/json", strings.NewReader(`{"firstName":"Janet","email":"janet@example.com"}`))
	if u := r.json(t); r.status != 200 || u["firstName"] != "Janet" || u["lastName"] != "Roe" || u["email"] != "janet@example.com" {
		t.Fatalf("update names: %d %s", r.status, r.body)
	}
	wantError(t, e.admin("PUT", "/api/v2/users/jane", "application/json", strings.NewReader(`{"email":"not an address"}`)), 400, "invalid")

	session := func(password string) (cookie, csrf string) {
		t.Helper()
		r := e.do("POST", "/api/v2/login", "", "", "application/json", strings.NewReader(`{"userName":"jane@acme","password":"`+password+`"}`))
		if r.status != 200 {
			t.Fatalf("login: %d %s", r.status, r.body)
		}
		for _, c := range strings.Split(r.header.Get("Set-Cookie"), ";") {
			if strings.HasPrefix(c, "callvault_session=") {
				cookie = c
			}
		}
		if r := e.do("GET", "/api/v2/me", "", "", "", nil, "Cookie", cookie); r.status != 200 {
			t.Fatalf("session: %d", r.status)
		}
		return cookie, r.json(t)["csrfToken"].(string)
	}
	ended := func(what, cookie string) {
		t.Helper()
		if r := e.do("GET", "/api/v2/me", "", "", "", nil, "Cookie", cookie); r.status != 401 {
			t.Fatalf("after %s the old session still works: %d %s", what, r.status, r.body)
		}
	}
	cookie, _ := session("password-jane")
	e.admin("PUT", "/api/v2/users/jane", "application/json", strings.NewReader(`{"lastName":"Doe"}`))
	if r := e.do("GET", "/api/v2/me", "", "", "", nil, "Cookie", cookie); r.status != 200 {
		t.Fatalf("a change of name ended the session: %d", r.status)
	}
	e.admin("PUT", "/api/v2/users/jane", "application/json", strings.NewReader(`{"password":"password-jane-2"}`))
	ended("a password change", cookie)
	cookie, _ = session("password-jane-2")
	e.admin("PUT", "/api/v2/users/jane", "application/json", strings.NewReader(`{"roles":["agent"]}`))
	ended("a role change", cookie)
	cookie, _ = session("password-jane-2")
	r = e.admin("PUT", "/api/v2/users/jane", "application/json", strings.NewReader(`{"disabled":true}`))
	if r.status != 200 || r.json(t)["disabled"] != true {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	ended("disabling", cookie)
	wantError(t, e.do("GET", "/api/v2/me", "jane@acme", "password-jane-2", "", nil), 401, "unauthorized")
	wantError(t, e.do("POST", "/api/v2/login", "", "", "application/json", strings.NewReader(`{"userName":"jane@acme","password":"password-jane-2"}`)), 401, "unauthorized")

	// Delete: admins only, not oneself; the user is gone.
	e.createUser(`{"userName":"sup","password":"password-sup","roles":["supervisor"]}`)
	wantError(t, e.do("DELETE", "/api/v2/users/jane", "sup@acme", "password-sup", "", nil), 403, "forbidden")
	wantError(t, e.admin("DELETE", "/api/v2/users/admin", "", nil), 400, "invalid")
	if r := e.admin("DELETE", "/api/v2/users/jane", "", nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantError(t, e.admin("GET", "/api/v2/users/jane", "", nil), 404, "not_found")
	wantError(t, e.admin("DELETE", "/api/v2/users/jane", "", nil), 404, "not_found")
}

// Item 14: retention is whole days; 0.5 is refused and changes nothing.
func TestRetentionWholeDaysAPI(t *testing.T) {
	e := newEnv(t, 0)
	if r := e.admin("PUT", "/api/v2/settings/retention", "application/json", strings.NewReader(`{"retentionDays":30}`)); r.status != 200 {
		t.Fatalf("30 days: %d %s", r.status, r.body)
	}
	for _, bad := range []string{`0.5`, `1.5`, `"7"`, `-1`, `36501`, `1e400`} {
		wantError(t, e.admin("PUT", "/api/v2/settings/retention", "application/json", strings.NewReader(`{"retentionDays":`+bad+`}`)), 400, "invalid")
	}
	if r := e.admin("GET", "/api/v2/settings/retention", "", nil); r.json(t)["retentionDays"] != float64(30) {
		t.Fatalf("after refused values: %s", r.body)
	}
	// A part-day period stored by an older version shows as the whole
	// days that keep at least as much.
	if err := e.srv.Svc.Store.SetRetention(context.Background(), "acme", 12*time.Hour); err != nil {
		t.Fatal(err)
	}
	if r := e.admin("GET", "/api/v2/settings/retention", "", nil); r.json(t)["retentionDays"] != float64(1) {
		t.Fatalf("12 hours shows as %s, want 1 day", r.body)
	}
}
