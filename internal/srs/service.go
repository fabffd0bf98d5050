// Package srs is the Screen Recording Service of an agent desktop: a
// loopback HTTP API the agent's desktop logs in through, a session with
// the vault that long-polls for start/stop/pause/resume commands, screen
// capture (ffmpeg) encrypted as it comes (CMS for the tenant's screen
// certificates) into an upload folder, and an uploader that empties that
// folder into the vault, surviving restarts and outages.
//
// It prints nothing: it writes its own log file (logFile, see Log).
package srs

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// Version is srs's version, as /version and the log's first line give it;
// release builds set it with -ldflags "-X callvault/internal/srs.Version=…".
var Version = "1.0.0-dev"

// Defaults of Options.
const (
	DefaultPingTimeout       = 60 * time.Second
	DefaultDiskCheckInterval = 5 * time.Second
	DefaultRetryMin          = 2 * time.Second
	DefaultRetryMax          = 5 * time.Minute
	DefaultPollRetryMin      = time.Second
	DefaultPollRetryMax      = 30 * time.Second
	DefaultPollWait          = 25 * time.Second
	syncInterval             = time.Second // the .part file is fsynced at least this often (≤ 2 s)
)

// Options are what a Service takes besides its Config; the zero value
// is the production setting. Tests shorten the times.
type Options struct {
	Version    string           // default: Version
	Now        func() time.Time // default: time.Now
	Log        *Log             // default: OpenLog(cfg.LogFile)
	Capturer   Capturer         // default: NewFFmpegCapturer(cfg)
	HTTPClient *http.Client     // default: NewHTTPClient with config.json's proxy

	PingTimeout       time.Duration // without a ping this long, srs logs the agent out
	DiskCheckInterval time.Duration // how often a capture checks disk and queue
	// DiskSpace is the free (available to srs) and total bytes of the
	// filesystem holding path; default: statfs / GetDiskFreeSpaceEx.
	DiskSpace func(path string) (free, total uint64, err error)

	RetryMin, RetryMax         time.Duration // upload backoff: 2 s doubling to 5 min
	PollRetryMin, PollRetryMax time.Duration // poll backoff: 1 s doubling to 30 s
	PollWait                   time.Duration // how long each poll waits at the server

	// DesktopUID is the only local user (Linux) whose clients the loopback
	// API serves; nil: the user srs runs as.
	DesktopUID *int
}

// Service is one running srs.
type Service struct {
	cfg        *Config
	opts       Options
	log        *Log
	ownLog     bool
	queue      *Queue
	capt       Capturer
	http       *http.Client
	tls        *tls.Certificate
	macKey     []byte
	desktopUID int

	ctx        context.Context // ends at Close
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	srv        *http.Server
	ln         net.Listener
	uploadWake chan struct{}

	// ctl serialises what starts and stops things: logins and logouts,
	// commands, pauses, the end of a capture. It may be held while ffmpeg
	// stops; mu guards the fields the API reads quickly. Order: ctl, mu.
	ctl       sync.Mutex
	mu        sync.Mutex
	sess      *agentSession
	rec       *recording
	recState  recStatus
	lastError string
	closed    bool
}

