// Package jobs runs callvault's background jobs on River
// (github.com/riverqueue/river): one queue in the metadata database, on
// SQLite (riversqlite) and PostgreSQL (riverpgxv5) alike. Jobs are inserted
// by the metadata store inside the transaction of the change that calls
// for them (Queue.Insert is the store's Enqueue hook); every serve replica
// and every `callvault worker` runs them; River retries failures with
// backoff, rescues the jobs of a process that died, and elects one leader
// to enqueue the periodic retention sweep.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"callvault/internal/service"
	"callvault/internal/vault"
)

// Options tune the queue; the zero value is the default.
type Options struct {
	// Workers is how many jobs this process runs at once (0: 4).
	Workers int
	// SweepEvery is the period of the retention sweep (0: hourly).
	SweepEvery time.Duration
	// Slice is how long one attempt of a long job (a re-wrap) runs before
	// it yields and is rescheduled (0: 1 min).
	Slice time.Duration
	// RescueAfter is how long a job may be running before it counts as
	// stuck (its process died) and is run again (0: 10 min). It must
	// exceed 2×Slice.
	RescueAfter time.Duration
	// InsertOnly makes a client that queues jobs but runs none (for
	// `callvault sweep` and other one-shot commands).
	InsertOnly bool
	Log        *slog.Logger
}

// Queue is River's client with callvault's kinds registered.
type Queue[TTx any] struct {
	client *river.Client[TTx]
	opts   Options
}

// rawArgs lets the store insert a vault.Job: River asks args for its kind
// and encodes them with encoding/json.
type rawArgs struct {
	kind string
	data json.RawMessage
}

func (a rawArgs) Kind() string                 { return a.kind }
func (a rawArgs) MarshalJSON() ([]byte, error) { return a.data, nil }

// kind names a worker's args type; River needs one Go type per kind.
type kind interface{ name() string }

type (
	sweepKind       struct{}
	sweepTenantKind struct{}
	deleteBlobsKind struct{}
	rewrapKind      struct{}
	muxKind         struct{}
	analyzeKind     struct{}
	reanalyzeKind   struct{}
	qmPlanKind      struct{}
)

func (sweepKind) name() string       { return service.KindSweep }
func (sweepTenantKind) name() string { return service.KindSweepTenant }
func (deleteBlobsKind) name() string { return service.KindDeleteBlobs }
func (rewrapKind) name() string      { return service.KindRewrap }
func (muxKind) name() string         { return service.KindMux }
func (analyzeKind) name() string     { return service.KindAnalyze }
func (reanalyzeKind) name() string   { return service.KindReanalyze }
func (qmPlanKind) name() string      { return service.KindQMPlan }

// args is a job's arguments kept as JSON, for the service to decode.
type args[K kind] struct{ data json.RawMessage }

func (args[K]) Kind() string {
	var k K
	return k.name()
}

func (a args[K]) MarshalJSON() ([]byte, error) {
	if len(a.data) == 0 {
		return []byte("{}"), nil
	}
	return a.data, nil
}

func (a *args[K]) UnmarshalJSON(b []byte) error {
	a.data = append(a.data[:0], b...)
	return nil
}

// worker hands a job to service.Work.
type worker[K kind] struct {
	river.WorkerDefaults[args[K]]
	svc   *service.Service
	slice time.Duration
	long  bool
	// timeout, when set, is the attempt's own bound (an analysis, whose
	// length follows the call's).
	timeout time.Duration
}

func (w *worker[K]) Timeout(*river.Job[args[K]]) time.Duration {
	if w.timeout > 0 {
		return w.timeout
	}
	if w.long {
		return 2 * w.slice
	}
	return 0 // the client's JobTimeout
}

func (w *worker[K]) Work(ctx context.Context, job *river.Job[args[K]]) error {
	err := w.svc.Work(ctx, service.JobRun{ID: job.ID, Kind: job.Kind, Args: job.Args.data, Attempt: job.Attempt,
		Until: time.Now().Add(w.slice)})
	if errors.Is(err, service.ErrContinue) {
		return river.JobSnooze(0)
	}
	return err
}

func addWorker[K kind](ws *river.Workers, svc *service.Service, slice time.Duration, long bool) {
	river.AddWorker[args[K]](ws, &worker[K]{svc: svc, slice: slice, long: long})
}

