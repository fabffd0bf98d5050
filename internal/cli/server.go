package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"callvault/internal/httpx"
	"callvault/internal/server"
	"callvault/internal/service"
)

// serverFlags are the flags init, serve and demo share.
type serverFlags struct {
	dataDir, db, blobURL string
}

func (f *serverFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dataDir, "data", "", "data directory: SQLite database, media files and master key (required)")
	fs.StringVar(&f.db, "db", "", "metadata store: postgres://user:pass@host/db?pool_max_conns=16, or a SQLite path; default: SQLite in the data directory")
	fs.StringVar(&f.blobURL, "blob", "", "media store: a directory, file:///dir, s3://bucket?endpoint=…&region=…&use_path_style=true&prefix=…, or azblob://container; default: media/ in the data directory")
}

func (f *serverFlags) config(a *App) server.Config {
	return server.Config{
		DataDir: f.dataDir, DB: f.db, Blob: f.blobURL,
		Log: slog.New(slog.NewJSONHandler(a.Stderr, nil)), Now: a.Now,
	}
}

// initMain is "callvault init": a tenant and its first administrator.
type initMain struct {
	app    *App
	flags  serverFlags
	tenant string
	admin  string
}

func (m *initMain) ParseFlags(args []string) error {
	fs := newFlagSet("init")
	m.flags.register(fs)
	fs.StringVar(&m.tenant, "tenant", "", "tenant to create (required)")
	fs.StringVar(&m.admin, "admin", "", "first administrator, as user@tenant (required); password from $CALLVAULT_ADMIN_PASSWORD or the first line of stdin")
	positional, err := m.app.parseFlags(fs, "-data DIR -tenant T -admin USER@T", args)
	if err != nil {
		return err
	}
	switch {
	case m.flags.dataDir == "":
		return usagef("-data is required")
	case m.tenant == "":
		return usagef("-tenant is required")
	case m.admin == "":
		return usagef("-admin is required")
	}
	user, tenant, err := service.SplitLogin(m.admin)
	if err != nil || tenant != m.tenant {
		return usagef("-admin must be user@%s", m.tenant)
	}
	if err := service.CheckName("user", user); err != nil {
		return usagef("-admin: %s", strings.TrimPrefix(err.Error(), "user "))
	}
	return noPositional(positional)
}

func (m *initMain) Run(ctx context.Context) error {
	password, ok := m.app.LookupEnv("CALLVAULT_ADMIN_PASSWORD")
	if !ok {
		line, err := firstLine(m.app.Stdin, "the administrator password")
		if err != nil {
			return err
		}
		password = string(line)
	}
	srv, err := server.Open(ctx, m.flags.config(m.app))
	if err != nil {
		return err
	}
	defer srv.Close()
	user, _, _ := service.SplitLogin(m.admin)
	if _, err := srv.Svc.InitTenant(ctx, m.tenant, user, password); err != nil {
		return err
	}
	fmt.Fprintf(m.app.Stdout, "tenant %s created in %s; administrator %s (access group /)\n", m.tenant, m.flags.dataDir, m.admin)
	return nil
}

// serveMain is "callvault serve".
type serveMain struct {
	app            *App
	flags          serverFlags
	addr           string
	publicURL      string
	trustedProxies string
	metricsAddr    string
	tlsCert        string
	tlsKey         string
	maxUpload      int64
	sweepEvery     time.Duration
	jobs           jobFlags
}

func (m *serveMain) register(fs *flag.FlagSet) {
	m.flags.register(fs)
	fs.StringVar(&m.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&m.publicURL, "public-url", "", "scheme://host[:port] clients reach the server at: the base of absolute URLs in answers (mediaUri, next) and the origin browsers must send; default: the listen address, http or https per TLS")
	fs.StringVar(&m.trustedProxies, "trusted-proxies", "", "comma-separated CIDR prefixes or addresses of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (the client address for login limits and logs); default: none")
	fs.StringVar(&m.metricsAddr, "metrics-addr", "127.0.0.1:9090", `address of the Prometheus /metrics listener (no authentication: keep it local or on the monitoring network); "" serves /metrics on -addr to administrators only`)
	fs.StringVar(&m.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM)")
	fs.StringVar(&m.tlsKey, "tls-key", "", "private key of -tls-cert (PEM)")
	fs.Int64Var(&m.maxUpload, "max-upload", 4<<30, "largest media upload, in bytes")
	fs.DurationVar(&m.sweepEvery, "sweep-every", time.Hour, "how often the retention sweep is queued (by the elected leader among serve and worker processes)")
	m.jobs.register(fs)
}

func (m *serveMain) check() error {
	switch {
	case m.flags.dataDir == "":
		return usagef("-data is required")
	case (m.tlsCert == "") != (m.tlsKey == ""):
		return usagef("-tls-cert and -tls-key go together")
	case m.maxUpload < 1:
		return usagef("-max-upload must be positive")
	case m.sweepEvery < time.Second:
		return usagef("-sweep-every must be at least 1s")
	}
	if err := m.jobs.check(); err != nil {
		return err
	}
	proxies, err := httpx.ParseProxies(m.trustedProxies)
	if err != nil {
		return usagef("-trusted-proxies: %v", err)
	}
	if _, err := httpx.NewSite(m.publicURL, proxies); err != nil {
		return usagef("-public-url: %v", err)
	}
	return nil
}

func (m *serveMain) ParseFlags(args []string) error {
	fs := newFlagSet("serve")
	m.register(fs)
	positional, err := m.app.parseFlags(fs, "-data DIR [-addr HOST:PORT] [-public-url URL] [-trusted-proxies CIDRS] [-metrics-addr HOST:PORT] [-db URL] [-blob URL] [-tls-cert F -tls-key F]", args)
	if err != nil {
		return err
	}
	if err := m.check(); err != nil {
		return err
	}
	return noPositional(positional)
}

func (m *serveMain) open(ctx context.Context) (*server.Server, error) {
	cfg := m.flags.config(m.app)
	cfg.Addr, cfg.TLSCert, cfg.TLSKey = m.addr, m.tlsCert, m.tlsKey
	cfg.PublicURL, cfg.TrustedProxies, cfg.MetricsAddr = m.publicURL, m.trustedProxies, m.metricsAddr
	cfg.MaxUpload, cfg.SweepEvery = m.maxUpload, m.sweepEvery
	m.jobs.apply(&cfg)
	return server.Open(ctx, cfg)
}

func (m *serveMain) Run(ctx context.Context) error {
	srv, err := m.open(ctx)
	if err != nil {
		return err
	}
	defer srv.Close()
	return serve(ctx, m.app, srv)
}

func serve(ctx context.Context, a *App, srv *server.Server) error {
	if err := srv.Listen(); err != nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "callvault serving on %s (Ctrl-C stops)\n", srv.URL())
	err := srv.Serve(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
