// Package testenv hands tests the real services they run against, as
// `source .ci/services.sh` starts them on loopback and exports where they
// are. A service that is not there fails the test: it is never skipped,
// so a green run means the real thing was exercised.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresEnv names the variable holding the URL of a PostgreSQL server
// on which the user may CREATE DATABASE.
const PostgresEnv = "CALLVAULT_TEST_POSTGRES"

// Postgres creates an empty database for the test on the server
// PostgresEnv names, drops it (closing any connection left open) when the
// test and its subtests end, and returns its URL: the server's URL with
// the database name replaced.
func Postgres(t testing.TB) string {
	t.Helper()
	serverURL := os.Getenv(PostgresEnv)
	if serverURL == "" {
		t.Fatalf("%s is not set: run `source .ci/services.sh` to start PostgreSQL (a missing service fails the tests; it never skips them)", PostgresEnv)
	}
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// Not url.Parse's error: it quotes the URL, password and all.
		t.Fatalf("%s must be a postgres:// URL", PostgresEnv)
	}
	random := make([]byte, 8)
	_, _ = rand.Read(random) // never fails
	name := "callvault_test_" + hex.EncodeToString(random)

	// The test's own context ends before cleanups run.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := connect(ctx, t, serverURL)
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("cannot create test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin := connect(ctx, t, serverURL)
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("cannot drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

func connect(ctx context.Context, t testing.TB, serverURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatalf("cannot connect to the PostgreSQL server of %s (run `source .ci/services.sh`): %v", PostgresEnv, err)
	}
	return conn
}
