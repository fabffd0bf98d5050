// Command serverbench measures `callvault serve` end to end, over loopback
// HTTP, as a separate process: ingest (media + metadata uploads, compared
// with plain fsynced file writes), listing (search paging as an
// administrator and as a supervisor who sees about half), playback (time to
// first byte of decrypted Range requests), large concurrent uploads
// (server RSS while streaming) and, only when named, rcbs (the backup
// client `rcbs` fetching every recording of a day, against `cp -r` of the
// server's blob directory) and the scale-out scenarios of issue 5, which
// start their own servers on PostgreSQL and MinIO (scaleout.go): s3rcbs
// (rcbs straight from S3 against `rclone copy` of the same prefix), pglist
// (paging through 1,000,000 recordings on PostgreSQL) and replicas (ingest
// through two servers against one).
//
// It builds nothing it does not own: it starts the callvault binary given by
// -bin (or one it builds into the work directory) on a free 127.0.0.1 port
// with a fresh data directory, runs `callvault init` and `callvault
// certgen`, uploads the certificate for voice, runs the scenarios and prints
// Markdown tables on stdout (progress on stderr). The work directory is
// removed at the end unless -keep.
//
//	go run ./bench/serverbench -scenario all
//	go run ./bench/serverbench -scenario all -n 300 -records 3000 -play-requests 300 -uploads 4 -upload-mb 20   # quick
//	go run ./bench/serverbench -scenario rcbs                # 10,000 × 150 kB through rcbs with 1, 4 and 8 threads
//	go run ./bench/serverbench -scenario rcbs -n 300        # quick
//
//	source .ci/services.sh   # PostgreSQL and MinIO on loopback, for the three below
//	go run ./bench/serverbench -scenario s3rcbs             # 10,000 × 150 kB in MinIO: rcbs (numThreads 8) against rclone copy (8 transfers)
//	go run ./bench/serverbench -scenario pglist             # 1,000,000 recordings bulk-loaded into PostgreSQL, paged through the API
//	go run ./bench/serverbench -scenario replicas           # 4,000 × 150 kB through one server, then through two
//	go run ./bench/serverbench -scenario s3rcbs,pglist,replicas -n 300 -pg-records 20000 -replicas-n 300   # quick
//	go run ./bench/serverbench -scenario logins             # 1,000 parallel bad logins, one user then distinct users
//
// "all" is ingest, play, list and uploads; rcbs (several minutes at full
// size) and the scale-out scenarios run only when named. Those take
// PostgreSQL from -pg (a server URL where the benchmark may CREATE
// DATABASE; default $CALLVAULT_TEST_POSTGRES) and MinIO from -s3-endpoint
// (default $CALLVAULT_TEST_S3_ENDPOINT) with AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_REGION, both on loopback only; each
// scenario makes its own database and bucket and drops them at the end
// unless -keep.
package main

import (
	"callvault/bench/internal/benchkit"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	scenario string
	bin      string
	dir      string
	keep     bool
	timeout  time.Duration

	n    int   // ingest: recordings
	conc int   // ingest and list setup: concurrent clients
	size int64 // ingest: bytes per media file

	records int // list: recordings the store should hold
	pageLen int // list: page size

	playClients    int
	playRequests   int
	playRecordings int // play without ingest: recordings to make first
	playMaxRange   int

	uploads   int
	uploadMB  int64
	rssEvery  time.Duration
	errorsMax int

	rcbsBin     string
	rcbsThreads []int
	dropCaches  bool

	// Scale-out scenarios (scaleout.go).
	pgURL      string // PostgreSQL server URL where databases may be created
	s3Endpoint string // MinIO
	s3Region   string
	rclone     string // the rclone binary
	s3Threads  int    // s3rcbs: rcbs numThreads, rclone --transfers and --checkers
	s3API      bool   // s3rcbs: also an rcbs run through the API, without AWS credentials
	pgRecords  int    // pglist: recordings bulk-loaded into PostgreSQL
	pgPasses   int    // pglist: times the admin pages through all of them
	replicasN  int    // replicas: recordings each phase ingests

	logins int // logins: parallel bad logins in each phase
}

