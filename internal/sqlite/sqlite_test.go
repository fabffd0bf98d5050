package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"callvault/internal/vault"
	"callvault/internal/vault/storetest"
)

func TestStoreMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) vault.Store {
		s, err := Open(t.Context(), ":memory:")
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestStoreFile runs the suite on a file, where reads and writes use
// separate connections as they do in production.
func TestStoreFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T) vault.Store {
		s, err := Open(t.Context(), filepath.Join(t.TempDir(), "callvault.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// openCustody opens a store for the custody suite, its job hook wired to
// the suite's queue.
func openCustody(t *testing.T, path string, enqueue storetest.Enqueue) vault.Store {
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if enqueue != nil {
		s.Enqueue = func(ctx context.Context, _ *sql.Tx, jobs []vault.Job) ([]int64, error) { return enqueue(ctx, jobs) }
	}
	return s
}

func TestCustodyMemory(t *testing.T) {
	storetest.RunCustody(t, func(t *testing.T, enqueue storetest.Enqueue) vault.Store {
		return openCustody(t, ":memory:", enqueue)
	})
}

func TestCustodyFile(t *testing.T) {
	storetest.RunCustody(t, func(t *testing.T, enqueue storetest.Enqueue) vault.Store {
		return openCustody(t, filepath.Join(t.TempDir(), "callvault.db"), enqueue)
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "callvault.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, vault.Tenant{Name: "acme", Retention: time.Hour}); err != nil {
		t.Fatal(err)
	}
	err = s.UpdateRecording(ctx, "acme", "r1", func(r *vault.Recording, _ []vault.Media) error {
		r.Agents = []string{"Agent1"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if tenant, err := s.Tenant(ctx, "acme"); err != nil || tenant.Retention != time.Hour {
		t.Errorf("Tenant after reopen = %+v, %v", tenant, err)
	}
	if r, _, err := s.Recording(ctx, "acme", "r1", vault.Access{UserName: "Agent1"}); err != nil || r.ID != "r1" {
		t.Errorf("Recording after reopen = %+v, %v", r, err)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "callvault.db")
	for range 3 {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.migrate(ctx); err != nil {
			t.Fatalf("migrate again: %v", err)
		}
		var versions int
		if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&versions); err != nil {
			t.Fatal(err)
		}
		names, _ := migrations.ReadDir("migrations")
		if versions != len(names) {
			t.Errorf("schema_migrations has %d rows, want %d", versions, len(names))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPragmas(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, db := range []*sql.DB{s.write, s.read} {
		for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "synchronous": "1", "busy_timeout": "10000"} {
			var got string
			if err := db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if strings.ToLower(got) != want {
				t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
			}
		}
	}
	// The read pool must not write, so that writes queue on the one
	// write connection instead of meeting SQLITE_BUSY.
	if _, err := s.read.ExecContext(ctx, `INSERT INTO tenants (name, created_ms) VALUES ('x', 1)`); err == nil {
		t.Error("the read pool accepted a write")
	}
}

// TestWritersAndReaders mixes writes and searches from many goroutines on
// a file: writes must queue, not fail with SQLITE_BUSY, and reads must not
// block on them.
func TestWritersAndReaders(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateTenant(ctx, vault.Tenant{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCertificate(ctx, vault.Certificate{Tenant: "acme", Alias: "c1"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 25 {
				id := fmt.Sprintf("w%d-%d", w, i)
				err := s.UpdateRecording(ctx, "acme", id, func(r *vault.Recording, _ []vault.Media) error {
					r.StartTime = time.UnixMilli(int64(1 + i))
					r.Agents = []string{"Agent1"}
					return nil
				})
				if err == nil {
					_, _, err = s.PutMedia(ctx, vault.Media{Tenant: "acme", RecordingID: id, MediaID: "m1", CertAliases: []string{"c1"}})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 25 {
				if _, err := s.SearchRecordings(ctx, "acme", vault.SearchFilter{Limit: 50}, vault.Access{UserName: "Agent1"}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	all, err := s.SearchRecordings(ctx, "acme", vault.SearchFilter{}, vault.Access{All: true})
	if err != nil || len(all) != 8*25 {
		t.Errorf("found %d recordings, %v; want %d", len(all), err, 8*25)
	}
}

func TestOpenRejectsQuestionMark(t *testing.T) {
	if _, err := Open(context.Background(), filepath.Join(t.TempDir(), "a?b.db")); err == nil {
		t.Error("Open accepted a path with '?'")
	}
}

func TestGlobPattern(t *testing.T) {
	for pattern, want := range map[string]string{
		"+1905*":  "+1905*",
		"*968*":   "*968*",
		"a?b[c]d": "a[?]b[[]c]d",
		"100%_*":  "100%_*",
	} {
		if got := globPattern(pattern); got != want {
			t.Errorf("globPattern(%q) = %q, want %q", pattern, got, want)
		}
	}
}
