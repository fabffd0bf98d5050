// Package sqlite is the embedded metadata store: vault.Store on SQLite
// through modernc.org/sqlite, so the binary needs no cgo.
//
// SQLite allows one writer at a time. The store therefore keeps two pools:
// one connection for every write, so writers queue in Go instead of
// failing with SQLITE_BUSY, and several read-only connections that WAL lets
// read a consistent snapshot while the writer works.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"sort"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"callvault/internal/vault"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a vault.Store kept in one SQLite database file.
type Store struct {
	write *sql.DB // one connection: SQLite has a single writer
	read  *sql.DB // read-only connections; the same as write for ":memory:"

	// Now stamps CreatedAt and UpdatedAt where the caller left them
	// zero; tests may replace it before first use.
	Now func() time.Time

	// Enqueue puts jobs in the job queue inside tx and returns their ids
	// (the queue's SQLite driver, wired by the server); nil: effects with
	// jobs fail.
	Enqueue func(ctx context.Context, tx *sql.Tx, jobs []vault.Job) ([]int64, error)
}

// WriteDB is the database handle of the single writer, for the job queue:
// its statements then queue behind the store's writes in Go rather than
// meeting them as SQLITE_BUSY.
func (s *Store) WriteDB() *sql.DB { return s.write }

var _ vault.Store = (*Store)(nil)

// pragmas are set on every connection. WAL lets readers work beside the
// writer. synchronous=NORMAL under WAL skips the fsync on each commit: a
// crash of the process loses nothing, a power loss or OS crash may lose the
// last transactions but never corrupts the database. busy_timeout covers
// other processes (backup tools, a second server by mistake) and WAL
// checkpoints; within this process writes never compete.
const pragmas = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"

// Open opens (creating if needed) the database at path and applies any
// migrations it lacks. path ":memory:" gives a private in-memory database,
// for tests.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.Contains(path, "?") {
		// The driver splits its DSN at the first '?'.
		return nil, fmt.Errorf("sqlite: cannot open %q: path must be non-empty and without '?'", path)
	}
	s := &Store{Now: time.Now}
	if path == ":memory:" {
		// Every connection to ":memory:" is a database of its own, so
		// reads and writes share the one connection.
		db, err := sql.Open("sqlite", ":memory:?_txlock=immediate&"+pragmas)
		if err != nil {
			return nil, fmt.Errorf("sqlite: cannot open %q: %w", path, err)
		}
		db.SetMaxOpenConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		s.write, s.read = db, db
	} else {
		// IMMEDIATE takes the write lock at BEGIN, so a transaction that
		// reads before it writes (UpdateRecording) cannot fail half way
		// when another process holds the lock.
		write, err := sql.Open("sqlite", path+"?_txlock=immediate&_pragma=journal_mode(WAL)&"+pragmas)
		if err != nil {
			return nil, fmt.Errorf("sqlite: cannot open %q: %w", path, err)
		}
		write.SetMaxOpenConns(1)
		write.SetConnMaxLifetime(0)
		write.SetConnMaxIdleTime(0)
		// Connect the writer first so the file exists and is in WAL
		// mode before any reader opens it.
		if err := write.PingContext(ctx); err != nil {
			write.Close()
			return nil, fmt.Errorf("sqlite: cannot open %q: %w", path, err)
		}
		read, err := sql.Open("sqlite", path+"?_pragma=query_only(1)&"+pragmas)
		if err != nil {
			write.Close()
			return nil, fmt.Errorf("sqlite: cannot open %q for reading: %w", path, err)
		}
		readers := max(4, runtime.GOMAXPROCS(0))
		read.SetMaxOpenConns(readers)
		read.SetMaxIdleConns(readers)
		s.write, s.read = write, read
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	var readErr error
	if s.read != s.write {
		readErr = s.read.Close()
	}
	if err := errors.Join(readErr, s.write.Close()); err != nil {
		return fmt.Errorf("sqlite: cannot close: %w", err)
	}
	return nil
}

// migrate applies, in name order, each embedded migration not yet recorded
// in schema_migrations, each in its own transaction with its record, so a
// failed migration leaves the schema as it was.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    TEXT    NOT NULL PRIMARY KEY,
		applied_ms INTEGER NOT NULL
	) WITHOUT ROWID`); err != nil {
		return fmt.Errorf("sqlite: cannot create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: cannot list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		script, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("sqlite: cannot read migration %s: %w", version, err)
		}
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			// Checked inside the write transaction so two processes
			// opening a new file at once do not both apply it.
			var applied int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&applied); err != nil {
				return err
			}
			if applied > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(script)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_ms) VALUES (?, ?)`, version, toMS(s.now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: cannot apply migration %s: %w", version, err)
		}
	}
	return nil
}

// inTx runs fn in a write transaction, committing when fn returns nil.
// fn's error is returned as it is.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: cannot begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the error that matters is fn's
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: cannot commit: %w", err)
	}
	return nil
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// querier is what *sql.DB and *sql.Tx share, so reads can run alone or
// inside a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// classify adds vault.ErrConflict to unique-key violations and
// vault.ErrNotFound to foreign-key violations (a row of a tenant or
// recording that does not exist), keeping err in the chain.
func classify(err error) error {
	var sqliteErr *sqlite.Error
	if !errors.As(err, &sqliteErr) {
		return err
	}
	switch sqliteErr.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w: %w", vault.ErrConflict, err)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w: %w", vault.ErrNotFound, err)
	}
	return err
}

// affectedOne returns vault.ErrNotFound when res changed no row.
func affectedOne(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return vault.ErrNotFound
	}
	return nil
}

// toMS stores a time as Unix milliseconds; 0 is the zero time, so the
// instant 1970-01-01T00:00:00Z itself reads back as unknown.
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

// marshalList encodes a list as a JSON array; nil becomes "[]".
func marshalList[T ~string](list []T) string {
	if len(list) == 0 {
		return "[]"
	}
	b, err := json.Marshal(list)
	if err != nil {
		panic(err) // a []string always marshals
	}
	return string(b)
}

func unmarshalList[T ~string](text string) ([]T, error) {
	if text == "" || text == "[]" {
		return nil, nil
	}
	var list []T
	if err := json.Unmarshal([]byte(text), &list); err != nil {
		return nil, fmt.Errorf("cannot decode list %.40q: %w", text, err)
	}
	return list, nil
}
