package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"callvault/internal/audit"
	"callvault/internal/server"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// entryGen makes the entries of a busy contact centre's trail, in the
// shapes the service writes them (internal/service: audit.go,
// recordings.go, custody.go, jobs.go): mostly plays, views, searches and
// rcbs's fetches, some logins (a few failed), receipts, deletions by the
// retention sweeper, jobs. Deterministic in i.
type entryGen struct {
	start time.Time
}

var supervisors = func() []string {
	out := make([]string, 40)
	for i := range out {
		out[i] = fmt.Sprintf("supervisor%02d", i)
	}
	return out
}()

func recID(i int) string {
	return fmt.Sprintf("%08x-%04x-4000-8000-%012x", uint32(i*2654435761), i%65536, i)
}

func (g *entryGen) entry(i int) vault.AuditEntry {
	// One entry every 2.6 s: a million entries are about a month.
	e := vault.AuditEntry{Tenant: tenant, Time: g.start.Add(time.Duration(i) * 2600 * time.Millisecond), Outcome: vault.OutcomeOK}
	u := supervisors[(i*7)%len(supervisors)]
	human := func() {
		e.User, e.Role, e.IP = u, string(vault.RoleSupervisor), fmt.Sprintf("10.20.%d.%d", (i/7)%40, 10+(i*7)%len(supervisors))
	}
	rec := recID(i / 3 % 400_000)
	switch k := i % 100; {
	case k < 40:
		human()
		e.Action, e.Target = "media.play", rec
		e.Details = audit.Details("mediaId", "0d4e-"+rec, "rangeStart", int64(i%37)*65536)
	case k < 55:
		human()
		e.Action, e.Target = "recording.view", rec
	case k < 70:
		human()
		e.Action = "recording.search"
		from := e.Time.Add(-time.Duration(1+i%30) * 24 * time.Hour).Truncate(time.Hour)
		d := map[string]any{"startFrom": from.Format(time.RFC3339Nano), "startTo": from.Add(24 * time.Hour).Format(time.RFC3339Nano), "limit": 100}
		if i%3 == 0 {
			d["callerPhoneNumber"] = fmt.Sprintf("+1905555%04d*", i%10000)
		}
		if i%5 == 0 {
			d["after"] = recID(i)
		}
		e.Details = audit.Canonical(d)
	case k < 90:
		// rcbs fetching the night's recordings as its own admin user.
		e.User, e.Role, e.IP = "rcbs", string(vault.RoleAdmin), "10.30.0.5"
		e.Action, e.Target = "media.fetch", rec
		e.Details = audit.Details("mediaId", "0d4e-"+rec, "rangeStart", 0)
	case k < 95:
		human()
		e.Action, e.Target = "login", u
		if k == 94 {
			e.Outcome = vault.OutcomeFailed
			e.Details = audit.Details("reason", "wrong user or password")
		} else {
			e.Details = audit.Details("reason", "")
		}
	case k < 98:
		e.User, e.Role, e.IP = "rcbs", string(vault.RoleAdmin), "10.30.0.5"
		e.Action = "backup.receipt"
		e.Details = audit.Details("receipts", 500, "rejected", 0)
	case k == 98:
		e.Action, e.Target = "recording.delete", recID(i/100)
		e.Details = audit.Canonical(map[string]any{"mediaIds": []string{"0d4e-" + recID(i/100)}, "reason": "retention", "retentionDays": 90})
	default:
		e.Action, e.Target = "job.start", strconv.Itoa(1000+i/100)
		e.Details = audit.Details("kind", "retention_sweep_tenant", "attempt", 1)
	}
	return e
}

// verifyRun is one run of `callvault audit verify`.
type verifyRun struct {
	cold            bool
	wall            time.Duration
	user, sys       time.Duration
	maxRSSKiB       int64
	printed         string // the command's last line
	entries, perSec float64
	printedIn       float64
}

var verifiedLine = regexp.MustCompile(`^(\d+) entries verified in ([0-9.]+) s \(([0-9]+) entries/s\)$`)

