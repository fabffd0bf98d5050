package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	tenant        = "bench"
	adminLogin    = "admin@" + tenant
	adminPassword = "serverbench admin password"
)

// server is a `callvault serve` subprocess on a loopback port.
type server struct {
	cmd     *exec.Cmd
	pid     int
	base    string // http://127.0.0.1:PORT
	dataDir string
	logPath string
	logFile *os.File
	client  *http.Client

	done    chan struct{} // closed when the process has exited
	waitErr error
}

// serverSpec says how to start one `callvault serve`. The zero value is
// the default: SQLite and media files in <dir>/data, log <dir>/server.log.
type serverSpec struct {
	name  string   // "" for the default; else data dir <dir>/<name>-data, log <dir>/<name>.log
	db    string   // -db; "" for SQLite in the data directory
	blob  string   // -blob; "" for media/ in the data directory
	env   []string // added to the environment of init and serve (CALLVAULT_MASTER_KEY for replicas)
	reuse bool     // the tenant and its certificate already exist in db (a second replica): no init, no certificate
	args  []string // more flags for serve (the logins scenario: -trusted-proxies, -metrics-addr)
}

// startServer initialises a data directory under dir, makes and uploads a
// voice certificate, and starts the server (with spec.reuse only starts
// it).
func startServer(ctx context.Context, bin, dir string, spec serverSpec) (*server, error) {
	s := &server{dataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "server.log"), done: make(chan struct{})}
	if spec.name != "" {
		s.dataDir, s.logPath = filepath.Join(dir, spec.name+"-data"), filepath.Join(dir, spec.name+".log")
	}
	var storeArgs []string
	if spec.db != "" {
		storeArgs = append(storeArgs, "-db", spec.db)
	}
	if spec.blob != "" {
		storeArgs = append(storeArgs, "-blob", spec.blob)
	}
	env := append(os.Environ(), spec.env...)
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if !spec.reuse {
		initCmd := exec.CommandContext(ctx, bin, append([]string{"init", "-data", s.dataDir, "-tenant", tenant, "-admin", adminLogin}, storeArgs...)...)
		initCmd.Env = append(env, "CALLVAULT_ADMIN_PASSWORD="+adminPassword)
		if out, err := initCmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("callvault init: %v: %s", err, out)
		}
		gen := exec.CommandContext(ctx, bin, "certgen", "-subj", "/CN=serverbench/O=callvault", "-days", "3650", "-out", certPath, "-keyout", keyPath)
		if out, err := gen.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("callvault certgen: %v: %s", err, out)
		}
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.base = "http://127.0.0.1:" + strconv.Itoa(port)
	if s.logFile, err = os.Create(s.logPath); err != nil {
		return nil, err
	}
	// Not CommandContext: stop() ends it with SIGINT, as an operator would.
	s.cmd = exec.Command(bin, append(append([]string{"serve", "-data", s.dataDir, "-addr", "127.0.0.1:" + strconv.Itoa(port)}, storeArgs...), spec.args...)...)
	s.cmd.Env = env
	s.cmd.Stdout, s.cmd.Stderr = s.logFile, s.logFile
	if err := s.cmd.Start(); err != nil {
		s.logFile.Close()
		return nil, fmt.Errorf("callvault serve: %w", err)
	}
	s.pid = s.cmd.Process.Pid
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	s.client = &http.Client{Transport: &http.Transport{
		Proxy:                 nil, // loopback only, whatever the environment says
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       time.Minute,
		ResponseHeaderTimeout: 5 * time.Minute,
		DisableCompression:    true,
	}}
	if err := s.waitHealthy(ctx); err != nil {
		s.stop()
		return nil, err
	}
	progress("server pid %d on %s, data %s", s.pid, s.base, s.dataDir)
	if spec.reuse {
		return s, nil
	}

	// The certificate, assigned for voice at once.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for field, path := range map[string]string{"certificate": certPath, "key": keyPath} {
		data, err := os.ReadFile(path)
		if err != nil {
			s.stop()
			return nil, err
		}
		fw, _ := mw.CreateFormFile(field, filepath.Base(path))
		fw.Write(data)
	}
	mw.WriteField("assign", "voice")
	mw.Close()
	req, err := s.request(ctx, http.MethodPost, "/api/v2/certificates", adminLogin, adminPassword, &buf, int64(buf.Len()))
	if err != nil {
		s.stop()
		return nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if _, err := s.call(req, http.StatusCreated, false); err != nil {
		s.stop()
		return nil, fmt.Errorf("certificate upload: %w", err)
	}
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitHealthy polls /healthz: at most 200 times, 50 ms apart.
func (s *server) waitHealthy(ctx context.Context) error {
	for range 200 {
		select {
		case <-s.done:
			return fmt.Errorf("callvault serve exited at start: %v (log: %s)", s.waitErr, s.logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/healthz", nil)
		if err != nil {
			return err
		}
		if res, err := s.client.Do(req); err == nil {
			io.Copy(io.Discard, io.LimitReader(res.Body, 1<<10))
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("callvault serve did not become healthy in 10 s (log: %s)", s.logPath)
}

func (s *server) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

func (s *server) exitErr() error {
	<-s.done
	return s.waitErr
}

// stop sends SIGINT and waits up to 15 s, then kills the process (ours,
// by its pid).
func (s *server) stop() error {
	defer s.logFile.Close()
	if !s.alive() {
		return nil
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
		return nil
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return errors.New("callvault serve did not stop within 15 s of SIGINT; killed")
	}
}

// request makes a request to the server with HTTP Basic auth. A body of
// known size gets its Content-Length.
func (s *server) request(ctx context.Context, method, path, login, password string, body io.Reader, size int64) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	req.SetBasicAuth(login, password)
	return req, nil
}

// statusError is an unexpected answer.
type statusError struct {
	method, path string
	status       int
	body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.method, e.path, e.status, strings.TrimSpace(e.body))
}

// call sends req and wants status. The body is returned when keep, else
// discarded; an unexpected answer's first 512 bytes go into the error.
func (s *server) call(req *http.Request, want int, keep bool) ([]byte, error) {
	res, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
		return nil, &statusError{method: req.Method, path: req.URL.Path, status: res.StatusCode, body: string(b)}
	}
	if keep {
		return io.ReadAll(io.LimitReader(res.Body, 64<<20))
	}
	_, err = io.Copy(io.Discard, res.Body)
	return nil, err
}

// logErrors returns up to max ERROR lines of the server log and how many
// there are (reads at most 1 GiB of log).
func (s *server) logErrors(max int) ([]string, int) {
	f, err := os.Open(s.logPath)
	if err != nil {
		return nil, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 1<<30))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var lines []string
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, `"level":"ERROR"`) {
			n++
			if len(lines) < max {
				if len(line) > 400 {
					line = line[:400] + "…"
				}
				lines = append(lines, line)
			}
		}
	}
	return lines, n
}

// errLog counts a scenario's failed requests and keeps a few.
type errLog struct {
	mu      sync.Mutex
	max     int
	n       int
	n5xx    int
	samples []string
}

func newErrLog(max int) *errLog { return &errLog{max: max} }

// add records err and reports whether the scenario should give up.
func (e *errLog) add(err error) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	var se *statusError
	if errors.As(err, &se) && se.status >= 500 {
		e.n5xx++
	}
	if len(e.samples) < 5 {
		e.samples = append(e.samples, err.Error())
	}
	return e.n >= e.max
}

func (e *errLog) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

func (e *errLog) summary() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == 0 {
		return "0"
	}
	return fmt.Sprintf("**%d** (%d of them 5xx)", e.n, e.n5xx)
}

func (e *errLog) sampleList() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.samples...)
}
