package main

import (
	"bytes"
	"callvault/bench/internal/benchkit"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rcbsDay is the span the rcbs scenario's recordings start in: the day
// before the last hour.
const rcbsDay = 24 * time.Hour

// rcbsRunTimeout bounds one rcbs subprocess (the whole run is bounded by
// -timeout as well).
const rcbsRunTimeout = 10 * time.Minute

// rcbsFsync is what internal/backup does, as its code says (read, not
// measured).
const rcbsFsync = "rcbs fsyncs every file it writes and the directory it lands in: each media file is fetched to a hidden " +
	".partial name, its size and SHA-256 checked, fsynced, renamed and its directory fsynced (internal/backup/files.go media, fetch); " +
	"each <id>.json is written to a .partial name, fsynced, renamed, and its directory fsynced (writeAtomic). " +
	"So about 4 fsyncs per recording, all inside rcbs's wall time. `cp -r` fsyncs nothing; the `sync` after it flushes everything at once."

// closingLine is rcbs's last line of a backup.
var closingLine = regexp.MustCompile(`Finished handling current batch: \(number downloaded files: (\d+) \+ number of skipped files: (\d+) \+ number of failed download: (\d+)\) out of total: (\d+)`)

// rcbsRun is one timed rcbs subprocess.
type rcbsRun struct {
	label       string
	awsEndpoint string // awsEndpoint of its config: the S3 endpoint the server names, trusted
	name        string // of its .properties, .log, .stdout and .stderr files beside targetDir
	threads     int
	target      string
	wall        time.Duration
	cpu         time.Duration // rcbs user + system
	serverCPU   time.Duration // the server's user + system during the run
	bytes       int64         // regular files under targetDir afterwards
	files       int           // media and .json files under targetDir afterwards
	seen        bool          // the closing line was printed

	downloaded, skipped, failed, total int
	problems                           []string
}

func (r *rcbsRun) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (st *state) rcbsScenario(ctx context.Context) (*section, error) {
	o := st.o
	errs := newErrLog(o.errorsMax)
	sec := &section{errs: errs, title: fmt.Sprintf("rcbs: back up %d recordings of one %d-byte audio/mp3 file each (stop times spread over a day), "+
		"numThreads %s, against `cp -r` of the blob directory", o.n, o.size, joinInts(o.rcbsThreads))}

	bin, err := st.rcbsBinary(ctx)
	if err != nil {
		return sec, err
	}

	// Recordings start evenly over [now − 25 h, now − 1 h); the period
	// [from, to) holds all of their stop times and nothing another
	// scenario stores (those are dated from 2026-01-01, 7 s apart).
	now := time.Now().UTC().Truncate(time.Second)
	first := now.Add(-rcbsDay - time.Hour)
	step := rcbsDay / time.Duration(o.n)
	start := func(i int) time.Time { return first.Add(time.Duration(i) * step) }
	from, to := first, now.Add(-30*time.Minute)
	progress("  setup: %d recordings of %d B, starting from %s, %d clients", o.n, o.size, first.Format(time.RFC3339), o.conc)
	r := st.putRecordings(ctx, "bak", o.n, o.conc, o.size, start, nil, errs)
	if ctx.Err() != nil {
		return sec, ctx.Err()
	}
	sec.add("setup: recordings stored (media PUT + metadata PUT)", fmt.Sprintf("%d of %d in %v (%.0f recordings/s), %d clients",
		r.ok, o.n, r.elapsed.Round(time.Millisecond), rate(float64(r.ok), r.elapsed), o.conc), "")
	if r.ok == 0 {
		return sec, fmt.Errorf("no recording stored: %v", errs.sampleList())
	}
	wantTotal := 2 * r.ok // one media file and one <id>.json each

	blobDir := filepath.Join(st.srv.dataDir, "media")
	blobFiles, blobBytes, err := treeSize(blobDir)
	if err != nil {
		return sec, err
	}
	sec.add("server blob directory (data/media)", fmt.Sprintf("%d files, %.0f MB (stored, encrypted)", blobFiles, mb(blobBytes)), "")

	dropErr := dropCaches(o.dropCaches)
	switch {
	case !o.dropCaches:
		sec.add("page cache", "**not dropped** (-drop-caches=false): warm-cache runs", "")
	case dropErr != nil:
		sec.add("page cache", "**not dropped** ("+dropErr.Error()+"): warm-cache runs", "")
	default:
		sec.add("page cache", "sync + echo 3 > /proc/sys/vm/drop_caches before each timed step (cold)", "")
	}

	// cp -r, then sync, each timed.
	progress("  cp -r %s", blobDir)
	cpDst := filepath.Join(st.dir, "cp-media")
	dropCaches(o.dropCaches && dropErr == nil)
	t0 := time.Now()
	if out, err := exec.CommandContext(ctx, "cp", "-r", blobDir, cpDst).CombinedOutput(); err != nil {
		return sec, fmt.Errorf("cp -r: %v: %s", err, out)
	}
	cpTook := time.Since(t0)
	t1 := time.Now()
	if out, err := exec.CommandContext(ctx, "sync").CombinedOutput(); err != nil {
		return sec, fmt.Errorf("sync: %v: %s", err, out)
	}
	syncTook := time.Since(t1)
	cpSync := cpTook + syncTook
	cpFiles, cpBytes, err := treeSize(cpDst)
	if err != nil {
		return sec, err
	}
	if cpFiles != blobFiles || cpBytes != blobBytes {
		sec.note("**cp -r copied %d files / %d B, the blob directory holds %d / %d B**", cpFiles, cpBytes, blobFiles, blobBytes)
	}
	sec.add("`cp -r` data/media", fmt.Sprintf("%v (%.0f MB/s, %.0f files/s)", cpTook.Round(time.Millisecond), rate(mb(cpBytes), cpTook), rate(float64(cpFiles), cpTook)), "")
	sec.add("**`cp -r` + `sync`**", fmt.Sprintf("**%v** (sync %v; %.0f MB/s, %.0f files/s)", cpSync.Round(time.Millisecond), syncTook.Round(time.Millisecond),
		rate(mb(cpBytes), cpSync), rate(float64(cpFiles), cpSync)), "")

	env := append(os.Environ(), "GWS_USERNAME="+adminLogin, "GWS_PASSWORD="+adminPassword,
		"NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1")
	var runs []*rcbsRun
	var last *rcbsRun
	for _, threads := range o.rcbsThreads {
		if ctx.Err() != nil {
			break
		}
		mode := "multithread"
		if threads == 1 {
			mode = "single"
		}
		run := &rcbsRun{label: fmt.Sprintf("numThreads=%d (%s)", threads, mode), name: "first", threads: threads,
			target: filepath.Join(st.dir, fmt.Sprintf("rcbs-t%d", threads), "target")}
		progress("  rcbs %s", run.label)
		dropCaches(o.dropCaches && dropErr == nil)
		st.runRCBS(ctx, bin, env, run, mode, from, to)
		run.check(wantTotal, false)
		runs, last = append(runs, run), run
	}
	var again []*rcbsRun
	if last != nil && ctx.Err() == nil {
		for i, label := range []string{"second run, nothing new", "third run, nothing new, warm cache"} {
			run := &rcbsRun{label: fmt.Sprintf("%s (targetDir of numThreads=%d)", label, last.threads), name: strings.Fields(label)[0],
				threads: last.threads, target: last.target}
			progress("  rcbs %s", run.label)
			if i == 0 {
				dropCaches(o.dropCaches && dropErr == nil)
			}
			mode := "multithread"
			if last.threads == 1 {
				mode = "single"
			}
			st.runRCBS(ctx, bin, env, run, mode, from, to)
			run.check(wantTotal, true)
			again = append(again, run)
		}
	}

	problems := 0
	for _, run := range append(append([]*rcbsRun(nil), runs...), again...) {
		counts := "no closing line"
		if run.seen {
			counts = fmt.Sprintf("%d downloaded + %d skipped + %d failed of %d", run.downloaded, run.skipped, run.failed, run.total)
		}
		rates := fmt.Sprintf("%.0f MB/s, %.0f files/s", rate(mb(run.bytes), run.wall), rate(float64(run.downloaded), run.wall))
		if strings.Contains(run.label, "nothing new") {
			rates = fmt.Sprintf("%.0f files/s checked (%d files, %.0f MB already there)", rate(float64(run.total), run.wall), run.files, mb(run.bytes))
		}
		value := fmt.Sprintf("**%v**: %s; %s; rcbs CPU %v, server CPU %v", run.wall.Round(time.Millisecond), rates, counts,
			run.cpu.Round(10*time.Millisecond), run.serverCPU.Round(10*time.Millisecond))
		aim := ""
		if strings.HasPrefix(run.label, "second") {
			aim = "≤ 3 s: " + yes(len(run.problems) == 0 && run.wall <= 3*time.Second)
		}
		sec.add("rcbs "+run.label, value, aim)
		if !strings.Contains(run.label, "nothing new") && cpTook > 0 && run.wall > 0 {
			sec.add("  ÷ `cp -r` / ÷ (`cp -r` + `sync`)", fmt.Sprintf("%.2f× / **%.2f×** the time (written: %d files, %.0f MB)",
				run.wall.Seconds()/cpTook.Seconds(), run.wall.Seconds()/cpSync.Seconds(), run.files, mb(run.bytes)), "")
		}
		for _, p := range run.problems {
			problems++
			sec.note("**rcbs %s: %s**", run.label, p)
		}
	}
	sec.note("Each run: rcbs -config <dir>/<run>.properties -log <dir>/<run>.log with GWS_USERNAME=%s, gwsUriPrefix=%s/api/v2, "+
		"maxDate=%d and minDate=%d (epoch ms: the period [%s, %s), which holds every stop time), shardBy=1, "+
		"downloadMode=single for numThreads 1, else multithread with numThreads; each into a new targetDir. "+
		"The second and third runs reuse the last targetDir and find nothing new.",
		adminLogin, st.srv.base, from.UnixMilli(), to.UnixMilli(), from.Format(time.RFC3339), to.Format(time.RFC3339))
	sec.note("Wall time is from starting the rcbs process to its exit. MB/s = bytes of all files under targetDir afterwards ÷ wall time "+
		"(MB = 10^6 B); files/s = downloaded files (media + .json, the closing line's first count) ÷ wall time. "+
		"Expected total: %d (one media file and one .json per recording).", wantTotal)
	sec.note("fsync: %s", rcbsFsync)
	if problems > 0 {
		return sec, fmt.Errorf("%d problem(s) with the rcbs runs (see the notes)", problems)
	}
	return sec, nil
}

// rcbsBinary is -rcbs, or rcbs built into the work directory the first
// time it is asked for.
func (st *state) rcbsBinary(ctx context.Context) (string, error) {
	if st.o.rcbsBin != "" {
		return st.o.rcbsBin, nil
	}
	bin := filepath.Join(st.dir, "rcbs")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	progress("  building %s", bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "callvault/cmd/rcbs")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build rcbs: %w (run from inside the callvault module, or give -rcbs)", err)
	}
	return bin, nil
}