func (st *state) auditScenario(ctx context.Context) (*section, error) {
	o := st.o
	n := o.n
	if n == 0 {
		n = 1_000_000
	}
	sec := &section{title: "audit: `callvault audit verify` over the entries of one tenant (SQLite)"}
	dataDir := o.auditData
	var fill time.Duration
	var detailBytes int64
	if dataDir == "" {
		dataDir = filepath.Join(st.dir, "audit-data")
		var err error
		if fill, detailBytes, err = st.fillAudit(ctx, dataDir, n); err != nil {
			return sec, err
		}
	}
	store, err := server.OpenStore(ctx, dataDir, "")
	if err != nil {
		return sec, err
	}
	head, err := store.AuditHead(ctx, tenant)
	store.Close()
	if err != nil {
		return sec, err
	}
	dbBytes := fileSizes(filepath.Join(dataDir, "callvault.db"), filepath.Join(dataDir, "callvault.db-wal"))
	setup := sec.table("setup", "value")
	if o.auditData == "" {
		setup.add("entries appended", fmt.Sprintf("%s in %s (%s entries/s), %d per transaction through Store.Commit",
			commas(int64(n)), secs(fill), commas(int64(rate(float64(n), fill))), o.batch))
		setup.add("mean details size", fmt.Sprintf("%.0f B", float64(detailBytes)/float64(n)))
	} else {
		setup.add("data directory", "reused (-audit-data "+o.auditData+")")
	}
	setup.add("chain head (with the entries `callvault init` wrote)", commas(head.Seq))
	setup.add("database (callvault.db + WAL)", fmt.Sprintf("%.0f MB", mb(dbBytes)))
	setup.add("page cache", map[bool]string{true: "dropped before the first verify run (cold); later runs warm",
		false: "not dropped: every run warm"}[st.cold])

	// The command, as an operator runs it.
	var runs []verifyRun
	for i := range o.verifyRuns {
		if ctx.Err() != nil {
			return sec, ctx.Err()
		}
		cold := i == 0 && st.cold
		if cold {
			dropCaches(true)
		}
		r, err := st.timeVerify(ctx, dataDir)
		if err != nil {
			return sec, err
		}
		r.cold = cold
		progress("  verify run %d: %s (%s)", i+1, secs(r.wall), r.printed)
		runs = append(runs, r)
	}
	t := sec.table("`callvault audit verify -data DIR`", "entries/s (as printed)", "time (as printed)", "wall (process)", "entries/s (wall)", "CPU user + sys", "peak RSS", "aim ≥ 200,000/s")
	for i, r := range runs {
		t.add(fmt.Sprintf("run %d, %s cache", i+1, map[bool]string{true: "cold", false: "warm"}[r.cold]), "**"+commas(int64(r.perSec))+"**", fmt.Sprintf("%.2f s", r.printedIn),
			secs(r.wall), commas(int64(rate(r.entries, r.wall))), fmt.Sprintf("%.2f + %.2f s", r.user.Seconds(), r.sys.Seconds()),
			fmt.Sprintf("%.0f MiB", float64(r.maxRSSKiB)/1024), yes(r.perSec >= 200_000))
	}
	sec.note("Wall is from the process's start to its exit (opening the database and its migrations check included); the printed rate is the command's own, over the verification alone.")

	if o.breakdown {
		if err := st.auditBreakdown(ctx, sec, dataDir, head.Seq); err != nil {
			return sec, err
		}
	}
	return sec, nil
}

