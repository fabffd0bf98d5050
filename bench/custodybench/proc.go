package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	tenant        = "bench"
	adminName     = "admin"
	adminLogin    = adminName + "@" + tenant
	adminPassword = "custodybench admin password"
)

// dropCaches syncs and drops the page cache, dentries and inodes (root
// only); with do false it does nothing.
func dropCaches(do bool) error {
	if !do {
		return nil
	}
	syscall.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0)
}

// treeSize counts the regular files under dir and their bytes.
func treeSize(dir string) (files int, size int64, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			files++
			size += info.Size()
		}
		return nil
	})
	return files, size, err
}

// serveProc is a `callvault serve` (on a loopback port) or `callvault
// worker` subprocess.
type serveProc struct {
	cmd     *exec.Cmd
	pid     int
	base    string
	logPath string
	logFile *os.File
	client  *http.Client
	done    chan struct{}
	waitErr error
}

// startProc starts `callvault ARGS…` with its output in logPath.
func startProc(bin, logPath string, args ...string) (*serveProc, error) {
	s := &serveProc{logPath: logPath, done: make(chan struct{})}
	var err error
	if s.logFile, err = os.Create(logPath); err != nil {
		return nil, err
	}
	// Not CommandContext: stop() ends it with SIGINT, as an operator would.
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.logFile, s.logFile
	if err := s.cmd.Start(); err != nil {
		s.logFile.Close()
		return nil, fmt.Errorf("callvault %s: %w", args[0], err)
	}
	s.pid = s.cmd.Process.Pid
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

// startServe starts `callvault serve -data dataDir` on a free port and
// waits until /healthz answers.
func startServe(ctx context.Context, bin, dataDir, logPath string, extra ...string) (*serveProc, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	s, err := startProc(bin, logPath, append([]string{"serve", "-data", dataDir, "-addr", addr}, extra...)...)
	if err != nil {
		return nil, err
	}
	s.base = "http://" + addr
	s.client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, DisableCompression: true}, Timeout: 2 * time.Minute}
	for range 400 {
		select {
		case <-s.done:
			return nil, fmt.Errorf("callvault serve exited at start: %v (log: %s)", s.waitErr, logPath)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if res, err := s.client.Get(s.base + "/healthz"); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s, nil
			}
		}
	}
	s.stop()
	return nil, fmt.Errorf("callvault serve did not become healthy in 20 s (log: %s)", logPath)
}

func (s *serveProc) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// stop sends SIGINT and waits up to 30 s, then kills the process (ours,
// by its pid).
func (s *serveProc) stop() error {
	defer s.logFile.Close()
	if !s.alive() {
		return nil
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
		return nil
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return errors.New("callvault serve did not stop within 30 s of SIGINT; killed")
	}
}

// call sends a request as the administrator and decodes a JSON answer of
// status want into out (nil: discard).
func (s *serveProc) call(ctx context.Context, method, path, contentType string, body io.Reader, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, body)
	if err != nil {
		return err
	}
	req.SetBasicAuth(adminLogin, adminPassword)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: status %d: %s", method, path, res.StatusCode, strings.TrimSpace(string(b[:min(len(b), 512)])))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
