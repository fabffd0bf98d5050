package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"callvault/internal/audit"
	"callvault/internal/vault"
)

// Enqueue is the job queue as the custody tests see it: the store's
// Enqueue hook without its transaction.
type Enqueue func(ctx context.Context, jobs []vault.Job) ([]int64, error)

// RunCustody runs the tests of vault.CustodyStore. open must return an
// empty store whose Enqueue hook calls enqueue, or, when enqueue is nil,
// one with no hook at all (effects with jobs must then fail); RunCustody
// closes it.
//
// Besides what vault.CustodyStore documents, it pins down:
//   - an audit entry's zero Time is stamped, every Time is truncated to
//     the millisecond in UTC, empty Details are stored as {}; entries of
//     one Effects are appended in their order, to as many chains as they
//     name, and a tenant need not exist to have a chain;
//   - an entry with invalid UTF-8 or NUL in its fields is appended, not
//     lost, and its chain verifies (a store may replace such bytes);
//   - effects are all or nothing with the change they go with: a queue
//     that fails, or none wired, fails the whole transaction;
//   - a job queued again that the queue reports by an id it gave before
//     (a unique job) keeps its progress row as it was;
//   - zero CreatedAt of a hold, zero release time and zero receipt times
//     are stamped with the store's clock; holds list their ids sorted;
//   - a recording named by no hold, one by a released hold, is absent
//     from HeldByID's answer; BackupStates has no entry for a recording
//     without media files, SweepCandidates counts it backed up.
func RunCustody(t *testing.T, open func(t *testing.T, enqueue Enqueue) vault.Store) {
	fresh := func(t *testing.T) (vault.Store, *fakeQueue) {
		t.Helper()
		q := &fakeQueue{}
		s := open(t, q.enqueue)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s, q
	}
	store := func(t *testing.T) vault.Store {
		t.Helper()
		s, _ := fresh(t)
		return s
	}
	t.Run("AuditChain", func(t *testing.T) { testAuditChain(t, store(t)) })
	t.Run("AuditConcurrent", func(t *testing.T) { testAuditConcurrent(t, store(t)) })
	t.Run("AuditFilters", func(t *testing.T) { testAuditFilters(t, store(t)) })
	t.Run("ScanAudit", func(t *testing.T) { testScanAudit(t, store(t)) })
	t.Run("DeleteAuditBefore", func(t *testing.T) { testDeleteAuditBefore(t, store(t)) })
	t.Run("LegalHolds", func(t *testing.T) { testLegalHolds(t, fresh) })
	t.Run("DeleteHeld", func(t *testing.T) { testDeleteHeld(t, store(t)) })
	t.Run("DeleteEffects", func(t *testing.T) { testDeleteEffects(t, fresh) })
	t.Run("Receipts", func(t *testing.T) { testReceipts(t, store(t)) })
	t.Run("SweepCandidates", func(t *testing.T) { testSweepCandidates(t, store(t)) })
	t.Run("RetentionSettings", func(t *testing.T) { testRetentionSettings(t, store(t)) })
	t.Run("CountRecordings", func(t *testing.T) { testCountRecordings(t, store(t)) })
	t.Run("MediaForCertificate", func(t *testing.T) { testMediaForCertificate(t, store(t)) })
	t.Run("SwapMedia", func(t *testing.T) { testSwapMedia(t, store(t)) })
	t.Run("Jobs", func(t *testing.T) { testJobs(t, fresh) })
	t.Run("ScreenCaptures", func(t *testing.T) { testScreenCaptures(t, fresh) })
	t.Run("Analytics", func(t *testing.T) { testAnalytics(t, fresh) })
	t.Run("QM", func(t *testing.T) { testQM(t, fresh) })
	t.Run("HoldDeleteRace", func(t *testing.T) { testHoldDeleteRace(t, store(t)) })
	t.Run("SwapCertificateRace", func(t *testing.T) { testSwapCertificateRace(t, store(t)) })
	t.Run("ReceiptDeleteRace", func(t *testing.T) { testReceiptDeleteRace(t, store(t)) })
	t.Run("PruneWhileAppending", func(t *testing.T) { testPruneWhileAppending(t, store(t)) })
	t.Run("JobsWithoutQueue", func(t *testing.T) {
		s := open(t, nil)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		testJobsWithoutQueue(t, s)
	})
}

// fakeQueue hands out increasing ids, one per job, and the id it gave
// before for a unique job of the same kind and arguments, as the real
// queue does. It is not transactional: ids of rolled back attempts are
// used up.
type fakeQueue struct {
	mu     sync.Mutex
	last   int64
	unique map[string]int64
	fail   error // when set, enqueue fails with it
	short  bool  // when set, enqueue returns one id too few
	jobs   []vault.Job
}

func (q *fakeQueue) enqueue(_ context.Context, jobs []vault.Job) ([]int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return nil, q.fail
	}
	ids := make([]int64, 0, len(jobs))
	for _, j := range jobs {
		key := j.Tenant + "\x00" + j.Kind + "\x00" + string(j.Args)
		if id, ok := q.unique[key]; ok && j.Unique {
			ids = append(ids, id)
			continue
		}
		q.last++
		if j.Unique {
			if q.unique == nil {
				q.unique = map[string]int64{}
			}
			q.unique[key] = q.last
		}
		q.jobs = append(q.jobs, j)
		ids = append(ids, q.last)
	}
	if q.short {
		ids = ids[:len(ids)-1]
	}
	return ids, nil
}

func (q *fakeQueue) set(fail error, short bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.fail, q.short = fail, short
}

// entry is an audit entry of tenant with the given action and target, at
// base plus minutes.
func entry(tenant, user, action, target string, minutes int) vault.AuditEntry {
	return vault.AuditEntry{
		Tenant: tenant, User: user, Role: "admin", IP: "192.0.2.7", Action: action, Target: target,
		Time: base.Add(time.Duration(minutes) * time.Minute), Details: audit.Details("n", minutes), Outcome: vault.OutcomeOK,
	}
}

func commit(t *testing.T, s vault.Store, entries ...vault.AuditEntry) {
	t.Helper()
	if err := s.Commit(t.Context(), vault.Effects{Audit: entries}); err != nil {
		t.Fatalf("Commit of %d entries: %v", len(entries), err)
	}
}

func scanAll(t *testing.T, s vault.Store, tenant string) []vault.AuditEntry {
	t.Helper()
	var out []vault.AuditEntry
	if err := s.ScanAudit(t.Context(), tenant, func(e vault.AuditEntry) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatalf("ScanAudit(%q): %v", tenant, err)
	}
	return out
}

func auditHead(t *testing.T, s vault.Store, tenant string) vault.AuditHead {
	t.Helper()
	head, err := s.AuditHead(t.Context(), tenant)
	if err != nil {
		t.Fatalf("AuditHead(%q): %v", tenant, err)
	}
	return head
}

// verifyChain walks tenant's stored chain from its anchor to its head as
// `callvault audit verify` does and returns how many entries it checked.
func verifyChain(t *testing.T, s vault.Store, tenant string) int64 {
	t.Helper()
	head := auditHead(t, s, tenant)
	v := audit.NewVerifier(tenant, audit.Anchor{Seq: head.PrunedSeq, Hash: head.PrunedHash})
	err := s.ScanAudit(t.Context(), tenant, func(e vault.AuditEntry) error { return v.Check(&e) })
	if err == nil {
		err = v.End(audit.Anchor{Seq: head.Seq, Hash: head.Hash})
	}
	if err != nil {
		t.Errorf("the audit chain of %q does not verify: %v", tenant, err)
	}
	return v.Verified
}

func auditSeqs(entries []vault.AuditEntry) []int64 {
	out := []int64{}
	for _, e := range entries {
		out = append(out, e.Seq)
	}
	return out
}

