// Package server wires callvault's pieces into a running server: it opens
// the metadata store, the blob store and the keystore named by a Config,
// and serves the API with graceful shutdown. Tests start it on port 0.
package server

import (
	"callvault/internal/analytics"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"callvault/internal/blob"
	"callvault/internal/ffmpeg"
	"callvault/internal/httpapi"
	"callvault/internal/httpx"
	"callvault/internal/jobs"
	"callvault/internal/keystore"
	"callvault/internal/postgres"
	"callvault/internal/service"
	"callvault/internal/sqlite"
	"callvault/internal/vault"
	"callvault/internal/web"
)

// Config says where things are. Empty DB and Blob mean the embedded
// defaults inside DataDir: SQLite file and media files.
type Config struct {
	DataDir string
	DB      string // "" or a path: SQLite
	Blob    string // "" or a directory or file:// URL
	Addr    string // host:port; port 0 picks one
	TLSCert string
	TLSKey  string

	// PublicURL (-public-url) is the base of absolute URLs in answers
	// (mediaUri, next, recordingsUri) and the origin browsers' changes
	// must come from: scheme://host[:port]. "" uses the address each
	// connection arrived at (the listen address), http or https per TLS;
	// never the request's Host header.
	PublicURL string
	// TrustedProxies (-trusted-proxies) are comma-separated CIDR prefixes
	// or addresses of reverse proxies whose X-Forwarded-For (the client
	// address, for login limits and logs) and X-Forwarded-Proto are
	// believed; "" believes nobody.
	TrustedProxies string
	// MetricsAddr (-metrics-addr) serves /metrics without authentication
	// on a listener of its own, e.g. 127.0.0.1:9090; "" serves it on the
	// main listener to authenticated administrators only.
	MetricsAddr string

	MaxUpload int64
	// BodyTimeout bounds the time a request body other than a media upload
	// may take to arrive (plus 1 s per 64 KiB announced); UploadIdle the
	// time a media upload may deliver nothing. 0: 10 s and 1 min.
	BodyTimeout time.Duration
	UploadIdle  time.Duration
	SweepEvery  time.Duration // 0: hourly
	// Jobs tunes the job queue (workers, slices, rescue of a dead
	// process's jobs); SweepEvery above is its sweep period.
	Jobs jobs.Options
	// NoJobs runs no jobs in this process (one-shot commands); jobs are
	// still queued, for the serve and worker processes.
	NoJobs bool
	// FFmpeg (-ffmpeg) is the ffmpeg program that muxes screen
	// recordings and trims cut-short ones; "" is "ffmpeg" on PATH.
	FFmpeg string
	// Pocketsphinx and PocketsphinxModel are the speech recogniser and
	// its en-US model; "" is pocketsphinx_continuous on PATH and Debian's
	// model. Speech analytics needs them (and FFmpeg).
	Pocketsphinx, PocketsphinxModel string
	ShutdownTimeout                 time.Duration // 0: 30 s
	// Login tunes the bound on password checks; the zero value is the
	// default (see service.LoginOptions).
	Login service.LoginOptions
	Log   *slog.Logger
	Now   func() time.Time
}

// Server is an opened callvault.
type Server struct {
	Config Config
	Svc    *service.Service
	// Logins is the one login gate of the API and the UI.
	Logins *service.Logins

	site      *httpx.Site
	queue     runner
	store     vault.Store
	blobs     vault.BlobStore
	ln        net.Listener
	metricsLn net.Listener
	http      *http.Server
	handler   http.Handler
	api       *httpapi.Server
}

// Open opens the stores and the keystore (creating the data directory and
// the master key on first use).
func Open(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("a data directory is required (-data DIR)")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	proxies, err := httpx.ParseProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("-trusted-proxies: %w", err)
	}
	site, err := httpx.NewSite(cfg.PublicURL, proxies)
	if err != nil {
		return nil, fmt.Errorf("-public-url: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the data directory: %w", err)
	}
	dbPath := cfg.DB
	if dbPath == "" {
		dbPath = filepath.Join(cfg.DataDir, "callvault.db")
	}
	store, err := openStore(ctx, dbPath)
	if err != nil {
		return nil, fmt.Errorf("cannot open the metadata store: %w", err)
	}
	blobURL := cfg.Blob
	if blobURL == "" {
		blobURL = filepath.Join(cfg.DataDir, "media")
	}
	blobs, err := blob.Open(ctx, blobURL)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("cannot open the media store: %w", err)
	}
	master, err := keystore.LoadMasterKey(filepath.Join(cfg.DataDir, "master.key"))
	if err != nil {
		store.Close()
		blobs.Close()
		return nil, fmt.Errorf("cannot load the master key: %w", err)
	}
	svc := &service.Service{
		Store: store, Blobs: blobs, Log: cfg.Log, Now: cfg.Now,
		Keys:        keystore.New(master, service.StoreBackend{Store: store}),
		MediaSource: mediaSource(blobURL),
		Video:       ffmpegTool{path: cmp.Or(cfg.FFmpeg, "ffmpeg")},
		Analytics:   analytics.NewEngine(cfg.Pocketsphinx, cfg.FFmpeg, cfg.PocketsphinxModel),
	}
	srv := &Server{Config: cfg, Svc: svc, Logins: service.NewLogins(svc, cfg.Login), site: site, store: store, blobs: blobs}
	if err := srv.openQueue(ctx); err != nil {
		store.Close()
		blobs.Close()
		return nil, err
	}
	return srv, nil
}

