package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"callvault/internal/testenv"
	"callvault/internal/vault"
)

const benchRecordings = 100_000

// BenchmarkSearch pages through 100,000 recordings of one tenant, 1000 a
// page, as the API and rcbs do, and reports records/s through the store.
//
//	go test -run '^$' -bench Search -benchtime 3x ./internal/sqlite/
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateTenant(ctx, vault.Tenant{Name: "acme"}); err != nil {
		b.Fatal(err)
	}
	started := time.Now()
	if err := bulkInsert(ctx, s, "acme", benchRecordings); err != nil {
		b.Fatal(err)
	}
	b.Logf("inserted %d recordings in %v", benchRecordings, time.Since(started).Round(time.Millisecond))

	testenv.BenchSearch(b, s, "acme", benchRecordings)
}

// bulkInsert stores n made-up recordings through saveRecording, the code
// UpdateRecording uses, in transactions of a few thousand rows so the
// setup takes seconds rather than one fsync per row.
func bulkInsert(ctx context.Context, s *Store, tenant string, n int) error {
	const batch = 5000
	for first := 0; first < n; first += batch {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			for i := first; i < min(first+batch, n); i++ {
				r := testenv.BenchRecording(tenant, i)
				if err := saveRecording(ctx, tx, &r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
