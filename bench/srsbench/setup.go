package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"callvault/bench/internal/benchkit"
	"callvault/internal/ffmpeg"
)

const (
	tenant         = "bench"
	adminLogin     = "admin@" + tenant
	adminPassword  = "srsbench admin password"
	agentName      = "agent"
	agentLogin     = agentName + "@" + tenant
	agentPassword  = "srsbench agent password"
	desktopOrigin  = "https://desktop.example"
	screenWidth    = 1920
	screenHeight   = 1080
	frameRate      = 5
	pingEvery      = 10 * time.Second
	uploadLogLine  = "Uploader: Upload of file was successful."
	guideLogLayout = "2006-01-02 15:04:05.000" // GSR.log's time stamps
)

// bench is everything the runs share: the work directory, the vault, the
// display and srs.
type bench struct {
	o        options
	dir      string
	cleanup  func() error
	bin, srs string // the built programs
	vault    *proc
	base     string // http://127.0.0.1:port of serve
	certPath string
	keyPath  string
	client   *http.Client // to serve, as the administrator (Basic)

	display string
	stopX   func()

	srsProc  *proc
	srsLog   string // GSR.log
	desk     *desktop
	stopPing context.CancelFunc
	pingDone chan struct{}
}

// setUp builds the programs and starts the vault, Xvfb and srs with the
// agent logged in. A non-nil bench is returned whenever something needs
// closing.
func setUp(ctx context.Context, o options) (*bench, error) {
	dir, cleanup, err := benchkit.WorkDir("srsbench", o.dir, o.keep)
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, dir: dir, cleanup: cleanup,
		client: &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true}, Timeout: 10 * time.Minute}}
	b.bin, b.srs = filepath.Join(dir, "callvault"), filepath.Join(dir, "srs")
	for pkg, out := range map[string]string{"callvault/cmd/callvault": b.bin, "callvault/cmd/srs": b.srs} {
		progress("building %s", out)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return b, fmt.Errorf("go build %s: %w (run from inside the callvault module)", pkg, err)
		}
	}
	if err := b.startVault(ctx); err != nil {
		return b, err
	}
	if err := b.startDisplay(ctx); err != nil {
		return b, err
	}
	if err := b.startSRS(ctx); err != nil {
		return b, err
	}
	return b, nil
}

func (b *bench) close() error {
	var errs []error
	if b.stopPing != nil {
		b.stopPing()
		<-b.pingDone
	}
	if b.srsProc != nil {
		errs = append(errs, b.srsProc.stop())
	}
	if b.stopX != nil {
		b.stopX()
	}
	if b.vault != nil {
		errs = append(errs, b.vault.stop())
	}
	errs = append(errs, b.cleanup())
	return errors.Join(errs...)
}

