package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"callvault/internal/apiclient"
	"callvault/internal/backup"
)

// Tests of rcbs against a hostile server: a small server written here that
// speaks just enough of /api/v2 (/me, /me/settings/rcbs, the search pages
// with next links, the media reads with their hash headers, as
// internal/httpapi answers them) and lies, stalls or points elsewhere on
// purpose. rcbs runs in-process as the cron line would.

const hostileLayout = "2006-01-02T15:04:05.000-0700"

// hostileMedia is one media file the hostile server offers.
type hostileMedia struct {
	id, mediaType string
	data          []byte // the stored (as if encrypted) bytes
	content       string // contentSha256; "" leaves it out
	certAlias     string // "" stores it as if unencrypted
	uri           string // mediaUri; "" is the server's own
	storageKey    string // "" gives none
}

type hostileRecording struct {
	id    string
	stop  time.Time
	media []*hostileMedia
}

// hostileServer is the test's server. Fields set before a run change
// what it answers; mu guards them and what it saw.
type hostileServer struct {
	t   *testing.T
	url string

	mu       sync.Mutex
	tenant   string
	recs     []*hostileRecording
	pageSize int                                                                // 0: one page
	nextURL  func(page int, own string) string                                  // replaces the next link of page (0-based)
	onMedia  func(w http.ResponseWriter, r *http.Request, m *hostileMedia) bool // true: handled
	onList   func(w http.ResponseWriter, r *http.Request) bool
	settings any              // the answer of /me/settings/rcbs; nil: 404
	receipts http.HandlerFunc // POST /api/v2/backups/receipts; nil: 404, as an older server
	lists    int              // search requests
	paths    []string         // every request path
	noAuth   []string         // requests that came without credentials
}

func newHostileServer(t *testing.T) *hostileServer {
	t.Helper()
	h := &hostileServer{t: t, tenant: "acme"}
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

func (h *hostileServer) add(id string, stop time.Time, media ...*hostileMedia) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, &hostileRecording{id: id, stop: stop, media: media})
}

// media finds a media file by recording and media id.
func (h *hostileServer) media(recID, mediaID string) *hostileMedia {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.recs {
		if r.id == recID {
			for _, m := range r.media {
				if m.id == mediaID {
					return m
				}
			}
		}
	}
	return nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (h *hostileServer) mediaURI(recID, mediaID string) string {
	return h.url + "/api/v2/recordings/" + url.PathEscape(recID) + "/media/" + url.PathEscape(mediaID)
}

// doc is a recording as the search answers it.
func (h *hostileServer) doc(r *hostileRecording) map[string]any {
	var files []any
	for _, m := range r.media {
		entry := map[string]any{"mediaId": m.id, "type": m.mediaType, "size": len(m.data), "sha256": sha256Hex(m.data),
			"certAlias": []string{}, "mediaUri": h.mediaURI(r.id, m.id)}
		if m.certAlias != "" {
			entry["certAlias"] = []string{m.certAlias}
		}
		if m.content != "" {
			entry["contentSha256"] = m.content
		}
		if m.uri != "" {
			entry["mediaUri"] = m.uri
		}
		if m.storageKey != "" {
			entry["storageKey"] = m.storageKey
		}
		files = append(files, entry)
	}
	return map[string]any{"id": r.id, "callerPhoneNumber": "+15551230001",
		"startTime": r.stop.Add(-time.Minute).Format(hostileLayout), "stopTime": r.stop.Format(hostileLayout), "mediaFiles": files}
}

func writeJSONAnswer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (h *hostileServer) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.paths = append(h.paths, r.URL.Path)
	if _, _, ok := r.BasicAuth(); !ok {
		h.noAuth = append(h.noAuth, r.URL.Path)
	}
	h.mu.Unlock()
	switch {
	case r.URL.Path == "/api/v2/me":
		h.mu.Lock()
		tenant := h.tenant
		h.mu.Unlock()
		writeJSONAnswer(w, 200, map[string]any{"userName": "admin", "tenant": tenant, "roles": []string{"admin"}})
	case r.URL.Path == "/api/v2/me/settings/rcbs":
		h.mu.Lock()
		settings := h.settings
		h.mu.Unlock()
		if settings == nil {
			writeJSONAnswer(w, 404, map[string]string{"code": "not_found", "message": "no such route"})
			return
		}
		writeJSONAnswer(w, 200, settings)
	case r.URL.Path == "/api/v2/recordings":
		h.list(w, r)
	case r.URL.Path == "/api/v2/backups/receipts" && r.Method == http.MethodPost && h.receiptsHandler() != nil:
		h.receiptsHandler()(w, r)
	case strings.HasPrefix(r.URL.Path, "/api/v2/recordings/"):
		rest := strings.TrimPrefix(r.URL.Path, "/api/v2/recordings/")
		recID, mediaID, ok := strings.Cut(rest, "/media/")
		m := h.media(recID, mediaID)
		if !ok || m == nil {
			writeJSONAnswer(w, 404, map[string]string{"code": "not_found", "message": "no such media"})
			return
		}
		h.mu.Lock()
		hook := h.onMedia
		h.mu.Unlock()
		if hook != nil && hook(w, r, m) {
			return
		}
		serveHostileMedia(w, r, m.data)
	default:
		writeJSONAnswer(w, 404, map[string]string{"code": "not_found", "message": "no such route"})
	}
}

func (h *hostileServer) receiptsHandler() http.HandlerFunc {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.receipts
}

