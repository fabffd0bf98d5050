package cli

import (
	"bufio"
	"callvault/internal/analytics"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"runtime/debug"
	"time"

	"callvault/internal/audit"
	"callvault/internal/server"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// jobFlags tune the job queue of serve and worker.
type jobFlags struct {
	workers     int
	slice       time.Duration
	rescueAfter time.Duration
	ffmpeg      string
	recogniser  string
	model       string
}

func (f *jobFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.workers, "job-workers", 4, "background jobs this process runs at once")
	fs.DurationVar(&f.slice, "job-slice", time.Minute, "how long one attempt of a long job (a certificate re-wrap) runs before it yields and is rescheduled")
	fs.DurationVar(&f.rescueAfter, "job-rescue-after", 10*time.Minute, "a job running this long counts as stuck (its process died) and runs again; more than twice -job-slice")
	fs.StringVar(&f.ffmpeg, "ffmpeg", "ffmpeg", "the ffmpeg program that muxes screen recordings with their call audio, trims cut-short ones and decodes calls for speech analytics")
	fs.StringVar(&f.recogniser, "pocketsphinx", "pocketsphinx_continuous", "the recogniser speech analytics spots topics with")
	fs.StringVar(&f.model, "pocketsphinx-model", analytics.DefaultModelDir, "the recogniser's en-US model directory (holds en-us/ and cmudict-en-us.dict)")
}

func (f *jobFlags) check() error {
	switch {
	case f.workers < 1:
		return usagef("-job-workers must be at least 1")
	case f.slice < time.Second:
		return usagef("-job-slice must be at least 1s")
	case f.rescueAfter <= 2*f.slice:
		return usagef("-job-rescue-after must exceed twice -job-slice")
	}
	return nil
}

func (f *jobFlags) apply(cfg *server.Config) {
	cfg.Jobs.Workers, cfg.Jobs.Slice, cfg.Jobs.RescueAfter = f.workers, f.slice, f.rescueAfter
	cfg.FFmpeg = f.ffmpeg
	cfg.Pocketsphinx, cfg.PocketsphinxModel = f.recogniser, f.model
}

// workerMain is "callvault worker": the background jobs of serve, without
// the HTTP server, for scaling jobs apart from the API.
type workerMain struct {
	app        *App
	flags      serverFlags
	jobs       jobFlags
	sweepEvery time.Duration
}

func (m *workerMain) ParseFlags(args []string) error {
	fs := newFlagSet("worker")
	m.flags.register(fs)
	m.jobs.register(fs)
	fs.DurationVar(&m.sweepEvery, "sweep-every", time.Hour, "how often the retention sweep is queued (by the elected leader among serve and worker processes)")
	positional, err := m.app.parseFlags(fs, "-data DIR [-db URL] [-blob URL] [-job-workers N]", args)
	if err != nil {
		return err
	}
	if m.flags.dataDir == "" {
		return usagef("-data is required (it holds the master key that opens the tenants' keys)")
	}
	if err := m.jobs.check(); err != nil {
		return err
	}
	return noPositional(positional)
}