// runner is the job queue of either store.
type runner interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// openQueue makes the job queue in the metadata database and wires it:
// the store inserts jobs with it inside its transactions, the service
// reads their states.
func (s *Server) openQueue(ctx context.Context) error {
	opts := s.Config.Jobs
	opts.Log = s.Config.Log
	if opts.SweepEvery == 0 {
		opts.SweepEvery = s.Config.SweepEvery
	}
	opts.InsertOnly = s.Config.NoJobs
	switch st := s.store.(type) {
	case *sqlite.Store:
		q, err := jobs.New(ctx, riversqlite.New(st.WriteDB()), s.Svc, opts, nil)
		if err != nil {
			return err
		}
		st.Enqueue = q.Insert
		s.Svc.Queue, s.queue = q, q
	case *postgres.Store:
		q, err := jobs.New(ctx, riverpgxv5.New(st.Pool()), s.Svc, opts, func(ctx context.Context, fn func() error) error {
			conn, err := st.Pool().Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			// The key of the store's own migrations: one lock for both.
			if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, postgres.MigrationLock); err != nil {
				return err
			}
			defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, postgres.MigrationLock)
			return fn()
		})
		if err != nil {
			return err
		}
		st.Enqueue = q.Insert
		s.Svc.Queue, s.queue = q, q
	default:
		return fmt.Errorf("no job queue for a %T store", s.store)
	}
	return nil
}

// RunJobs runs the job queue until ctx ends (what `callvault worker`
// does, and Serve beside the HTTP server), then stops it, giving running
// jobs ShutdownTimeout to finish their slice.
func (s *Server) RunJobs(ctx context.Context) error {
	if err := s.queue.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	timeout := s.Config.ShutdownTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.queue.Stop(stopCtx)
}

// Listen binds the address (and the metrics address), so that both are
// known before Serve. The metrics listener is not essential: when its
// address is taken, the error is logged and the vault serves without it.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.Config.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", s.Config.Addr, err)
	}
	s.ln = ln
	if s.Config.MetricsAddr != "" {
		mln, err := net.Listen("tcp", s.Config.MetricsAddr)
		if err != nil {
			s.Config.Log.Warn("cannot serve metrics; serving without them", "metricsAddr", s.Config.MetricsAddr, "err", err)
		} else {
			s.metricsLn = mln
		}
	}
	return nil
}

// MetricsURL is the URL of /metrics on the metrics listener, or "".
func (s *Server) MetricsURL() string {
	if s.metricsLn == nil {
		return ""
	}
	return "http://" + s.metricsLn.Addr().String() + "/metrics"
}

// URL is the base URL of the listening server.
func (s *Server) URL() string {
	scheme := "http"
	if s.Config.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + s.ln.Addr().String()
}

// Handler is the HTTP handler (the API with the UI), made once: the API
// and the UI share one login gate and one Site.
func (s *Server) Handler() http.Handler {
	if s.handler == nil {
		ui := web.New(s.Svc, web.Options{Log: s.Config.Log, Logins: s.Logins, Site: s.site})
		s.api = &httpapi.Server{Svc: s.Svc, Logins: s.Logins, Site: s.site, Log: s.Config.Log,
			MaxUpload: s.Config.MaxUpload, BodyTimeout: s.Config.BodyTimeout, UploadIdle: s.Config.UploadIdle,
			MetricsOnMain: s.Config.MetricsAddr == "", UI: ui.Handler()}
		s.handler = s.api.Handler()
	}
	return s.handler
}

