package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callvault/internal/audit"
	"callvault/internal/testenv"
	"callvault/internal/vault"
	"callvault/internal/vault/storetest"
)

func openTest(t *testing.T, dbURL string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) vault.Store { return openTest(t, testenv.Postgres(t)) })
}

func TestCustody(t *testing.T) {
	storetest.RunCustody(t, func(t *testing.T, enqueue storetest.Enqueue) vault.Store {
		s := openTest(t, testenv.Postgres(t))
		if enqueue != nil {
			s.Enqueue = func(ctx context.Context, _ pgx.Tx, jobs []vault.Job) ([]int64, error) { return enqueue(ctx, jobs) }
		}
		return s
	})
}

func TestMigrationsIdempotent(t *testing.T) {
	ctx := t.Context()
	dbURL := testenv.Postgres(t)
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("embedded migrations: %q, %v", names, err)
	}
	for range 3 {
		s := openTest(t, dbURL)
		if err := s.migrate(ctx); err != nil {
			t.Fatalf("migrate again: %v", err)
		}
		var versions int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&versions); err != nil {
			t.Fatal(err)
		}
		if versions != len(names) {
			t.Errorf("schema_migrations has %d rows, want %d", versions, len(names))
		}
		s.Close()
	}
}

// TestConcurrentOpen starts several replicas on a new database at once:
// the advisory lock must let each migration run once, the others wait.
func TestConcurrentOpen(t *testing.T) {
	dbURL := testenv.Postgres(t)
	const replicas = 6
	var wg sync.WaitGroup
	errs := make(chan error, replicas)
	for range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(t.Context(), dbURL)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
}

