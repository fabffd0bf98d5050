// Command custodybench measures two custody operations of callvault on the
// default backends (SQLite and media files in a data directory):
//
//   - audit: `callvault audit verify -data DIR` over a chain of -n entries
//     (default 1,000,000) of one tenant, appended with Store.Commit in
//     transactions of -batch entries, as the server appends them (with the
//     real mix of actions and details). It times the built binary (cold and
//     warm page cache), then splits the work in process: reading the rows
//     (the store's ScanAudit, and the same query through database/sql with
//     no conversion), hashing (audit.Verifier over entries in memory), and
//     service.VerifyAudit as the command runs it, optionally under the CPU
//     profiler (-cpuprofile).
//   - rewrap: a certificate rotation of -n recordings (default 10,000) of
//     -size bytes (default 150,000), against `cp -r` + `sync` of the same
//     media directory. It makes a data directory in process (the tenant,
//     a certificate assigned for voice, -n media files through
//     service.PutMedia), then for each -verify mode: copies the media
//     directory (timed) and, on a fresh copy of the data directory, starts
//     `callvault serve`, uploads a second certificate, POSTs
//     /api/v2/certificates/{old}/rewrap {"to": new, "verify": mode}, polls
//     /api/v2/jobs/{id} until the job completes, and reads the server's CPU
//     time and peak RSS (VmHWM). It also times the RSA-2048 private-key
//     operation the re-wrap does twice per file.
//
// The page cache is dropped (sync; echo 3 > /proc/sys/vm/drop_caches; needs
// root) before every timed step unless -drop-caches=false. Results are
// Markdown tables on stdout, progress on stderr. The work directory (a new
// one under /tmp unless -dir) is removed at the end unless -keep.
//
// The rewrap scenario also re-wraps once in a `callvault worker` process
// (-worker-modes; no HTTP and no login, so its peak RSS is the job's) and,
// with -rewrap-profile FILE, in process through service.Work under the CPU
// profiler (-inprocess-workers sets Service.RewrapWorkers for those runs).
// -settle waits out the memory of the server's first login (argon2id)
// before the POST. The audit scenario's in-process split also times two
// prototypes of a faster verify (reading and checking on two goroutines;
// the same reading 10 columns). What the trail costs each play and search
// is measured by the go benchmarks in internal/httpapi/audit_bench_test.go,
// run alternately by auditcost.sh in this directory.
//
//	go run ./bench/custodybench -scenario audit                # 1,000,000 entries
//	go run ./bench/custodybench -scenario audit -audit-data DIR/audit-data   # again on a kept (-keep -dir DIR) chain
//	go run ./bench/custodybench -scenario rewrap               # 10,000 × 150 kB, verify full then ciphertext
//	go run ./bench/custodybench -scenario rewrap -settle 40s -rewrap-profile /tmp/rw.prof -inprocess-workers 0,6
//	go run ./bench/custodybench -scenario audit,rewrap -n 3000    # quick (-n applies to both)
//	bash bench/custodybench/auditcost.sh                       # audit on/off, play and search
package main

import (
	"callvault/bench/internal/benchkit"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	scenarios  []string
	n          int // entries (audit) or recordings (rewrap); 0: the scenario's default
	bin        string
	dir        string
	keep       bool
	timeout    time.Duration
	dropCaches bool

	// audit
	batch      int
	verifyRuns int
	breakdown  bool
	cpuprofile string
	hashSample int
	auditData  string

	// rewrap
	size       int64
	conc       int
	verify     []string
	rounds     int
	rssEvery   time.Duration
	rsaOps     int
	fsyncCopy  bool
	jobWorkers int
	inProcess  string
	settle     time.Duration
	inWorkers  []int
	worker     []string
}