// serveHostileMedia answers as getMedia does: the stored bytes, their
// SHA-256 in X-Content-SHA256 and the ETag, with Range.
func serveHostileMedia(w http.ResponseWriter, r *http.Request, data []byte) {
	sum := sha256Hex(data)
	w.Header().Set("Content-Type", "application/pkcs7-mime")
	w.Header().Set("X-Content-SHA256", sum)
	w.Header().Set("ETag", `"`+sum+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

func (h *hostileServer) list(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.lists++
	hook := h.onList
	h.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	q := r.URL.Query()
	from, to, _ := strings.Cut(q.Get("endTimeRange"), ",")
	fromMs, _ := strconv.ParseInt(from, 10, 64)
	toMs, _ := strconv.ParseInt(to, 10, 64)
	h.mu.Lock()
	defer h.mu.Unlock()
	var docs []any
	for _, rec := range h.recs {
		if ms := rec.stop.UnixMilli(); ms >= fromMs && ms < toMs {
			docs = append(docs, h.doc(rec))
		}
	}
	page, _ := strconv.Atoi(q.Get("cursor"))
	size := h.pageSize
	if size == 0 {
		size = len(docs) + 1
	}
	start := min(page*size, len(docs))
	end := min(start+size, len(docs))
	var next any
	if end < len(docs) {
		q.Set("cursor", strconv.Itoa(page+1))
		own := h.url + "/api/v2/recordings?" + q.Encode()
		if h.nextURL != nil {
			own = h.nextURL(page, own)
		}
		next = own
	}
	writeJSONAnswer(w, 200, map[string]any{"recordings": append([]any{}, docs[start:end]...), "next": next})
}

// witness is a server on another port that records every request and
// the Authorization it carried.
type witness struct {
	url   string
	mu    sync.Mutex
	seen  []string
	auths []string
}

func newWitness(t *testing.T) *witness {
	t.Helper()
	wt := &witness{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wt.mu.Lock()
		wt.seen = append(wt.seen, r.URL.String())
		if a := r.Header.Get("Authorization"); a != "" {
			wt.auths = append(wt.auths, a)
		}
		wt.mu.Unlock()
		io.WriteString(w, "stolen")
	}))
	t.Cleanup(srv.Close)
	wt.url = srv.URL
	return wt
}

func (wt *witness) requests() (seen, auths []string) {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	return append([]string(nil), wt.seen...), append([]string(nil), wt.auths...)
}

// hostileRun runs one backup against h into target with the period
// [2026-02-10, 2026-02-11) unless pairs set dates or ages; it returns the
// result and the log the run appended.
func hostileRun(t *testing.T, h *hostileServer, target string, now func() time.Time, pairs ...string) (result, string) {
	t.Helper()
	base := []string{"gwsUriPrefix", h.url + "/api/v2", "targetDir", filepath.ToSlash(target)}
	dated := false
	for i := 0; i < len(pairs); i += 2 {
		switch pairs[i] {
		case "maxDate", "maxAge", "minDate", "minAge":
			dated = true
		}
	}
	if !dated {
		base = append(base, "maxDate", "2026-02-10", "minDate", "2026-02-11")
	}
	cfg := rcbsConfig(t, append(base, pairs...)...)
	r := runRCBS(t, rcbsPassword, now, "-config", cfg)
	logText, _ := os.ReadFile(filepath.Join(filepath.Dir(cfg), "rcbs.log"))
	return r, string(logText)
}

// shortRetries makes the pause between attempts 1 ms for the rest of a
// test: the attempts themselves are what is tested, not the waiting.
func shortRetries(t *testing.T) {
	rcbsBackoff = func(int) time.Duration { return time.Millisecond }
	t.Cleanup(func() { rcbsBackoff = nil })
}

// wantOneErrorLine checks the failure contract: non-zero, one line on
// stderr that says every part.
func wantOneErrorLine(t *testing.T, r result, parts ...string) {
	t.Helper()
	if r.code == 0 {
		t.Errorf("exit 0, want a failure\nstdout:\n%s", r.stdout)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "rcbs backup: ") {
		t.Errorf("stderr is not one line: %q", r.stderr)
	}
	for _, p := range parts {
		if !strings.Contains(r.stderr, p) {
			t.Errorf("stderr %q does not say %q", r.stderr, p)
		}
	}
}

// filesUnder lists every file and folder below dir, relative.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && path != dir {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

var hostileStop = time.Date(2026, 2, 10, 8, 5, 0, 0, time.UTC)

func hostileDir(target, tenant, id string, stop time.Time) string {
	return filepath.Join(target, tenant, stop.Format("2006/01/02/15"), id)
}