func (m *workerMain) Run(ctx context.Context) error {
	cfg := m.flags.config(m.app)
	cfg.SweepEvery = m.sweepEvery
	m.jobs.apply(&cfg)
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(m.app.Stdout, "callvault worker running jobs from %s (Ctrl-C stops)\n", describeDB(m.flags))
	if err := srv.RunJobs(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func describeDB(f serverFlags) string {
	if f.db != "" {
		return "the database of -db"
	}
	return f.dataDir
}

// sweepMain is "callvault sweep": one retention pass now.
type sweepMain struct {
	app    *App
	flags  serverFlags
	tenant string
}

func (m *sweepMain) ParseFlags(args []string) error {
	fs := newFlagSet("sweep")
	m.flags.register(fs)
	fs.StringVar(&m.tenant, "tenant", "", "sweep this tenant only; default: every tenant")
	positional, err := m.app.parseFlags(fs, "-data DIR [-db URL] [-blob URL] [-tenant T]", args)
	if err != nil {
		return err
	}
	if m.flags.dataDir == "" {
		return usagef("-data is required")
	}
	return noPositional(positional)
}

func (m *sweepMain) Run(ctx context.Context) error {
	cfg := m.flags.config(m.app)
	cfg.NoJobs = true // queue what it must (blob clean-up), run nothing else
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	var results []service.SweepResult
	if m.tenant != "" {
		r, err := srv.Svc.SweepTenant(ctx, m.tenant, nil)
		if err != nil {
			return err
		}
		results = append(results, r)
	} else if results, err = srv.Svc.Sweep(ctx); err != nil {
		return err
	}
	for _, r := range results {
		fmt.Fprintf(m.app.Stdout, "%s: %d deleted, %d held (%d by legal hold, %d waiting for a backup receipt), %d deleted without a receipt after maxBackupWaitDays, %d audit entries past auditRetentionDays deleted\n",
			r.Tenant, r.Deleted, r.Held(), r.HeldByHold, r.HeldForBackup, r.Forced, r.AuditDeleted)
	}
	return nil
}

// auditMain is "callvault audit verify|export".
type auditMain struct {
	app    *App
	op     string
	data   string
	db     string
	tenant string
}

func (m *auditMain) ParseFlags(args []string) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprintln(m.app.Stdout, "Usage: callvault audit verify|export [-data DIR | -db URL] [-tenant T]")
			return flag.ErrHelp
		}
		return usagef("give verify or export: callvault audit verify|export [-data DIR | -db URL] [-tenant T]")
	}
	m.op = args[0]
	fs := newFlagSet("audit " + m.op)
	fs.StringVar(&m.data, "data", "", "data directory whose SQLite database to read")
	fs.StringVar(&m.db, "db", "", "metadata store: postgres://… or a SQLite path")
	fs.StringVar(&m.tenant, "tenant", "", "this tenant only; default: every tenant")
	positional, err := m.app.parseFlags(fs, m.op+" [-data DIR | -db URL] [-tenant T]", args[1:])
	if err != nil {
		return err
	}
	if m.data == "" && m.db == "" {
		return usagef("give -data DIR or -db URL")
	}
	return noPositional(positional)
}

func (m *auditMain) Run(ctx context.Context) error {
	store, err := server.OpenStore(ctx, m.data, m.db)
	if err != nil {
		return err
	}
	defer store.Close()
	tenants := []string{m.tenant}
	if m.tenant == "" {
		list, err := store.Tenants(ctx)
		if err != nil {
			return err
		}
		tenants = tenants[:0]
		for _, t := range list {
			tenants = append(tenants, t.Name)
		}
	} else if _, err := store.Tenant(ctx, m.tenant); err != nil {
		return fmt.Errorf("no tenant %q", m.tenant)
	}
	if m.op == "export" {
		return exportAudit(ctx, store, tenants, m.app)
	}
	// The walk allocates a little per row and keeps nothing: collecting
	// garbage less often is ~15 % of its time, at a few MB of memory.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	start := time.Now()
	var total int64
	for _, t := range tenants {
		n, err := service.VerifyAudit(ctx, store, t)
		total += n
		var broken *audit.BrokenError
		if errors.As(err, &broken) {
			return err // names the tenant and the first entry that does not follow
		}
		if err != nil {
			return fmt.Errorf("cannot verify the audit of tenant %q: %w", t, err)
		}
		fmt.Fprintf(m.app.Stdout, "%s: %d entries, chain intact\n", t, n)
	}
	elapsed := time.Since(start)
	fmt.Fprintf(m.app.Stdout, "%d entries verified in %.2f s (%.0f entries/s)\n", total, elapsed.Seconds(), float64(total)/max(elapsed.Seconds(), 1e-9))
	return nil
}

// exportAudit writes every entry as one JSON line, in seq order per
// tenant, with its hash, so the export can be verified elsewhere.
func exportAudit(ctx context.Context, store vault.Store, tenants []string, a *App) error {
	w := bufio.NewWriterSize(a.Stdout, 1<<16)
	enc := json.NewEncoder(w)
	for _, t := range tenants {
		err := store.ScanAudit(ctx, t, func(e vault.AuditEntry) error { return enc.Encode(e) })
		if err != nil {
			return err
		}
	}
	return w.Flush()
}