// startVault inits the tenant, starts serve, uploads a certificate for
// voice and screen and creates the agent.
func (b *bench) startVault(ctx context.Context) error {
	data := filepath.Join(b.dir, "data")
	init := exec.CommandContext(ctx, b.bin, "init", "-data", data, "-tenant", tenant, "-admin", adminLogin)
	init.Env = append(os.Environ(), "CALLVAULT_ADMIN_PASSWORD="+adminPassword)
	if out, err := init.CombinedOutput(); err != nil {
		return fmt.Errorf("callvault init: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	b.base = "http://" + addr
	if b.vault, err = startProc(b.bin, filepath.Join(b.dir, "serve.log"), "serve", "-data", data, "-addr", addr, "-metrics-addr", ""); err != nil {
		return err
	}
	if err := waitFor(ctx, "serve's /healthz", 20*time.Second, func() bool {
		res, err := b.client.Get(b.base + "/healthz")
		if err != nil {
			return false
		}
		drain(res)
		return res.StatusCode == http.StatusOK
	}); err != nil {
		return fmt.Errorf("%w (log: %s)", err, b.vault.logPath)
	}

	b.keyPath, b.certPath = filepath.Join(b.dir, "tenant.key"), filepath.Join(b.dir, "tenant.pem")
	for _, args := range [][]string{
		{"genrsa", "-out", b.keyPath, "2048"},
		{"req", "-new", "-x509", "-key", b.keyPath, "-out", b.certPath, "-days", "3650", "-subj", "/CN=srsbench/O=callvault"},
	} {
		if out, err := exec.CommandContext(ctx, "openssl", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("openssl %s: %v: %s", args[0], err, out)
		}
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	for field, path := range map[string]string{"certificate": b.certPath, "key": b.keyPath} {
		w, err := mw.CreateFormFile(field, filepath.Base(path))
		if err != nil {
			return err
		}
		pem, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		w.Write(pem)
	}
	mw.WriteField("assign", "voice,screen")
	mw.Close()
	if err := b.call(ctx, http.MethodPost, "/api/v2/certificates", mw.FormDataContentType(), &form, http.StatusCreated, nil); err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	user, _ := json.Marshal(map[string]any{"userName": agentName, "password": agentPassword, "roles": []string{"agent"},
		"firstName": "Ann", "lastName": "Agent"})
	if err := b.call(ctx, http.MethodPost, "/api/v2/users", "application/json", bytes.NewReader(user), http.StatusCreated, nil); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

// startDisplay starts Xvfb on the first free display from -display.
func (b *bench) startDisplay(ctx context.Context) error {
	for n := b.o.firstDisplay; n < b.o.firstDisplay+50; n++ {
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", n)); err == nil {
			continue
		}
		display := ":" + strconv.Itoa(n)
		stop, err := ffmpeg.StartXvfb(ctx, display, screenWidth, screenHeight)
		if errors.Is(err, ffmpeg.ErrDisplayInUse) {
			continue
		}
		if err != nil {
			return err
		}
		b.display, b.stopX = display, stop
		progress("Xvfb on %s at %dx%dx24", display, screenWidth, screenHeight)
		return nil
	}
	return fmt.Errorf("no free X display from :%d to :%d", b.o.firstDisplay, b.o.firstDisplay+49)
}

// startSRS writes config.json, starts srs and logs the agent in through
// its loopback API; a goroutine then pings it as a desktop does.
func (b *bench) startSRS(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	b.srsLog = filepath.Join(b.dir, "GSR.log")
	config, _ := json.MarshalIndent([]map[string]any{
		{"name": "server", "value": b.base + "/api/v2"},
		{"name": "authenticationPort", "value": port},
		{"name": "allowedOrigins", "value": []string{desktopOrigin}},
		{"name": "display", "value": b.display},
		{"name": "uploadFolder", "value": filepath.Join(b.dir, "upload")},
		{"name": "logFile", "value": b.srsLog},
		{"name": "frameRate", "value": frameRate},
		{"name": "maxWidth", "value": screenWidth},
	}, "", "  ")
	configPath := filepath.Join(b.dir, "config.json")
	if err := os.WriteFile(configPath, config, 0o600); err != nil {
		return err
	}
	if b.srsProc, err = startProc(b.srs, filepath.Join(b.dir, "srs.out"), "-config", configPath); err != nil {
		return err
	}
	jar, _ := cookiejar.New(nil)
	b.desk = &desktop{base: fmt.Sprintf("http://127.0.0.1:%d", port),
		client: &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}}
	if err := waitFor(ctx, "srs's /version", 20*time.Second, func() bool {
		code, _ := b.desk.call(ctx, http.MethodGet, "/version", false)
		return code == http.StatusOK
	}); err != nil {
		return err
	}
	if err := waitFor(ctx, "the agent's login through srs", 30*time.Second, func() bool {
		code, _ := b.desk.call(ctx, http.MethodGet, "/api/v2/me", true)
		return code == http.StatusOK
	}); err != nil {
		return fmt.Errorf("%w\nGSR.log:\n%s", err, tail(b.srsLog, 2000))
	}
	progress("srs logged in as %s on %s", agentLogin, b.desk.base)
	pingCtx, stop := context.WithCancel(ctx)
	b.stopPing, b.pingDone = stop, make(chan struct{})
	go func() {
		defer close(b.pingDone)
		for {
			select {
			case <-pingCtx.Done():
				return
			case <-time.After(pingEvery):
			}
			if code, _ := b.desk.call(pingCtx, http.MethodGet, "/ping", false); code == http.StatusUnauthorized {
				progress("srs said 401 to a ping: logging in again")
				b.desk.call(pingCtx, http.MethodGet, "/api/v2/me", true)
			}
		}
	}()
	return nil
}

// desktop plays the agent's desktop against srs's loopback API.
type desktop struct {
	base   string
	client *http.Client
}

// call sends a request from the allowed origin, with the agent's Basic
// credentials when login says so (the cookie jar carries the session).
func (d *desktop) call(ctx context.Context, method, path string, login bool) (int, []byte) {
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, nil)
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Origin", desktopOrigin)
	if login {
		req.SetBasicAuth(agentLogin, agentPassword)
	}
	res, err := d.client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, body
}

// status is GET /api/v2/me/recording.
func (d *desktop) status(ctx context.Context) (state, recordingID, mediaID string) {
	code, body := d.call(ctx, http.MethodGet, "/api/v2/me/recording", false)
	if code != http.StatusOK {
		return fmt.Sprintf("http %d", code), "", ""
	}
	var st struct{ State, RecordingID, MediaID string }
	json.Unmarshal(body, &st)
	return st.State, st.RecordingID, st.MediaID
}

// call sends a request to serve as the administrator and decodes a JSON
// answer of status want into out (nil: discard).
func (b *bench) call(ctx context.Context, method, path, contentType string, body io.Reader, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, body)
	if err != nil {
		return err
	}
	req.SetBasicAuth(adminLogin, adminPassword)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if f, ok := body.(*os.File); ok {
		if info, err := f.Stat(); err == nil {
			req.ContentLength = info.Size()
		}
	}
	res, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: status %d: %s", method, path, res.StatusCode, strings.TrimSpace(string(answer[:min(len(answer), 512)])))
	}
	if out != nil {
		return json.Unmarshal(answer, out)
	}
	return nil
}