// TestRCBSHostileTenant: a tenant name that would leave targetDir, or
// take the name of rcbs's own files there, stops the run before anything
// is created, with one line.
func TestRCBSHostileTenant(t *testing.T) {
	h := newHostileServer(t)
	h.add("R1", hostileStop, &hostileMedia{id: "m.mp3", mediaType: "audio/mp3", data: []byte("cms bytes"), certAlias: "c1"})
	for _, tenant := range []string{"../../x", "..", "a/b", `a\b`, "last_recording_endtime.txt", ".rcbs.lock", "NUL", "x:y", "", "t.partial"} {
		t.Run(tenant, func(t *testing.T) {
			h.mu.Lock()
			h.tenant = tenant
			h.mu.Unlock()
			root := t.TempDir()
			target := filepath.Join(root, "deep", "er", "target")
			r, _ := hostileRun(t, h, target, nil)
			wantOneErrorLine(t, r, "tenant name")
			if got := filesUnder(t, root); len(got) > 0 {
				t.Errorf("a refused tenant wrote %v", got)
			}
		})
	}
	// A log file kept in targetDir is one of rcbs's own files there too.
	h.mu.Lock()
	h.tenant = "rcbs.log"
	h.mu.Unlock()
	target := t.TempDir()
	cfg := rcbsConfig(t, "gwsUriPrefix", h.url+"/api/v2", "targetDir", filepath.ToSlash(target), "maxDate", "2026-02-10", "minDate", "2026-02-11")
	r := runRCBS(t, rcbsPassword, nil, "-config", cfg, "-log", filepath.Join(target, "rcbs.log"))
	wantOneErrorLine(t, r, "tenant name", "rcbs.log")
}

// TestRCBSHostileIDs: recording and media ids that would leave their
// folder or overwrite rcbs's own files fail their recording; nothing is
// written outside targetDir and the good recording is backed up.
func TestRCBSHostileIDs(t *testing.T) {
	h := newHostileServer(t)
	good := []byte("good cms bytes")
	h.add("GOOD", hostileStop, &hostileMedia{id: "good.mp3", mediaType: "audio/mp3", data: good, certAlias: "c1", content: sha256Hex([]byte("plain"))})
	h.add("../../../escape", hostileStop, &hostileMedia{id: "e.mp3", mediaType: "audio/mp3", data: []byte("escape"), certAlias: "c1"})
	var bad []*hostileMedia
	for _, id := range []string{"R1.json", "r1.JSON", ".rcbs-verified.json", "../../m.mp3", "x.partial", "CON", "LPT1.txt", "a:b", "trailing."} {
		bad = append(bad, &hostileMedia{id: id, mediaType: "audio/mp3", data: []byte("overwrite " + id), certAlias: "c1"})
	}
	h.add("R1", hostileStop.Add(time.Minute), bad...)

	root := t.TempDir()
	target := filepath.Join(root, "target")
	r, logText := hostileRun(t, h, target, nil)
	if r.code == 0 {
		t.Fatalf("exit 0 with hostile ids\n%s", r.stdout)
	}
	// GOOD: media and record; R1: its record, every media refused; the
	// escaping recording: refused.
	if got, want := parseBatch(t, r.stdout), (batch{downloaded: 3, failed: 1 + len(bad), total: 4 + len(bad)}); got != want {
		t.Errorf("closing line %+v, want %+v\n%s", got, want, r.stdout)
	}
	// Every refusal is in the log (which quotes its values), naming the id.
	if !strings.Contains(logText, `recording \"../../../escape\": recording id must not contain '..': nothing written`) {
		t.Errorf("the log does not name the escaping recording:\n%s", logText)
	}
	for _, m := range bad {
		if !strings.Contains(logText, `media id \"`+m.id+`\": media id `) {
			t.Errorf("the log does not name media id %q:\n%s", m.id, logText)
		}
	}
	for _, rel := range filesUnder(t, root) {
		if rel != "target" && !strings.HasPrefix(rel, "target"+string(filepath.Separator)) {
			t.Errorf("written outside targetDir: %s", rel)
		}
	}
	if b, err := os.ReadFile(filepath.Join(hostileDir(target, "acme", "GOOD", hostileStop), "good.mp3")); err != nil || !bytes.Equal(b, good) {
		t.Errorf("the good media: %q, %v", b, err)
	}
	r1 := hostileDir(target, "acme", "R1", hostileStop.Add(time.Minute))
	var rec struct{ ID string }
	if b, err := os.ReadFile(filepath.Join(r1, "R1.json")); err != nil || json.Unmarshal(b, &rec) != nil || rec.ID != "R1" {
		t.Errorf("R1.json is not R1's record: %q, %v", b, err)
	}
	for _, rel := range filesUnder(t, r1) {
		if rel != "R1.json" {
			t.Errorf("R1's folder holds %s", rel)
		}
	}
	if st := readState(t, target); !st.IsZero() {
		t.Errorf("the state advanced to %v", st)
	}
}