// New migrates River's tables in the database of driver (idempotent) and
// makes a queue whose workers call svc. Start runs them. exclusive, when
// set, runs the migration holding a lock (PostgreSQL: a session advisory
// lock, so replicas starting at once migrate one after another; River's
// migrations cannot share one transaction).
func New[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], svc *service.Service, opts Options, exclusive func(ctx context.Context, fn func() error) error) (*Queue[TTx], error) {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = time.Hour
	}
	if opts.Slice <= 0 {
		opts.Slice = time.Minute
	}
	if opts.RescueAfter <= 0 {
		opts.RescueAfter = 10 * time.Minute
	}
	if opts.RescueAfter <= 2*opts.Slice {
		return nil, fmt.Errorf("jobs: the rescue delay (%s) must exceed twice the slice (%s)", opts.RescueAfter, opts.Slice)
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: quiet(opts.Log)})
	if err != nil {
		return nil, fmt.Errorf("jobs: cannot prepare the queue's migrations: %w", err)
	}
	migrate := func() error {
		_, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
		return err
	}
	if exclusive == nil {
		err = migrate()
	} else {
		err = exclusive(ctx, migrate)
	}
	if err != nil {
		return nil, fmt.Errorf("jobs: cannot migrate the queue's tables: %w", err)
	}
	ws := river.NewWorkers()
	addWorker[sweepKind](ws, svc, opts.Slice, false)
	addWorker[sweepTenantKind](ws, svc, opts.Slice, false)
	addWorker[deleteBlobsKind](ws, svc, opts.Slice, false)
	addWorker[rewrapKind](ws, svc, opts.Slice, true)
	addWorker[muxKind](ws, svc, opts.Slice, false)
	// An analysis runs as long as it needs (a fraction of the call's
	// length), within the rescue delay.
	river.AddWorker[args[analyzeKind]](ws, &worker[analyzeKind]{svc: svc, slice: opts.Slice,
		timeout: min(service.AnalysisTimeout, opts.RescueAfter-time.Minute)})
	addWorker[reanalyzeKind](ws, svc, opts.Slice, true)
	addWorker[qmPlanKind](ws, svc, opts.Slice, true)
	cfg := &river.Config{
		ID:      sanitizeID(service.ReplicaID()),
		Logger:  quiet(opts.Log),
		Workers: ws,
		// Short jobs get a minute; long ones their slice (above).
		JobTimeout:                  min(time.Minute, opts.RescueAfter/2),
		RescueStuckJobsAfter:        opts.RescueAfter,
		MaxAttempts:                 10,
		CompletedJobRetentionPeriod: 30 * 24 * time.Hour,
	}
	if !opts.InsertOnly {
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opts.Workers}}
		cfg.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(opts.SweepEvery),
			func() (river.JobArgs, *river.InsertOpts) {
				return args[sweepKind]{}, &river.InsertOpts{UniqueOpts: uniqueWhileWaiting}
			},
			&river.PeriodicJobOpts{RunOnStart: true, ID: service.KindSweep})}
	}
	client, err := river.NewClient(driver, cfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: cannot make the queue's client: %w", err)
	}
	return &Queue[TTx]{client: client, opts: opts}, nil
}

// uniqueWhileWaiting: a job is not queued twice while one with the same
// arguments waits or runs; once it has finished, it may be again.
var uniqueWhileWaiting = river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}}

// sanitizeID makes the replica id one River accepts as a client id.
func sanitizeID(id string) string {
	out := []rune{}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			out = append(out, r)
		default:
			out = append(out, '_')
		}
	}
	return string(out)
}

// quiet passes River's warnings and errors to log, not its chatter.
func quiet(log *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{log.Handler(), slog.LevelWarn})
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(a), f.min}
}
func (f levelFilter) WithGroup(n string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(n), f.min}
}

// Insert queues jobs inside tx (the store's Enqueue hook) and returns
// their ids; a unique job already waiting gives that job's id.
func (q *Queue[TTx]) Insert(ctx context.Context, tx TTx, jobs []vault.Job) ([]int64, error) {
	params := make([]river.InsertManyParams, len(jobs))
	for i, j := range jobs {
		opts := &river.InsertOpts{MaxAttempts: j.MaxAttempts}
		if j.Unique {
			opts.UniqueOpts = uniqueWhileWaiting
		}
		params[i] = river.InsertManyParams{Args: rawArgs{kind: j.Kind, data: j.Args}, InsertOpts: opts}
	}
	res, err := q.client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(res))
	for i, r := range res {
		ids[i] = r.Job.ID
	}
	return ids, nil
}

// Start runs the workers (and, on the elected leader, the periodic
// sweep) until Stop.
func (q *Queue[TTx]) Start(ctx context.Context) error {
	if q.opts.InsertOnly {
		return nil
	}
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("jobs: cannot start: %w", err)
	}
	return nil
}

// Stop lets running jobs finish their slice (or, after ctx ends, cancels
// them: a cancelled re-wrap resumes where it was).
func (q *Queue[TTx]) Stop(ctx context.Context) error {
	if q.opts.InsertOnly {
		return nil
	}
	err := q.client.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		return q.client.StopAndCancel(context.Background())
	}
	return err
}

// States returns the queue's view of the jobs, for service.JobQueue.
func (q *Queue[TTx]) States(ctx context.Context, ids []int64) (map[int64]vault.JobInfo, error) {
	out := make(map[int64]vault.JobInfo, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	res, err := q.client.JobList(ctx, river.NewJobListParams().IDs(ids...).First(len(ids)))
	if err != nil {
		return nil, fmt.Errorf("jobs: cannot list jobs: %w", err)
	}
	for _, row := range res.Jobs {
		j := vault.JobInfo{ID: row.ID, Kind: row.Kind, State: string(row.State), Attempt: row.Attempt, MaxAttempts: row.MaxAttempts,
			FinishedAt: row.FinalizedAt, UpdatedAt: row.CreatedAt}
		if row.AttemptedAt != nil {
			j.UpdatedAt = *row.AttemptedAt
		}
		for _, e := range row.Errors {
			j.Errors = append(j.Errors, fmt.Sprintf("attempt %d at %s: %s", e.Attempt, e.At.UTC().Format(time.RFC3339), e.Error))
		}
		var a map[string]any
		if json.Unmarshal(row.EncodedArgs, &a) == nil {
			delete(a, "keys") // a deleted recording's object keys are of no use to a reader
			delete(a, "tenant")
			if len(a) > 0 {
				j.Args = a
			}
		}
		out[row.ID] = j
	}
	return out, nil
}