// TestReplicas runs two stores on one database, as two callvault serve
// processes do: each sees the other's writes at once, merges from both
// into one recording keep every piece, and one lease has one holder.
func TestReplicas(t *testing.T) {
	ctx := t.Context()
	dbURL := testenv.Postgres(t)
	a, b := openTest(t, dbURL), openTest(t, dbURL)
	defer a.Close()
	defer b.Close()

	if err := a.CreateTenant(ctx, vault.Tenant{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Tenant(ctx, "acme"); err != nil {
		t.Fatalf("replica b does not see a's tenant: %v", err)
	}
	if _, _, err := b.PutMedia(ctx, vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m1", BlobKey: "acme/r1/m1"}); err != nil {
		t.Fatal(err)
	}
	if _, media, err := a.Recording(ctx, "acme", "r1", vault.Access{All: true}); err != nil || len(media) != 1 || media[0].BlobKey != "acme/r1/m1" {
		t.Errorf("replica a reads b's upload as %+v, %v", media, err)
	}

	const writers = 10
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for i := range 2 * writers {
		store := []*Store{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- store.UpdateRecording(ctx, "acme", "r1", func(r *vault.Recording, _ []vault.Media) error {
				r.Agents = append(r.Agents, fmt.Sprintf("agent%02d", i))
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("UpdateRecording: %v", err)
		}
	}
	for _, s := range []*Store{a, b} {
		r, media, err := s.Recording(ctx, "acme", "r1", vault.Access{UserName: "agent07"})
		if err != nil || len(r.Agents) != 2*writers || len(media) != 1 {
			t.Errorf("after merges from both replicas: %d agents, %d media, %v; want %d, 1", len(r.Agents), len(media), err, 2*writers)
		}
	}

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if ok, err := a.AcquireLease(ctx, "sweep", "a", now, now.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("a cannot take a free lease: %v, %v", ok, err)
	}
	if ok, err := b.AcquireLease(ctx, "sweep", "b", now.Add(time.Second), now.Add(time.Minute)); err != nil || ok {
		t.Errorf("b took a's lease: %v, %v", ok, err)
	}
}

func TestPoolSize(t *testing.T) {
	dbURL := testenv.Postgres(t)
	s := openTest(t, dbURL)
	defer s.Close()
	if got := s.pool.Config().MaxConns; got != defaultMaxConns {
		t.Errorf("MaxConns = %d, want the default %d", got, defaultMaxConns)
	}
	var name string
	if err := s.pool.QueryRow(t.Context(), `SELECT current_setting('application_name')`).Scan(&name); err != nil || name != "callvault" {
		t.Errorf("application_name = %q, %v; want callvault", name, err)
	}

	sep := "?"
	if strings.Contains(dbURL, "?") {
		sep = "&"
	}
	small := openTest(t, dbURL+sep+"pool_max_conns=3&application_name=replica-2")
	defer small.Close()
	if got := small.pool.Config().MaxConns; got != 3 {
		t.Errorf("MaxConns with pool_max_conns=3 = %d", got)
	}
	if err := small.pool.QueryRow(t.Context(), `SELECT current_setting('application_name')`).Scan(&name); err != nil || name != "replica-2" {
		t.Errorf("application_name = %q, %v; want the URL's replica-2", name, err)
	}
}

// TestOpenErrorHidesPassword makes Open fail at each stage, with a
// password in the URL, and looks for the password in the error text.
func TestOpenErrorHidesPassword(t *testing.T) {
	const password = "s3cret-Pa55:word/x"
	server, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	withPassword := func(u url.URL) string {
		u.User = url.UserPassword("postgres", password)
		return u.String()
	}
	missingDB := *server
	missingDB.Path = "/no_such_database"
	refused := *server
	refused.Host = "127.0.0.1:1"
	badPool := *server
	badPool.RawQuery = "pool_max_conns=many"
	badPort := *server
	badPort.Host = "127.0.0.1:notaport"
	for name, dbURL := range map[string]string{
		"missing database":   withPassword(missingDB),
		"connection refused": withPassword(refused),
		"bad pool setting":   withPassword(badPool),
		"bad port":           withPassword(badPort),
		"keyword/value form": "host=127.0.0.1 port=1 user=postgres password='" + password + "' connect_timeout=5",
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			s, err := Open(ctx, dbURL)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			t.Log(err)
			for _, form := range []string{password, url.PathEscape(password), url.QueryEscape(password), "s3cret"} {
				if strings.Contains(err.Error(), form) {
					t.Errorf("error reveals the password (%q): %v", form, err)
				}
			}
			if !strings.HasPrefix(err.Error(), "postgres: cannot ") {
				t.Errorf("error %q lacks the package's prefix", err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	cause := errors.New(`cannot parse postgres://u:p%40ss@h/db: p@ss is wrong`)
	err := redact(cause, "postgres://u:p%40ss@h/db")
	if got := err.Error(); strings.Contains(got, "p@ss") || strings.Contains(got, "p%40ss") {
		t.Errorf("redact left the password in %q", got)
	}
	if !errors.Is(err, cause) {
		t.Error("redact lost the cause")
	}
	if got := redact(cause, "postgres://h/db"); got != cause {
		t.Errorf("redact without a password = %v, want the error unchanged", got)
	}
}

func TestLikePattern(t *testing.T) {
	for pattern, want := range map[string]string{
		"+1905*":   `+1905%`,
		"*968*":    `%968%`,
		"100%_*":   `100\%\_%`,
		`a\b*`:     `a\\b%`,
		"a?b[c]d*": "a?b[c]d%",
		"**":       "%%",
	} {
		if got := likePattern(pattern); got != want {
			t.Errorf("likePattern(%q) = %q, want %q", pattern, got, want)
		}
	}
}

// TestAuditRetry appends audit entries in a transaction that then fails
// in a way inTx retries: the retry appends them afresh, after the head as
// committed, and the caller's entries stay as given.
func TestAuditRetry(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, testenv.Postgres(t))
	defer s.Close()
	if err := s.Commit(ctx, vault.Effects{Audit: []vault.AuditEntry{{Tenant: "acme", Action: "first"}}}); err != nil {
		t.Fatal(err)
	}
	fx := vault.Effects{Audit: []vault.AuditEntry{{Tenant: "acme", Action: "a"}, {Tenant: "globex", Action: "b"}, {Tenant: "acme", Action: "c"}}}
	attempts := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		attempts++
		if err := s.applyEffects(ctx, tx, fx); err != nil {
			return err
		}
		if attempts == 1 {
			return errRetry
		}
		return nil
	})
	if err != nil || attempts != 2 {
		t.Fatalf("inTx = %v after %d attempts, want success at the second", err, attempts)
	}
	for _, e := range fx.Audit {
		if e.Seq != 0 || e.Hash != "" || e.PrevHash != "" || !e.Time.IsZero() || e.Details != nil {
			t.Errorf("the caller's entry was changed: %+v", e)
		}
	}
	for tenant, want := range map[string][]string{"acme": {"first", "a", "c"}, "globex": {"b"}} {
		head, err := s.AuditHead(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		v := audit.NewVerifier(tenant, audit.Anchor{})
		var actions []string
		err = s.ScanAudit(ctx, tenant, func(e vault.AuditEntry) error {
			actions = append(actions, e.Action)
			return v.Check(&e)
		})
		if err == nil {
			err = v.End(audit.Anchor{Seq: head.Seq, Hash: head.Hash})
		}
		if err != nil || !slices.Equal(actions, want) {
			t.Errorf("%s: chain %q, %v; want %q verified", tenant, actions, err, want)
		}
	}
}

// TestAuditStorable appends an entry with bytes PostgreSQL's TEXT refuses:
// they are stored as U+FFFD, and the hash is over what is stored.
func TestAuditStorable(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, testenv.Postgres(t))
	defer s.Close()
	e := vault.AuditEntry{Tenant: "acme", User: "bad\xff\x00name", Action: "login", Target: "ok", Details: []byte("{\"x\":\"\xfe\"}"), Outcome: vault.OutcomeDenied}
	if err := s.Commit(ctx, vault.Effects{Audit: []vault.AuditEntry{e}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Audit(ctx, "acme", vault.AuditFilter{})
	if err != nil || len(got) != 1 {
		t.Fatalf("Audit = %+v, %v", got, err)
	}
	if got[0].User != "bad\uFFFD\uFFFDname" || got[0].Target != "ok" || string(got[0].Details) != "{\"x\":\"\uFFFD\"}" {
		t.Errorf("stored %q, %q, %q", got[0].User, got[0].Target, got[0].Details)
	}
	if audit.Hash(&got[0]) != got[0].Hash {
		t.Error("the hash is not over the stored entry")
	}
}