// TestRCBSForeignURLs: a mediaUri on another port, a redirect there and a
// next link there fail with a clear error, and that server never sees the
// credentials (nor any request from rcbs).
func TestRCBSForeignURLs(t *testing.T) {
	shortRetries(t)
	t.Run("mediaUri", func(t *testing.T) {
		h := newHostileServer(t)
		wt := newWitness(t)
		h.add("R1", hostileStop, &hostileMedia{id: "m.mp3", mediaType: "audio/mp3", data: []byte("cms"), certAlias: "c1", uri: wt.url + "/api/v2/recordings/R1/media/m.mp3"})
		target := t.TempDir()
		r, _ := hostileRun(t, h, target, nil)
		if r.code == 0 || !strings.Contains(r.stderr, "refusing "+wt.url) || !strings.Contains(r.stderr, "credentials are sent only there") {
			t.Errorf("exit %d, stderr %q; want a failure refusing %s", r.code, r.stderr, wt.url)
		}
		if seen, auths := wt.requests(); len(seen)+len(auths) > 0 {
			t.Errorf("the other port got %v with Authorization %v", seen, auths)
		}
		if got := parseBatch(t, r.stdout); got != (batch{downloaded: 1, failed: 1, total: 2}) {
			t.Errorf("closing line %+v", got)
		}
	})
	t.Run("redirect", func(t *testing.T) {
		h := newHostileServer(t)
		wt := newWitness(t)
		h.add("R1", hostileStop, &hostileMedia{id: "m.mp3", mediaType: "audio/mp3", data: []byte("cms"), certAlias: "c1"})
		h.onMedia = func(w http.ResponseWriter, r *http.Request, m *hostileMedia) bool {
			http.Redirect(w, r, wt.url+r.URL.Path, http.StatusFound)
			return true
		}
		target := t.TempDir()
		r, _ := hostileRun(t, h, target, nil)
		if r.code == 0 || !strings.Contains(r.stderr, "refusing "+wt.url) {
			t.Errorf("exit %d, stderr %q; want the redirect refused", r.code, r.stderr)
		}
		if seen, auths := wt.requests(); len(seen)+len(auths) > 0 {
			t.Errorf("the other port got %v with Authorization %v", seen, auths)
		}
	})
	t.Run("next", func(t *testing.T) {
		h := newHostileServer(t)
		wt := newWitness(t)
		for i := range 3 {
			h.add(fmt.Sprintf("N%d", i), hostileStop.Add(time.Duration(i)*time.Minute),
				&hostileMedia{id: "m.mp3", mediaType: "audio/mp3", data: []byte("cms"), certAlias: "c1"})
		}
		h.pageSize = 1
		h.nextURL = func(page int, own string) string {
			if page == 1 {
				u, _ := url.Parse(own)
				return wt.url + "/api/v2/recordings?" + u.RawQuery
			}
			return own
		}
		target := t.TempDir()
		r, _ := hostileRun(t, h, target, nil)
		wantOneErrorLine(t, r, "cannot follow the next page", "refusing "+wt.url)
		if seen, auths := wt.requests(); len(seen)+len(auths) > 0 {
			t.Errorf("the other host got %v with Authorization %v", seen, auths)
		}
		// The two pages read are backed up; the state stays.
		if got := parseBatch(t, r.stdout); got != (batch{downloaded: 4, total: 4}) {
			t.Errorf("closing line %+v", got)
		}
		if st := readState(t, target); !st.IsZero() {
			t.Errorf("the state advanced to %v", st)
		}
	})
	t.Run("next on another host name", func(t *testing.T) {
		h := newHostileServer(t)
		for i := range 2 {
			h.add(fmt.Sprintf("N%d", i), hostileStop.Add(time.Duration(i)*time.Minute),
				&hostileMedia{id: "m.mp3", mediaType: "audio/mp3", data: []byte("cms"), certAlias: "c1"})
		}
		h.pageSize = 1
		// The same port under another name: were it followed, this very
		// server would get the request.
		h.nextURL = func(page int, own string) string { return strings.Replace(own, "127.0.0.1", "localhost", 1) }
		r, _ := hostileRun(t, h, t.TempDir(), nil)
		wantOneErrorLine(t, r, "cannot follow the next page", "refusing http://localhost:")
		h.mu.Lock()
		lists := h.lists
		h.mu.Unlock()
		if lists != 1 {
			t.Errorf("%d listing requests, want 1: the next link was followed", lists)
		}
	})
}

