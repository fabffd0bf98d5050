package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"callvault/internal/ffmpeg"
	"callvault/internal/testenv"
)

var (
	srsOnce  sync.Once
	builtSRS string
	srsErr   error
)

// buildSRS builds cmd/srs once, beside the callvault binary.
func buildSRS(t *testing.T) string {
	t.Helper()
	bin := buildCallvault(t)
	srsOnce.Do(func() {
		builtSRS = filepath.Join(filepath.Dir(bin), "srs")
		if out, err := exec.Command("go", "build", "-o", builtSRS, "callvault/cmd/srs").CombinedOutput(); err != nil {
			srsErr = fmt.Errorf("go build srs: %v: %s", err, out)
		}
	})
	if srsErr != nil {
		t.Fatal(srsErr)
	}
	return builtSRS
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// slowProxy is the HTTP proxy srs is configured with: it forwards every
// request (counting them) and, while slow is set, paces request bodies so
// that an upload is surely in flight when the test kills the server.
type slowProxy struct {
	slow      atomic.Bool
	requests  atomic.Int64
	uploading atomic.Int64 // bytes of media uploads forwarded so far
	transport *http.Transport
}

func (p *slowProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.Header.Del("Proxy-Authorization")
	if r.Body != nil && strings.Contains(r.URL.Path, "/media/") {
		out.Body = &pacedBody{r: r.Body, p: p}
	}
	res, err := p.transport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	io.Copy(w, res.Body)
}

type pacedBody struct {
	r io.ReadCloser
	p *slowProxy
}

func (b *pacedBody) Read(buf []byte) (int, error) {
	if b.p.slow.Load() {
		buf = buf[:min(len(buf), 4096)]
		time.Sleep(50 * time.Millisecond)
	}
	n, err := b.r.Read(buf)
	b.p.uploading.Add(int64(n))
	return n, err
}

func (b *pacedBody) Close() error { return b.r.Close() }

// desktop plays the agent desktop: it calls srs's loopback API with a
// cookie jar, from an allowed origin.
type desktop struct {
	t      *testing.T
	base   string
	client *http.Client
}

const desktopOrigin = "https://desktop.example"

func (d *desktop) call(method, path, origin, login, password string) (int, []byte) {
	d.t.Helper()
	req, err := http.NewRequest(method, d.base+path, nil)
	if err != nil {
		d.t.Fatal(err)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if login != "" {
		req.SetBasicAuth(login, password)
	}
	res, err := d.client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func (d *desktop) status() (state, recordingID, mediaID string) {
	d.t.Helper()
	code, body := d.call("GET", "/api/v2/me/recording", desktopOrigin, "", "")
	if code != 200 {
		return fmt.Sprintf("http %d", code), "", ""
	}
	var st struct{ State, RecordingID, MediaID string }
	json.Unmarshal(body, &st)
	return st.State, st.RecordingID, st.MediaID
}

// waitContext is what a timed-out wait adds to its message (srs's log).
var waitContext = func() string { return "" }

func waitFor(t *testing.T, what string, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s%s", limit, what, waitContext())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestScreenRecordingEndToEnd records a real Xvfb display of 3840×1080
// (two monitors side by side, moving content) with srs logged in through
// its loopback API as an agent: a call in progress starts the capture, a
// PCI pause blacks out frames and is listed in masks, the stop uploads a
// file that openssl opens with the screen key and that ffprobe finds to be
// H.264 at 1920×540 lasting the call within 1 s; the muxed file has the
// call audio and rcbs backs it up. Then srs is SIGKILLed mid-call and the
// server mid-upload: after restarts every complete second reaches the
// server, once. Bad input: a foreign Origin, a wrong password.
func TestScreenRecordingEndToEnd(t *testing.T) {
	requireOpenSSL(t)
	bin, srsBin := buildCallvault(t), buildSRS(t)
	ctx := t.Context()
	dir := t.TempDir()

	const display = ":93"
	stopX, err := ffmpeg.StartXvfb(ctx, display, 3840, 1080)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopX)
	if err := ffmpeg.SetVirtualMonitors(ctx, display, []ffmpeg.Monitor{
		{Name: "monitor_0", Primary: true, X: 0, Y: 0, W: 1920, H: 1080},
		{Name: "monitor_1", X: 1920, Y: 0, W: 1920, H: 1080},
	}); err != nil {
		t.Fatal(err)
	}
	stopContent, err := ffmpeg.StartTestContent(ctx, display, "motion", 200, 100, 960, 540)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopContent)

	// The vault, as its own process (it is killed below).
	data := filepath.Join(dir, "data")
	backends := testenv.Backend(t)
	var storeFlags []string
	if backends.DB != "" {
		storeFlags = append(storeFlags, "-db", backends.DB)
	}
	if backends.Blob != "" {
		storeFlags = append(storeFlags, "-blob", backends.Blob)
	}
	init := exec.Command(bin, append([]string{"init", "-data", data, "-tenant", rcbsTenant, "-admin", rcbsLogin}, storeFlags...)...)
	init.Env = append(os.Environ(), "CALLVAULT_ADMIN_PASSWORD="+rcbsPassword)
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("init: %v: %s", err, out)
	}
	serveFlags := append([]string{"-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "-job-slice", "1s", "-job-rescue-after", "3s"}, storeFlags...)
	serve, base := startServeArgs(t, bin, data, serveFlags...)
	vault := &vaultEnv{t: t, url: base, recs: map[string]*ingested{}}
	vault.certPath, vault.keyPath = opensslCert(t, dir, "tenant")
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	for field, path := range map[string]string{"certificate": vault.certPath, "key": vault.keyPath} {
		w, _ := mw.CreateFormFile(field, filepath.Base(path))
		b, _ := os.ReadFile(path)
		w.Write(b)
	}
	mw.WriteField("assign", "voice,screen")
	mw.Close()
	if status, body := vault.call("POST", "/api/v2/certificates", mw.FormDataContentType(), &form); status != 201 {
		t.Fatalf("certificate: %d %s", status, body)
	}
	const agentPassword = "ann's desktop password"
	if status, body := vault.call("POST", "/api/v2/users", "application/json", strings.NewReader(
		`{"userName":"ann","password":"`+agentPassword+`","roles":["agent"],"firstName":"Ann","lastName":"Agent"}`)); status != 201 {
		t.Fatalf("agent: %d %s", status, body)
	}

	// srs, through a proxy the test controls.
	proxy := &slowProxy{transport: &http.Transport{}}
	proxyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxySrv := &http.Server{Handler: proxy}
	go proxySrv.Serve(proxyLn)
	t.Cleanup(func() { proxySrv.Close() })
	srsPort := freePort(t)
	logFile := filepath.Join(dir, "GSR.log")
	config, _ := json.Marshal([]map[string]any{
		{"name": "server", "value": base + "/api/v2"},
		{"name": "authenticationPort", "value": srsPort},
		{"name": "allowedOrigins", "value": []string{desktopOrigin}},
		{"name": "display", "value": display},
		{"name": "uploadFolder", "value": filepath.Join(dir, "upload")},
		{"name": "logFile", "value": logFile},
		{"name": "proxyServerHost", "value": "127.0.0.1"},
		{"name": "proxyServerPort", "value": proxyLn.Addr().(*net.TCPAddr).Port},
	})
	configPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(configPath, config, 0o600); err != nil {
		t.Fatal(err)
	}
	startSRS := func() *exec.Cmd {
		cmd := exec.Command(srsBin, "-config", configPath)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	srs := startSRS()
	jar, _ := cookiejar.New(nil)
	desk := &desktop{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", srsPort), client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	waitFor(t, "srs's /version", 20*time.Second, func() bool { code, _ := desk.call("GET", "/version", "", "", ""); return code == 200 })
	logText := func() string { b, _ := os.ReadFile(logFile); return string(b) }
	waitContext = func() string { return "\nGSR.log:\n" + logText() }
	t.Cleanup(func() { waitContext = func() string { return "" } })
	if !strings.Contains(logText(), "ServiceHandler: Running Version:") {
		t.Fatalf("GSR.log lacks the start line:\n%s", logText())
	}

	// Bad input first: a foreign page, a wrong password.
	if code, body := desk.call("GET", "/api/v2/me", "https://evil.example", "ann@"+rcbsTenant, agentPassword); code != 403 {
		t.Fatalf("login from a foreign origin: %d %s", code, body)
	}
	if code, body := desk.call("GET", "/api/v2/me", desktopOrigin, "ann@"+rcbsTenant, "not-the-password-7731"); code != 401 || bytes.Contains(body, []byte("7731")) {
		t.Fatalf("wrong password: %d %s", code, body)
	}
	login := func() {
		t.Helper()
		waitFor(t, "the desktop's login", 20*time.Second, func() bool {
			code, _ := desk.call("GET", "/api/v2/me", desktopOrigin, "ann@"+rcbsTenant, agentPassword)
			return code == 200
		})
	}
	login()
	// The desktop pings every 2 s, and logs in again when srs says 401.
	pingCtx, stopPing := context.WithCancel(ctx)
	defer stopPing()
	go func() {
		for pingCtx.Err() == nil {
			if code, _ := desk.call("GET", "/ping", desktopOrigin, "", ""); code == 401 {
				desk.call("GET", "/api/v2/me", desktopOrigin, "ann@"+rcbsTenant, agentPassword)
			}
			select {
			case <-pingCtx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	}()

	putDoc := func(id string, body []byte) {
		t.Helper()
		if status, answer := vault.call("PUT", "/api/v2/recordings/"+id, "application/json", bytes.NewReader(body)); status != 200 {
			t.Fatalf("metadata %s: %d %s", id, status, answer)
		}
	}
	putCall := func(id string, start, stop time.Time) {
		t.Helper()
		doc := map[string]any{"id": id, "startTime": start.Format(time.RFC3339Nano), "callerPhoneNumber": "+15551234567",
			"eventHistory": []any{map[string]any{"occurredAt": start.Format(time.RFC3339Nano), "event": "Joined", "calluuid": id,
				"contact": map[string]any{"type": "User", "userName": "ann", "firstName": "Ann", "lastName": "Agent"}}}}
		if !stop.IsZero() {
			doc["stopTime"] = stop.Format(time.RFC3339Nano)
		}
		body, _ := json.Marshal(doc)
		putDoc(id, body)
	}
	recording := func(id string) map[string]any {
		t.Helper()
		status, body := vault.call("GET", "/api/v2/recordings/"+id, "", nil)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", id, status, body)
		}
		var rec map[string]any
		json.Unmarshal(body, &rec)
		return rec
	}
	videoEntries := func(id string) []map[string]any {
		var out []map[string]any
		for _, m := range recording(id)["mediaFiles"].([]any) {
			if e := m.(map[string]any); e["type"] == "video/mp4" {
				out = append(out, e)
			}
		}
		return out
	}
	// decrypt fetches a stored file and opens it with openssl and the key.
	decrypt := func(id, mediaID string) []byte {
		t.Helper()
		status, enc := vault.call("GET", "/api/v2/recordings/"+id+"/media/"+url.PathEscape(mediaID), "", nil)
		if status != 200 {
			t.Fatalf("fetch %s/%s: %d", id, mediaID, status)
		}
		in := filepath.Join(t.TempDir(), "media.bin")
		os.WriteFile(in, enc, 0o600)
		return opensslDecrypt(t, in, vault.keyPath)
	}
	uploads := func() int { return strings.Count(logText(), "Uploader: Upload of file was successful.") }

	// Call 1: recorded whole, with a PCI pause.
	start1 := time.Now().UTC()
	putCall("call1", start1, time.Time{})
	waitFor(t, "srs recording call1", 15*time.Second, func() bool { state, rec, _ := desk.status(); return state == "recording" && rec == "call1" })
	time.Sleep(3 * time.Second)
	if code, body := desk.call("POST", "/api/v2/me/recording/pause", desktopOrigin, "", ""); code != 200 {
		t.Fatalf("pause: %d %s", code, body)
	}
	pausedAt := time.Now()
	time.Sleep(3500 * time.Millisecond)
	if code, body := desk.call("POST", "/api/v2/me/recording/resume", desktopOrigin, "", ""); code != 200 {
		t.Fatalf("resume: %d %s", code, body)
	}
	resumedAt := time.Now()
	time.Sleep(3 * time.Second)
	stop1 := time.Now().UTC()
	putCall("call1", start1, stop1)
	waitFor(t, "the upload of call1", 30*time.Second, func() bool { return uploads() >= 1 && len(videoEntries("call1")) == 1 })
	entry := videoEntries("call1")[0]
	params := entry["parameters"].(map[string]any)
	if params["virtualWidth"] != "1920" || params["virtualHeight"] != "540" || params["originalVirtualWidth"] != "3840" ||
		len(params["monitors"].([]any)) != 2 || params["agentID"] != "ann" {
		t.Fatalf("screen entry parameters: %v", params)
	}
	masks, _ := entry["masks"].([]any)
	if len(masks) != 2 || masks[0].(map[string]any)["type"] != "pause" || masks[1].(map[string]any)["type"] != "resume" {
		t.Fatalf("masks: %v", entry["masks"])
	}
	screenID := entry["mediaId"].(string)
	plain := decrypt("call1", screenID)
	probe, err := ffmpeg.Probe(ctx, bytes.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	v, ok := probe.Stream("video")
	if !ok || v.CodecName != "h264" || v.Width != 1920 || v.Height != 540 {
		t.Fatalf("screen video: %+v", probe)
	}
	if d := probe.Duration - stop1.Sub(start1); d < -time.Second || d > time.Second {
		t.Fatalf("screen video lasts %v, the call %v", probe.Duration, stop1.Sub(start1))
	}
	// Black while paused (the first and last second of the pause aside:
	// the command takes effect within a frame, but on a loaded machine
	// the capture lags the wall clock by a few frames), not black
	// otherwise.
	capStart, _ := time.Parse("2006-01-02T15:04:05.000-0700", entry["startTime"].(string))
	luma, err := ffmpeg.FrameLuma(ctx, bytes.NewReader(plain), 5)
	if err != nil {
		t.Fatal(err)
	}
	black, lit := 0, 0
	for i, l := range luma {
		at := capStart.Add(time.Duration(i) * 200 * time.Millisecond)
		switch {
		case at.After(pausedAt.Add(time.Second)) && at.Before(resumedAt.Add(-time.Second)):
			if l > 8 {
				t.Errorf("frame %d at %v in the pause has luma %.1f", i, at.Sub(capStart), l)
			}
			black++
		case at.Before(pausedAt.Add(-time.Second)) || at.After(resumedAt.Add(time.Second)):
			if l < 10 {
				t.Errorf("frame %d at %v outside the pause is black (%.1f)", i, at.Sub(capStart), l)
			}
			lit++
		}
	}
	if black < 4 || lit < 10 {
		t.Fatalf("%d frames in the pause, %d outside: too few to judge (%d frames)", black, lit, len(luma))
	}

	// The call audio arrives; the mux job adds it to the screen video.
	audio, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
		fmt.Sprintf("sine=frequency=440:sample_rate=8000:duration=%.3f", stop1.Sub(start1).Seconds()),
		"-ac", "2", "-c:a", "libmp3lame", "-b:a", "32k", "-f", "mp3", "pipe:1").Output()
	if err != nil {
		t.Fatal(err)
	}
	vault.putMedia("call1", "call1.mp3", "audio/mp3", audio)
	audioEntry, _ := json.Marshal(map[string]any{"mediaFiles": []any{map[string]any{"mediaId": "call1.mp3", "type": "audio/mp3",
		"startTime": start1.Format(time.RFC3339Nano), "stopTime": stop1.Format(time.RFC3339Nano), "channels": 2}}})
	putDoc("call1", audioEntry)
	waitFor(t, "the muxed file", 60*time.Second, func() bool {
		e := videoEntries("call1")
		return len(e) == 1 && e[0]["parameters"].(map[string]any)["muxed_mediaIds"] != nil
	})
	muxedID := videoEntries("call1")[0]["mediaId"].(string)
	muxed, err := ffmpeg.Probe(ctx, bytes.NewReader(decrypt("call1", muxedID)))
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := muxed.Stream("audio"); !ok || a.CodecName != "aac" {
		t.Fatalf("muxed file has no AAC audio: %+v", muxed)
	}
	if v, ok := muxed.Stream("video"); !ok || v.Width != 1920 {
		t.Fatalf("muxed file's video: %+v", muxed)
	}
	// rcbs backs the muxed file up.
	target := filepath.Join(dir, "backup")
	day := start1.Format("2006-01-02")
	next := start1.Add(24 * time.Hour).Format("2006-01-02")
	cfg := rcbsConfig(t, vault.baseConfig("", target, "maxDate", day, "minDate", next)...)
	backupOK(t, cfg, nil)
	var backedUp string
	filepath.WalkDir(target, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == muxedID {
			backedUp = path
		}
		return nil
	})
	if backedUp == "" {
		t.Fatalf("rcbs did not back up the muxed file %s", muxedID)
	}
	if p, err := ffmpeg.Probe(ctx, bytes.NewReader(opensslDecrypt(t, backedUp, vault.keyPath))); err != nil || len(p.Streams) != 2 {
		t.Fatalf("backed-up muxed file: %+v, %v", p, err)
	}

	// Call 2: srs is SIGKILLed mid-call, then the server mid-upload.
	start2 := time.Now().UTC()
	putCall("call2", start2, time.Time{})
	var firstPart string
	waitFor(t, "srs recording call2", 15*time.Second, func() bool {
		state, rec, media := desk.status()
		firstPart = media
		return state == "recording" && rec == "call2"
	})
	time.Sleep(4 * time.Second)
	srs.Process.Signal(syscall.SIGKILL)
	srs.Wait()
	killedAt := time.Now()
	startSRS() // its Cleanup kills it
	// The desktop's ping gets 401 from the new srs and logs in again; the
	// server hands srs a new capture for the call still in progress.
	var secondPart string
	waitFor(t, "srs recording call2 again", 30*time.Second, func() bool {
		state, rec, media := desk.status()
		secondPart = media
		return state == "recording" && rec == "call2" && media != firstPart
	})
	waitFor(t, "the upload of the part cut short", 30*time.Second, func() bool { return uploads() >= 2 })
	time.Sleep(3 * time.Second)
	proxy.slow.Store(true)
	before := proxy.uploading.Load()
	stop2 := time.Now().UTC()
	putCall("call2", start2, stop2)
	waitFor(t, "the second part's upload to be under way", 30*time.Second, func() bool { return proxy.uploading.Load() > before+16<<10 })
	serve.Process.Signal(syscall.SIGKILL)
	serve.Wait()
	proxy.slow.Store(false)
	startServeArgs(t, bin, data, serveFlags...) // on the same port; its Cleanup kills it
	waitFor(t, "the second part's upload after the restart", 90*time.Second, func() bool { return uploads() >= 3 })

	parts := videoEntries("call2")
	if len(parts) != 2 {
		t.Fatalf("call2 has %d screen files, want 2: %v", len(parts), parts)
	}
	byID := map[string]map[string]any{}
	for _, p := range parts {
		byID[p["mediaId"].(string)] = p
	}
	if byID[firstPart] == nil || byID[secondPart] == nil {
		t.Fatalf("call2's screen files %v are not %s and %s", parts, firstPart, secondPart)
	}
	firstVideo, err := ffmpeg.Probe(ctx, bytes.NewReader(decrypt("call2", firstPart)))
	if err != nil {
		t.Fatal(err)
	}
	firstStart, _ := time.Parse("2006-01-02T15:04:05.000-0700", byID[firstPart]["startTime"].(string))
	if lost := killedAt.Sub(firstStart) - firstVideo.Duration; lost > 2500*time.Millisecond {
		t.Fatalf("the part cut short keeps %v of the %v before the kill", firstVideo.Duration, killedAt.Sub(firstStart))
	}
	t.Logf("the part cut short by SIGKILL keeps %v of the %v captured before the kill", firstVideo.Duration, killedAt.Sub(firstStart))
	secondStart, _ := time.Parse("2006-01-02T15:04:05.000-0700", byID[secondPart]["startTime"].(string))
	if secondStart.Before(firstStart.Add(firstVideo.Duration)) {
		t.Fatalf("the parts overlap: the first lasts %v from %v, the second starts %v", firstVideo.Duration, firstStart, secondStart)
	}
	if _, err := ffmpeg.Probe(ctx, bytes.NewReader(decrypt("call2", secondPart))); err != nil {
		t.Fatalf("the second part: %v", err)
	}
	if proxy.requests.Load() == 0 {
		t.Fatal("srs did not use its proxy")
	}
	if n, err := countLines(logFile, "Uploader: Upload of file was successful."); err != nil || n != 3 {
		t.Fatalf("%d upload lines, want 3 (%v)", n, err)
	}
}

func countLines(path, substr string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			n++
		}
	}
	return n, sc.Err()
}