// New checks what the configuration names (the HTTPS key pair, the
// upload folder, the log file) and returns a Service ready to Start.
func New(cfg *Config, opts Options) (*Service, error) {
	if opts.Version == "" {
		opts.Version = Version
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	setDefault(&opts.PingTimeout, DefaultPingTimeout)
	setDefault(&opts.DiskCheckInterval, DefaultDiskCheckInterval)
	setDefault(&opts.RetryMin, DefaultRetryMin)
	setDefault(&opts.RetryMax, DefaultRetryMax)
	setDefault(&opts.PollRetryMin, DefaultPollRetryMin)
	setDefault(&opts.PollRetryMax, DefaultPollRetryMax)
	setDefault(&opts.PollWait, DefaultPollWait)
	if opts.DiskSpace == nil {
		opts.DiskSpace = diskSpace
	}
	s := &Service{cfg: cfg, opts: opts, log: opts.Log, uploadWake: make(chan struct{}, 1)}
	s.desktopUID = os.Getuid()
	if opts.DesktopUID != nil {
		s.desktopUID = *opts.DesktopUID
	}
	if s.log == nil {
		l, err := OpenLog(cfg.LogFile, opts.Now)
		if err != nil {
			return nil, fmt.Errorf("logFile %s: %w", cfg.LogFile, err)
		}
		s.log, s.ownLog = l, true
	}
	fail := func(err error) (*Service, error) {
		if s.ownLog {
			s.log.Close()
		}
		return nil, err
	}
	if cfg.HTTPS() {
		pair, err := tls.LoadX509KeyPair(cfg.AuthenticationCertificate, cfg.AuthenticationKey)
		if err != nil {
			return fail(fmt.Errorf("authenticationCertificate %s with authenticationKey %s: cannot load: %w",
				cfg.AuthenticationCertificate, cfg.AuthenticationKey, err))
		}
		s.tls = &pair
	}
	q, err := OpenQueue(cfg.UploadFolder)
	if err != nil {
		return fail(fmt.Errorf("uploadFolder %s: %w", cfg.UploadFolder, err))
	}
	s.queue = q
	s.capt = opts.Capturer
	if s.capt == nil {
		s.capt = NewFFmpegCapturer(cfg)
	}
	s.http = opts.HTTPClient
	if s.http == nil {
		s.http = NewHTTPClient(ProxySettings{
			Host: cfg.ProxyServerHost, Port: cfg.ProxyServerPort,
			Username: cfg.ProxyServerUsername, Password: cfg.ProxyServerPassword,
			UseSystem: cfg.UseSystemProxy,
		})
	}
	s.log.hide(cfg.ProxyServerPassword)
	s.macKey = make([]byte, 32)
	if _, err := rand.Read(s.macKey); err != nil {
		return fail(fmt.Errorf("cannot make a key: %w", err))
	}
	return s, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Start listens on authenticationHost:authenticationPort, recovers what
// a crash left in the upload folder, and starts the uploader and the ping
// watchdog. It logs the guide's start line first.
func (s *Service) Start() error {
	s.log.Infof("ServiceHandler: Running Version:%s, IP:%s, OS:%s", s.opts.Version, s.cfg.AuthenticationHost, runtime.GOOS)
	addr := netip.AddrPortFrom(s.cfg.AuthenticationHost, uint16(s.cfg.AuthenticationPort))
	ln, err := net.Listen("tcp4", addr.String())
	if err != nil {
		s.log.Errorf("ServiceHandler: cannot listen on %s: %v", addr, err)
		return fmt.Errorf("cannot listen on %s (authenticationHost, authenticationPort): %w", addr, err)
	}
	s.ln = ln
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute, // a login makes three calls to the server
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ConnContext:       s.connContext,
		// net/http's own complaints (a TLS handshake a browser gave up)
		// go to srs's log, not to a terminal.
		ErrorLog: log.New(logWriter{s.log}, "", 0),
	}
	scheme := "http"
	if s.tls != nil {
		scheme = "https"
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*s.tls}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, s.srv.TLSConfig)
	}
	s.log.Infof("ServiceHandler: listening on %s://%s", scheme, s.ln.Addr())
	if s.cfg.CaptureDevice == DeviceX11Grab && s.cfg.Display == "" {
		s.log.Warnf("ServiceHandler: no X display (display, $DISPLAY): captures will fail")
	}
	if !peerChecked {
		s.log.Infof("ServiceHandler: loopback clients are not checked for their local user on %s", runtime.GOOS)
	}
	s.recover()
	s.goRun(func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Errorf("ServiceHandler: the loopback server stopped: %v", err)
		}
	})
	s.goRun(s.uploader)
	s.goRun(s.watchdog)
	if s.cfg.DummyRecordingDuration > 0 {
		s.goRun(s.dummyRecording)
	}
	return nil
}

type logWriter struct{ l *Log }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Warnf("ServiceHandler: %s", p)
	return len(p), nil
}

func (s *Service) goRun(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Addr is the loopback API's address, once Start returned.
func (s *Service) Addr() net.Addr { return s.ln.Addr() }

// URL is the loopback API's base URL, once Start returned.
func (s *Service) URL() string {
	if s.tls != nil {
		return "https://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

// Close stops srs cleanly: the loopback API stops answering, a capture in
// progress is closed and queued (the server told it stopped), the agent is
// logged out of the server and the background work ends. ctx bounds the
// time given to the server calls.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	var err error
	if s.srv != nil {
		shutdownCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = s.srv.Shutdown(shutdownCtx)
		cancel()
		if err != nil {
			s.srv.Close()
		}
	}
	s.ctl.Lock()
	if sess := s.session(); sess != nil {
		s.endSessionLocked(ctx, sess, ReasonShutdown, true)
	}
	s.ctl.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.log.Infof("ServiceHandler: stopped")
	if s.ownLog {
		s.log.Close()
	}
	return err
}

// Run starts srs and serves until ctx ends, then closes it.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		if s.ownLog {
			s.log.Close()
		}
		return err
	}
	<-ctx.Done()
	closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.Close(closeCtx)
}

func (s *Service) session() *agentSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sess
}

func (s *Service) setLastError(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.log.Errorf("%s", msg)
	s.mu.Lock()
	s.lastError = s.opts.Now().UTC().Format(time.RFC3339) + " " + msg
	s.mu.Unlock()
}

func (s *Service) wakeUploader() {
	select {
	case s.uploadWake <- struct{}{}:
	default:
	}
}

// sleep waits d or until ctx ends; false means ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff is min·2^(attempt-1), at most max.
func backoff(attempt int, min, max time.Duration) time.Duration {
	d := min
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