// TestRCBSHungServer: a server that accepts the request and never
// answers, or stops halfway through a body, fails the run after the
// timeouts (each request tried per the retry policy) and the lock is
// free afterwards; a stall that passes is retried and the run succeeds.
func TestRCBSHungServer(t *testing.T) {
	shortRetries(t)
	timeouts := []string{"connectTimeoutSeconds", "1", "responseTimeoutSeconds", "0.2", "readTimeoutSeconds", "0.2"}
	release := make(chan struct{})
	var releaseOnce sync.Once
	unhang := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unhang)
	hang := func(r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	// hungRun runs rcbs and fails the test, rather than hang with it,
	// when it is still running after 8 s.
	hungRun := func(t *testing.T, h *hostileServer, target string) (result, string, time.Duration) {
		t.Helper()
		type done struct {
			r       result
			logText string
		}
		ch := make(chan done, 1)
		start := time.Now()
		go func() {
			r, logText := hostileRun(t, h, target, nil, timeouts...)
			ch <- done{r, logText}
		}()
		select {
		case d := <-ch:
			return d.r, d.logText, time.Since(start)
		case <-time.After(8 * time.Second):
			t.Errorf("rcbs still runs after 8 s against a server that stopped answering")
			unhang()
			d := <-ch
			return d.r, d.logText, time.Since(start)
		}
	}

	t.Run("never answers the listing", func(t *testing.T) {
		h := newHostileServer(t)
		h.onList = func(w http.ResponseWriter, r *http.Request) bool { hang(r); return true }
		target := t.TempDir()
		r, _, elapsed := hungRun(t, h, target)
		wantOneErrorLine(t, r, "cannot list recordings", "timeout awaiting response headers")
		if elapsed > 4*time.Second {
			t.Errorf("the run took %v to give up", elapsed)
		}
		h.mu.Lock()
		lists := h.lists
		h.mu.Unlock()
		if lists != 5 {
			t.Errorf("the listing was tried %d times, want 5 (the retry policy)", lists)
		}
		lock, err := backup.Acquire(target, time.Now())
		if err != nil {
			t.Fatalf("the lock is still held: %v", err)
		}
		lock.Release()
	})

	t.Run("stops in the middle of a body", func(t *testing.T) {
		h := newHostileServer(t)
		data := bytes.Repeat([]byte("0123456789"), 10_000)
		h.add("R1", hostileStop, &hostileMedia{id: "m.mp3", mediaType: "audio/mp3", data: data, certAlias: "c1"})
		var gets int
		h.onMedia = func(w http.ResponseWriter, r *http.Request, m *hostileMedia) bool {
			h.mu.Lock()
			gets++
			h.mu.Unlock()
			// Half of what is asked for (the rest, on a resumed attempt),
			// then nothing.
			offset := 0
			if rg := r.Header.Get("Range"); rg != "" {
				offset, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
				w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", offset, len(m.data)-1, len(m.data)))
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(m.data)-offset))
			if offset > 0 {
				w.WriteHeader(http.StatusPartialContent)
			} else {
				w.WriteHeader(http.StatusOK)
			}
			w.Write(m.data[offset : offset+(len(m.data)-offset)/2])
			w.(http.Flusher).Flush()
			hang(r)
			return true
		}
		target := t.TempDir()
		r, logText, elapsed := hungRun(t, h, target)
		if r.code == 0 || !strings.Contains(r.stderr, "R1/m.mp3") || !strings.Contains(r.stderr, "the server stopped answering") {
			t.Errorf("exit %d, stderr %q; want R1/m.mp3 failed on the read timeout\n%s", r.code, r.stderr, logText)
		}
		if elapsed > 4*time.Second {
			t.Errorf("the run took %v to give up", elapsed)
		}
		h.mu.Lock()
		asked := gets
		h.mu.Unlock()
		if asked != 3 {
			t.Errorf("the media was asked for %d times, want 3: a stalled body is transient and tried again", asked)
		}
		if _, err := os.Stat(filepath.Join(hostileDir(target, "acme", "R1", hostileStop), "m.mp3")); err == nil {
			t.Error("a half file is under its final name")
		}
		lock, err := backup.Acquire(target, time.Now())
		if err != nil {
			t.Fatalf("the lock is still held: %v", err)
		}
		lock.Release()
	})

	t.Run("stalls once, then answers", func(t *testing.T) {
		h := newHostileServer(t)
		data := bytes.Repeat([]byte("abcdefghij"), 10_000)
		h.add("R1", hostileStop, &hostileMedia{id: "m.mp3", mediaType: "audio/mp3", data: data, certAlias: "c1"})
		var once sync.Once
		h.onMedia = func(w http.ResponseWriter, r *http.Request, m *hostileMedia) bool {
			stalled := false
			once.Do(func() {
				stalled = true
				w.Header().Set("Content-Length", strconv.Itoa(len(m.data)))
				w.WriteHeader(http.StatusOK)
				w.Write(m.data[:len(m.data)/3])
				w.(http.Flusher).Flush()
				hang(r)
			})
			return stalled
		}
		target := t.TempDir()
		r, _, _ := hungRun(t, h, target)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if b, err := os.ReadFile(filepath.Join(hostileDir(target, "acme", "R1", hostileStop), "m.mp3")); err != nil || !bytes.Equal(b, data) {
			t.Errorf("the media is not whole after the retry: %d bytes, %v", len(b), err)
		}
	})
}

// contentChange sets up a recording backed up once, then changed on the
// server by change; it returns the server, target, the file's path and
// its first bytes.
func contentChange(t *testing.T, change func(m *hostileMedia)) (*hostileServer, string, string, []byte) {
	t.Helper()
	h := newHostileServer(t)
	first := bytes.Repeat([]byte("wrapped for the old certificate "), 100)
	plain := sha256Hex([]byte("the call itself"))
	h.add("R1", hostileStop, &hostileMedia{id: "m.mp3", mediaType: "audio/mp3", data: first, content: plain, certAlias: "old"})
	target := t.TempDir()
	if r, _ := hostileRun(t, h, target, nil); r.code != 0 {
		t.Fatalf("first run: exit %d: %s", r.code, r.stderr)
	}
	h.mu.Lock()
	change(h.recs[0].media[0])
	h.mu.Unlock()
	return h, target, filepath.Join(hostileDir(target, "acme", "R1", hostileStop), "m.mp3"), first
}