func main() {
	var o options
	scenario := flag.String("scenario", "audit", "audit, rewrap, or both comma-separated")
	flag.IntVar(&o.n, "n", 0, "audit: entries (default 1,000,000); rewrap: recordings (default 10,000)")
	flag.StringVar(&o.bin, "bin", "", "callvault binary; empty: go build callvault/cmd/callvault into the work directory")
	flag.StringVar(&o.dir, "dir", "", "work directory (new or empty); default: a new directory under /tmp")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory at the end")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Minute, "stop everything after this long")
	flag.BoolVar(&o.dropCaches, "drop-caches", true, "sync and drop the page cache before each timed step (needs root; when it fails the runs are warm-cache)")
	flag.IntVar(&o.batch, "batch", 1000, "audit: entries appended per transaction while filling")
	flag.IntVar(&o.verifyRuns, "verify-runs", 3, "audit: runs of \"callvault audit verify\" (the first cold when caches can be dropped, the others warm)")
	flag.BoolVar(&o.breakdown, "breakdown", true, "audit: also split verify's time in process (row reading, hashing)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "audit: write a CPU profile of the in-process service.VerifyAudit to this file")
	flag.IntVar(&o.hashSample, "hash-sample", 100_000, "audit: entries kept in memory to time hashing alone (re-hashed to make -n)")
	flag.StringVar(&o.auditData, "audit-data", "", "audit: a data directory this program filled before (-keep): time verify on it instead of filling a new one")
	flag.Int64Var(&o.size, "size", 150_000, "rewrap: bytes of each media file (plaintext; stored encrypted, a few hundred bytes larger)")
	flag.IntVar(&o.conc, "c", 8, "rewrap: concurrent PutMedia calls while ingesting")
	verify := flag.String("verify", "full,ciphertext", "rewrap: verify modes, one re-wrap each (on a fresh copy of the data directory)")
	flag.IntVar(&o.rounds, "rounds", 1, "rewrap: times to repeat the copy + re-wrap pairs")
	flag.DurationVar(&o.rssEvery, "rss-every", 50*time.Millisecond, "rewrap: how often to sample the server's VmRSS")
	flag.IntVar(&o.rsaOps, "rsa-ops", 300, "rewrap: RSA-2048 private-key operations to time")
	flag.BoolVar(&o.fsyncCopy, "fsync-copy", true, "rewrap: also time a Go copy that fsyncs each file and its directory, as the blob store writes")
	flag.IntVar(&o.jobWorkers, "job-workers", 0, "rewrap: -job-workers of serve (0: its default)")
	flag.DurationVar(&o.settle, "settle", 0, "rewrap: wait this long between the server's first login (argon2, which raises its RSS for a while) and the POST, so that the peak measured is the re-wrap's")
	flag.StringVar(&o.inProcess, "rewrap-profile", "", "rewrap: also re-wrap in process (service.Work, no server, no queue) with each -verify mode, under the CPU profiler, writing FILE-MODE-wWORKERS")
	inWorkers := flag.String("inprocess-workers", "0", "rewrap, with -rewrap-profile: Service.RewrapWorkers of the in-process runs, one run per value and mode (0: the default)")
	worker := flag.String("worker-modes", "full", "rewrap: verify modes to re-wrap once more in a \"callvault worker\" process (no HTTP, no login: its peak RSS is the job's); empty: none")
	flag.Parse()
	if flag.NArg() > 0 {
		fatalf("unexpected arguments: %v", flag.Args())
	}
	for s := range strings.SplitSeq(*scenario, ",") {
		switch s = strings.TrimSpace(s); s {
		case "audit", "rewrap":
			o.scenarios = append(o.scenarios, s)
		default:
			fatalf("-scenario: unknown %q (want audit, rewrap or audit,rewrap)", s)
		}
	}
	for v := range strings.SplitSeq(*verify, ",") {
		switch v = strings.TrimSpace(v); v {
		case "full", "ciphertext":
			o.verify = append(o.verify, v)
		default:
			fatalf("-verify: unknown %q (want full, ciphertext or both)", v)
		}
	}
	for w := range strings.SplitSeq(*inWorkers, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || k < 0 || k > 64 {
			fatalf("-inprocess-workers: %q is not a count from 0 to 64", w)
		}
		o.inWorkers = append(o.inWorkers, k)
	}
	for v := range strings.SplitSeq(*worker, ",") {
		switch v = strings.TrimSpace(v); v {
		case "":
		case "full", "ciphertext":
			o.worker = append(o.worker, v)
		default:
			fatalf("-worker-modes: unknown %q (want full, ciphertext, both or empty)", v)
		}
	}
	switch {
	case o.n < 0, o.batch < 1, o.verifyRuns < 1, o.hashSample < 1, o.size < 1, o.conc < 1, o.rounds < 1,
		o.rssEvery < time.Millisecond, o.rsaOps < 1, o.jobWorkers < 0, o.settle < 0:
		fatalf("sizes must be positive")
	case o.timeout < time.Second:
		fatalf("-timeout must be at least 1s")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	code := 0
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "custodybench:", err)
		code = 1
	}
	cancel()
	stop()
	os.Exit(code)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "custodybench: "+format+"\n", args...)
	os.Exit(2)
}