func yes(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

func fileSizes(paths ...string) int64 {
	var n int64
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// timeVerify runs `callvault audit verify -data dir` once.
func (st *state) timeVerify(ctx context.Context, dataDir string) (verifyRun, error) {
	var r verifyRun
	cmd := exec.CommandContext(ctx, st.bin, "audit", "verify", "-data", dataDir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	r.wall = time.Since(t0)
	if err != nil {
		return r, fmt.Errorf("callvault audit verify: %v: %s", err, out.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.maxRSSKiB = ru.Maxrss
	}
	r.user, r.sys = cmd.ProcessState.UserTime(), cmd.ProcessState.SystemTime()
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		r.printed = sc.Text()
	}
	m := verifiedLine.FindStringSubmatch(r.printed)
	if m == nil {
		return r, fmt.Errorf("callvault audit verify: unexpected last line %q", r.printed)
	}
	r.entries, _ = strconv.ParseFloat(m[1], 64)
	r.printedIn, _ = strconv.ParseFloat(m[2], 64)
	r.perSec, _ = strconv.ParseFloat(m[3], 64)
	return r, nil
}

// auditBreakdown splits verify's work in process, warm cache: reading the
// rows through the store, the same rows through database/sql without
// conversions, hashing alone, and VerifyAudit whole (under the profiler
// when asked).
func (st *state) auditBreakdown(ctx context.Context, sec *section, dataDir string, headSeq int64) error {
	o := st.o
	store, err := server.OpenStore(ctx, dataDir, "")
	if err != nil {
		return err
	}
	defer store.Close()
	t := sec.table("in process, warm cache (one run each, in this order)", "time", "entries/s", "÷ VerifyAudit's time")
	type step struct {
		name string
		took time.Duration
		n    int64
	}
	var steps []step

	// 1. VerifyAudit whole, as the command calls it.
	runtime.GC()
	var prof *os.File
	if o.cpuprofile != "" {
		if prof, err = os.Create(o.cpuprofile); err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(prof); err != nil {
			prof.Close()
			return err
		}
	}
	t0 := time.Now()
	verified, err := service.VerifyAudit(ctx, store, tenant)
	whole := time.Since(t0)
	if prof != nil {
		pprof.StopCPUProfile()
		prof.Close()
		sec.note("CPU profile of the in-process VerifyAudit written to %s (`go tool pprof -top %s`)", o.cpuprofile, o.cpuprofile)
	}
	if err != nil {
		return err
	}
	progress("  in process: VerifyAudit %s", secs(whole))

	// 2. The store's ScanAudit with a callback that does nothing.
	runtime.GC()
	var scanned int64
	t0 = time.Now()
	err = store.ScanAudit(ctx, tenant, func(vault.AuditEntry) error { scanned++; return nil })
	scan := time.Since(t0)
	if err != nil {
		return err
	}
	progress("  in process: ScanAudit %s", secs(scan))

	// 3. The same query and batches through database/sql on a connection
	// of our own, into sql.RawBytes: SQLite's VM and the driver, no Go
	// strings.
	dbPath := filepath.Join(dataDir, "callvault.db")
	raw, rawN, err := rawScan(ctx, dbPath, allColumns)
	if err != nil {
		return err
	}
	progress("  in process: raw query %s", secs(raw))
	// The same with fewer columns: what a leaner read would cost.
	raw10, raw10N, err := rawScan(ctx, dbPath, tenColumns)
	if err != nil {
		return err
	}
	raw3, raw3N, err := rawScan(ctx, dbPath, threeColumns)
	if err != nil {
		return err
	}
	progress("  in process: raw query, 10 and 3 columns: %s, %s", secs(raw10), secs(raw3))

	// 4. Hashing alone: a sample of entries in memory, checked again and
	// again (re-chained) until n entries were hashed.
	sample := make([]vault.AuditEntry, 0, min(int64(o.hashSample), headSeq))
	errEnough := errors.New("enough")
	err = store.ScanAudit(ctx, tenant, func(e vault.AuditEntry) error {
		if len(sample) == cap(sample) {
			return errEnough
		}
		sample = append(sample, e)
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return err
	}
	var h audit.Hasher
	runtime.GC()
	hashed := int64(0)
	t0 = time.Now()
	for hashed < verified {
		for i := range sample {
			if hashed == verified {
				break
			}
			if got := h.Hash(&sample[i]); got != sample[i].Hash {
				return fmt.Errorf("entry %d does not hash to its stored hash", sample[i].Seq)
			}
			hashed++
		}
	}
	hashing := time.Since(t0)
	progress("  in process: hashing %s", secs(hashing))

	// 5. A prototype of what the command could do: read on one goroutine,
	// check on another, batches of 1,000 handed over a channel.
	pipe, piped, err := pipelinedVerify(ctx, store, headSeq)
	if err != nil {
		return err
	}
	progress("  in process: pipelined %s", secs(pipe))
	lean, leaned, err := leanVerify(ctx, dbPath, headSeq)
	if err != nil {
		return err
	}
	progress("  in process: 10 columns, pipelined %s", secs(lean))

	steps = append(steps, step{"`service.VerifyAudit` (what the command runs)", whole, verified},
		step{"`Store.ScanAudit`, callback does nothing", scan, scanned},
		step{"the same query in the same batches, `sql.RawBytes`, no conversion", raw, rawN},
		step{"the same, 10 columns (not tenant and prev_hash, which the verifier knows)", raw10, raw10N},
		step{"the same, 3 columns (seq, time_ms, the 8 text columns joined into one by SQLite)", raw3, raw3N},
		step{"hashing alone (`audit.Hasher.Hash` + compare, entries in memory)", hashing, hashed},
		step{"prototype, not in the command: ScanAudit on one goroutine, `Verifier.Check` on another (batches of 1,000 over a channel)", pipe, piped},
		step{"prototype, not in the command: the same with a 10-column read (tenant and prevHash from the verifier's side)", lean, leaned})
	for _, s := range steps {
		t.add(s.name, secs(s.took), commas(int64(rate(float64(s.n), s.took))), fmt.Sprintf("%.0f %%", 100*s.took.Seconds()/whole.Seconds()))
	}
	sec.note("Scan + hashing = %.0f %% of VerifyAudit: the two run one after the other on one goroutine.", 100*(scan+hashing).Seconds()/whole.Seconds())
	return nil
}

// Column lists for rawScan; seq comes first in each.
const (
	allColumns   = `seq, tenant, time_ms, user_name, role, ip, action, target, details, outcome, prev_hash, hash`
	tenColumns   = `seq, time_ms, user_name, role, ip, action, target, details, outcome, hash`
	threeColumns = `seq, time_ms, user_name || char(0) || role || char(0) || ip || char(0) || action || char(0) || target || char(0) || details || char(0) || outcome || char(0) || hash`
)

// rawScan reads tenant's rows as ScanAudit does (keyset batches of 10,000
// in seq order) into sql.RawBytes, on a read-only connection of its own.
func rawScan(ctx context.Context, dbPath, columns string) (time.Duration, int64, error) {
	db, err := sql.Open("sqlite", dbPath+"?_pragma=query_only(1)")
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	runtime.GC()
	t0 := time.Now()
	var n int64
	after := int64(-1)
	ncols := strings.Count(columns, ",") + 1
	cols := make([]sql.RawBytes, ncols)
	ptrs := make([]any, ncols)
	for i := range cols {
		ptrs[i] = &cols[i]
	}
	for {
		rows, err := db.QueryContext(ctx, `SELECT `+columns+` FROM audit_log WHERE tenant = ? AND seq > ? ORDER BY seq LIMIT ?`, tenant, after, 10000)
		if err != nil {
			return 0, 0, err
		}
		k := 0
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return 0, 0, err
			}
			seq, err := strconv.ParseInt(string(cols[0]), 10, 64)
			if err != nil {
				rows.Close()
				return 0, 0, err
			}
			after = seq
			k++
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return 0, 0, err
		}
		n += int64(k)
		if k < 10000 {
			return time.Since(t0), n, nil
		}
	}
}

// pipelinedVerify is VerifyAudit with the reading and the checking on two
// goroutines: the scan hands batches of entries to the checker.
func pipelinedVerify(ctx context.Context, store vault.Store, headSeq int64) (time.Duration, int64, error) {
	runtime.GC()
	t0 := time.Now()
	head, err := store.AuditHead(ctx, tenant)
	if err != nil {
		return 0, 0, err
	}
	v := audit.NewVerifier(tenant, audit.Anchor{Seq: head.PrunedSeq, Hash: head.PrunedHash})
	batches := make(chan []vault.AuditEntry, 4)
	checked := make(chan error, 1)
	go func() {
		var first error
		for b := range batches {
			for i := range b {
				if first == nil {
					first = v.Check(&b[i])
				}
			}
		}
		checked <- first
	}()
	errPastHead := errors.New("past the head")
	batch := make([]vault.AuditEntry, 0, 1000)
	err = store.ScanAudit(ctx, tenant, func(e vault.AuditEntry) error {
		if e.Seq > head.Seq {
			return errPastHead
		}
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			batches <- batch
			batch = make([]vault.AuditEntry, 0, 1000)
		}
		return nil
	})
	if len(batch) > 0 {
		batches <- batch
	}
	close(batches)
	checkErr := <-checked
	if errors.Is(err, errPastHead) {
		err = nil
	}
	if err := errors.Join(err, checkErr); err != nil {
		return 0, 0, err
	}
	if err := v.End(audit.Anchor{Seq: head.Seq, Hash: head.Hash}); err != nil {
		return 0, 0, err
	}
	if v.Verified != headSeq {
		return 0, 0, fmt.Errorf("pipelined verify checked %d entries, want %d", v.Verified, headSeq)
	}
	return time.Since(t0), v.Verified, nil
}

// fillAudit makes a data directory with `callvault init` and appends n
// entries to the tenant's chain in transactions of -batch, through
// Store.Commit; it returns the time the appending took and the details'
// bytes.
func (st *state) fillAudit(ctx context.Context, dataDir string, n int) (time.Duration, int64, error) {
	o := st.o
	progress("  callvault init %s", dataDir)
	initCmd := exec.CommandContext(ctx, st.bin, "init", "-data", dataDir, "-tenant", tenant, "-admin", adminLogin)
	initCmd.Env = append(os.Environ(), "CALLVAULT_ADMIN_PASSWORD="+adminPassword)
	if out, err := initCmd.CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("callvault init: %v: %s", err, out)
	}
	store, err := server.OpenStore(ctx, dataDir, "")
	if err != nil {
		return 0, 0, err
	}
	defer store.Close()
	gen := &entryGen{start: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)}
	progress("  appending %d entries, %d per transaction", n, o.batch)
	t0 := time.Now()
	fx := vault.Effects{Audit: make([]vault.AuditEntry, 0, o.batch)}
	var detailBytes int64
	for done := 0; done < n; {
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		k := min(o.batch, n-done)
		fx.Audit = fx.Audit[:0]
		for i := range k {
			e := gen.entry(done + i)
			detailBytes += int64(len(e.Details))
			fx.Audit = append(fx.Audit, e)
		}
		if err := store.Commit(ctx, fx); err != nil {
			return 0, 0, err
		}
		done += k
		if done%(n/10+1) < k || done == n {
			progress("    %d of %d (%.0f entries/s)", done, n, rate(float64(done), time.Since(t0)))
		}
	}
	return time.Since(t0), detailBytes, store.Close()
}

