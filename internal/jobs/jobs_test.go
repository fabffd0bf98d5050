package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/riverqueue/river/riverdriver/riversqlite"

	"callvault/internal/jobs"
	"callvault/internal/service"
	"callvault/internal/sqlite"
	"callvault/internal/vault"
)

// TestQueueOnSQLite: jobs inserted in the store's transaction get ids and
// progress rows; a unique job already waiting answers its own id; a
// transaction that fails queues nothing; States reads River's rows.
func TestQueueOnSQLite(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.CreateTenant(ctx, vault.Tenant{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	svc := &service.Service{Store: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	q, err := jobs.New(ctx, riversqlite.New(store.WriteDB()), svc, jobs.Options{InsertOnly: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	store.Enqueue = q.Insert
	// Migrating again is a no-op.
	if _, err := jobs.New(ctx, riversqlite.New(store.WriteDB()), svc, jobs.Options{InsertOnly: true}, nil); err != nil {
		t.Fatalf("second migration: %v", err)
	}
	rewrap := vault.Job{Tenant: "acme", Kind: service.KindRewrap, Args: []byte(`{"tenant":"acme","from":"a","to":"b"}`), CreatedBy: "admin", Unique: true}
	var first, again []int64
	if err := store.Commit(ctx, vault.Effects{Jobs: []vault.Job{rewrap}, Queued: func(ids []int64) { first = ids }}); err != nil {
		t.Fatal(err)
	}
	if err := store.Commit(ctx, vault.Effects{Jobs: []vault.Job{rewrap}, Queued: func(ids []int64) { again = ids }}); err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 || len(again) != 1 || first[0] != again[0] {
		t.Fatalf("a unique job queued twice: %v then %v", first, again)
	}
	other := rewrap
	other.Args = []byte(`{"tenant":"acme","from":"a","to":"c"}`)
	var otherID []int64
	if err := store.Commit(ctx, vault.Effects{Jobs: []vault.Job{other}, Queued: func(ids []int64) { otherID = ids }}); err != nil {
		t.Fatal(err)
	}
	if otherID[0] == first[0] {
		t.Fatal("jobs with other arguments share an id")
	}
	// A job of an unknown kind fails the transaction, and its audit
	// entry with it.
	err = store.Commit(ctx, vault.Effects{Jobs: []vault.Job{{Tenant: "acme", Kind: "nope", Args: []byte(`{}`)}},
		Audit: []vault.AuditEntry{{Tenant: "acme", Action: "x"}}})
	if err == nil {
		t.Fatal("a job of no registered kind was queued")
	}
	if head, _ := store.AuditHead(ctx, "acme"); head.Seq != 0 {
		t.Fatalf("the failed transaction left an audit entry (head %d)", head.Seq)
	}
	states, err := q.States(ctx, []int64{first[0], otherID[0], 999999})
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 2 || states[first[0]].State != "available" || states[first[0]].Kind != service.KindRewrap {
		t.Fatalf("states: %+v", states)
	}
	if a, ok := states[first[0]].Args.(map[string]any); !ok || a["to"] != "b" || a["tenant"] != nil {
		t.Fatalf("args shown: %#v", states[first[0]].Args)
	}
	infos, err := store.JobInfos(ctx, "acme", 0, 10)
	if err != nil || len(infos) != 2 || infos[0].CreatedBy != "admin" {
		t.Fatalf("progress rows: %+v, %v", infos, err)
	}
	if _, err := jobs.New(ctx, riversqlite.New(store.WriteDB()), svc, jobs.Options{Slice: 10e9, RescueAfter: 15e9}, nil); err == nil {
		t.Fatal("a rescue delay under twice the slice was accepted")
	}
}