// state is what the scenarios share.
type state struct {
	o   options
	dir string // the work directory
	bin string // the callvault binary
	// cacheNote says whether timed steps start cold.
	cold bool
}

func run(ctx context.Context, o options) (err error) {
	dir, cleanup, err := benchkit.WorkDir("custodybench", o.dir, o.keep)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()
	st := &state{o: o, dir: dir, bin: o.bin}
	if st.bin == "" {
		st.bin = filepath.Join(dir, "callvault")
		progress("building %s", st.bin)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", st.bin, "callvault/cmd/callvault")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build: %w (run from inside the callvault module, or give -bin)", err)
		}
	}
	if o.dropCaches {
		if err := dropCaches(true); err != nil {
			progress("cannot drop the page cache (%v): timed steps run warm", err)
		} else {
			st.cold = true
		}
	}

	began := time.Now()
	var sections []*section
	for _, name := range o.scenarios {
		if ctx.Err() != nil {
			break
		}
		progress("scenario %s", name)
		var sec *section
		switch name {
		case "audit":
			sec, err = st.auditScenario(ctx)
		case "rewrap":
			sec, err = st.rewrapScenario(ctx)
		}
		if sec != nil {
			sections = append(sections, sec)
		}
		if err != nil {
			printReport(os.Stdout, sections, time.Since(began))
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	printReport(os.Stdout, sections, time.Since(began))
	return ctx.Err()
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

// section is one scenario's results: tables of rows and notes.
type section struct {
	title  string
	tables []*table
	notes  []string
}

type table struct {
	head []string
	rows [][]string
}

func (s *section) table(head ...string) *table {
	t := &table{head: head}
	s.tables = append(s.tables, t)
	return t
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (s *section) note(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

func printReport(w io.Writer, sections []*section, took time.Duration) {
	fmt.Fprintf(w, "\ncustodybench %s, %s, %d CPUs, load average %s, run took %v\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.Version(), runtime.NumCPU(), loadAvg(), took.Round(time.Second))
	fmt.Fprintf(w, "\nArgs: %s\n", strings.Join(os.Args[1:], " "))
	for _, s := range sections {
		fmt.Fprintf(w, "\n### %s\n", s.title)
		for _, t := range s.tables {
			fmt.Fprintf(w, "\n| %s |\n|", strings.Join(t.head, " | "))
			for range t.head {
				fmt.Fprint(w, " --- |")
			}
			fmt.Fprintln(w)
			for _, r := range t.rows {
				fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
			}
		}
		if len(s.notes) > 0 {
			fmt.Fprintln(w)
			for _, n := range s.notes {
				fmt.Fprintf(w, "- %s\n", n)
			}
		}
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func rate(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

func mb(n int64) float64 { return float64(n) / 1e6 }

// commas writes n with thousands separators.
func commas(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + commas(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