// TestRCBSRewrappedMedia: the server re-wrapped a file for a new
// certificate (same contentSha256, new sha256): the verified copy is
// replaced and the log names recording and media; the same holds when
// .rcbs-verified.json is gone and <id>.json tells the content.
func TestRCBSRewrappedMedia(t *testing.T) {
	for _, tc := range []struct {
		name       string
		dropRecord bool
	}{{"verified entry", false}, {"only <id>.json", true}} {
		t.Run(tc.name, func(t *testing.T) {
			rewrapped := bytes.Repeat([]byte("wrapped for the new certificate "), 100)
			h, target, file, _ := contentChange(t, func(m *hostileMedia) {
				m.data, m.certAlias = rewrapped, "new"
			})
			if tc.dropRecord {
				if err := os.Remove(filepath.Join(filepath.Dir(file), backup.VerifiedFile)); err != nil {
					t.Fatal(err)
				}
			}
			stateBefore := readState(t, target)
			r, logText := hostileRun(t, h, target, nil, "maxDate", "2026-02-10", "minDate", "2026-02-12")
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if b, _ := os.ReadFile(file); !bytes.Equal(b, rewrapped) {
				t.Error("the re-wrapped file did not replace the copy")
			}
			if !strings.Contains(r.stdout, "1 media file(s) re-wrapped on the server (same content, new certificate) replaced their verified copies") {
				t.Errorf("the console does not say so:\n%s", r.stdout)
			}
			if !strings.Contains(logText, `level=INFO msg="re-wrapped on the server (same content, new encryption): the verified copy was replaced" recording=R1 media=m.mp3`) {
				t.Errorf("the log does not name it:\n%s", logText)
			}
			if got := parseBatch(t, r.stdout); got != (batch{downloaded: 2, total: 2}) {
				t.Errorf("closing line %+v (the media and its rewritten record)", got)
			}
			if st := readState(t, target); !st.After(stateBefore) {
				t.Errorf("state %v, want it past %v", st, stateBefore)
			}
			// The next run finds it verified.
			if r, _ := hostileRun(t, h, target, nil, "maxDate", "2026-02-10", "minDate", "2026-02-12"); r.code != 0 || parseBatch(t, r.stdout) != (batch{skipped: 2, total: 2}) {
				t.Errorf("third run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestRCBSChangedContent: the server offers other content for a media
// file rcbs verified: the copy stays byte for byte, the record is not
// rewritten, the state holds and the run fails with one line; so too
// when the server gives no contentSha256 to show the content is the same.
func TestRCBSChangedContent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		want    string
	}{
		{"other contentSha256", sha256Hex([]byte("another call")), "the server's content differs from the verified copy"},
		{"no contentSha256", "", "the server's file differs from the verified copy, and no contentSha256 shows that its content is the same"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, target, file, first := contentChange(t, func(m *hostileMedia) {
				m.data, m.content = []byte("something else entirely"), tc.content
			})
			record := filepath.Join(filepath.Dir(file), "R1.json")
			recordBefore, _ := os.ReadFile(record)
			stateBefore := readState(t, target)
			r, logText := hostileRun(t, h, target, nil, "maxDate", "2026-02-10", "minDate", "2026-02-12")
			wantOneErrorLine(t, r, "recording R1, media m.mp3: "+tc.want, "the copy on disk was kept unchanged", backup.StateFile+" was not advanced")
			if b, _ := os.ReadFile(file); !bytes.Equal(b, first) {
				t.Error("the verified copy was changed")
			}
			if b, _ := os.ReadFile(record); !bytes.Equal(b, recordBefore) {
				t.Error("the record of the kept copy was rewritten")
			}
			if st := readState(t, target); !st.Equal(stateBefore) {
				t.Errorf("state %v, want it held at %v", st, stateBefore)
			}
			if got := parseBatch(t, r.stdout); got != (batch{failed: 1, skipped: 1, total: 2}) {
				t.Errorf("closing line %+v", got)
			}
			if !strings.Contains(logText, "level=ERROR") || !strings.Contains(logText, "recording=R1 media=m.mp3") {
				t.Errorf("the log does not name it:\n%s", logText)
			}
			if final, partial := targetFiles(t, target); len(partial) > 0 || len(final) != 2 {
				t.Errorf("files %v, partial %v", final, partial)
			}
		})
	}
}

// TestRCBSDamagedCopy: a copy changed on disk (not what rcbs verified) is
// fetched again when the server holds the same bytes, or the same content
// re-wrapped; with other content on the server the damaged copy is left
// for a person to look at.
func TestRCBSDamagedCopy(t *testing.T) {
	rewrapped := bytes.Repeat([]byte("wrapped for the new certificate "), 100)
	for _, tc := range []struct {
		name   string
		change func(m *hostileMedia)
		repair bool
	}{
		{"server unchanged", func(*hostileMedia) {}, true},
		{"server re-wrapped", func(m *hostileMedia) { m.data, m.certAlias = rewrapped, "new" }, true},
		{"server content changed", func(m *hostileMedia) { m.data, m.content = rewrapped, sha256Hex([]byte("x")) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, target, file, _ := contentChange(t, tc.change)
			damaged, _ := os.ReadFile(file)
			damaged[10] ^= 0xff
			if err := os.WriteFile(file, damaged, 0o644); err != nil {
				t.Fatal(err)
			}
			// Not what rcbs recorded, whatever the file system's clock.
			if err := os.Chtimes(file, time.Time{}, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
				t.Fatal(err)
			}
			r, logText := hostileRun(t, h, target, nil, "maxDate", "2026-02-10", "minDate", "2026-02-12")
			got, _ := os.ReadFile(file)
			want := h.media("R1", "m.mp3").data
			if tc.repair {
				if r.code != 0 || !bytes.Equal(got, want) {
					t.Errorf("exit %d (%s): the damaged copy was not repaired", r.code, r.stderr)
				}
				if !strings.Contains(r.stdout, "1 media file(s) damaged on disk were fetched again") || !strings.Contains(logText, "level=WARN") {
					t.Errorf("the repair is not reported:\n%s\n%s", r.stdout, logText)
				}
				return
			}
			wantOneErrorLine(t, r, "recording R1, media m.mp3: the server's content differs from the verified copy")
			if !bytes.Equal(got, damaged) {
				t.Error("the copy was replaced by other content")
			}
		})
	}
}

// TestRCBSStateNeverSkipsAPeriod: a run whose period begins after the
// stored end (maxDate, or skipLastRecordingCheck with maxAge) keeps
// last_recording_endtime.txt and says so; a run over an older period
// never moves it back; a run that continues it moves it on.
func TestRCBSStateNeverSkipsAPeriod(t *testing.T) {
	h := newHostileServer(t)
	day := func(d int) time.Time { return time.Date(2026, 2, d, 0, 0, 0, 0, time.UTC) }
	for d := 10; d < 20; d++ {
		h.add(fmt.Sprintf("D%d", d), day(d).Add(8*time.Hour), &hostileMedia{id: "m.mp3", mediaType: "audio/mp3", data: []byte("cms " + strconv.Itoa(d)), certAlias: "c1"})
	}
	target := t.TempDir()
	step := func(name string, now func() time.Time, want time.Time, say string, pairs ...string) {
		t.Helper()
		r, logText := hostileRun(t, h, target, now, pairs...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%s: exit %d, stderr %q", name, r.code, r.stderr)
		}
		if st := readState(t, target); !st.Equal(want) {
			t.Errorf("%s: state %v, want %v", name, st, want)
		}
		if say != "" && (!strings.Contains(r.stdout, say) || !strings.Contains(logText, say)) {
			t.Errorf("%s: console and log do not say %q:\n%s\n%s", name, say, r.stdout, logText)
		}
		if say == "" && strings.Contains(r.stdout, backup.StateFile) {
			t.Errorf("%s: %s", name, r.stdout)
		}
	}
	step("first run", nil, day(12), "", "maxDate", "2026-02-10", "minDate", "2026-02-12")
	step("maxDate after a gap", nil, day(12), backup.StateFile+" kept at 2026-02-12T00:00:00Z: this run's period began at 2026-02-14T00:00:00Z, after it",
		"maxDate", "2026-02-14", "minDate", "2026-02-16")
	now := func() time.Time { return day(19) }
	step("skipLastRecordingCheck after a gap", now, day(12), "this run's period began at 2026-02-17T00:00:00Z, after it",
		"maxAge", "2", "skipLastRecordingCheck", "true")
	step("an older period", nil, day(12), "this run's period ended before it", "maxDate", "2026-02-10", "minDate", "2026-02-11")
	step("continuing", nil, day(16), "", "maxDate", "2026-02-12", "minDate", "2026-02-16")
	step("scheduled, resuming", now, day(19), "", "maxAge", "2")
}

// TestRCBSFilteredMediaCounted: media left out by mediaTypePattern are
// counted on the console and in the log, beside the guide's closing line.
func TestRCBSFilteredMediaCounted(t *testing.T) {
	h := newHostileServer(t)
	h.add("A1", hostileStop,
		&hostileMedia{id: "a1.mp3", mediaType: "audio/mp3", data: []byte("cms a1"), certAlias: "c1"},
		&hostileMedia{id: "a1.mp4", mediaType: "video/mp4", data: []byte("cms a1 video"), certAlias: "c1"})
	h.add("V1", hostileStop.Add(time.Minute),
		&hostileMedia{id: "v1.mp4", mediaType: "video/mp4", data: []byte("cms v1"), certAlias: "c1"},
		&hostileMedia{id: "v1.wav", mediaType: "audio/wav", data: []byte("cms v1 wav"), certAlias: "c1"})
	target := t.TempDir()
	r, logText := hostileRun(t, h, target, nil, "mediaTypePattern", "^audio/mp3$")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := parseBatch(t, r.stdout); got != (batch{downloaded: 3, total: 3}) {
		t.Errorf("closing line %+v", got)
	}
	const say = "3 media file(s) not matching mediaTypePattern were not downloaded"
	if !strings.Contains(r.stdout, "\n"+say+"\n") || !strings.Contains(logText, say) {
		t.Errorf("the filtered media are not counted:\n%s\n%s", r.stdout, logText)
	}
	// The recording that got no media at all is named in the log.
	if !strings.Contains(logText, `msg="media type does not match mediaTypePattern; not downloaded" recording=V1 media=v1.mp4 type=video/mp4`) {
		t.Errorf("the log does not name V1's media:\n%s", logText)
	}
	if st := readState(t, target); !st.Equal(time.Date(2026, 2, 11, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("state %v", st)
	}
	// Without a pattern that filters, no such line.
	r, _ = hostileRun(t, h, t.TempDir(), nil, "mediaTypePattern", "audio|video")
	if strings.Contains(r.stdout, "not matching mediaTypePattern") {
		t.Errorf("a line for nothing filtered:\n%s", r.stdout)
	}
}

// TestRCBSCaseCollisions: names that are one file on a disk that ignores
// case (Windows, macOS). Media ids A.mp3 and a.mp3 of one record fail
// that recording before anything of it is written. A recording r1 after
// R1 would, on such a disk, open R1's folder and R1.json: this test makes
// the Linux disk behave so for these names (r1 is a link to the folder
// R1, and R1/r1.json a link to R1.json), and r1 is refused without
// touching R1's files.
func TestRCBSCaseCollisions(t *testing.T) {
	h := newHostileServer(t)
	r1Data, otherData := []byte("R1's stored bytes"), []byte("r1's other bytes")
	h.add("D1", hostileStop,
		&hostileMedia{id: "A.mp3", mediaType: "audio/mp3", data: []byte("upper"), certAlias: "c1"},
		&hostileMedia{id: "a.mp3", mediaType: "audio/mp3", data: []byte("lower"), certAlias: "c1"})
	stop := hostileStop.Add(time.Minute)
	h.add("R1", stop, &hostileMedia{id: "m.mp3", mediaType: "audio/mp3", data: r1Data, certAlias: "c1"})
	h.add("r1", stop,
		&hostileMedia{id: "m.mp3", mediaType: "audio/mp3", data: otherData, certAlias: "c1"},
		&hostileMedia{id: "n.mp3", mediaType: "audio/mp3", data: otherData, certAlias: "c1"})

	target := t.TempDir()
	upper := hostileDir(target, "acme", "R1", stop)
	if err := os.MkdirAll(upper, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("R1", hostileDir(target, "acme", "r1", stop)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("R1.json", filepath.Join(upper, "r1.json")); err != nil {
		t.Fatal(err)
	}
	r, logText := hostileRun(t, h, target, nil, "downloadMode", "single")
	if r.code != 1 {
		t.Errorf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// R1: media and record; D1 and r1 fail as a whole.
	if got, want := parseBatch(t, r.stdout), (batch{downloaded: 2, failed: 2, total: 4}); got != want {
		t.Errorf("closing line %+v, want %+v\n%s", got, want, r.stdout)
	}
	for _, says := range []string{
		`rcbs: failed: recording D1: media ids "A.mp3" and "a.mp3" differ only in case or Unicode normalisation, so on Windows and macOS they would be one file: nothing written`,
		`rcbs: failed: recording r1: the folder belongs to another recording: ` + filepath.Join(hostileDir(target, "acme", "r1", stop), "r1.json") + ` is the record of "R1", not of "r1"`,
	} {
		if !strings.Contains(r.stderr, says) {
			t.Errorf("stderr does not say %q:\n%s", says, r.stderr)
		}
	}
	if !strings.Contains(logText, `recording refused" recording=r1`) {
		t.Errorf("the log does not name r1:\n%s", logText)
	}
	if _, err := os.Stat(hostileDir(target, "acme", "D1", hostileStop)); err == nil {
		t.Errorf("D1's folder was created: %v", filesUnder(t, hostileDir(target, "acme", "D1", hostileStop)))
	}
	var rec struct{ ID string }
	if b, err := os.ReadFile(filepath.Join(upper, "R1.json")); err != nil || json.Unmarshal(b, &rec) != nil || rec.ID != "R1" {
		t.Errorf("R1.json is not R1's record: %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(upper, "m.mp3")); err != nil || !bytes.Equal(b, r1Data) {
		t.Errorf("R1's m.mp3: %q, %v", b, err)
	}
	got := strings.Join(filesUnder(t, upper), " ")
	if want := strings.Join([]string{backup.VerifiedFile, "R1.json", "m.mp3", "r1.json"}, " "); got != want {
		t.Errorf("R1's folder holds %s, want %s", got, want)
	}
	if st := readState(t, target); !st.IsZero() {
		t.Errorf("the state advanced to %v", st)
	}
}

// TestRCBSEndlessAnswers: a listing page that is an endless JSON array
// fails the run at the limit (lowered here from 256 MiB to 1 MiB), at the
// first attempt and with one line, instead of filling rcbs's memory; a
// media file that goes on past its recorded size fails that file without
// filling the disk.
func TestRCBSEndlessAnswers(t *testing.T) {
	shortRetries(t)
	rcbsLimits = apiclient.Limits{Page: 1 << 20}
	t.Cleanup(func() { rcbsLimits = apiclient.Limits{} })
	// endless sends start, then chunk until rcbs hangs up (or 32 MiB
	// have gone, so that a client without limits ends too).
	endless := func(w http.ResponseWriter, r *http.Request, start string, chunk []byte) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, start)
		for sent := 0; r.Context().Err() == nil && sent < 32<<20; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
	t.Run("listing", func(t *testing.T) {
		h := newHostileServer(t)
		h.onList = func(w http.ResponseWriter, r *http.Request) bool {
			endless(w, r, `{"next":null,"recordings":[`, []byte(strings.Repeat(`{"id":"R1","stopTime":"2026-02-10T08:05:00.000+0000","pad":"`+strings.Repeat("x", 1000)+`","mediaFiles":[]},`, 100)))
			return true
		}
		start := time.Now()
		r, _ := hostileRun(t, h, t.TempDir(), nil)
		wantOneErrorLine(t, r, "cannot list recordings from 2026-02-10T00:00:00Z", "the answer is larger than 1 MiB, the most read for a page of search results")
		h.mu.Lock()
		lists := h.lists
		h.mu.Unlock()
		if lists != 1 {
			t.Errorf("%d listing requests, want 1: a too large answer is not asked for again", lists)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("media", func(t *testing.T) {
		h := newHostileServer(t)
		data := []byte("the stored bytes")
		h.add("R1", hostileStop, &hostileMedia{id: "m.mp3", mediaType: "audio/mp3", data: data, certAlias: "c1"})
		h.onMedia = func(w http.ResponseWriter, r *http.Request, m *hostileMedia) bool {
			endless(w, r, string(data), bytes.Repeat([]byte{0}, 64<<10))
			return true
		}
		target := t.TempDir()
		r, logText := hostileRun(t, h, target, nil)
		if r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("R1/m.mp3: verification failed: more than the %d bytes the server said; the rest was not read", len(data))) {
			t.Errorf("exit %d, stderr %q; want m.mp3 failed on its size", r.code, r.stderr)
		}
		if strings.Count(logText, "download attempt failed") != 3 {
			t.Errorf("want 3 attempts in the log:\n%s", logText)
		}
		var total int64
		for _, rel := range filesUnder(t, target) {
			if fi, err := os.Stat(filepath.Join(target, rel)); err == nil && !fi.IsDir() {
				total += fi.Size()
			}
		}
		if total > 64<<10 {
			t.Errorf("%d bytes on disk after an endless media file", total)
		}
	})
}