func main() {
	var o options
	flag.StringVar(&o.scenario, "scenario", "all", "ingest, list, play, uploads, rcbs, s3rcbs, pglist, replicas, logins or all (= ingest, list, play, uploads; comma-separated list allowed)")
	flag.StringVar(&o.bin, "bin", "", "callvault binary; empty: build callvault/cmd/callvault into the work directory")
	flag.StringVar(&o.dir, "dir", "", "work directory (data dir, certificates, server log, local-limit files); default: a new directory under /tmp")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (and the server's data) at the end")
	flag.DurationVar(&o.timeout, "timeout", 25*time.Minute, "stop everything after this long")
	flag.IntVar(&o.n, "n", 10000, "ingest: recordings (one media PUT + one metadata PUT each)")
	flag.IntVar(&o.conc, "c", 8, "ingest and list setup: concurrent clients")
	flag.Int64Var(&o.size, "size", 150_000, "ingest: bytes per media file")
	flag.IntVar(&o.records, "records", 100_000, "list: recordings the store holds while paging (topped up with metadata-only PUTs)")
	flag.IntVar(&o.pageLen, "page", 1000, "list: page size (limit)")
	flag.IntVar(&o.playClients, "play-clients", 50, "play: concurrent clients")
	flag.IntVar(&o.playRequests, "play-requests", 2000, "play: requests in all")
	flag.IntVar(&o.playRecordings, "play-recordings", 200, "play: recordings to upload first when ingest did not run")
	flag.IntVar(&o.playMaxRange, "play-max-range", 64<<10, "play: largest Range length in bytes")
	flag.IntVar(&o.uploads, "uploads", 50, "uploads: concurrent uploads")
	flag.Int64Var(&o.uploadMB, "upload-mb", 100, "uploads: size of each upload in MB (10^6 bytes)")
	flag.DurationVar(&o.rssEvery, "rss-every", 50*time.Millisecond, "uploads: how often to sample the server's VmRSS")
	flag.IntVar(&o.errorsMax, "max-errors", 50, "abandon a scenario after this many failed requests")
	flag.StringVar(&o.rcbsBin, "rcbs", "", "rcbs: the rcbs binary; empty: build callvault/cmd/rcbs into the work directory")
	rcbsThreads := flag.String("rcbs-threads", "1,4,8", "rcbs: numThreads of the timed runs, in order (1 runs downloadMode=single); the second run reuses the last one's targetDir")
	flag.BoolVar(&o.dropCaches, "drop-caches", true, "rcbs: sync and drop the page cache (echo 3 > /proc/sys/vm/drop_caches, needs root) before each timed step; when it fails the runs are warm-cache")
	flag.StringVar(&o.pgURL, "pg", os.Getenv("CALLVAULT_TEST_POSTGRES"), "s3rcbs, pglist, replicas: PostgreSQL server URL (loopback) where a database may be created")
	flag.StringVar(&o.s3Endpoint, "s3-endpoint", os.Getenv("CALLVAULT_TEST_S3_ENDPOINT"), "s3rcbs, replicas: MinIO endpoint (loopback); credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	flag.StringVar(&o.s3Region, "s3-region", cmp.Or(os.Getenv("AWS_REGION"), "us-east-1"), "s3rcbs, replicas: region of the MinIO bucket")
	flag.StringVar(&o.rclone, "rclone", "rclone", "s3rcbs: the rclone binary")
	flag.IntVar(&o.s3Threads, "s3-threads", 8, "s3rcbs: rcbs numThreads, and rclone --transfers and --checkers")
	flag.BoolVar(&o.s3API, "s3-api", true, "s3rcbs: also time rcbs fetching media through the server's API (no AWS credentials in its environment)")
	flag.IntVar(&o.pgRecords, "pg-records", 1_000_000, "pglist: recordings bulk-loaded (COPY) into PostgreSQL")
	flag.IntVar(&o.pgPasses, "pg-passes", 2, "pglist: times the admin pages through all of them")
	flag.IntVar(&o.replicasN, "replicas-n", 4000, "replicas: recordings (media PUT of -size bytes + metadata PUT) through one server, then as many through two")
	flag.IntVar(&o.logins, "logins", 1000, "logins: parallel bad logins in each phase")
	flag.Parse()
	if flag.NArg() > 0 {
		fatalf("unexpected arguments: %v", flag.Args())
	}
	scenarios, err := parseScenarios(o.scenario)
	if err != nil {
		fatalf("%v", err)
	}
	if o.rcbsThreads, err = parseThreads(*rcbsThreads); err != nil {
		fatalf("-rcbs-threads: %v", err)
	}
	if err := o.check(); err != nil {
		fatalf("%v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	code := 0
	if err := run(ctx, o, scenarios); err != nil {
		fmt.Fprintln(os.Stderr, "serverbench:", err)
		code = 1
	}
	cancel()
	stop()
	os.Exit(code)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "serverbench: "+format+"\n", args...)
	os.Exit(2)
}

func (o *options) check() error {
	switch {
	case o.n < 1, o.conc < 1, o.size < 1, o.records < 1, o.pageLen < 1 || o.pageLen > 1000,
		o.playClients < 1, o.playRequests < 1, o.playRecordings < 1, o.playMaxRange < 1,
		o.uploads < 1, o.uploadMB < 1, o.rssEvery < time.Millisecond, o.errorsMax < 1,
		o.s3Threads < 1 || o.s3Threads > 256, o.pgRecords < 1, o.pgPasses < 1 || o.pgPasses > 10, o.replicasN < 1, o.logins < 1:
		return errors.New("sizes must be positive (and -page at most 1000, -s3-threads at most 256, -pg-passes at most 10)")
	case o.timeout < time.Second:
		return errors.New("-timeout must be at least 1s")
	}
	return nil
}

// allScenarios is what "all" means.
var allScenarios = []string{"ingest", "play", "list", "uploads"}

// runOrder: rcbs first (so that the blob directory it compares with holds
// its recordings only), then ingest (play reuses its recordings), play
// before list (so that play is not measured against a store being
// filled), uploads last (the heaviest). The scale-out scenarios come
// after; each starts and stops its own servers.
var runOrder = []string{"rcbs", "ingest", "play", "list", "uploads", "s3rcbs", "replicas", "pglist", "logins"}

// scaleOut are the scenarios that do not use the default server.
var scaleOut = map[string]bool{"s3rcbs": true, "pglist": true, "replicas": true, "logins": true}

// parseScenarios returns the chosen scenarios.
func parseScenarios(s string) (map[string]bool, error) {
	chosen := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		switch name {
		case "all":
			for _, n := range allScenarios {
				chosen[n] = true
			}
		case "ingest", "list", "play", "uploads", "rcbs", "s3rcbs", "pglist", "replicas", "logins":
			chosen[name] = true
		default:
			return nil, fmt.Errorf("-scenario: unknown %q (want ingest, list, play, uploads, rcbs, s3rcbs, pglist, replicas, logins or all)", name)
		}
	}
	return chosen, nil
}

// parseThreads reads -rcbs-threads: 1 to 8 positive counts.
func parseThreads(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 256 {
			return nil, fmt.Errorf("%q: want numbers from 1 to 256, comma-separated", f)
		}
		out = append(out, n)
	}
	if len(out) > 8 {
		return nil, errors.New("at most 8 runs")
	}
	return out, nil
}

func run(ctx context.Context, o options, scenarios map[string]bool) (err error) {
	dir, cleanup, err := benchkit.WorkDir("serverbench", o.dir, o.keep)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()

	bin := o.bin
	if bin == "" {
		bin = filepath.Join(dir, "callvault")
		progress("building %s", bin)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "callvault/cmd/callvault")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build: %w (run from inside the callvault module, or give -bin)", err)
		}
	}
	st := &state{dir: dir, o: o, bin: bin}
	for name := range scenarios {
		if !scaleOut[name] {
			srv, startErr := startServer(ctx, bin, dir, serverSpec{})
			if startErr != nil {
				return startErr
			}
			defer func() {
				if stopErr := srv.stop(); stopErr != nil {
					err = errors.Join(err, stopErr)
				}
			}()
			st.srv, st.started = srv, append(st.started, srv)
			break
		}
	}

	var sections []*section
	began := time.Now()
	for _, name := range runOrder {
		if !scenarios[name] {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		progress("scenario %s", name)
		var sec *section
		var err error
		switch name {
		case "ingest":
			sec, err = st.ingest(ctx)
		case "play":
			sec, err = st.play(ctx)
		case "list":
			sec, err = st.list(ctx)
		case "uploads":
			sec, err = st.uploadsScenario(ctx)
		case "rcbs":
			sec, err = st.rcbsScenario(ctx)
		case "s3rcbs":
			sec, err = st.s3rcbsScenario(ctx)
		case "pglist":
			sec, err = st.pglistScenario(ctx)
		case "replicas":
			sec, err = st.replicasScenario(ctx)
		case "logins":
			sec, err = st.loginsScenario(ctx)
		}
		if sec != nil {
			sections = append(sections, sec)
		}
		if err != nil {
			printReport(os.Stdout, st.started, sections, time.Since(began))
			return fmt.Errorf("%s: %w", name, err)
		}
		if !scaleOut[name] && !st.srv.alive() {
			printReport(os.Stdout, st.started, sections, time.Since(began))
			return fmt.Errorf("the server exited during %s: %v (log: %s)", name, st.srv.exitErr(), st.srv.logPath)
		}
	}
	printReport(os.Stdout, st.started, sections, time.Since(began))
	return ctx.Err()
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

// section is one scenario's results.
type section struct {
	title string
	rows  [][3]string // metric, value, aim
	notes []string
	errs  *errLog
}

func (s *section) add(metric, value, aim string) {
	s.rows = append(s.rows, [3]string{metric, value, aim})
}

func (s *section) note(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

func printReport(w io.Writer, servers []*server, sections []*section, took time.Duration) {
	fmt.Fprintf(w, "\nserverbench %s, %d CPUs, run took %v\n",
		time.Now().Format("2006-01-02 15:04 MST"), numCPU(), took.Round(time.Second))
	fmt.Fprintf(w, "\nArgs: %s\n", strings.Join(os.Args[1:], " "))
	for _, s := range sections {
		fmt.Fprintf(w, "\n### %s\n\n| Metric | Value | Aim |\n| --- | --- | --- |\n", s.title)
		for _, r := range s.rows {
			fmt.Fprintf(w, "| %s | %s | %s |\n", r[0], r[1], r[2])
		}
		if s.errs != nil {
			fmt.Fprintf(w, "| failed requests | %s | 0 |\n", s.errs.summary())
		}
		if len(s.notes) > 0 {
			fmt.Fprintln(w)
			for _, n := range s.notes {
				fmt.Fprintf(w, "- %s\n", n)
			}
		}
		if s.errs != nil {
			for _, e := range s.errs.sampleList() {
				fmt.Fprintf(w, "- error: %s\n", e)
			}
		}
	}
	for _, srv := range servers {
		if lines, n := srv.logErrors(5); n > 0 {
			fmt.Fprintf(w, "\n**The server %s logged %d ERROR lines**, e.g.:\n\n", filepath.Base(srv.logPath), n)
			for _, l := range lines {
				fmt.Fprintf(w, "    %s\n", l)
			}
		} else {
			fmt.Fprintf(w, "\nThe server %s logged no ERROR lines.\n", filepath.Base(srv.logPath))
		}
	}
}