func testAuditChain(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme", "globex")
	if err := s.Commit(ctx, vault.Effects{}); err != nil {
		t.Fatalf("Commit of nothing: %v", err)
	}
	if head := auditHead(t, s, "acme"); head != (vault.AuditHead{}) {
		t.Errorf("AuditHead before any entry = %+v, want zero", head)
	}
	if got := scanAll(t, s, "acme"); len(got) != 0 {
		t.Errorf("ScanAudit before any entry = %+v", got)
	}

	first := vault.AuditEntry{
		Tenant: "acme", User: "alice", Role: "admin", IP: "2001:db8::1", Action: "login", Target: "alice",
		Time:    base.Add(123456789 * time.Nanosecond).In(time.FixedZone("CET", 3600)),
		Details: audit.Details("method", "password", "quote", `"\`), Outcome: vault.OutcomeOK,
	}
	commit(t, s, first)
	commit(t, s, entry("acme", "bob", "search", "", 1), entry("acme", "bob", "media.play", "r1", 2))
	commit(t, s, entry("globex", "carol", "login", "carol", 3))
	before := time.Now().Add(-time.Second)
	commit(t, s, vault.AuditEntry{Tenant: "acme", Action: "retention.sweep", Outcome: vault.OutcomeOK}) // no time, no details
	after := time.Now().Add(time.Second)
	// One Effects over two chains, interleaved.
	commit(t, s, entry("globex", "carol", "search", "", 4), entry("acme", "dave", "media.fetch", "r2", 5), entry("globex", "carol", "media.play", "r9", 6))

	entries := scanAll(t, s, "acme")
	if got, want := auditSeqs(entries), []int64{1, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Fatalf("acme seqs = %v, want %v", got, want)
	}
	for i, e := range entries {
		want := ""
		if i > 0 {
			want = entries[i-1].Hash
		}
		if e.PrevHash != want {
			t.Errorf("acme %d: PrevHash = %q, want %q", e.Seq, e.PrevHash, want)
		}
		if got := audit.Hash(&e); e.Hash != got || len(e.Hash) != 64 {
			t.Errorf("acme %d: Hash = %q, want audit.Hash = %q", e.Seq, e.Hash, got)
		}
		if e.Tenant != "acme" {
			t.Errorf("acme %d: Tenant = %q", e.Seq, e.Tenant)
		}
	}
	got := entries[0]
	if got.User != first.User || got.Role != first.Role || got.IP != first.IP || got.Action != first.Action ||
		got.Target != first.Target || got.Outcome != first.Outcome || string(got.Details) != string(first.Details) {
		t.Errorf("first entry = %+v\nwant          %+v", got, first)
	}
	checkTime(t, "first entry Time", got.Time, first.Time.UTC())
	if actions := []string{entries[1].Action, entries[2].Action, entries[4].Action}; !slices.Equal(actions, []string{"search", "media.play", "media.fetch"}) {
		t.Errorf("entries 2, 3, 5 are %q, want them in the order given", actions)
	}
	stamped := entries[3]
	if stamped.Time.Before(before) || stamped.Time.After(after) || !stamped.Time.Equal(ms(stamped.Time)) || stamped.Time.Location() != time.UTC {
		t.Errorf("entry without a time: Time = %v, want now, in UTC, in milliseconds", stamped.Time)
	}
	if string(stamped.Details) != "{}" {
		t.Errorf("entry without details: Details = %q, want {}", stamped.Details)
	}
	if head, last := auditHead(t, s, "acme"), entries[len(entries)-1]; head != (vault.AuditHead{Seq: last.Seq, Hash: last.Hash}) {
		t.Errorf("AuditHead(acme) = %+v, want seq %d hash %s", head, last.Seq, last.Hash)
	}

	// Each tenant has a chain of its own.
	globex := scanAll(t, s, "globex")
	if got, want := auditSeqs(globex), []int64{1, 2, 3}; !slices.Equal(got, want) {
		t.Fatalf("globex seqs = %v, want %v", got, want)
	}
	if globex[0].PrevHash != "" || globex[0].Target != "carol" || globex[2].Target != "r9" {
		t.Errorf("globex chain = %+v", globex)
	}
	if n := verifyChain(t, s, "acme"); n != 5 {
		t.Errorf("verified %d acme entries, want 5", n)
	}
	if n := verifyChain(t, s, "globex"); n != 3 {
		t.Errorf("verified %d globex entries, want 3", n)
	}

	// The trail outlives what it describes: no tenant needed.
	commit(t, s, entry("deleted-tenant", "", "tenant.delete", "deleted-tenant", 7))
	if head := auditHead(t, s, "deleted-tenant"); head.Seq != 1 {
		t.Errorf("AuditHead of a tenant that does not exist = %+v, want seq 1", head)
	}

	// Hostile bytes are audited, not lost.
	hostile := entry("acme", "bad\xff\x00name", "login", "x\x00y\xc3", 8)
	hostile.Outcome = vault.OutcomeDenied
	commit(t, s, hostile)
	if n := verifyChain(t, s, "acme"); n != 6 {
		t.Errorf("verified %d acme entries after a hostile one, want 6", n)
	}
	if got := scanAll(t, s, "acme"); len(got) != 6 || got[5].Outcome != vault.OutcomeDenied || !strings.HasPrefix(got[5].User, "bad") {
		t.Errorf("hostile entry reads back as %+v", got[len(got)-1])
	}
}

// testAuditConcurrent appends from 8 goroutines at once, each Effects to
// two tenants in either order: every chain must come out gap-free and
// valid, every entry in it once.
func testAuditConcurrent(t *testing.T, s vault.Store) {
	ctx := t.Context()
	const writers, commits = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range commits {
				target := fmt.Sprintf("w%d-%d", w, i)
				fx := vault.Effects{Audit: []vault.AuditEntry{
					entry("acme", "u", "media.play", target, i), entry("globex", "u", "media.play", target, i),
				}}
				if w%2 == 1 {
					slices.Reverse(fx.Audit)
				}
				if i%5 == 0 {
					fx = fx.Add(entry("acme", "u", "search", target, i))
				}
				if err := s.Commit(ctx, fx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Commit: %v", err)
	}
	for tenant, want := range map[string]int64{"acme": writers * (commits + commits/5), "globex": writers * commits} {
		if n := verifyChain(t, s, tenant); n != want {
			t.Errorf("%s: verified %d entries, want %d", tenant, n, want)
		}
		seen := map[string]int{}
		for _, e := range scanAll(t, s, tenant) {
			seen[e.Action+" "+e.Target]++
		}
		for w := range writers {
			for i := range commits {
				if key := fmt.Sprintf("media.play w%d-%d", w, i); seen[key] != 1 {
					t.Errorf("%s: %q appears %d times, want once", tenant, key, seen[key])
				}
			}
		}
	}
}

func testAuditFilters(t *testing.T, s vault.Store) {
	ctx := t.Context()
	commit(t, s,
		entry("acme", "alice", "login", "alice", 0),              // 1
		entry("acme", "alice", "media.play", "r1", 1),            // 2
		entry("acme", "bob", "media.fetch", "r1", 2),             // 3
		entry("acme", "bob", "media.play", "r2", 3),              // 4
		entry("acme", "alice", "recording.delete", "r2", 4),      // 5
		entry("acme", "carol", "mediax", "r1", 5),                // 6
		entry("acme", "alice", "media", "r3", 6),                 // 7
		entry("acme", "bob", "search", "", 7),                    // 8
		entry("globex", "alice", "media.play", "r1", 1),          // not acme's
		entry("acme", "alice", "media.play.extra", "r1", 8),      // 9
		entry("acme", "bob", "media/", "r1", 9),                  // 10: just past the prefix range
		entry("acme", "Alice", "MEDIA.PLAY", "R1", 10),           // 11: case matters
		entry("acme", "alice", "media.play", "r1 suffix", 11),    // 12
		entry("acme", "alice%", "media.%", "r_", 12),             // 13: no LIKE
		entry("acme", "alice", "certificate.delete", "cv_1", 13), // 14
	)
	for _, c := range []struct {
		name string
		f    vault.AuditFilter
		want []int64
	}{
		{"all", vault.AuditFilter{}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}},
		{"from (inclusive)", vault.AuditFilter{From: base.Add(12 * time.Minute)}, []int64{13, 14}},
		{"to (exclusive)", vault.AuditFilter{To: base.Add(2 * time.Minute)}, []int64{1, 2}},
		{"from to", vault.AuditFilter{From: base.Add(time.Minute), To: base.Add(3 * time.Minute)}, []int64{2, 3}},
		{"from to within a millisecond", vault.AuditFilter{From: base.Add(3 * time.Minute), To: base.Add(3*time.Minute + time.Millisecond)}, []int64{4}},
		{"user", vault.AuditFilter{User: "alice"}, []int64{1, 2, 5, 7, 9, 12, 14}},
		{"action exact", vault.AuditFilter{Action: "media.play"}, []int64{2, 4, 12}},
		{"action prefix", vault.AuditFilter{Action: "media."}, []int64{2, 3, 4, 9, 12, 13}},
		{"action without dot is exact", vault.AuditFilter{Action: "media"}, []int64{7}},
		{"action % is literal", vault.AuditFilter{Action: "media.%"}, []int64{13}},
		{"target", vault.AuditFilter{Target: "r1"}, []int64{2, 3, 6, 9, 10}},
		{"target _ is literal", vault.AuditFilter{Target: "r_"}, []int64{13}},
		{"user and action prefix", vault.AuditFilter{User: "bob", Action: "media."}, []int64{3, 4}},
		{"all conditions", vault.AuditFilter{From: base.Add(time.Minute), To: base.Add(9 * time.Minute), User: "alice", Action: "media.", Target: "r1"}, []int64{2, 9}},
		{"after seq", vault.AuditFilter{AfterSeq: 11}, []int64{12, 13, 14}},
		{"limit", vault.AuditFilter{Limit: 2}, []int64{1, 2}},
		{"after seq and limit", vault.AuditFilter{AfterSeq: 2, Limit: 2}, []int64{3, 4}},
		{"page of a filter", vault.AuditFilter{Action: "media.", AfterSeq: 3, Limit: 2}, []int64{4, 9}},
		{"nobody", vault.AuditFilter{User: "nobody"}, []int64{}},
	} {
		got, err := s.Audit(ctx, "acme", c.f)
		if err != nil {
			t.Fatalf("Audit %s: %v", c.name, err)
		}
		if seqs := auditSeqs(got); !slices.Equal(seqs, c.want) {
			t.Errorf("Audit %s (%+v) = %v, want %v", c.name, c.f, seqs, c.want)
		}
		for _, e := range got {
			if e.Tenant != "acme" || audit.Hash(&e) != e.Hash {
				t.Errorf("Audit %s: entry %+v is not acme's as stored", c.name, e)
			}
		}
	}
	if got, err := s.Audit(ctx, "globex", vault.AuditFilter{User: "alice"}); err != nil || len(got) != 1 || got[0].Seq != 1 {
		t.Errorf("Audit(globex) = %+v, %v; want its one entry", got, err)
	}
	if got, err := s.Audit(ctx, "initech", vault.AuditFilter{}); err != nil || len(got) != 0 {
		t.Errorf("Audit of a tenant without entries = %+v, %v", got, err)
	}
}

func testScanAudit(t *testing.T, s vault.Store) {
	ctx := t.Context()
	// More than one read batch of either store.
	const n = 10050
	for start := 0; start < n; start += 2010 {
		var fx vault.Effects
		for i := start; i < min(start+2010, n); i++ {
			fx = fx.Add(entry("acme", "u", "media.play", fmt.Sprint(i), i%600))
		}
		if err := s.Commit(ctx, fx); err != nil {
			t.Fatal(err)
		}
	}
	commit(t, s, entry("globex", "u", "login", "u", 0))
	entries := scanAll(t, s, "acme")
	if len(entries) != n {
		t.Fatalf("ScanAudit = %d entries, want %d", len(entries), n)
	}
	for i, e := range entries {
		if e.Seq != int64(i+1) || e.Target != fmt.Sprint(i) || e.Tenant != "acme" {
			t.Fatalf("entry %d = seq %d target %q tenant %q, want seq %d target %d", i, e.Seq, e.Target, e.Tenant, i+1, i)
		}
	}
	if got := verifyChain(t, s, "acme"); got != n {
		t.Errorf("verified %d entries, want %d", got, n)
	}

	// fn's error stops the scan and comes back as it is.
	errStop := errors.New("stop")
	calls := 0
	err := s.ScanAudit(ctx, "acme", func(vault.AuditEntry) error {
		if calls++; calls == 3 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) || calls != 3 {
		t.Errorf("ScanAudit with fn failing at the 3rd entry: %d calls, err %v", calls, err)
	}
	if got := scanAll(t, s, "initech"); len(got) != 0 {
		t.Errorf("ScanAudit of a tenant without entries = %d entries", len(got))
	}
}

func testDeleteAuditBefore(t *testing.T, s vault.Store) {
	ctx := t.Context()
	for i := range 6 {
		commit(t, s, entry("acme", "u", "search", fmt.Sprint(i+1), i*60)) // seq i+1 at base + i hours
	}
	commit(t, s, entry("globex", "u", "search", "g", 0))
	stored := scanAll(t, s, "acme")

	if n, err := s.DeleteAuditBefore(ctx, "acme", base); err != nil || n != 0 {
		t.Errorf("DeleteAuditBefore(the first entry's time) = %d, %v; want nothing deleted", n, err)
	}
	n, err := s.DeleteAuditBefore(ctx, "acme", base.Add(2*time.Hour+time.Millisecond))
	if err != nil || n != 3 {
		t.Fatalf("DeleteAuditBefore(just after entry 3) = %d, %v; want 3", n, err)
	}
	head := auditHead(t, s, "acme")
	if want := (vault.AuditHead{Seq: 6, Hash: stored[5].Hash, PrunedSeq: 3, PrunedHash: stored[2].Hash}); head != want {
		t.Errorf("AuditHead after pruning = %+v, want %+v", head, want)
	}
	if got := auditSeqs(scanAll(t, s, "acme")); !slices.Equal(got, []int64{4, 5, 6}) {
		t.Errorf("after pruning ScanAudit = %v, want [4 5 6]", got)
	}
	if got, _ := s.Audit(ctx, "acme", vault.AuditFilter{}); !slices.Equal(auditSeqs(got), []int64{4, 5, 6}) {
		t.Errorf("after pruning Audit = %v, want [4 5 6]", auditSeqs(got))
	}
	if got := verifyChain(t, s, "acme"); got != 3 {
		t.Errorf("verified %d entries from the anchor, want 3", got)
	}
	// Without the anchor the pruned chain does not verify.
	v := audit.NewVerifier("acme", audit.Anchor{})
	if err := s.ScanAudit(ctx, "acme", func(e vault.AuditEntry) error { return v.Check(&e) }); err == nil {
		t.Error("a pruned chain verified from seq 1")
	}
	if n, err := s.DeleteAuditBefore(ctx, "acme", base.Add(2*time.Hour+time.Millisecond)); err != nil || n != 0 {
		t.Errorf("DeleteAuditBefore again = %d, %v; want 0", n, err)
	}
	if got := auditHead(t, s, "acme"); got != head {
		t.Errorf("AuditHead after a prune that deleted nothing = %+v, want %+v", got, head)
	}

	// Everything is old: the newest entry stays, the chain goes on from it.
	if n, err := s.DeleteAuditBefore(ctx, "acme", base.AddDate(1, 0, 0)); err != nil || n != 2 {
		t.Fatalf("DeleteAuditBefore(everything) = %d, %v; want 2 (the newest kept)", n, err)
	}
	if got := scanAll(t, s, "acme"); len(got) != 1 || got[0].Seq != 6 {
		t.Errorf("after pruning everything ScanAudit = %v, want [6]", auditSeqs(got))
	}
	head = auditHead(t, s, "acme")
	if head.PrunedSeq != 5 || head.PrunedHash != stored[4].Hash || head.Seq != 6 {
		t.Errorf("AuditHead after pruning everything = %+v", head)
	}
	commit(t, s, entry("acme", "u", "search", "7", 0))
	if got := scanAll(t, s, "acme"); len(got) != 2 || got[1].Seq != 7 || got[1].PrevHash != stored[5].Hash {
		t.Errorf("entry appended after pruning = %+v, want seq 7 after the kept one", got)
	}
	if got := verifyChain(t, s, "acme"); got != 2 {
		t.Errorf("verified %d entries, want 2", got)
	}

	if got := scanAll(t, s, "globex"); len(got) != 1 {
		t.Errorf("acme's prune changed globex: %d entries", len(got))
	}
	if n, err := s.DeleteAuditBefore(ctx, "initech", base.AddDate(1, 0, 0)); err != nil || n != 0 {
		t.Errorf("DeleteAuditBefore of a tenant without entries = %d, %v", n, err)
	}
}

func checkHeld(t *testing.T, what string, err error, holds ...string) {
	t.Helper()
	if !errors.Is(err, vault.ErrHeld) {
		t.Errorf("%s: err = %v, want ErrHeld", what, err)
		return
	}
	for _, name := range holds {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %q does not name hold %q", what, err, name)
		}
	}
}

func testLegalHolds(t *testing.T, fresh func(t *testing.T) (vault.Store, *fakeQueue)) {
	s, q := fresh(t)
	ctx := t.Context()
	mustTenants(t, s, "acme", "globex")
	for _, r := range []vault.Recording{{Tenant: "acme", ID: "r1"}, {Tenant: "acme", ID: "r2"}, {Tenant: "acme", ID: "R0"}, {Tenant: "globex", ID: "r1"}} {
		put(t, s, r)
	}
	h1 := vault.LegalHold{Tenant: "acme", ID: "h1", Name: "Case 1", Reason: "litigation", RecordingIDs: []string{"r2", "r1", "R0", "r1"},
		CreatedBy: "alice", CreatedAt: base}
	h2 := vault.LegalHold{Tenant: "acme", ID: "h2", Name: "Case 2", Filter: &vault.SearchFilter{Partition: "/legal", Caller: "+1905*", StartFrom: base},
		FilterQuery: "partition=%2Flegal&callerPhoneNumber=%2B1905*", CreatedBy: "bob", CreatedAt: base.Add(time.Hour)}
	if err := s.CreateLegalHold(ctx, h1, vault.Effects{}.Add(entry("acme", "alice", "legalhold.create", "h1", 0))); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateLegalHold(ctx, h2, vault.Effects{}); err != nil {
		t.Fatal(err)
	}
	checkConflict(t, "CreateLegalHold of a taken id", s.CreateLegalHold(ctx, vault.LegalHold{Tenant: "acme", ID: "h1", Name: "again"}, vault.Effects{}))
	checkNotFound(t, "CreateLegalHold naming a missing recording",
		s.CreateLegalHold(ctx, vault.LegalHold{Tenant: "acme", ID: "h3", Name: "Case 3", RecordingIDs: []string{"r1", "missing"}}, vault.Effects{}))
	checkNotFound(t, "CreateLegalHold naming another tenant's recording",
		s.CreateLegalHold(ctx, vault.LegalHold{Tenant: "globex", ID: "h3", Name: "Case 3", RecordingIDs: []string{"r2"}}, vault.Effects{}))
	checkNotFound(t, "CreateLegalHold in a missing tenant", s.CreateLegalHold(ctx, vault.LegalHold{Tenant: "missing", ID: "h3", Name: "x"}, vault.Effects{}))
	_, err := s.LegalHold(ctx, "acme", "h3")
	checkNotFound(t, "LegalHold refused", err)
	// Effects fail: the hold is not made.
	q.set(errors.New("queue down"), false)
	if err := s.CreateLegalHold(ctx, vault.LegalHold{Tenant: "acme", ID: "h4", Name: "Case 4"},
		vault.Effects{Jobs: []vault.Job{{Tenant: "acme", Kind: "k"}}}.Add(entry("acme", "alice", "legalhold.create", "h4", 0))); err == nil {
		t.Error("CreateLegalHold with a failing queue succeeded")
	}
	q.set(nil, false)
	_, err = s.LegalHold(ctx, "acme", "h4")
	checkNotFound(t, "LegalHold whose effects failed", err)

	checkHold := func(got, want vault.LegalHold, ids []string) {
		t.Helper()
		if got.Tenant != want.Tenant || got.ID != want.ID || got.Name != want.Name || got.Reason != want.Reason ||
			got.FilterQuery != want.FilterQuery || got.CreatedBy != want.CreatedBy || !slices.Equal(got.RecordingIDs, ids) {
			t.Errorf("hold = %+v\nwant   %+v with ids %q", got, want, ids)
		}
		checkTime(t, want.ID+" CreatedAt", got.CreatedAt, want.CreatedAt)
		switch {
		case (got.Filter == nil) != (want.Filter == nil):
			t.Errorf("%s Filter = %+v, want %+v", want.ID, got.Filter, want.Filter)
		case got.Filter != nil:
			if got.Filter.Partition != want.Filter.Partition || got.Filter.Caller != want.Filter.Caller || !got.Filter.StartFrom.Equal(want.Filter.StartFrom) {
				t.Errorf("%s Filter = %+v, want %+v", want.ID, got.Filter, want.Filter)
			}
		}
	}
	holds, err := s.LegalHolds(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(holds) != 2 {
		t.Fatalf("LegalHolds = %+v, want h2, h1", holds)
	}
	checkHold(holds[0], h2, nil)
	checkHold(holds[1], h1, []string{"R0", "r1", "r2"})
	for _, h := range holds {
		if !h.Active() || h.ReleasedBy != "" {
			t.Errorf("new hold %s: Active %v, ReleasedBy %q", h.ID, h.Active(), h.ReleasedBy)
		}
	}
	got, err := s.LegalHold(ctx, "acme", "h1")
	if err != nil {
		t.Fatal(err)
	}
	checkHold(got, h1, []string{"R0", "r1", "r2"})
	_, err = s.LegalHold(ctx, "globex", "h1")
	checkNotFound(t, "LegalHold of another tenant", err)
	_, err = s.LegalHold(ctx, "acme", "nope")
	checkNotFound(t, "LegalHold missing", err)
	if holds, err := s.LegalHolds(ctx, "globex"); err != nil || len(holds) != 0 {
		t.Errorf("LegalHolds(globex) = %+v, %v; want none", holds, err)
	}
	if fh, err := s.FilterHolds(ctx, "acme"); err != nil || len(fh) != 1 || fh[0].ID != "h2" || fh[0].Filter == nil {
		t.Errorf("FilterHolds = %+v, %v; want h2 with its filter", fh, err)
	}
	if n, err := s.NamedCount(ctx, "acme", "h1"); err != nil || n != 3 {
		t.Errorf("NamedCount(h1) = %d, %v; want 3", n, err)
	}
	if n, err := s.NamedCount(ctx, "globex", "h1"); err != nil || n != 0 {
		t.Errorf("NamedCount of another tenant's hold = %d, %v; want 0", n, err)
	}

	held, err := s.HeldByID(ctx, "acme", []string{"r1", "r2", "r3", "R0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 3 || !slices.Equal(held["r1"], []string{"Case 1"}) || !slices.Equal(held["r2"], []string{"Case 1"}) || !slices.Equal(held["R0"], []string{"Case 1"}) {
		t.Errorf("HeldByID = %v, want r1, r2 and R0 by Case 1 (a hold by filter is not by id)", held)
	}
	if held, err := s.HeldByID(ctx, "globex", []string{"r1"}); err != nil || len(held) != 0 {
		t.Errorf("HeldByID(globex) = %v, %v; want none", held, err)
	}
	if held, err := s.HeldByID(ctx, "acme", nil); err != nil || len(held) != 0 {
		t.Errorf("HeldByID(no ids) = %v, %v", held, err)
	}
	// A second hold on r1, without a creation time.
	before := time.Now().Add(-time.Second)
	if err := s.CreateLegalHold(ctx, vault.LegalHold{Tenant: "acme", ID: "h0", Name: "Case 0", RecordingIDs: []string{"r1"}}, vault.Effects{}); err != nil {
		t.Fatal(err)
	}
	if held, _ := s.HeldByID(ctx, "acme", []string{"r1"}); !slices.Equal(held["r1"], []string{"Case 0", "Case 1"}) {
		t.Errorf("HeldByID(r1) = %v, want Case 0 and Case 1 by name", held)
	}
	if h0, err := s.LegalHold(ctx, "acme", "h0"); err != nil || h0.CreatedAt.Before(before) {
		t.Errorf("hold without CreatedAt = %+v, %v; want it stamped now", h0, err)
	}

	headBefore := auditHead(t, s, "acme")
	if err := s.ReleaseLegalHold(ctx, "acme", "h1", "carol", base.Add(2*time.Hour), vault.Effects{}.Add(entry("acme", "carol", "legalhold.release", "h1", 120))); err != nil {
		t.Fatal(err)
	}
	if head := auditHead(t, s, "acme"); head.Seq != headBefore.Seq+1 {
		t.Errorf("ReleaseLegalHold's audit entry: head %d, want %d", head.Seq, headBefore.Seq+1)
	}
	checkNotFound(t, "ReleaseLegalHold twice", s.ReleaseLegalHold(ctx, "acme", "h1", "carol", base.Add(3*time.Hour), vault.Effects{}))
	checkNotFound(t, "ReleaseLegalHold of another tenant", s.ReleaseLegalHold(ctx, "globex", "h2", "carol", base, vault.Effects{}))
	checkNotFound(t, "ReleaseLegalHold missing", s.ReleaseLegalHold(ctx, "acme", "nope", "carol", base, vault.Effects{}))
	if head := auditHead(t, s, "acme"); head.Seq != headBefore.Seq+1 {
		t.Errorf("refused releases appended to the audit: head %d", head.Seq)
	}
	got, err = s.LegalHold(ctx, "acme", "h1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Active() || got.ReleasedBy != "carol" || got.ReleasedAt == nil {
		t.Fatalf("released hold = %+v", got)
	}
	checkTime(t, "ReleasedAt", *got.ReleasedAt, base.Add(2*time.Hour))
	checkHold(got, h1, []string{"R0", "r1", "r2"})
	if held, _ := s.HeldByID(ctx, "acme", []string{"r1", "r2"}); len(held) != 1 || !slices.Equal(held["r1"], []string{"Case 0"}) {
		t.Errorf("HeldByID after release = %v, want r1 by Case 0 only", held)
	}
	if holds, _ := s.LegalHolds(ctx, "acme"); len(holds) != 3 {
		t.Errorf("LegalHolds after release = %d holds, want the released one listed too", len(holds))
	}
	// A zero release time is now, not "still active".
	if err := s.ReleaseLegalHold(ctx, "acme", "h0", "carol", time.Time{}, vault.Effects{}); err != nil {
		t.Fatal(err)
	}
	if h0, _ := s.LegalHold(ctx, "acme", "h0"); h0.Active() || h0.ReleasedAt.Before(before) {
		t.Errorf("hold released at a zero time = %+v, want released now", h0)
	}
	checkNotFound(t, "ReleaseLegalHold(zero time) twice", s.ReleaseLegalHold(ctx, "acme", "h0", "carol", time.Time{}, vault.Effects{}))
}

func testDeleteHeld(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme", "globex")
	for _, r := range []vault.Recording{
		{Tenant: "acme", ID: "by-id"},
		{Tenant: "acme", ID: "by-filter", Partitions: []string{"/legal"}, CallerPhoneNumber: "+19055550100"},
		{Tenant: "acme", ID: "other-caller", Partitions: []string{"/legal"}, CallerPhoneNumber: "+14165550100"},
		{Tenant: "acme", ID: "other-partition", Partitions: []string{"/sales"}, CallerPhoneNumber: "+19055550100"},
		{Tenant: "acme", ID: "both", Partitions: []string{"/legal"}, CallerPhoneNumber: "+19055550199"},
		{Tenant: "globex", ID: "by-id"},
	} {
		put(t, s, r)
	}
	mustHold := func(h vault.LegalHold) {
		t.Helper()
		if err := s.CreateLegalHold(ctx, h, vault.Effects{}); err != nil {
			t.Fatalf("CreateLegalHold(%s): %v", h.ID, err)
		}
	}
	mustHold(vault.LegalHold{Tenant: "acme", ID: "h1", Name: "Case One", RecordingIDs: []string{"by-id", "both"}})
	mustHold(vault.LegalHold{Tenant: "acme", ID: "h2", Name: "Case Two", Filter: &vault.SearchFilter{Partition: "/legal", Caller: "+1905*"}})

	_, err := s.DeleteRecording(ctx, "acme", "by-id")
	checkHeld(t, "DeleteRecording held by id", err, "Case One")
	head := auditHead(t, s, "acme")
	_, err = s.DeleteRecordingFx(ctx, "acme", "by-id", func([]vault.Media) vault.Effects {
		return vault.Effects{}.Add(entry("acme", "alice", "recording.delete", "by-id", 0))
	})
	checkHeld(t, "DeleteRecordingFx held by id", err, "Case One")
	if got := auditHead(t, s, "acme"); got != head {
		t.Errorf("a refused delete appended to the audit: head %+v, was %+v", got, head)
	}
	_, err = s.DeleteRecording(ctx, "acme", "by-filter")
	checkHeld(t, "DeleteRecording held by filter", err, "Case Two")
	_, err = s.DeleteRecording(ctx, "acme", "both")
	checkHeld(t, "DeleteRecording held twice", err, "Case One", "Case Two")
	// A recording that arrives after the hold is held too.
	put(t, s, vault.Recording{Tenant: "acme", ID: "later", Partitions: []string{"/legal"}, CallerPhoneNumber: "+1905"})
	_, err = s.DeleteRecording(ctx, "acme", "later")
	checkHeld(t, "DeleteRecording of a recording the filter holds since it arrived", err, "Case Two")
	for _, id := range []string{"by-id", "by-filter", "both", "later"} {
		if _, _, err := s.Recording(ctx, "acme", id, all); err != nil {
			t.Errorf("held recording %s after a refused delete: %v", id, err)
		}
	}
	// What no hold keeps goes.
	for _, id := range []string{"other-caller", "other-partition"} {
		if _, err := s.DeleteRecording(ctx, "acme", id); err != nil {
			t.Errorf("DeleteRecording(%s), held by nothing: %v", id, err)
		}
	}
	if _, err := s.DeleteRecording(ctx, "globex", "by-id"); err != nil {
		t.Errorf("DeleteRecording of another tenant's recording of a held id: %v", err)
	}

	if err := s.ReleaseLegalHold(ctx, "acme", "h1", "alice", base, vault.Effects{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteRecording(ctx, "acme", "by-id"); err != nil {
		t.Errorf("DeleteRecording after the hold's release: %v", err)
	}
	_, err = s.DeleteRecording(ctx, "acme", "both")
	checkHeld(t, "DeleteRecording after one of two holds is released", err, "Case Two")
	if err != nil && strings.Contains(err.Error(), "Case One") {
		t.Errorf("the refusal names the released hold: %v", err)
	}
	if err := s.ReleaseLegalHold(ctx, "acme", "h2", "alice", base, vault.Effects{}); err != nil {
		t.Fatal(err)
	}
	if fh, err := s.FilterHolds(ctx, "acme"); err != nil || len(fh) != 0 {
		t.Errorf("FilterHolds after every release = %+v, %v; want none", fh, err)
	}
	for _, id := range []string{"by-filter", "both", "later"} {
		if _, err := s.DeleteRecording(ctx, "acme", id); err != nil {
			t.Errorf("DeleteRecording(%s) after every release: %v", id, err)
		}
	}
}

func testDeleteEffects(t *testing.T, fresh func(t *testing.T) (vault.Store, *fakeQueue)) {
	s, q := fresh(t)
	ctx := t.Context()
	mustTenants(t, s, "acme")
	put(t, s, vault.Recording{Tenant: "acme", ID: "r1"})
	put(t, s, vault.Recording{Tenant: "acme", ID: "r2"})
	m2 := vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m2", BlobKey: "acme/r1/m2", SHA256: "22"}
	m1 := vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m1", BlobKey: "acme/r1/m1", SHA256: "11"}
	putMedia(t, s, m2)
	putMedia(t, s, m1)
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "r2", MediaID: "m1", BlobKey: "acme/r2/m1"})

	fx := func(id string, got *[]vault.Media) func([]vault.Media) vault.Effects {
		return func(media []vault.Media) vault.Effects {
			*got = media
			var keys []string
			for _, m := range media {
				keys = append(keys, m.BlobKey)
			}
			return vault.Effects{
				Audit: []vault.AuditEntry{{Tenant: "acme", User: "alice", Action: "recording.delete", Target: id,
					Details: audit.Details("media", len(media)), Outcome: vault.OutcomeOK}},
				Jobs: []vault.Job{{Tenant: "acme", Kind: "blob.delete", Args: audit.Details("keys", keys), CreatedBy: "alice"}},
			}
		}
	}
	var given []vault.Media
	removed, err := s.DeleteRecordingFx(ctx, "acme", "r1", fx("r1", &given))
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 || len(given) != 2 {
		t.Fatalf("DeleteRecordingFx removed %+v, gave fx %+v; want m1, m2", removed, given)
	}
	for i, want := range []vault.Media{m1, m2} {
		checkMedia(t, removed[i], want)
		checkMedia(t, given[i], want)
	}
	entries := scanAll(t, s, "acme")
	if len(entries) != 1 || entries[0].Action != "recording.delete" || entries[0].Target != "r1" || string(entries[0].Details) != `{"media":2}` {
		t.Errorf("audit after DeleteRecordingFx = %+v", entries)
	}
	jobs, err := s.JobInfos(ctx, "acme", 0, 10)
	if err != nil || len(jobs) != 1 || jobs[0].Kind != "blob.delete" {
		t.Errorf("JobInfos after DeleteRecordingFx = %+v, %v; want its blob.delete job", jobs, err)
	}
	if len(q.jobs) != 1 || string(q.jobs[0].Args) != `{"keys":["acme/r1/m1","acme/r1/m2"]}` {
		t.Errorf("queued %+v", q.jobs)
	}

	// Effects that fail undo the delete.
	q.set(errors.New("queue down"), false)
	if _, err := s.DeleteRecordingFx(ctx, "acme", "r2", fx("r2", &given)); err == nil {
		t.Fatal("DeleteRecordingFx with a failing queue succeeded")
	}
	q.set(nil, true)
	if _, err := s.DeleteRecordingFx(ctx, "acme", "r2", fx("r2", &given)); err == nil {
		t.Fatal("DeleteRecordingFx with a queue that lost a job succeeded")
	}
	q.set(nil, false)
	if _, media, err := s.Recording(ctx, "acme", "r2", all); err != nil || len(media) != 1 {
		t.Errorf("r2 after deletes whose effects failed = %+v, %v; want it and its media kept", media, err)
	}
	if got := scanAll(t, s, "acme"); len(got) != 1 {
		t.Errorf("deletes whose effects failed appended to the audit: %+v", got)
	}
	if jobs, _ := s.JobInfos(ctx, "acme", 0, 10); len(jobs) != 1 {
		t.Errorf("deletes whose effects failed recorded jobs: %+v", jobs)
	}
	_, err = s.DeleteRecordingFx(ctx, "acme", "missing", fx("missing", &given))
	checkNotFound(t, "DeleteRecordingFx missing", err)
	if got := scanAll(t, s, "acme"); len(got) != 1 {
		t.Errorf("a delete of a missing recording appended to the audit: %+v", got)
	}
	if removed, err := s.DeleteRecordingFx(ctx, "acme", "r2", nil); err != nil || len(removed) != 1 {
		t.Errorf("DeleteRecordingFx without effects = %+v, %v", removed, err)
	}
}

func receipt(recording, media, sha, by string, at time.Time) vault.Receipt {
	return vault.Receipt{RecordingID: recording, MediaID: media, SHA256: sha, By: by, At: at}
}

func putReceipts(t *testing.T, s vault.Store, tenant string, receipts ...vault.Receipt) []string {
	t.Helper()
	refused, err := s.PutReceipts(t.Context(), tenant, receipts, vault.Effects{})
	if err != nil {
		t.Fatalf("PutReceipts: %v", err)
	}
	if len(refused) != len(receipts) {
		t.Fatalf("PutReceipts of %d receipts answered %d reasons", len(receipts), len(refused))
	}
	return refused
}

func backupStates(t *testing.T, s vault.Store, tenant string, ids ...string) map[string]vault.BackupState {
	t.Helper()
	states, err := s.BackupStates(t.Context(), tenant, ids)
	if err != nil {
		t.Fatalf("BackupStates: %v", err)
	}
	return states
}

func checkBackup(t *testing.T, what string, got vault.BackupState, backedUp bool, at time.Time, by string) {
	t.Helper()
	if got.BackedUp != backedUp || got.By != by {
		t.Errorf("%s: backup state %+v, want backed up %v by %q", what, got, backedUp, by)
	}
	checkTime(t, what+" At", got.At, at)
}

func testReceipts(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme", "globex")
	mustCertificates(t, s, "acme", "old", "new")
	put(t, s, vault.Recording{Tenant: "acme", ID: "no-media"})
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m1", SHA256: "a1", BlobKey: "k/r1/m1"})
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m2", SHA256: "a2", BlobKey: "k/r1/m2"})
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "r2", MediaID: "m1", SHA256: "b1", BlobKey: "k/r2/m1", Encrypted: true, CertAliases: []string{"old"}})
	putMedia(t, s, vault.Media{Tenant: "globex", RecordingID: "r1", MediaID: "m1", SHA256: "a1"})

	refused, err := s.PutReceipts(ctx, "acme", []vault.Receipt{
		receipt("r1", "m1", "a1", "rcbs-1", base),
		receipt("r1", "m2", "wrong", "rcbs-1", base),
		receipt("missing", "m1", "a1", "rcbs-1", base),
		receipt("r1", "m9", "a1", "rcbs-1", base),
		receipt("r1", "M1", "a1", "rcbs-1", base), // ids are exact
	}, vault.Effects{}.Add(entry("acme", "rcbs-1", "backup.receipts", "", 0)))
	if err != nil {
		t.Fatal(err)
	}
	if len(refused) != 5 || refused[0] != "" {
		t.Fatalf("PutReceipts = %q, want the first kept", refused)
	}
	for i, why := range refused[1:] {
		if why == "" {
			t.Errorf("receipt %d kept, want it refused with a reason", i+1)
		}
	}
	if refused[1] == refused[2] {
		t.Errorf("a wrong hash and a missing file are refused alike: %q", refused[1])
	}
	if got := scanAll(t, s, "acme"); len(got) != 1 || got[0].Action != "backup.receipts" {
		t.Errorf("PutReceipts' audit entry: %+v", got)
	}

	states := backupStates(t, s, "acme", "r1", "r2", "no-media", "missing")
	if len(states) != 2 {
		t.Errorf("BackupStates = %+v, want entries for r1 and r2 only (those with media)", states)
	}
	checkBackup(t, "r1 with one of two receipts", states["r1"], false, base, "rcbs-1")
	checkBackup(t, "r2 without receipts", states["r2"], false, time.Time{}, "")

	// The last file's receipt completes r1; the newest receipt dates it.
	if got := putReceipts(t, s, "acme", receipt("r1", "m2", "a2", "rcbs-2", base.Add(time.Hour))); got[0] != "" {
		t.Fatalf("receipt for r1/m2 refused: %q", got[0])
	}
	checkBackup(t, "r1 with every receipt", backupStates(t, s, "acme", "r1")["r1"], true, base.Add(time.Hour), "rcbs-2")
	// A receipt again replaces the file's earlier one; repeated in one
	// batch, the last counts.
	if got := putReceipts(t, s, "acme", receipt("r1", "m1", "a1", "rcbs-3", base.Add(2*time.Hour)), receipt("r1", "m1", "a1", "rcbs-4", base.Add(3*time.Hour))); got[0] != "" || got[1] != "" {
		t.Fatalf("repeated receipts refused: %q", got)
	}
	checkBackup(t, "r1 after a repeated receipt", backupStates(t, s, "acme", "r1")["r1"], true, base.Add(3*time.Hour), "rcbs-4")
	// A wrong hash later does not undo a kept receipt.
	putReceipts(t, s, "acme", receipt("r1", "m1", "bad", "rcbs-5", base.Add(4*time.Hour)))
	checkBackup(t, "r1 after a refused receipt", backupStates(t, s, "acme", "r1")["r1"], true, base.Add(3*time.Hour), "rcbs-4")

	// Tenants are apart.
	if got := putReceipts(t, s, "globex", receipt("r2", "m1", "b1", "x", base)); got[0] == "" {
		t.Error("globex kept a receipt for acme's file")
	}
	checkBackup(t, "globex r1", backupStates(t, s, "globex", "r1")["r1"], false, time.Time{}, "")

	// After a re-wrap a receipt for the file it replaced still counts,
	// and so does one for the new file; any other hash does not.
	if err := s.SwapMedia(ctx, "acme", vault.MediaSwap{RecordingID: "r2", MediaID: "m1", OldBlobKey: "k/r2/m1",
		NewBlobKey: "k/r2/m1.v2", NewSHA256: "b2", NewSize: 5, NewCertAliases: []string{"new"}}); err != nil {
		t.Fatal(err)
	}
	if got := putReceipts(t, s, "acme", receipt("r2", "m1", "b1", "rcbs-1", base)); got[0] != "" {
		t.Errorf("receipt for the file a re-wrap replaced refused: %q", got[0])
	}
	checkBackup(t, "r2 by a receipt of the replaced file", backupStates(t, s, "acme", "r2")["r2"], true, base, "rcbs-1")
	before := time.Now().Add(-time.Second)
	if got := putReceipts(t, s, "acme", receipt("r2", "m1", "b2", "rcbs-1", time.Time{}), receipt("r2", "m1", "b3", "rcbs-1", base)); got[0] != "" || got[1] == "" {
		t.Errorf("receipts for the new file and for neither = %q, want the first kept", got)
	}
	if st := backupStates(t, s, "acme", "r2")["r2"]; !st.BackedUp || st.At.Before(before) {
		t.Errorf("r2 after a receipt without a time = %+v, want it stamped now", st)
	}
	if got := putReceipts(t, s, "acme"); len(got) != 0 {
		t.Errorf("PutReceipts of nothing = %q", got)
	}
	if states := backupStates(t, s, "acme"); len(states) != 0 {
		t.Errorf("BackupStates of no ids = %+v", states)
	}
}

func testSweepCandidates(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme", "globex")
	cutoff := base
	for _, r := range []vault.Recording{
		{Tenant: "acme", ID: "a-backed-up", StopTime: cutoff.Add(-time.Hour), CreatedAt: cutoff.Add(-2 * time.Hour)},
		{Tenant: "acme", ID: "b-partial", StopTime: cutoff.Add(-2 * time.Hour), CreatedAt: cutoff.Add(-3 * time.Hour)},
		{Tenant: "acme", ID: "c-at-cutoff", StopTime: cutoff, CreatedAt: cutoff.Add(-time.Hour)},
		{Tenant: "acme", ID: "d-stopped-after", StopTime: cutoff.Add(time.Hour), CreatedAt: cutoff.Add(-48 * time.Hour)},
		{Tenant: "acme", ID: "e-no-stop-old", CreatedAt: cutoff.Add(-time.Hour)},
		{Tenant: "acme", ID: "f-no-stop-new", CreatedAt: cutoff.Add(time.Hour)},
		{Tenant: "acme", ID: "g-stop-wins", StopTime: cutoff.Add(-time.Millisecond), CreatedAt: cutoff.Add(time.Hour)},
		{Tenant: "acme", ID: "h-none", StopTime: cutoff.Add(-time.Hour), CreatedAt: cutoff.Add(-time.Hour)},
		{Tenant: "globex", ID: "a-backed-up", StopTime: cutoff.Add(-time.Hour)},
	} {
		put(t, s, r)
	}
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "a-backed-up", MediaID: "m1", SHA256: "1"})
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "b-partial", MediaID: "m1", SHA256: "2"})
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "b-partial", MediaID: "m2", SHA256: "3"})
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "g-stop-wins", MediaID: "m1", SHA256: "4"})
	putMedia(t, s, vault.Media{Tenant: "globex", RecordingID: "a-backed-up", MediaID: "m1", SHA256: "1"})
	if refused := putReceipts(t, s, "acme",
		receipt("a-backed-up", "m1", "1", "rcbs", base.Add(time.Minute)),
		receipt("b-partial", "m1", "2", "rcbs", base.Add(2*time.Minute))); refused[0] != "" || refused[1] != "" {
		t.Fatalf("receipts refused: %q", refused)
	}

	type want struct {
		id       string
		stop     time.Time
		backedUp bool
		at       time.Time
	}
	check := func(what string, got []vault.SweepCandidate, wants ...want) {
		t.Helper()
		var ids, wantIDs []string
		for _, c := range got {
			ids = append(ids, c.ID)
		}
		for _, w := range wants {
			wantIDs = append(wantIDs, w.id)
		}
		if !slices.Equal(ids, wantIDs) {
			t.Errorf("%s = %q, want %q", what, ids, wantIDs)
			return
		}
		for i, w := range wants {
			checkTime(t, what+" "+w.id+" StopTime", got[i].StopTime, w.stop)
			if got[i].Backup.BackedUp != w.backedUp {
				t.Errorf("%s %s: backed up %v, want %v", what, w.id, got[i].Backup.BackedUp, w.backedUp)
			}
			checkTime(t, what+" "+w.id+" backed up at", got[i].Backup.At, w.at)
			if len(got[i].HeldBy) != 0 {
				t.Errorf("%s %s: HeldBy %q, want it left to the sweeper", what, w.id, got[i].HeldBy)
			}
		}
	}
	wants := []want{
		{"a-backed-up", cutoff.Add(-time.Hour), true, base.Add(time.Minute)},
		{"b-partial", cutoff.Add(-2 * time.Hour), false, base.Add(2 * time.Minute)},
		{"e-no-stop-old", cutoff.Add(-time.Hour), true, time.Time{}},
		{"g-stop-wins", cutoff.Add(-time.Millisecond), false, time.Time{}},
		{"h-none", cutoff.Add(-time.Hour), true, time.Time{}},
	}
	all, err := s.SweepCandidates(ctx, "acme", cutoff, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	check("SweepCandidates", all, wants...)
	page, err := s.SweepCandidates(ctx, "acme", cutoff, "", 2)
	if err != nil {
		t.Fatal(err)
	}
	check("first page", page, wants[:2]...)
	page, err = s.SweepCandidates(ctx, "acme", cutoff, "b-partial", 2)
	if err != nil {
		t.Fatal(err)
	}
	check("second page", page, wants[2:4]...)
	page, err = s.SweepCandidates(ctx, "acme", cutoff, "g-stop-wins", 2)
	if err != nil {
		t.Fatal(err)
	}
	check("last page", page, wants[4:]...)
	if page, err := s.SweepCandidates(ctx, "acme", cutoff, "h-none", 2); err != nil || len(page) != 0 {
		t.Errorf("page after the last = %+v, %v", page, err)
	}
	if page, err := s.SweepCandidates(ctx, "acme", cutoff.Add(-3*time.Hour), "", 100); err != nil || len(page) != 0 {
		t.Errorf("SweepCandidates before everything = %+v, %v", page, err)
	}
	page, err = s.SweepCandidates(ctx, "globex", cutoff, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	check("globex", page, want{"a-backed-up", cutoff.Add(-time.Hour), false, time.Time{}})
}

func testRetentionSettings(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme", "globex")
	if rs, err := s.RetentionSettings(ctx, "acme"); err != nil || rs != (vault.RetentionSettings{}) {
		t.Errorf("RetentionSettings of a new tenant = %+v, %v; want zero", rs, err)
	}
	want := vault.RetentionSettings{RetentionDays: 30, RequireBackup: true, MaxBackupWaitDays: 7, AuditRetentionDays: 365}
	if err := s.SetRetentionSettings(ctx, "acme", want, vault.Effects{}.Add(entry("acme", "alice", "settings.retention", "", 0))); err != nil {
		t.Fatal(err)
	}
	if rs, err := s.RetentionSettings(ctx, "acme"); err != nil || rs != want {
		t.Errorf("RetentionSettings = %+v, %v; want %+v", rs, err, want)
	}
	if tenant, err := s.Tenant(ctx, "acme"); err != nil || tenant.Retention != 30*24*time.Hour {
		t.Errorf("Tenant after SetRetentionSettings = %+v, %v; want 30 days' retention", tenant, err)
	}
	if got := scanAll(t, s, "acme"); len(got) != 1 || got[0].Action != "settings.retention" {
		t.Errorf("SetRetentionSettings' audit entry: %+v", got)
	}
	if rs, _ := s.RetentionSettings(ctx, "globex"); rs != (vault.RetentionSettings{}) {
		t.Errorf("acme's settings changed globex's: %+v", rs)
	}
	// A period set in part days shows rounded up; the rest stays.
	if err := s.SetRetention(ctx, "acme", 36*time.Hour); err != nil {
		t.Fatal(err)
	}
	want.RetentionDays = 2
	if rs, _ := s.RetentionSettings(ctx, "acme"); rs != want {
		t.Errorf("RetentionSettings after SetRetention(36h) = %+v, want %+v", rs, want)
	}
	if err := s.SetRetentionSettings(ctx, "acme", vault.RetentionSettings{}, vault.Effects{}); err != nil {
		t.Fatal(err)
	}
	if rs, _ := s.RetentionSettings(ctx, "acme"); rs != (vault.RetentionSettings{}) {
		t.Errorf("RetentionSettings after setting zero = %+v", rs)
	}
	checkNotFound(t, "SetRetentionSettings missing", s.SetRetentionSettings(ctx, "missing", want, vault.Effects{}.Add(entry("missing", "", "x", "", 0))))
	if head := auditHead(t, s, "missing"); head.Seq != 0 {
		t.Errorf("a refused SetRetentionSettings appended to the audit: %+v", head)
	}
	_, err := s.RetentionSettings(ctx, "missing")
	checkNotFound(t, "RetentionSettings missing", err)
}

func testCountRecordings(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme", "globex")
	for i := range 12 {
		r := vault.Recording{Tenant: "acme", ID: fmt.Sprintf("r%02d", i), StartTime: base.Add(time.Duration(i) * time.Hour),
			CallerPhoneNumber: []string{"+19055550100", "+14165550100", "100%_x"}[i%3], Agents: []string{fmt.Sprintf("Agent%d", i%2)},
			Partitions: []string{[]string{"/sales", "/support"}[i%2]}, MediaTypes: []string{"audio/mp3"}, Groups: []string{"/g"}}
		if i%4 == 0 {
			r.StopTime = r.StartTime.Add(time.Minute)
		}
		if i == 11 {
			r.StartTime = time.Time{} // not known yet
		}
		put(t, s, r)
	}
	put(t, s, vault.Recording{Tenant: "globex", ID: "g1", Partitions: []string{"/sales"}, CallerPhoneNumber: "+19055550100"})
	after := &vault.Cursor{StartTime: base.Add(5 * time.Hour), ID: "r05"}
	for _, c := range []struct {
		name string
		f    vault.SearchFilter
		want int64
	}{
		{"all", vault.SearchFilter{}, 12},
		{"limit and cursor ignored", vault.SearchFilter{Limit: 2, After: after}, 12},
		{"partition", vault.SearchFilter{Partition: "/sales"}, 6},
		{"caller pattern", vault.SearchFilter{Caller: "+1905*"}, 4},
		{"caller literal %", vault.SearchFilter{Caller: "100%_*"}, 4},
		{"caller exact", vault.SearchFilter{Caller: "+14165550100"}, 4},
		{"start range", vault.SearchFilter{StartFrom: base.Add(2 * time.Hour), StartTo: base.Add(6 * time.Hour)}, 4},
		{"stop range", vault.SearchFilter{StopFrom: base}, 3},
		{"agent", vault.SearchFilter{UserName: "Agent1"}, 6},
		{"media type", vault.SearchFilter{MediaType: "audio/mp3"}, 12},
		{"several", vault.SearchFilter{Partition: "/sales", Caller: "+1905*", Limit: 1}, 2},
		{"none", vault.SearchFilter{Partition: "/nowhere"}, 0},
	} {
		n, err := s.CountRecordings(ctx, "acme", c.f)
		if err != nil {
			t.Fatalf("CountRecordings %s: %v", c.name, err)
		}
		f := c.f
		f.Limit, f.After = 0, nil
		if found := int64(len(search(t, s, "acme", f, all))); n != c.want || n != found {
			t.Errorf("CountRecordings %s = %d, want %d (the search finds %d)", c.name, n, c.want, found)
		}
	}
	if n, err := s.CountRecordings(ctx, "globex", vault.SearchFilter{Partition: "/sales"}); err != nil || n != 1 {
		t.Errorf("CountRecordings(globex) = %d, %v; want 1", n, err)
	}
	if n, err := s.CountRecordings(ctx, "missing", vault.SearchFilter{}); err != nil || n != 0 {
		t.Errorf("CountRecordings(missing tenant) = %d, %v; want 0", n, err)
	}
}

func mediaKeys(media []vault.Media) []string {
	out := []string{}
	for _, m := range media {
		out = append(out, m.Tenant+"/"+m.RecordingID+"/"+m.MediaID)
	}
	return out
}

func testMediaForCertificate(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme", "globex")
	mustCertificates(t, s, "acme", "c1", "c2")
	mustCertificates(t, s, "globex", "c1")
	r1m1 := vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m1", Type: "audio/mp3", Encrypted: true, CertAliases: []string{"c1"},
		Size: 10, SHA256: "s", BlobKey: "k1", ContentSHA256: "c", CreatedAt: base}
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "r3", MediaID: "m1", Encrypted: true, CertAliases: []string{"c1"}})
	putMedia(t, s, r1m1)
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m2", Encrypted: true, CertAliases: []string{"c2", "c1"}})
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "r2", MediaID: "m1", Encrypted: true, CertAliases: []string{"c2"}})
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "r3", MediaID: "m2"})
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "R9", MediaID: "m1", Encrypted: true, CertAliases: []string{"c1"}})
	putMedia(t, s, vault.Media{Tenant: "globex", RecordingID: "r1", MediaID: "m1", Encrypted: true, CertAliases: []string{"c1"}})

	list := func(tenant, alias, afterRecording, afterMedia string, limit int) []vault.Media {
		t.Helper()
		media, err := s.MediaForCertificate(ctx, tenant, alias, afterRecording, afterMedia, limit)
		if err != nil {
			t.Fatalf("MediaForCertificate(%s, %s, %q, %q, %d): %v", tenant, alias, afterRecording, afterMedia, limit, err)
		}
		return media
	}
	for _, c := range []struct {
		name                                      string
		tenant, alias, afterRecording, afterMedia string
		limit                                     int
		want                                      []string
	}{
		{"all of c1", "acme", "c1", "", "", 100, []string{"acme/R9/m1", "acme/r1/m1", "acme/r1/m2", "acme/r3/m1"}},
		{"first page", "acme", "c1", "", "", 2, []string{"acme/R9/m1", "acme/r1/m1"}},
		{"second page", "acme", "c1", "r1", "m1", 2, []string{"acme/r1/m2", "acme/r3/m1"}},
		{"within a recording", "acme", "c1", "r1", "", 2, []string{"acme/r1/m1", "acme/r1/m2"}},
		{"after the last", "acme", "c1", "r3", "m1", 2, []string{}},
		{"c2", "acme", "c2", "", "", 100, []string{"acme/r1/m2", "acme/r2/m1"}},
		{"unknown alias", "acme", "c9", "", "", 100, []string{}},
		{"another tenant", "globex", "c1", "", "", 100, []string{"globex/r1/m1"}},
	} {
		if got := mediaKeys(list(c.tenant, c.alias, c.afterRecording, c.afterMedia, c.limit)); !slices.Equal(got, c.want) {
			t.Errorf("MediaForCertificate %s = %q, want %q", c.name, got, c.want)
		}
	}
	if got := list("acme", "c1", "r1", "", 1); len(got) == 1 {
		checkMedia(t, got[0], r1m1)
	}
}

func testSwapMedia(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme", "globex")
	mustCertificates(t, s, "acme", "old", "new", "other", "doomed")
	mustCertificates(t, s, "globex", "old", "new")
	m1 := vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m1", Type: "audio/mp3", Encrypted: true, CertAliases: []string{"old"},
		Size: 10, SHA256: "s1", BlobKey: "k1", CreatedAt: base}
	m2 := vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m2", Type: "video/mp4", Encrypted: true, CertAliases: []string{"old", "other"},
		Size: 20, SHA256: "s2", BlobKey: "k2", ContentSHA256: "c2", CreatedAt: base}
	putMedia(t, s, m1)
	putMedia(t, s, m2)
	putMedia(t, s, vault.Media{Tenant: "globex", RecordingID: "r1", MediaID: "m1", Encrypted: true, CertAliases: []string{"old"}, BlobKey: "k1"})
	if got, want := deployed(t, s, "acme"), map[string]int{"old": 2, "new": 0, "other": 1, "doomed": 0}; !mapsEqual(got, want) {
		t.Fatalf("DeployedCount = %v, want %v", got, want)
	}
	media := func() map[string]vault.Media {
		t.Helper()
		_, list, err := s.Recording(ctx, "acme", "r1", all)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]vault.Media{}
		for _, m := range list {
			out[m.MediaID] = m
		}
		return out
	}

	if err := s.SwapMedia(ctx, "acme", vault.MediaSwap{RecordingID: "r1", MediaID: "m1", OldBlobKey: "k1",
		NewBlobKey: "k1.v2", NewSHA256: "s1.v2", NewSize: 11, NewCertAliases: []string{"new"}, ContentSHA256: "c1"}); err != nil {
		t.Fatal(err)
	}
	want1 := m1
	want1.BlobKey, want1.SHA256, want1.Size, want1.CertAliases, want1.ContentSHA256 = "k1.v2", "s1.v2", 11, []string{"new"}, "c1"
	checkMedia(t, media()["m1"], want1)
	// The row moved on: a swap from where it was is refused, nothing changes.
	checkConflict(t, "SwapMedia from a moved row", s.SwapMedia(ctx, "acme", vault.MediaSwap{RecordingID: "r1", MediaID: "m1", OldBlobKey: "k1",
		NewBlobKey: "k1.v3", NewSHA256: "s1.v3", NewSize: 12, NewCertAliases: []string{"other"}}))
	checkMedia(t, media()["m1"], want1)

	// A row with a plaintext hash keeps it.
	if err := s.SwapMedia(ctx, "acme", vault.MediaSwap{RecordingID: "r1", MediaID: "m2", OldBlobKey: "k2",
		NewBlobKey: "k2.v2", NewSHA256: "s2.v2", NewSize: 21, NewCertAliases: []string{"other", "new"}, ContentSHA256: "ignored"}); err != nil {
		t.Fatal(err)
	}
	want2 := m2
	want2.BlobKey, want2.SHA256, want2.Size, want2.CertAliases = "k2.v2", "s2.v2", 21, []string{"other", "new"}
	checkMedia(t, media()["m2"], want2)

	// media_certs follow: the old certificate is deployed nowhere and may go.
	if got, want := deployed(t, s, "acme"), map[string]int{"old": 0, "new": 2, "other": 1, "doomed": 0}; !mapsEqual(got, want) {
		t.Errorf("DeployedCount after the swaps = %v, want %v", got, want)
	}
	if got := mediaKeys(mustMediaFor(t, s, "acme", "old")); len(got) != 0 {
		t.Errorf("MediaForCertificate(old) after the swaps = %q", got)
	}
	if got := mediaKeys(mustMediaFor(t, s, "acme", "new")); !slices.Equal(got, []string{"acme/r1/m1", "acme/r1/m2"}) {
		t.Errorf("MediaForCertificate(new) after the swaps = %q", got)
	}
	if err := s.DeleteCertificate(ctx, "acme", "old"); err != nil {
		t.Errorf("DeleteCertificate of the old certificate after the swaps: %v", err)
	}
	checkConflict(t, "DeleteCertificate of the new certificate", s.DeleteCertificate(ctx, "acme", "new"))
	if got, want := deployed(t, s, "globex"), map[string]int{"old": 1, "new": 0}; !mapsEqual(got, want) {
		t.Errorf("acme's swaps changed globex: %v, want %v", got, want)
	}

	// A swap to a certificate that is gone is refused and changes nothing.
	if err := s.DeleteCertificate(ctx, "acme", "doomed"); err != nil {
		t.Fatal(err)
	}
	checkConflict(t, "SwapMedia to a deleted certificate", s.SwapMedia(ctx, "acme", vault.MediaSwap{RecordingID: "r1", MediaID: "m1",
		OldBlobKey: "k1.v2", NewBlobKey: "k1.v3", NewSHA256: "s1.v3", NewSize: 12, NewCertAliases: []string{"new", "doomed"}}))
	checkMedia(t, media()["m1"], want1)
	checkConflict(t, "SwapMedia of a missing media file", s.SwapMedia(ctx, "acme", vault.MediaSwap{RecordingID: "r1", MediaID: "m9",
		OldBlobKey: "k9", NewBlobKey: "k9.v2", NewCertAliases: []string{"new"}}))
	checkConflict(t, "SwapMedia of another tenant's row", s.SwapMedia(ctx, "globex", vault.MediaSwap{RecordingID: "r1", MediaID: "m1",
		OldBlobKey: "k1.v2", NewBlobKey: "x", NewCertAliases: []string{"new"}}))

	// Deleting the recording returns the rows as swapped.
	removed, err := s.DeleteRecording(ctx, "acme", "r1")
	if err != nil || len(removed) != 2 {
		t.Fatalf("DeleteRecording after swaps = %+v, %v", removed, err)
	}
	checkMedia(t, removed[0], want1)
	checkMedia(t, removed[1], want2)
	if err := s.DeleteCertificate(ctx, "acme", "new"); err != nil {
		t.Errorf("DeleteCertificate(new) after its recording is gone: %v", err)
	}
}

func mustMediaFor(t *testing.T, s vault.Store, tenant, alias string) []vault.Media {
	t.Helper()
	media, err := s.MediaForCertificate(t.Context(), tenant, alias, "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return media
}

func jobIDs(jobs []vault.JobInfo) []int64 {
	out := []int64{}
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func testJobs(t *testing.T, fresh func(t *testing.T) (vault.Store, *fakeQueue)) {
	s, q := fresh(t)
	ctx := t.Context()
	mustTenants(t, s, "acme", "globex")
	jobInfos := func(tenant string, beforeID int64, limit int) []vault.JobInfo {
		t.Helper()
		jobs, err := s.JobInfos(ctx, tenant, beforeID, limit)
		if err != nil {
			t.Fatalf("JobInfos(%q): %v", tenant, err)
		}
		return jobs
	}
	before := time.Now().Add(-time.Second)
	err := s.Commit(ctx, vault.Effects{
		Jobs: []vault.Job{
			{Tenant: "acme", Kind: "rewrap", Args: []byte(`{"from":"a","to":"b"}`), CreatedBy: "alice", MaxAttempts: 3},
			{Tenant: "acme", Kind: "sweep", CreatedBy: "bob"},
		},
		Audit: []vault.AuditEntry{entry("acme", "alice", "certificate.rewrap", "a", 0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(q.jobs) != 2 || q.jobs[0].Kind != "rewrap" || string(q.jobs[0].Args) != `{"from":"a","to":"b"}` || q.jobs[0].MaxAttempts != 3 {
		t.Errorf("the queue got %+v", q.jobs)
	}
	if got := scanAll(t, s, "acme"); len(got) != 1 {
		t.Errorf("audit entries of the Commit with jobs: %+v", got)
	}
	jobs := jobInfos("acme", 0, 10)
	if got := jobIDs(jobs); !slices.Equal(got, []int64{2, 1}) {
		t.Fatalf("JobInfos(acme) = %v, want [2 1] (newest first)", got)
	}
	rewrap := jobs[1]
	if rewrap.Tenant != "acme" || rewrap.Kind != "rewrap" || rewrap.CreatedBy != "alice" || rewrap.Done != 0 || rewrap.Total != 0 ||
		rewrap.CreatedAt.Before(before) || rewrap.UpdatedAt.Before(rewrap.CreatedAt) {
		t.Errorf("job 1 = %+v", rewrap)
	}
	if jobs[0].Kind != "sweep" || jobs[0].CreatedBy != "bob" {
		t.Errorf("job 2 = %+v", jobs[0])
	}
	if j, err := s.JobInfo(ctx, "acme", 1); err != nil || j.ID != 1 || j.Kind != "rewrap" {
		t.Errorf("JobInfo(acme, 1) = %+v, %v", j, err)
	}
	_, err = s.JobInfo(ctx, "globex", 1)
	checkNotFound(t, "JobInfo of another tenant's job", err)
	_, err = s.JobInfo(ctx, "acme", 99)
	checkNotFound(t, "JobInfo missing", err)

	// Jobs of no tenant and of another tenant are apart.
	if err := s.Commit(ctx, vault.Effects{Jobs: []vault.Job{{Kind: "sweep-all"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, vault.Effects{Jobs: []vault.Job{{Tenant: "globex", Kind: "sweep"}}}); err != nil {
		t.Fatal(err)
	}
	if got := jobIDs(jobInfos("acme", 0, 10)); !slices.Equal(got, []int64{2, 1}) {
		t.Errorf("JobInfos(acme) = %v, want [2 1]", got)
	}
	if got := jobIDs(jobInfos("", 0, 10)); !slices.Equal(got, []int64{3}) {
		t.Errorf("JobInfos(no tenant) = %v, want [3]", got)
	}
	if got := jobIDs(jobInfos("globex", 0, 10)); !slices.Equal(got, []int64{4}) {
		t.Errorf("JobInfos(globex) = %v, want [4]", got)
	}
	if got := jobIDs(jobInfos("acme", 2, 10)); !slices.Equal(got, []int64{1}) {
		t.Errorf("JobInfos(acme, before 2) = %v, want [1]", got)
	}
	if got := jobIDs(jobInfos("acme", 0, 1)); !slices.Equal(got, []int64{2}) {
		t.Errorf("JobInfos(acme, limit 1) = %v, want [2]", got)
	}

	// Progress.
	if err := s.SetJobProgress(ctx, 1, vault.JobProgress{Done: 3, Total: 10, Failed: 1, Summary: "3 of 10 files re-wrapped"}); err != nil {
		t.Fatal(err)
	}
	j, err := s.JobInfo(ctx, "acme", 1)
	if err != nil {
		t.Fatal(err)
	}
	if j.Done != 3 || j.Total != 10 || j.Failed != 1 || j.Summary != "3 of 10 files re-wrapped" || j.UpdatedAt.Before(j.CreatedAt) {
		t.Errorf("JobInfo after SetJobProgress = %+v", j)
	}
	checkTime(t, "CreatedAt after SetJobProgress", j.CreatedAt, rewrap.CreatedAt)
	if other, _ := s.JobInfo(ctx, "acme", 2); other.Done != 0 || other.Summary != "" {
		t.Errorf("SetJobProgress(1) changed job 2: %+v", other)
	}
	if err := s.SetJobProgress(ctx, 1, vault.JobProgress{Done: 10, Total: 10}); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.JobInfo(ctx, "acme", 1); j.Done != 10 || j.Failed != 0 || j.Summary != "" {
		t.Errorf("JobInfo after a second SetJobProgress = %+v, want it replaced", j)
	}

	// A unique job queued again comes back as the one waiting; its row
	// keeps its progress.
	unique := vault.Job{Tenant: "acme", Kind: "reanalyse", Args: []byte(`{"topic":"t1"}`), CreatedBy: "carol", Unique: true}
	if err := s.Commit(ctx, vault.Effects{Jobs: []vault.Job{unique}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetJobProgress(ctx, 5, vault.JobProgress{Done: 1, Total: 2}); err != nil {
		t.Fatal(err)
	}
	again := unique
	again.CreatedBy = "dave"
	if err := s.Commit(ctx, vault.Effects{Jobs: []vault.Job{again, unique}}); err != nil {
		t.Fatal(err)
	}
	if got := jobIDs(jobInfos("acme", 0, 10)); !slices.Equal(got, []int64{5, 2, 1}) {
		t.Errorf("JobInfos after a unique job queued again = %v, want [5 2 1]", got)
	}
	if j, _ := s.JobInfo(ctx, "acme", 5); j.Done != 1 || j.Total != 2 || j.CreatedBy != "carol" {
		t.Errorf("unique job after it was queued again = %+v, want its progress and creator kept", j)
	}

	// A queue that fails fails the Commit, audit entries and all.
	head := auditHead(t, s, "acme")
	for _, c := range []struct {
		name  string
		fail  error
		short bool
	}{{"failing", errors.New("queue down"), false}, {"losing a job", nil, true}} {
		q.set(c.fail, c.short)
		err := s.Commit(ctx, vault.Effects{Jobs: []vault.Job{{Tenant: "acme", Kind: "sweep"}, {Tenant: "acme", Kind: "sweep"}},
			Audit: []vault.AuditEntry{entry("acme", "alice", "retention.sweep", "", 0)}})
		if err == nil {
			t.Errorf("Commit with a queue %s succeeded", c.name)
		}
		if c.fail != nil && !errors.Is(err, c.fail) {
			t.Errorf("Commit with a failing queue: %v, want the queue's error in the chain", err)
		}
	}
	q.set(nil, false)
	if got := auditHead(t, s, "acme"); got != head {
		t.Errorf("Commits whose jobs failed appended to the audit: head %+v, was %+v", got, head)
	}
	if got := jobIDs(jobInfos("acme", 0, 10)); !slices.Equal(got, []int64{5, 2, 1}) {
		t.Errorf("JobInfos after failed Commits = %v, want [5 2 1]", got)
	}
}

func testJobsWithoutQueue(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme")
	put(t, s, vault.Recording{Tenant: "acme", ID: "r1"})
	commit(t, s, entry("acme", "alice", "login", "alice", 0)) // the audit needs no queue
	jobs := []vault.Job{{Tenant: "acme", Kind: "sweep"}}
	fx := vault.Effects{Jobs: jobs}.Add(entry("acme", "alice", "retention.sweep", "", 1))
	if err := s.Commit(ctx, fx); err == nil {
		t.Error("Commit with jobs and no queue succeeded")
	}
	if err := s.SetRetentionSettings(ctx, "acme", vault.RetentionSettings{RetentionDays: 9}, fx); err == nil {
		t.Error("SetRetentionSettings with jobs and no queue succeeded")
	}
	if rs, _ := s.RetentionSettings(ctx, "acme"); rs.RetentionDays != 0 {
		t.Errorf("settings after a refused SetRetentionSettings = %+v", rs)
	}
	if _, err := s.DeleteRecordingFx(ctx, "acme", "r1", func([]vault.Media) vault.Effects { return fx }); err == nil {
		t.Error("DeleteRecordingFx with jobs and no queue succeeded")
	}
	if _, _, err := s.Recording(ctx, "acme", "r1", all); err != nil {
		t.Errorf("r1 after a refused DeleteRecordingFx: %v", err)
	}
	if head := auditHead(t, s, "acme"); head.Seq != 1 {
		t.Errorf("changes refused for want of a queue appended to the audit: head %+v", head)
	}
	if jobs, err := s.JobInfos(ctx, "acme", 0, 10); err != nil || len(jobs) != 0 {
		t.Errorf("JobInfos = %+v, %v; want none", jobs, err)
	}
}

// race runs a and b at once, n times over, after setup(i), and hands
// check their errors.
func race(t *testing.T, n int, setup func(i int), a, b func(i int) error, check func(i int, errA, errB error)) {
	t.Helper()
	for i := range n {
		setup(i)
		var (
			wg         sync.WaitGroup
			errA, errB error
			start      = make(chan struct{})
		)
		wg.Add(2)
		go func() { defer wg.Done(); <-start; errA = a(i) }()
		go func() { defer wg.Done(); <-start; errB = b(i) }()
		close(start)
		wg.Wait()
		check(i, errA, errB)
	}
}

// testHoldDeleteRace holds a recording by id while it is being deleted:
// never may both succeed (a hold on a deleted recording, or a held one
// deleted).
func testHoldDeleteRace(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme")
	held, deleted := 0, 0
	race(t, 30,
		func(i int) {
			put(t, s, vault.Recording{Tenant: "acme", ID: fmt.Sprintf("r%d", i)})
			putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: fmt.Sprintf("r%d", i), MediaID: "m1"})
		},
		func(i int) error {
			return s.CreateLegalHold(ctx, vault.LegalHold{Tenant: "acme", ID: fmt.Sprintf("h%d", i), Name: fmt.Sprintf("Case %d", i),
				RecordingIDs: []string{fmt.Sprintf("r%d", i)}}, vault.Effects{})
		},
		func(i int) error {
			_, err := s.DeleteRecording(ctx, "acme", fmt.Sprintf("r%d", i))
			return err
		},
		func(i int, holdErr, deleteErr error) {
			switch {
			case holdErr == nil && errors.Is(deleteErr, vault.ErrHeld):
				held++
				if _, _, err := s.Recording(ctx, "acme", fmt.Sprintf("r%d", i), all); err != nil {
					t.Errorf("round %d: held recording gone: %v", i, err)
				}
			case errors.Is(holdErr, vault.ErrNotFound) && deleteErr == nil:
				deleted++
				if _, err := s.LegalHold(ctx, "acme", fmt.Sprintf("h%d", i)); !errors.Is(err, vault.ErrNotFound) {
					t.Errorf("round %d: a hold was made on a deleted recording: %v", i, err)
				}
			default:
				t.Errorf("round %d: hold %v, delete %v; want exactly one to win", i, holdErr, deleteErr)
			}
		})
	t.Logf("hold first %d times, delete first %d times", held, deleted)
}

// testSwapCertificateRace re-wraps a file for a certificate while the
// certificate is being deleted: never may both succeed (a file encrypted
// for a certificate that is gone).
func testSwapCertificateRace(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme")
	mustCertificates(t, s, "acme", "old")
	race(t, 30,
		func(i int) {
			mustCertificates(t, s, "acme", fmt.Sprintf("new%d", i))
			putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: fmt.Sprintf("r%d", i), MediaID: "m1", Encrypted: true,
				CertAliases: []string{"old"}, BlobKey: "k"})
		},
		func(i int) error {
			return s.SwapMedia(ctx, "acme", vault.MediaSwap{RecordingID: fmt.Sprintf("r%d", i), MediaID: "m1", OldBlobKey: "k",
				NewBlobKey: "k2", NewSHA256: "s2", NewCertAliases: []string{fmt.Sprintf("new%d", i)}})
		},
		func(i int) error { return s.DeleteCertificate(ctx, "acme", fmt.Sprintf("new%d", i)) },
		func(i int, swapErr, deleteErr error) {
			alias := fmt.Sprintf("new%d", i)
			switch {
			case swapErr == nil && errors.Is(deleteErr, vault.ErrConflict):
				if c, err := s.Certificate(ctx, "acme", alias); err != nil || c.DeployedCount != 1 {
					t.Errorf("round %d: after the swap won: %+v, %v", i, c, err)
				}
			case errors.Is(swapErr, vault.ErrConflict) && deleteErr == nil:
				_, media, err := s.Recording(ctx, "acme", fmt.Sprintf("r%d", i), all)
				if err != nil || len(media) != 1 || media[0].BlobKey != "k" || !slices.Equal(media[0].CertAliases, []string{"old"}) {
					t.Errorf("round %d: after the delete won the file is %+v, %v; want it as it was", i, media, err)
				}
			default:
				t.Errorf("round %d: swap %v, delete %v; want exactly one to win", i, swapErr, deleteErr)
			}
		})
}

// testReceiptDeleteRace sends receipts for a recording's files while it
// is being deleted: the receipts are kept or refused, never an error.
func testReceiptDeleteRace(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme")
	var refused []string
	race(t, 30,
		func(i int) {
			for _, m := range []string{"m1", "m2", "m3"} {
				putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: fmt.Sprintf("r%d", i), MediaID: m, SHA256: m})
			}
		},
		func(i int) error {
			var err error
			id := fmt.Sprintf("r%d", i)
			refused, err = s.PutReceipts(ctx, "acme", []vault.Receipt{receipt(id, "m3", "m3", "", base), receipt(id, "m1", "m1", "", base),
				receipt(id, "m2", "m2", "", base)}, vault.Effects{}.Add(entry("acme", "rcbs", "backup.receipts", id, 0)))
			return err
		},
		func(i int) error {
			_, err := s.DeleteRecordingFx(ctx, "acme", fmt.Sprintf("r%d", i), func([]vault.Media) vault.Effects {
				return vault.Effects{}.Add(entry("acme", "alice", "recording.delete", fmt.Sprintf("r%d", i), 0))
			})
			return err
		},
		func(i int, receiptErr, deleteErr error) {
			if receiptErr != nil || deleteErr != nil {
				t.Errorf("round %d: receipts %v, delete %v; want both to succeed", i, receiptErr, deleteErr)
				return
			}
			if kept := slices.Index(refused, ""); kept >= 0 && slices.ContainsFunc(refused, func(r string) bool { return r != "" }) {
				t.Errorf("round %d: some receipts kept, some refused: %q", i, refused)
			}
		})
	if n := verifyChain(t, s, "acme"); n != 60 {
		t.Errorf("verified %d entries, want 60", n)
	}
}

// testPruneWhileAppending deletes old entries while writers append: the
// chain from its anchor must stay whole.
func testPruneWhileAppending(t *testing.T, s vault.Store) {
	ctx := t.Context()
	const writers, commits = 4, 30
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	var next sync.Mutex
	minute := 0
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range commits {
				next.Lock()
				minute++
				m := minute
				next.Unlock()
				if err := s.Commit(ctx, vault.Effects{}.Add(entry("acme", "u", "search", "", m))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := range 20 {
			if _, err := s.DeleteAuditBefore(ctx, "acme", base.Add(time.Duration(k*5)*time.Minute)); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	head := auditHead(t, s, "acme")
	if head.Seq != writers*commits {
		t.Errorf("AuditHead = %+v, want seq %d", head, writers*commits)
	}
	if n := verifyChain(t, s, "acme"); n != head.Seq-head.PrunedSeq || n == 0 {
		t.Errorf("verified %d entries, want %d (head %+v)", n, head.Seq-head.PrunedSeq, head)
	}
}
