// Command srsbench measures screen recording end to end (issue 11) against
// the aims: what srs and its ffmpeg cost an agent's desktop while a call is
// recorded, how large the stored file is, how fast it reaches the vault,
// and how fast the server muxes it with the call audio.
//
// It builds callvault and srs into a work directory, inits a tenant,
// starts `callvault serve` on loopback (its log captured to a file),
// uploads an openssl certificate assigned for voice and screen, creates an
// agent, starts Xvfb at 1920x1080x24 on a free display (from :87) with test
// content covering the screen, starts srs (config.json: server,
// authenticationPort, allowedOrigins, display, uploadFolder, logFile,
// frameRate 5, maxWidth 1920), logs the agent in through srs's loopback API
// as a desktop would (GET /api/v2/me with Basic credentials and an allowed
// Origin) and pings it every 10 s. Then, for each -content kind and
// -rounds times, alternating which goes first:
//
//   - an srs call: PUT a call in progress for the agent (a Joined event, no
//     stopTime), wait for srs to say "recording", measure -minutes of
//     process CPU time (user + system, from /proc) and peak RSS (VmHWM,
//     reset at the start, and VmRSS sampled every -sample) of srs and of
//     its ffmpeg child, stop the call (PUT with stopTime), wait for
//     "Uploader: Upload of file was successful." in GSR.log; the stored
//     size (GET /api/v2/recordings/{id}) over the video's duration (ffprobe
//     of the file decrypted with openssl cms) gives MB per hour. Then PUT
//     an MP3 of the call's length and its mediaFiles entry, wait for the
//     mux job, read its "took" from serve's "screen muxed" log line, and
//     time ffmpeg muxing the same plain files to /dev/null as reference;
//   - a baseline: plain ffmpeg with the arguments srs uses
//     (internal/ffmpeg.CaptureArgs of the display's one 1920x1080 monitor)
//     for the same -minutes, its output drained and counted (a pipe, as
//     srs reads it), measured the same way: what srs adds (encryption,
//     queue, its own process) is the difference. With -nothp-baseline it
//     runs once more without transparent huge pages (through the hidden
//     mode `srsbench -exec-nothp PROGRAM ARGS…`, which calls
//     prctl(PR_SET_THP_DISABLE) and execs PROGRAM), as srs runs ffmpeg.
//
// Last, -upload-rounds of a -upload-mb synthetic CMS file (random bytes
// encrypted for the tenant certificate with `callvault encrypt`) PUT as
// application/pkcs7-mime by srs's own client (internal/srs NewClient,
// Login, PutMedia) and by `curl -T` to the same server, alternately.
//
// Linux only: it needs Xvfb, xrandr, xdotool, ffplay, ffmpeg, ffprobe,
// openssl and curl on PATH. CPU is process CPU time, not wall time: the
// machine is shared. The
// result is one Markdown table on stdout (progress on stderr) and, with
// -out DIR, the same as JSON and Markdown files in DIR.
//
//	go run ./bench/srsbench                                   # 5 min per run, office and motion
//	go run ./bench/srsbench -minutes 5 -content office,motion -out /tmp/srsbench
//	go run ./bench/srsbench -minutes 0.5 -upload-mb 20        # quick check (about 3 min)
//	go run ./bench/srsbench -minutes 1 -nothp-baseline -upload-mb 0   # ffmpeg with and without huge pages
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"callvault/internal/ffmpeg"
)

