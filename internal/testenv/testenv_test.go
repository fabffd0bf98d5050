package testenv

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestPostgres checks that each call gives a fresh, usable database and
// that it is gone once its test ends, even with a connection left open.
func TestPostgres(t *testing.T) {
	var names []string
	for range 2 {
		t.Run("database", func(t *testing.T) {
			dbURL := Postgres(t)
			u, err := url.Parse(dbURL)
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, strings.TrimPrefix(u.Path, "/"))
			conn, err := pgx.Connect(t.Context(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			// Left open on purpose: the drop must force it closed.
			if _, err := conn.Exec(t.Context(), `CREATE TABLE t (x int)`); err != nil {
				t.Fatalf("the test database is not usable: %v", err)
			}
		})
	}
	if len(names) != 2 || names[0] == names[1] {
		t.Fatalf("databases %q, want two different ones", names)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, os.Getenv(PostgresEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var left int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname = ANY($1)`, names).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d of the test databases %q remain after their tests", left, names)
	}
}

func TestBenchRecordingIsStable(t *testing.T) {
	a, b := BenchRecording("acme", 12345), BenchRecording("acme", 12345)
	if a.ID != b.ID || string(a.Doc) != string(b.Doc) || !a.StartTime.Equal(b.StartTime) {
		t.Errorf("BenchRecording differs between calls: %+v, %+v", a, b)
	}
	if c := BenchRecording("acme", 12346); c.ID == a.ID {
		t.Errorf("recordings 12345 and 12346 share id %s", a.ID)
	}
}
