// Package postgres is the scale-out metadata store: vault.Store on
// PostgreSQL through github.com/jackc/pgx/v5, for several callvault
// replicas sharing one database.
//
// It keeps the sqlite store's schema and semantics (one conformance suite
// proves both). Where SQLite serialises every write on one connection,
// PostgreSQL runs writers side by side, so the store takes row locks where
// a read decides a write (UpdateRecording, PutMedia, DeleteRecording,
// DeleteCertificate, SwapMedia, legal holds, audit heads) and retries
// transactions the server aborts as serialization failures or deadlocks.
package postgres

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"callvault/internal/vault"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a vault.Store kept in one PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool

	// Now stamps CreatedAt and UpdatedAt where the caller left them
	// zero; tests may replace it before first use.
	Now func() time.Time

	// Enqueue puts jobs in the job queue inside tx and returns their ids,
	// one per job in order (the queue's pgx driver, wired by the server);
	// nil: effects with jobs fail.
	Enqueue func(ctx context.Context, tx pgx.Tx, jobs []vault.Job) ([]int64, error)
}

// Pool is the store's connection pool, for the job queue, whose tables
// live in the same database.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

var _ vault.Store = (*Store)(nil)

// defaultMaxConns is the pool size unless the URL sets pool_max_conns:
// enough for a replica's handlers and background work, small enough that
// a handful of replicas stay well under PostgreSQL's default
// max_connections of 100.
const defaultMaxConns = 16

// migrationLock is the pg_advisory_xact_lock key that serialises
// migrations of replicas starting at once ("callvaul" in ASCII).
const migrationLock int64 = 0x63616c6c7661756c

// MigrationLock is migrationLock, for the job queue's migrations.
const MigrationLock = migrationLock

// Open connects to the database at url, checks that it answers and
// applies any migrations it lacks.
//
// url is a PostgreSQL URL or keyword/value string as libpq and pgx accept
// them (postgres://user:password@host:5432/db?sslmode=verify-full; the
// PG* environment variables and ~/.pgpass fill what it leaves out). Pool
// settings are query parameters of the same string, as pgxpool reads them:
//
//	pool_max_conns           most connections (default 16 here)
//	pool_min_conns           connections kept open (default 0)
//	pool_max_conn_lifetime   recycle a connection after (default 1h)
//	pool_max_conn_idle_time  close an idle connection after (default 30m)
//	pool_health_check_period check idle connections every (default 1m)
//
// Behind PgBouncer in transaction mode add default_query_exec_mode=exec,
// since the store otherwise caches prepared statements per connection.
// Errors never contain the password.
func Open(ctx context.Context, url string) (*Store, error) {
	s, err := open(ctx, url)
	if err != nil {
		return nil, redact(err, url)
	}
	return s, nil
}

func open(ctx context.Context, connString string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot parse the database URL: %w", err)
	}
	// pgxpool has removed its own parameters from the connection's by
	// now, so ask a plain parse whether the URL chose a pool size.
	if plain, err := pgx.ParseConfig(connString); err == nil {
		if _, set := plain.RuntimeParams["pool_max_conns"]; !set {
			cfg.MaxConns = defaultMaxConns
		}
	}
	if _, set := cfg.ConnConfig.RuntimeParams["application_name"]; !set {
		cfg.ConnConfig.RuntimeParams["application_name"] = "callvault" // names the replicas in pg_stat_activity
	}
	where := fmt.Sprintf("database %q on %s:%d", cfg.ConnConfig.Database, cfg.ConnConfig.Host, cfg.ConnConfig.Port)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot open %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot connect to %s: %w", where, err)
	}
	s := &Store{pool: pool, Now: time.Now}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool, waiting for connections in use to be returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// redact hides the password of connString wherever it appears in err's
