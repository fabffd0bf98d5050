package srs

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"callvault/internal/cms"
)

// TestRecordAndUpload follows one recording from the start command to
// the upload: encrypted for the tenant's certificate, decryptable with
// openssl into a real H.264 video, with the guide's media entry.
func TestRecordAndUpload(t *testing.T) {
	dir := t.TempDir()
	certPEM, certPath, keyPath := testCert(t, dir, "screen1")
	ts := startSRS(t, srsSetup{})
	ts.api.setSettings(ScreenSettings{RecordingWhen: "voice", FrameRate: 5, MaxWidth: 1920, Certificates: []ScreenCertificate{{Alias: "screen1", Certificate: certPEM}}})
	ck := ts.loginAgent()
	ts.api.issue("start", "rec-A", "media-A")
	ts.waitState(10*time.Second, "recording")
	// A repeated start of the same media is ignored.
	ts.api.issue("start", "rec-A", "media-A")
	// While recording, the .part file grows, encrypted from its first byte.
	part := filepath.Join(ts.cfg.UploadFolder, "media-A.cms.part")
	waitFor(t, 10*time.Second, "the .part file to hold video", func() bool {
		info, err := os.Stat(part)
		return err == nil && info.Size() > 2000
	})
	head := make([]byte, 64)
	f, err := os.Open(part)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Read(head)
	f.Close()
	if head[0] != 0x30 || bytes.Contains(head, []byte("ftyp")) {
		t.Errorf(".part does not start as CMS: % x", head[:16])
	}
	var item Item
	b, _ := os.ReadFile(filepath.Join(ts.cfg.UploadFolder, "media-A.json"))
	if err := json.Unmarshal(b, &item); err != nil || item.State != StateRecording {
		t.Errorf("queue item while recording: %s %v", b, err)
	}
	time.Sleep(500 * time.Millisecond)
	if a := ts.call("POST", "/api/v2/me/recording/pause", "", "Cookie", ck); a.status != 200 || a.json(t)["state"] != "paused" {
		t.Errorf("pause: %d %s", a.status, a.body)
	}
	time.Sleep(300 * time.Millisecond)
	ts.api.issue("resume", "rec-A", "media-A")
	ts.waitState(5*time.Second, "recording")
	ts.api.issue("pause", "rec-A", "media-A")
	ts.waitState(5*time.Second, "paused")
	if a := ts.call("POST", "/api/v2/me/recording/resume", "", "Basic", "agent1@acme:pw-agent1"); a.status != 200 {
		t.Errorf("resume: %d %s", a.status, a.body)
	}
	time.Sleep(time.Second)
	ts.api.issue("stop", "rec-A", "media-A")
	ts.waitLog(20*time.Second, "Uploader: Upload of file was successful.")
	if n := ts.captures(); n != 1 {
		t.Errorf("%d captures started, want 1", n)
	}
	m := ts.api.storedMedia("media-A")
	if m == nil || m.recording != "rec-A" {
		t.Fatalf("media not stored")
	}
	if m.header.Get("Content-Type") != "application/pkcs7-mime" || m.header.Get("X-Media-Type") != "video/mp4" || m.header.Get("X-Media-Truncated") != "" {
		t.Errorf("media headers %v", m.header)
	}
	cmsPath := filepath.Join(dir, "media-A.cms")
	if err := os.WriteFile(cmsPath, m.body, 0o600); err != nil {
		t.Fatal(err)
	}
	checkVideo(t, decryptCMS(t, cmsPath, certPath, keyPath))
	puts := ts.api.recordPuts("rec-A")
	if len(puts) != 1 {
		t.Fatalf("%d metadata puts", len(puts))
	}
	var rec struct {
		ID         string `json:"id"`
		MediaFiles []struct {
			MediaID, Type, StartTime, StopTime, Duration string
			Parameters                                   map[string]any
			Masks                                        []map[string]string
		} `json:"mediaFiles"`
	}
	if err := json.Unmarshal(puts[0], &rec); err != nil || rec.ID != "rec-A" || len(rec.MediaFiles) != 1 {
		t.Fatalf("metadata %s: %v", puts[0], err)
	}
	e := rec.MediaFiles[0]
	if e.MediaID != "media-A" || e.Type != "video/mp4" || !strings.HasSuffix(e.StartTime, "+0000") || len(e.StartTime) != len("2021-07-21T16:49:00.000+0000") ||
		!strings.HasPrefix(e.Duration, "0:00:0") {
		t.Errorf("entry %+v", e)
	}
	p := e.Parameters
	if p["agentID"] != "agent1@acme" || p["virtualWidth"] != "640" || p["virtualHeight"] != "180" || p["originalVirtualWidth"] != "640" ||
		p["originalVirtualHeight"] != "180" || p["callRecordingId"] != "rec-A" {
		t.Errorf("parameters %v", p)
	}
	if !strings.Contains(string(puts[0]), `"monitors":[{"name":"monitor_0","primary":true,"originalPositions":"[0, 0, 320, 180]","actualPositions":"[0, 0, 320, 180]"},{"name":"monitor_1","primary":false,"originalPositions":"[320, 0, 640, 180]","actualPositions":"[320, 0, 640, 180]"}]`) ||
		!strings.Contains(string(puts[0]), `"contact":{"userName":"agent1@acme","firstName":"Ann","lastName":"Agent"}`) {
		t.Errorf("monitors or contact: %s", puts[0])
	}
	if len(e.Masks) != 4 || e.Masks[0]["type"] != "pause" || e.Masks[1]["type"] != "resume" || e.Masks[2]["type"] != "pause" || e.Masks[3]["type"] != "resume" {
		t.Errorf("masks %v", e.Masks)
	}
	if stops := ts.api.stopReports(); len(stops) != 0 {
		t.Errorf("a stop the server asked for was reported: %v", stops)
	}
	waitFor(t, 5*time.Second, "an empty upload folder", func() bool {
		entries, _ := os.ReadDir(ts.cfg.UploadFolder)
		return len(entries) == 1 // failed/
	})
}

