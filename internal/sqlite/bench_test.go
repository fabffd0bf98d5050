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

	for _, bc := range []struct {
		name   string
		access vault.Access
		want   int // records visible
	}{
		{"All", vault.Access{All: true}, benchRecordings},
		// A manager of half the agents, who also holds one partition.
		{"GroupsHalf", vault.Access{Groups: []string{"/Site0", "/billing"}}, -1},
		// A team lead: one team of 40, 1/40 of the recordings.
		{"GroupsOneTeam", vault.Access{Groups: []string{"/Site1/Team3"}}, benchRecordings / 40},
	} {
		b.Run(bc.name, func(b *testing.B) {
			total := 0
			for b.Loop() {
				total += pageThrough(b, s, bc.access, bc.want)
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func pageThrough(b *testing.B, s *Store, access vault.Access, want int) int {
	f := vault.SearchFilter{Limit: 1000}
	n := 0
	for {
		page, err := s.SearchRecordings(context.Background(), "acme", f, access)
		if err != nil {
			b.Fatal(err)
		}
		n += len(page)
		if len(page) < f.Limit {
			break
		}
		last := page[len(page)-1]
		f.After = &vault.Cursor{StartTime: last.StartTime, ID: last.ID}
	}
	if want >= 0 && n != want {
		b.Fatalf("paged %d records, want %d", n, want)
	}
	return n
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