type options struct {
	window       time.Duration // of each measured run (-minutes)
	contents     []string
	out          string
	dir          string
	keep         bool
	rounds       int
	baseline     bool
	noTHP        bool
	uploadMB     int64
	uploadRounds int
	firstDisplay int
	sample       time.Duration
	timeout      time.Duration
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-exec-nothp" {
		execWithoutTHP(os.Args[2:])
	}
	var o options
	minutes := flag.Float64("minutes", 5, "minutes of each measured run (srs call and baseline)")
	content := flag.String("content", "office,motion", "test content kinds, comma-separated: office, motion")
	flag.StringVar(&o.out, "out", "", "directory to write the results to (JSON and Markdown); empty: stdout only")
	flag.StringVar(&o.dir, "dir", "", "work directory (new or empty); default: a new directory under /tmp")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory at the end")
	flag.IntVar(&o.rounds, "rounds", 1, "srs call + baseline pairs per content kind")
	flag.BoolVar(&o.baseline, "baseline", true, "also run plain ffmpeg with srs's arguments for the same time")
	flag.BoolVar(&o.noTHP, "nothp-baseline", false, "also run the baseline with transparent huge pages off (prctl PR_SET_THP_DISABLE), to show what x264's huge pages add to ffmpeg's RSS")
	flag.Int64Var(&o.uploadMB, "upload-mb", 200, "size of the synthetic upload in MB (10^6 B); 0: skip it")
	flag.IntVar(&o.uploadRounds, "upload-rounds", 3, "synthetic uploads by each client (srs's and curl), alternating")
	flag.IntVar(&o.firstDisplay, "display", 87, "first X display number to try for Xvfb")
	flag.DurationVar(&o.sample, "sample", 500*time.Millisecond, "how often VmRSS is sampled")
	flag.DurationVar(&o.timeout, "timeout", 90*time.Minute, "stop everything after this long")
	flag.Parse()
	if flag.NArg() > 0 {
		fatalf("unexpected arguments: %v", flag.Args())
	}
	o.window = time.Duration(*minutes * float64(time.Minute))
	for kind := range strings.SplitSeq(*content, ",") {
		switch kind = strings.TrimSpace(kind); kind {
		case ffmpeg.ContentOffice, ffmpeg.ContentMotion:
			o.contents = append(o.contents, kind)
		default:
			fatalf("-content: unknown %q (want office, motion or both)", kind)
		}
	}
	switch {
	case o.window < 10*time.Second:
		fatalf("-minutes must give at least 10 s")
	case o.rounds < 1, o.uploadRounds < 1, o.uploadMB < 0, o.firstDisplay < 1, o.sample < 10*time.Millisecond:
		fatalf("counts and sizes must be positive")
	case o.timeout < time.Minute:
		fatalf("-timeout must be at least 1m")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	code := 0
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "srsbench:", err)
		code = 1
	}
	cancel()
	stop()
	os.Exit(code)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "srsbench: "+format+"\n", args...)
	os.Exit(2)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func run(ctx context.Context, o options) (err error) {
	b, err := setUp(ctx, o)
	if b != nil {
		defer func() { err = errors.Join(err, b.close()) }()
	}
	if err != nil {
		return err
	}
	res := &results{
		Started: time.Now().UTC(), Args: os.Args[1:], Window: o.window, Display: b.display,
		Machine: machineInfo(ctx),
	}
	defer func() {
		res.Took = time.Since(res.Started)
		if werr := res.write(os.Stdout, o.out); werr != nil {
			err = errors.Join(err, werr)
		}
	}()
	for k, kind := range o.contents {
		if err := b.runKind(ctx, kind, k, res); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
	}
	if o.uploadMB > 0 {
		runs, err := b.uploadComparison(ctx)
		res.Uploads = runs
		if err != nil {
			return fmt.Errorf("synthetic upload: %w", err)
		}
	}
	res.ServeErrors = countLogErrors(b.vault.logPath)
	return ctx.Err()
}

// runKind shows kind on the display and runs the srs calls and the
// baselines, alternating which goes first.
func (b *bench) runKind(ctx context.Context, kind string, k int, res *results) error {
	stopContent, err := ffmpeg.StartTestContent(ctx, b.display, kind, 0, 0, screenWidth, screenHeight)
	if err != nil {
		return err
	}
	defer stopContent()
	// Let the content settle (ffplay's first frames, the page rendered).
	time.Sleep(3 * time.Second)
	for round := 1; round <= b.o.rounds; round++ {
		srsFirst := (k+round)%2 == 1
		for step := range 2 {
			if (step == 0) == srsFirst {
				progress("%s round %d: srs call for %v", kind, round, b.o.window)
				call, err := b.srsCall(ctx, kind, round)
				if err != nil {
					return err
				}
				res.Calls = append(res.Calls, call)
			} else if b.o.baseline {
				progress("%s round %d: plain ffmpeg for %v", kind, round, b.o.window)
				base, err := b.baselineRun(ctx, kind, round, false)
				if err != nil {
					return err
				}
				res.Baselines = append(res.Baselines, base)
				if b.o.noTHP {
					progress("%s round %d: plain ffmpeg without huge pages for %v", kind, round, b.o.window)
					base, err := b.baselineRun(ctx, kind, round, true)
					if err != nil {
						return err
					}
					res.Baselines = append(res.Baselines, base)
				}
			}
		}
	}
	return nil
}