func TestNoCertificateUploadsPlaintext(t *testing.T) {
	ts := startSRS(t, srsSetup{})
	ts.loginAgent()
	ts.api.issue("start", "rec-P", "media/P+1") // not a safe file name
	ts.waitState(10*time.Second, "recording")
	time.Sleep(1500 * time.Millisecond)
	ts.api.issue("stop", "rec-P", "")
	ts.waitLog(20*time.Second, "Uploader: Upload of file was successful.")
	m := ts.api.storedMedia("media/P+1")
	if m == nil || m.header.Get("Content-Type") != "video/mp4" || !bytes.Equal(m.body[4:8], []byte("ftyp")) {
		t.Fatalf("plaintext media %v", m)
	}
	if !strings.Contains(ts.log(), "WARN  Recorder: the tenant has no screen certificate: media/P+1 is stored and uploaded unencrypted") {
		t.Errorf("no warning in the log")
	}
	path := filepath.Join(t.TempDir(), "p.mp4")
	_ = os.WriteFile(path, m.body, 0o600)
	checkVideo(t, path)
}

func TestRecordingWhenOff(t *testing.T) {
	ts := startSRS(t, srsSetup{})
	ts.api.setSettings(ScreenSettings{RecordingWhen: "off"})
	ts.loginAgent()
	ts.api.issue("start", "rec-O", "media-O")
	ts.waitLog(10*time.Second, "Recorder: not recording media-O of recording rec-O: the tenant's recordingWhen is off")
	if ts.captures() != 0 || ts.svc.Status().State != "idle" {
		t.Errorf("recorded with recordingWhen off")
	}
}

