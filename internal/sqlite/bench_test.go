package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

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
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for first := 0; first < n; first += batch {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			for i := first; i < min(first+batch, n); i++ {
				r := benchRecording(tenant, i, start)
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

// benchRecording is recording i: 2 sites of 20 teams of 5 agents, one
// call every ~26 s, a partition on every third, a document of the guide's
// shape and size.
func benchRecording(tenant string, i int, start time.Time) vault.Recording {
	agent := i % 200
	site, team := agent%2, (agent/2)%20
	hierarchy := fmt.Sprintf("/Site%d/Team%d", site, team)
	r := vault.Recording{
		Tenant: tenant, ID: fmt.Sprintf("%08x-%04x-4000-8000-%012x", i*2654435761%(1<<32), i%65536, i),
		StartTime:         start.Add(time.Duration(i) * 26 * time.Second),
		CallerPhoneNumber: fmt.Sprintf("+1905555%04d", i%10000),
		DialedPhoneNumber: fmt.Sprintf("+1416555%04d", (i*7)%10000),
		Agents:            []string{fmt.Sprintf("agent%03d", agent)},
		Groups:            []string{fmt.Sprintf("/Site%d", site), hierarchy},
		MediaTypes:        []string{"audio/mp3"},
	}
	r.StopTime = r.StartTime.Add(time.Duration(60+i%600) * time.Second)
	if i%3 == 0 {
		r.Partitions = []string{"/billing"}
		r.Groups = append(r.Groups, "/billing")
	}
	doc, _ := json.Marshal(map[string]any{
		"id": r.ID, "callerPhoneNumber": r.CallerPhoneNumber, "dialedPhoneNumber": r.DialedPhoneNumber,
		"startTime": r.StartTime.Format(time.RFC3339Nano), "stopTime": r.StopTime.Format(time.RFC3339Nano),
		"mediaFiles": []map[string]any{{
			"mediaId": "0d4e-" + r.ID, "type": "audio/mp3", "startTime": r.StartTime.Format(time.RFC3339Nano),
			"stopTime": r.StopTime.Format(time.RFC3339Nano), "callUUID": "01P1GS6FNK9JV5QJCJ",
			"parameters": map[string]any{"GRECORD_PARTITIONS": r.Partitions},
		}},
		"eventHistory": []map[string]any{
			{"occurredAt": r.StartTime.Format(time.RFC3339Nano), "event": "START", "contact": map[string]any{"type": "agent", "userName": r.Agents[0]}},
			{"occurredAt": r.StopTime.Format(time.RFC3339Nano), "event": "STOP"},
		},
		"region": "us-east", "tenantId": tenant,
	})
	r.Doc = doc
	r.CreatedAt, r.UpdatedAt = r.StartTime, r.StopTime
	return r
}