// download writes the stored bytes of a media file to path.
func (b *bench) download(ctx context.Context, recordingID, mediaID, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/api/v2/recordings/"+recordingID+"/media/"+mediaID, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(adminLogin, adminPassword)
	res, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET media %s/%s: status %d", recordingID, mediaID, res.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, res.Body)
	return errors.Join(err, f.Close())
}

// proc is a subprocess whose output goes to a file.
type proc struct {
	cmd     *exec.Cmd
	pid     int
	logPath string
	logFile *os.File
	done    chan struct{}
	waitErr error
}

// startProc starts bin ARGS… with stdout and stderr in logPath. Not
// CommandContext: stop ends it with SIGINT, as an operator would.
func startProc(bin, logPath string, args ...string) (*proc, error) {
	p := &proc{logPath: logPath, done: make(chan struct{})}
	var err error
	if p.logFile, err = os.Create(logPath); err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.logFile, p.logFile
	if err := p.cmd.Start(); err != nil {
		p.logFile.Close()
		return nil, fmt.Errorf("%s: %w", filepath.Base(bin), err)
	}
	p.pid = p.cmd.Process.Pid
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGINT and waits up to 30 s, then kills the process (ours,
// by its pid).
func (p *proc) stop() error {
	defer p.logFile.Close()
	select {
	case <-p.done:
		return nil
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
		return nil
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 30 s of SIGINT; killed", filepath.Base(p.cmd.Path))
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitFor polls ok every 50 ms until it holds, limit passes or ctx ends.
func waitFor(ctx context.Context, what string, limit time.Duration, ok func() bool) error {
	return waitEvery(ctx, what, limit, 50*time.Millisecond, ok)
}

// waitEvery is waitFor polling every every.
func waitEvery(ctx context.Context, what string, limit, every time.Duration, ok func() bool) error {
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", limit, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
	return nil
}

func drain(res *http.Response) {
	io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
}

// tail is the last n bytes of a file, for error messages.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	return string(b[max(0, len(b)-n):])
}

// countLogErrors counts serve's JSON log lines at level ERROR.
func countLogErrors(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), `"level":"ERROR"`)
}