// writeRCBSConfig writes run's config.properties next to its targetDir
// and returns its path.
func (st *state) writeRCBSConfig(run *rcbsRun, mode string, from, to time.Time) (string, error) {
	dir := filepath.Dir(run.target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "# serverbench: rcbs %s\n", run.label)
	fmt.Fprintf(&cfg, "gwsUriPrefix=%s/api/v2\ntargetDir=%s\nmaxDate=%d\nminDate=%d\nshardBy=1\ndownloadMode=%s\n",
		st.srv.base, run.target, from.UnixMilli(), to.UnixMilli(), mode)
	if mode == "multithread" {
		fmt.Fprintf(&cfg, "numThreads=%d\n", run.threads)
	}
	if run.awsEndpoint != "" {
		fmt.Fprintf(&cfg, "awsEndpoint=%s\n", run.awsEndpoint)
	}
	cfgPath := filepath.Join(dir, run.name+".properties")
	return cfgPath, os.WriteFile(cfgPath, []byte(cfg.String()), 0o644)
}

// runRCBS writes run's config.properties next to its targetDir and runs
// rcbs once, timed.
func (st *state) runRCBS(ctx context.Context, bin string, env []string, run *rcbsRun, mode string, from, to time.Time) {
	dir := filepath.Dir(run.target)
	cfgPath, err := st.writeRCBSConfig(run, mode, from, to)
	if err != nil {
		run.problem("%v", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, rcbsRunTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-config", cfgPath, "-log", filepath.Join(dir, run.name+".log"))
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &limitedBuffer{b: &stdout, max: 1 << 20}, &limitedBuffer{b: &stderr, max: 64 << 10}
	cpu0, cpuErr := procCPU(st.srv.pid)
	t0 := time.Now()
	err = cmd.Run()
	run.wall = time.Since(t0)
	if cpu1, err := procCPU(st.srv.pid); err == nil && cpuErr == nil {
		run.serverCPU = cpu1 - cpu0
	}
	if ps := cmd.ProcessState; ps != nil {
		run.cpu = ps.UserTime() + ps.SystemTime()
	}
	os.WriteFile(filepath.Join(dir, run.name+".stdout"), stdout.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, run.name+".stderr"), stderr.Bytes(), 0o644)
	if err != nil {
		run.problem("exit: %v; stderr: %s", err, oneLine(stderr.String(), 600))
	} else if s := strings.TrimSpace(stderr.String()); s != "" {
		run.problem("stderr: %s", oneLine(s, 600))
	}
	if m := closingLine.FindStringSubmatch(stdout.String()); m != nil {
		run.seen = true
		run.downloaded, _ = strconv.Atoi(m[1])
		run.skipped, _ = strconv.Atoi(m[2])
		run.failed, _ = strconv.Atoi(m[3])
		run.total, _ = strconv.Atoi(m[4])
	}
	files, size, err := treeSize(run.target)
	if err != nil {
		run.problem("%v", err)
	}
	// The lock and the state file are not backed-up files.
	for _, name := range []string{".rcbs.lock", "last_recording_endtime.txt"} {
		if _, err := os.Stat(filepath.Join(run.target, name)); err == nil {
			files--
		}
	}
	run.files, run.bytes = files, size
}

// check compares a run's closing line with what the store holds.
func (run *rcbsRun) check(wantTotal int, nothingNew bool) {
	switch {
	case !run.seen:
		run.problem("no closing line \"Finished handling current batch: …\" on stdout")
		return
	case run.failed != 0:
		run.problem("%d failed downloads", run.failed)
	case run.total != wantTotal:
		run.problem("total %d, want %d", run.total, wantTotal)
	case nothingNew && (run.downloaded != 0 || run.skipped != wantTotal):
		run.problem("%d downloaded and %d skipped, want 0 and %d", run.downloaded, run.skipped, wantTotal)
	case !nothingNew && (run.downloaded != wantTotal || run.skipped != 0):
		run.problem("%d downloaded and %d skipped, want %d and 0", run.downloaded, run.skipped, wantTotal)
	}
	if run.files != wantTotal {
		run.problem("%d files under targetDir, want %d", run.files, wantTotal)
	}
}

// dropCaches syncs and drops the page cache, dentries and inodes (root
// only); with do false it does nothing.
func dropCaches(do bool) error {
	if !do {
		return nil
	}
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
		return err
	}
	return nil
}

// treeSize counts the regular files under dir and their bytes.
func treeSize(dir string) (files int, size int64, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// rcbs's record of verified files is bookkeeping, not a backed-up file.
		if d.Type().IsRegular() && d.Name() != ".rcbs-verified.json" {
			info, err := d.Info()
			if err != nil {
				return err
			}
			files++
			size += info.Size()
		}
		return nil
	})
	return files, size, err
}

// limitedBuffer keeps the first max bytes written to it and drops the rest.
type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

var _ io.Writer = (*limitedBuffer)(nil)

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// procCPU is a process's user + system time.
func procCPU(pid int) (time.Duration, error) {
	user, sys, err := benchkit.ProcCPU(pid)
	return user + sys, err
}
