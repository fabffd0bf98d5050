package postgres

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callvault/internal/testenv"
	"callvault/internal/vault"
)

// benchRecordsEnv overrides how many recordings BenchmarkSearch stores.
const benchRecordsEnv = "CALLVAULT_BENCH_RECORDS"

// BenchmarkSearch pages through 100,000 recordings of one tenant (or
// $CALLVAULT_BENCH_RECORDS), 1000 a page, as the API and rcbs do, and
// reports records/s through the store. The recordings are those of the
// sqlite store's benchmark.
//
//	go test -run '^$' -bench Search -benchtime 3x ./internal/postgres/
//	CALLVAULT_BENCH_RECORDS=1000000 go test -run '^$' -bench Search -benchtime 1x -timeout 30m ./internal/postgres/
func BenchmarkSearch(b *testing.B) {
	n := 100_000
	if v := os.Getenv(benchRecordsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive number of recordings", benchRecordsEnv, v)
		}
	}
	ctx := context.Background()
	s, err := Open(ctx, testenv.Postgres(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateTenant(ctx, vault.Tenant{Name: "acme"}); err != nil {
		b.Fatal(err)
	}
	started := time.Now()
	if err := bulkInsert(ctx, s, "acme", n, testenv.BenchRecording); err != nil {
		b.Fatal(err)
	}
	b.Logf("inserted %d recordings in %v", n, time.Since(started).Round(time.Millisecond))

	testenv.BenchSearch(b, s, "acme", n)
}

// bulkInsert stores recordings 0 to n-1 of a tenant that has none yet, in
// one transaction: COPY for the rows, then the terms from the same SQL
// UpdateRecording uses, then ANALYZE so the planner knows the tables as
// autovacuum would soon tell it.
func bulkInsert(ctx context.Context, s *Store, tenant string, n int, recording func(tenant string, i int) vault.Recording) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		i := 0
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"recordings"},
			[]string{"tenant", "id", "start_ms", "stop_ms", "caller", "dialed",
				"agents", "access_groups", "partitions", "media_types", "doc", "created_ms", "updated_ms"},
			pgx.CopyFromFunc(func() ([]any, error) {
				if i == n {
					return nil, nil
				}
				r := recording(tenant, i)
				i++
				return []any{r.Tenant, r.ID, toMS(r.StartTime), toMS(r.StopTime), r.CallerPhoneNumber, r.DialedPhoneNumber,
					textArray(r.Agents), textArray(r.Groups), textArray(r.Partitions), textArray(r.MediaTypes),
					[]byte(r.Doc), toMS(r.CreatedAt), toMS(r.UpdatedAt)}, nil
			}))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, insertTermsSQL(`r.tenant = $1`), tenant)
		return err
	})
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `ANALYZE recordings, recording_terms`)
	return err
}