// Serve serves until ctx ends, then shuts down gracefully: new
// connections are refused, requests in flight (uploads included) get
// ShutdownTimeout to finish, after which they are cut off and their
// uploads aborted (nothing half-written becomes visible).
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	// ReadTimeout is a backstop for the whole request; the handler sets
	// each body's own deadline (10 s for small bodies, an idle deadline
	// for media uploads, which may take hours).
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.Config.Log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if s.metricsLn != nil {
		metrics := &http.Server{Handler: s.metricsHandler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			ErrorLog: s.http.ErrorLog}
		go func() {
			if err := metrics.Serve(s.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.Config.Log.Error("metrics listener stopped", "err", err)
			}
		}()
		defer metrics.Close()
	}
	jobsCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	jobsDone := make(chan error, 1)
	go func() { jobsDone <- s.RunJobs(jobsCtx) }()
	defer func() {
		stopJobs()
		if err := <-jobsDone; err != nil {
			s.Config.Log.Warn("job queue stopped with an error", "err", err)
		}
	}()

	errc := make(chan error, 1)
	go func() {
		var err error
		if s.Config.TLSCert != "" {
			s.http.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			err = s.http.ServeTLS(s.ln, s.Config.TLSCert, s.Config.TLSKey)
		} else {
			err = s.http.Serve(s.ln)
		}
		errc <- err
	}()
	s.Config.Log.Info("serving", "url", s.URL(), "publicUrl", s.site.PublicURL(), "trustedProxies", s.site.Proxies.String(),
		"metrics", s.MetricsURL(), "data", s.Config.DataDir)
	if s.Config.PublicURL == "" {
		if host, _, _ := net.SplitHostPort(s.ln.Addr().String()); net.ParseIP(host).IsUnspecified() {
			s.Config.Log.Warn("no -public-url: absolute URLs in answers name the address each client connected to; set -public-url to the name clients use")
		}
	}
	select {
	case err := <-errc:
		return fmt.Errorf("cannot serve: %w", err)
	case <-ctx.Done():
	}
	timeout := s.Config.ShutdownTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	s.Config.Log.Info("shutting down", "grace", timeout.String())
	shutCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.http.Shutdown(shutCtx); err != nil {
		s.Config.Log.Warn("requests cut off at shutdown", "err", err)
		s.http.Close()
	}
	return nil
}

// metricsHandler serves /metrics (only) on the metrics listener.
func (s *Server) metricsHandler() http.Handler {
	s.Handler()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.api.MetricsHandler())
	return mux
}

// Close closes the stores.
func (s *Server) Close() error {
	return errors.Join(s.store.Close(), s.blobs.Close())
}

// mediaSource tells backup clients where media can be read directly: the
// bucket, prefix, region and endpoint of an s3:// blob URL; else the API.
func mediaSource(blobURL string) service.RCBSSettings {
	u, err := url.Parse(blobURL)
	if err != nil || u.Scheme != "s3" {
		return service.RCBSSettings{MediaSource: "api"}
	}
	q := u.Query()
	prefix := q.Get("prefix")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return service.RCBSSettings{MediaSource: "s3", S3: &service.S3Location{
		Bucket: u.Host, Prefix: prefix, Region: q.Get("region"), Endpoint: q.Get("endpoint"),
	}}
}

// OpenStore opens the metadata store alone (for commands that need no
// media or keys): db as -db takes it, or the SQLite file in dataDir.
func OpenStore(ctx context.Context, dataDir, db string) (vault.Store, error) {
	if db == "" {
		if dataDir == "" {
			return nil, errors.New("give -data DIR or -db URL")
		}
		db = filepath.Join(dataDir, "callvault.db")
		if _, err := os.Stat(db); err != nil {
			return nil, fmt.Errorf("no callvault database in %s: %w", dataDir, err)
		}
	}
	return openStore(ctx, db)
}

// openStore opens PostgreSQL for a postgres:// URL, else SQLite at a path
// (optionally written sqlite://path).
func openStore(ctx context.Context, db string) (vault.Store, error) {
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		return postgres.Open(ctx, db)
	}
	return sqlite.Open(ctx, strings.TrimPrefix(db, "sqlite://"))
}

// ffmpegTool is the service's VideoTool on internal/ffmpeg.
type ffmpegTool struct{ path string }

func (t ffmpegTool) Mux(ctx context.Context, video, audio io.Reader, audioOffset time.Duration, out io.Writer) error {
	return ffmpeg.Mux(ctx, t.path, video, audio, audioOffset, out)
}

func (ffmpegTool) CompleteBoxes(dst io.Writer, src io.Reader) (int64, error) {
	return ffmpeg.CompleteBoxes(dst, src)
}