// text, keeping err in the chain. pgx already masks it in the errors it
// builds from the string; this also covers anything it echoes verbatim.
func redact(err error, connString string) error {
	var secrets []string
	if u, perr := url.Parse(connString); perr == nil && u.User != nil {
		if password, ok := u.User.Password(); ok {
			secrets = append(secrets, password, url.PathEscape(password), url.QueryEscape(password))
		}
	}
	if cfg, perr := pgx.ParseConfig(connString); perr == nil && cfg.Password != "" {
		secrets = append(secrets, cfg.Password) // keyword/value form, PGPASSWORD, .pgpass
	}
	secrets = slices.DeleteFunc(secrets, func(s string) bool { return s == "" })
	if len(secrets) == 0 {
		return err
	}
	// Longest first, so an escaped form is replaced before the raw
	// password it contains.
	slices.SortFunc(secrets, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	return &redactedError{err: err, secrets: slices.Compact(secrets)}
}

type redactedError struct {
	err     error
	secrets []string
}

func (e *redactedError) Error() string {
	text := e.err.Error()
	for _, secret := range e.secrets {
		text = strings.ReplaceAll(text, secret, "xxxxx")
	}
	return text
}

func (e *redactedError) Unwrap() error { return e.err }

// migrate applies, in name order, each embedded migration not yet recorded
// in schema_migrations, each in its own transaction with its record. The
// transaction first takes an advisory lock, so replicas starting at once
// apply each migration once, one after another.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("postgres: cannot list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		script, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("postgres: cannot read migration %s: %w", version, err)
		}
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version    TEXT COLLATE "C" NOT NULL PRIMARY KEY,
				applied_ms BIGINT NOT NULL
			)`); err != nil {
				return err
			}
			var applied bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, version).Scan(&applied); err != nil {
				return err
			}
			if applied {
				return nil
			}
			// Without arguments pgx sends the simple protocol, which
			// runs a script of several statements.
			if _, err := tx.Exec(ctx, string(script)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)`, version, toMS(s.now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: cannot apply migration %s: %w", version, err)
		}
	}
	return nil
}

// maxAttempts bounds how often inTx runs a transaction that the server
// aborts as a serialization failure or deadlock.
const maxAttempts = 5

// errRetry asks inTx to run the transaction again: a row it had to find
// vanished between two statements (READ COMMITTED sees other commits
// between statements).
var errRetry = errors.New("postgres: row changed concurrently")

// inTx runs fn in a READ COMMITTED transaction, committing when fn
// returns nil, and runs it again (up to maxAttempts in all, after a short
// random pause) when the transaction fails in a way that a retry cures.
// fn's error is returned as it is.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil || attempt == maxAttempts || !retryable(err) {
			return err
		}
		pause := time.Duration(attempt) * time.Duration(5+rand.IntN(20)) * time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

// PostgreSQL error codes the store acts on.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

func retryable(err error) bool {
	if errors.Is(err, errRetry) {
		return true
	}
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == codeSerializationFailure || pgErr.Code == codeDeadlockDetected)
}

// classify adds vault.ErrConflict to unique-key violations and
// vault.ErrNotFound to foreign-key violations (a row of a tenant that does
// not exist), keeping err in the chain.
func classify(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.Code {
	case codeUniqueViolation:
		return fmt.Errorf("%w: %w", vault.ErrConflict, err)
	case codeForeignKeyViolation:
		return fmt.Errorf("%w: %w", vault.ErrNotFound, err)
	}
	return err
}

// affectedOne returns vault.ErrNotFound when tag reports no row changed.
func affectedOne(tag pgconn.CommandTag) error {
	if tag.RowsAffected() == 0 {
		return vault.ErrNotFound
	}
	return nil
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// toMS stores a time as Unix milliseconds; 0 is the zero time, so the
// instant 1970-01-01T00:00:00Z itself reads back as unknown (as in the
// sqlite store).
func toMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// textArray is a list as a TEXT[] argument: never nil, since pgx sends a
// nil slice as NULL and the list columns are NOT NULL.
func textArray[T ~string](list []T) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = string(v)
	}
	return out
}

// fromTextArray is a scanned TEXT[] as a list; empty is nil, as in the
// sqlite store.
func fromTextArray[T ~string](list []string) []T {
	if len(list) == 0 {
		return nil
	}
	out := make([]T, len(list))
	for i, v := range list {
		out[i] = T(v)
	}
	return out
}

// scanner is what pgx.Row and pgx.Rows share.
type scanner interface {
	Scan(dest ...any) error
}

// collect reads every row of rows with scan, closing rows.
func collect[T any](rows pgx.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