// leanVerify is pipelinedVerify reading 10 columns on a connection of its
// own: the tenant is the query's, and each entry's prevHash is the hash of
// the entry before it (the anchor's for the first), which the hash covers,
// so a stored prev_hash that differs shows as a hash mismatch.
func leanVerify(ctx context.Context, dbPath string, headSeq int64) (time.Duration, int64, error) {
	db, err := sql.Open("sqlite", dbPath+"?_pragma=query_only(1)")
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	runtime.GC()
	t0 := time.Now()
	var head vault.AuditHead
	if err := db.QueryRowContext(ctx, `SELECT seq, hash, pruned_seq, pruned_hash FROM audit_heads WHERE tenant = ?`, tenant).
		Scan(&head.Seq, &head.Hash, &head.PrunedSeq, &head.PrunedHash); err != nil {
		return 0, 0, err
	}
	v := audit.NewVerifier(tenant, audit.Anchor{Seq: head.PrunedSeq, Hash: head.PrunedHash})
	batches := make(chan []vault.AuditEntry, 4)
	checked := make(chan error, 1)
	go func() {
		var first error
		for b := range batches {
			for i := range b {
				if first == nil {
					first = v.Check(&b[i])
				}
			}
		}
		checked <- first
	}()
	prev, after := head.PrunedHash, head.PrunedSeq
	var scanErr error
	batch := make([]vault.AuditEntry, 0, 1000)
read:
	for {
		rows, err := db.QueryContext(ctx, `SELECT `+tenColumns+` FROM audit_log WHERE tenant = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT 10000`, tenant, after, head.Seq)
		if err != nil {
			scanErr = err
			break
		}
		k := 0
		for rows.Next() {
			e := vault.AuditEntry{Tenant: tenant, PrevHash: prev}
			var timeMS int64
			var details string
			if err := rows.Scan(&e.Seq, &timeMS, &e.User, &e.Role, &e.IP, &e.Action, &e.Target, &details, &e.Outcome, &e.Hash); err != nil {
				rows.Close()
				scanErr = err
				break read
			}
			e.Time, e.Details = time.UnixMilli(timeMS).UTC(), []byte(details)
			prev, after = e.Hash, e.Seq
			batch = append(batch, e)
			if len(batch) == cap(batch) {
				batches <- batch
				batch = make([]vault.AuditEntry, 0, 1000)
			}
			k++
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			scanErr = err
			break
		}
		if k < 10000 {
			break
		}
	}
	if len(batch) > 0 {
		batches <- batch
	}
	close(batches)
	if err := errors.Join(scanErr, <-checked); err != nil {
		return 0, 0, err
	}
	if err := v.End(audit.Anchor{Seq: head.Seq, Hash: head.Hash}); err != nil {
		return 0, 0, err
	}
	if v.Verified != headSeq {
		return 0, 0, fmt.Errorf("lean verify checked %d entries, want %d", v.Verified, headSeq)
	}
	return time.Since(t0), v.Verified, nil
}