func TestUploadRetriesUntilTheServerAnswers(t *testing.T) {
	api := newAPIServer(t)
	api.failMedia = func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	ts := startSRS(t, srsSetup{api: api, opts: Options{RetryMin: 100 * time.Millisecond}})
	ts.loginAgent()
	api.issue("start", "rec-R", "media-R")
	ts.waitState(10*time.Second, "recording")
	time.Sleep(time.Second)
	api.issue("stop", "rec-R", "media-R")
	ts.waitLog(20*time.Second, "Uploader: Upload of file was successful.")
	if _, _, puts := api.counts(); puts != 3 {
		t.Errorf("%d media puts, want 3", puts)
	}
	log := ts.log()
	for _, want := range []string{"server answered 503 EFAIL: failing on purpose (attempt 1, next in 100ms)", "(attempt 2, next in 200ms)"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestUploadConflictGoesToFailed(t *testing.T) {
	api := newAPIServer(t)
	api.media["media-C"] = &storedMedia{body: []byte("another file")}
	ts := startSRS(t, srsSetup{api: api, opts: Options{RetryMin: 50 * time.Millisecond}})
	ts.loginAgent()
	api.issue("start", "rec-C", "media-C")
	ts.waitState(10*time.Second, "recording")
	time.Sleep(500 * time.Millisecond)
	api.issue("stop", "rec-C", "media-C")
	ts.waitLog(20*time.Second, "the server holds a different file under this id; kept in failed/, not retried")
	failed := filepath.Join(ts.cfg.UploadFolder, "failed")
	for _, name := range []string{"media-C.mp4", "media-C.json"} {
		if _, err := os.Stat(filepath.Join(failed, name)); err != nil {
			t.Errorf("failed/%s: %v", name, err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if _, _, puts := api.counts(); puts != 1 {
		t.Errorf("%d media puts, want 1 (no retry)", puts)
	}
	if strings.Contains(ts.log(), "Upload of file was successful") {
		t.Errorf("a refused upload was logged as successful")
	}
	// A start for the media the folder holds is not recorded again.
	api.issue("start", "rec-C", "media-C")
	ts.waitLog(10*time.Second, "Recorder: not recording media-C again: the upload folder already holds it")
}

// forwardProxy is a real HTTP forward proxy on loopback that wants
// Proxy-Authorization and counts what it forwards.
type forwardProxy struct {
	srv      *httptest.Server
	requests atomic.Int64
	refused  atomic.Int64
}

func newForwardProxy(t *testing.T, user, password string) *forwardProxy {
	p := &forwardProxy{}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			// A forward proxy request carries the absolute URL already.
			r.Out.URL = r.In.URL
			r.Out.Host = r.In.Host
			r.Out.Header.Del("Proxy-Authorization")
		},
		FlushInterval: -1,
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Authorization") != want || !r.URL.IsAbs() {
			p.refused.Add(1)
			w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
			http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
			return
		}
		p.requests.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func TestUploadThroughProxy(t *testing.T) {
	proxy := newForwardProxy(t, "proxyuser", "proxy-secret-pw")
	host, port, _ := net.SplitHostPort(proxy.srv.Listener.Addr().String())
	ts := startSRS(t, srsSetup{configJSON: fmt.Sprintf(`{"name":"proxyServerHost","value":%q},{"name":"proxyServerPort","value":%q},
		{"name":"proxyServerUsername","value":"proxyuser"},{"name":"proxyServerPassword","value":"proxy-secret-pw"},{"name":"useSystemProxy","value":true}`, host, port)})
	ts.loginAgent()
	ts.api.issue("start", "rec-X", "media-X")
	ts.waitState(10*time.Second, "recording")
	time.Sleep(time.Second)
	ts.api.issue("stop", "rec-X", "media-X")
	ts.waitLog(20*time.Second, "Uploader: Upload of file was successful.")
	if ts.api.storedMedia("media-X") == nil {
		t.Fatal("media not stored")
	}
	// login, me, settings, polls, settings again, media, metadata: all via the proxy.
	if n := proxy.requests.Load(); n < 7 || proxy.refused.Load() != 0 {
		t.Errorf("proxy forwarded %d requests and refused %d", n, proxy.refused.Load())
	}
	if strings.Contains(ts.log(), "proxy-secret-pw") {
		t.Errorf("the log shows the proxy password")
	}
}

func TestProxyPasswordNeverLogged(t *testing.T) {
	// A proxy that refuses srs: the error is logged, the password is not.
	proxy := newForwardProxy(t, "proxyuser", "the-right-one")
	host, port, _ := net.SplitHostPort(proxy.srv.Listener.Addr().String())
	ts := startSRS(t, srsSetup{configJSON: fmt.Sprintf(`{"name":"proxyServerHost","value":%q},{"name":"proxyServerPort","value":%q},
		{"name":"proxyServerUsername","value":"proxyuser"},{"name":"proxyServerPassword","value":"wrong-proxy-pw"}`, host, port)})
	a := ts.call("GET", "/api/v2/me", "", "Basic", "agent1@acme:pw-agent1")
	if a.status != 407 && a.status != 502 {
		t.Errorf("login through a refusing proxy: %d %s", a.status, a.body)
	}
	if proxy.refused.Load() == 0 {
		t.Errorf("the proxy saw nothing")
	}
	if strings.Contains(ts.log()+a.body, "wrong-proxy-pw") {
		t.Errorf("the proxy password shows:\n%s\n%s", ts.log(), a.body)
	}
}

// TestRestartUploadsTruncated: srs was killed while recording. The
// item left in "recording" is closed at the next start as cut short,
// reported stopped and uploaded with X-Media-Truncated.
func TestRestartUploadsTruncated(t *testing.T) {
	dir := t.TempDir()
	certPEM, _, _ := testCert(t, dir, "screen1")
	cert, err := parseCertificate(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	api := newAPIServer(t)
	// What a killed srs leaves: the item and an unclosed CMS stream.
	q, err := OpenQueue(filepath.Join(dir, "upload"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Minute).UTC()
	it := &Item{RecordingID: "rec-K", MediaID: "media-K", State: StateRecording, Encrypted: true, CertAliases: []string{"screen1"},
		File: "media-K.cms", Server: api.URL(), UserName: "agent1@acme", StartTime: start,
		Layout: Layout{Width: 320, Height: 180, OriginalWidth: 640, OriginalHeight: 360}}
	if err := q.Create(it); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(q.Path("media-K.cms.part"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := cms.NewStreamWriter(f, []*x509.Certificate{cert}, cms.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(bytes.Repeat([]byte("fragment"), 100000))
	f.Close() // no Close of w: the trailer is missing
	mtime := start.Add(42 * time.Second)
	_ = os.Chtimes(q.Path("media-K.cms.part"), mtime, mtime)

	ts := startSRS(t, srsSetup{api: api, dir: dir})
	if !strings.Contains(ts.log(), "Recorder: media-K was being recorded when srs stopped: queued for upload as cut short") {
		t.Errorf("recovery not logged:\n%s", ts.log())
	}
	ts.loginAgent()
	ts.waitLog(20*time.Second, "Uploader: Upload of file was successful.")
	m := api.storedMedia("media-K")
	if m == nil || m.header.Get("X-Media-Truncated") != "true" || m.header.Get("Content-Type") != "application/pkcs7-mime" {
		t.Fatalf("media %v", m)
	}
	stops := api.stopReports()
	if len(stops) != 1 || stops[0]["reason"] != ReasonCrash || stops[0]["mediaId"] != "media-K" {
		t.Errorf("stop reports %v", stops)
	}
	puts := api.recordPuts("rec-K")
	if len(puts) != 1 || !strings.Contains(string(puts[0]), `"stopTime":"`+mtime.UTC().Format(GuideTime)+`"`) ||
		!strings.Contains(string(puts[0]), `"duration":"0:00:42"`) {
		t.Errorf("metadata %s", puts)
	}
}

// TestUploadsWaitForTheirAgent: a queued item uploads only in a session
// of its own agent on its own server.
func TestUploadsWaitForTheirAgent(t *testing.T) {
	ts := startSRS(t, srsSetup{})
	ts.loginAgent()
	ts.api.issue("start", "rec-W", "media-W")
	ts.waitState(10*time.Second, "recording")
	time.Sleep(500 * time.Millisecond)
	ck := ts.loginAgent()
	if a := ts.call("DELETE", "/api/v2/me", "", "Cookie", ck); a.status != 200 {
		t.Fatalf("logout %d", a.status)
	}
	ts.api.mu.Lock()
	ts.api.active = map[string]Command{}
	ts.api.mu.Unlock()
	if a := ts.call("GET", "/api/v2/me", "", "Basic", "agent2@acme:pw-agent2"); a.status != 200 {
		t.Fatalf("agent2 login %d", a.status)
	}
	time.Sleep(500 * time.Millisecond)
	if ts.api.storedMedia("media-W") != nil {
		t.Fatalf("agent1's recording was uploaded in agent2's session")
	}
	ts.loginAgent()
	ts.waitLog(20*time.Second, "Uploader: Upload of file was successful.")
}

func TestSessionLostLogsOut(t *testing.T) {
	ts := startSRS(t, srsSetup{opts: Options{PollWait: time.Second}})
	ck := ts.loginAgent()
	ts.api.issue("start", "rec-S", "media-S")
	ts.waitState(10*time.Second, "recording")
	ts.api.expireSessions()
	ts.waitLog(10*time.Second, "logged out (session-lost)")
	if a := ts.call("GET", "/ping", "", "Cookie", ck); a.status != 401 {
		t.Errorf("ping after the session was lost: %d", a.status)
	}
	items, _ := ts.svc.queue.List()
	if len(items) != 1 || items[0].State != StateComplete || items[0].StopReason != ReasonSession || items[0].StopReported {
		t.Fatalf("queue %+v", items)
	}
	// At the next login, the stop is reported, then the file uploaded.
	ts.loginAgent()
	ts.waitLog(20*time.Second, "Uploader: Upload of file was successful.")
	if stops := ts.api.stopReports(); len(stops) != 1 || stops[0]["reason"] != ReasonSession {
		t.Errorf("stop reports %v", stops)
	}
}

func TestDiskThresholdStopsCapture(t *testing.T) {
	var freePercent atomic.Int64
	freePercent.Store(50)
	space := func(string) (uint64, uint64, error) { return uint64(freePercent.Load()), 100, nil }
	ts := startSRS(t, srsSetup{opts: Options{DiskSpace: space, DiskCheckInterval: 100 * time.Millisecond}})
	ts.loginAgent()
	ts.api.issue("start", "rec-D", "media-D")
	ts.waitState(10*time.Second, "recording")
	time.Sleep(500 * time.Millisecond)
	freePercent.Store(5)
	line := "ERROR Recorder: stopped recording media-D: free disk space of " + ts.cfg.UploadFolder + " is 5.0%, below minFreeDiskPercent 10"
	ts.waitLog(10*time.Second, line)
	if n := strings.Count(ts.log(), "below minFreeDiskPercent"); n != 1 {
		t.Errorf("%d lines about the disk, want 1", n)
	}
	ts.waitState(5*time.Second, "idle")
	waitFor(t, 10*time.Second, "the stop report", func() bool {
		stops := ts.api.stopReports()
		return len(stops) == 1 && stops[0]["reason"] == ReasonDiskFull
	})
	// The file so far is queued and uploaded as usual.
	ts.waitLog(20*time.Second, "Uploader: Upload of file was successful.")
	// A start while the disk is full is refused, and said why.
	ts.api.issue("start", "rec-D2", "media-D2")
	ts.waitLog(10*time.Second, "Recorder: not recording media-D2: free disk space")
	if n := ts.captures(); n != 1 {
		t.Errorf("%d captures, want 1", n)
	}
}

func TestQueueLimitStopsCapture(t *testing.T) {
	ts := startSRS(t, srsSetup{configJSON: `{"name":"maxQueueMB","value":1}`, opts: Options{DiskCheckInterval: 100 * time.Millisecond}})
	// Fill the queue with someone else's item so that nothing uploads it.
	if err := os.WriteFile(filepath.Join(ts.cfg.UploadFolder, "filler.bin"), make([]byte, 1020<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	ts.loginAgent()
	ts.api.issue("start", "rec-Q", "media-Q")
	ts.waitLog(30*time.Second, "Recorder: stopped recording media-Q: the upload queue holds 1 MB, above maxQueueMB 1")
}
