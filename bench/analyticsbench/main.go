// Command analyticsbench measures the speech analytics engine
// (internal/analytics) against its aims: recall and false alarms of topic
// phrases by strictness, silence and cross-talk against the ground truth,
// audio hours analysed per CPU hour, and peak memory per analysis; and,
// with -workers N, how fast `callvault worker` processes get through the
// analysis jobs of N recordings on PostgreSQL and MinIO.
//
// It renders a corpus of synthetic stereo calls (internal/analytics/synth:
// agent on the left, customer on the right, 60–180 s each) at 16 kHz and at
// 8 kHz, MP3 (joint stereo) at -kbps16 and -kbps8 (32 and 16 kbit/s), with
// eight topics of one phrase each said in about two thirds of them; the
// calls are kept in -dir and reused by later runs (rendering takes
// minutes). Both rates have the same scripts, so they differ by rate and
// bitrate only. Then, per rate and call by call (so a change of the
// machine's load touches every configuration alike), it analyses each
// call
//
//   - with the engine as shipped at every -strictness (all eight topics,
//     speaker any): recall is the share of placed phrases found by an
//     event of their topic and speaker starting within ±1 s of the phrase;
//     a false alarm is a topic event with no such phrase; silences
//     (≥ 3 s) and cross-talk (≥ 400 ms) are compared with
//     synth.Silences and synth.Crosstalk at the default strictness;
//   - with -compare, at the default strictness, also with the engine's
//     options: frame downsampling (ds2: DecoderArgs -ds 2), the high-band
//     noise fill (fill: NoiseFill 120), and without the gate that keeps
//     long pauses from the recogniser (nogate: NoGate);
//   - with -reference, on the first -reference-calls calls,
//     pocketsphinx_continuous alone on the left channel, fed by ffmpeg
//     through a pipe, with the engine's arguments and keyphrases: the bare
//     recogniser's speed.
//
// Analyses run one at a time. CPU is getrusage(RUSAGE_SELF) +
// getrusage(RUSAGE_CHILDREN) around each analysis: this process and its
// ffmpeg and pocketsphinx children. A sampler on a thread of its own reads,
// every -sample, the VmRSS of every process whose parent is this one
// (summed; a child not yet exec'd, which still shares our memory, is left
// out); its thread's CPU time is taken out of the analysis's. This
// process's own RSS is not counted: it holds the corpus's ground truth and
// the engines' dictionaries. The Go heap growth of an analysis is measured
// apart, on the longest call with no sampler running: HeapInuse after −
// before (runtime.ReadMemStats), with the highest heap polled beside it.
//
// Part B (-workers N, after `source .ci/services.sh`): a new PostgreSQL
// database and MinIO bucket, `callvault init`, the API served in this
// process with no job workers (server.Open with NoJobs: what `callvault
// serve` runs, less its jobs; serve has no -job-workers 0), a voice
// certificate and the eight topics (their re-analysis jobs drained first).
// Then twice, with one and with two `callvault worker -job-workers 1`
// processes: N 16 kHz calls ingested as new recordings (the plain MP3,
// which the server encrypts, then the metadata with a stop time), the
// workers started, and the time until GET /api/v2/recordings/{id}/analytics
// says done for every one. The database, the bucket and the work directory
// are removed at the end unless -keep.
//
// The result is a Markdown report on stdout (progress on stderr) and, with
// -json FILE, the same numbers as JSON.
//
//	go run ./bench/analyticsbench -strictness 20,50,80 -json /tmp/analyticsbench.json   # the full part A
//	go run ./bench/analyticsbench -calls 6 -strictness 50 -compare "" -reference=false   # a quick check
//	source .ci/services.sh && go run ./bench/analyticsbench -engine=false -rates 16000 -calls 20 -workers 20   # part B only
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"callvault/internal/analytics"
)

type options struct {
	dir            string
	calls          int
	seed           int64
	rates          []int
	strictness     []int
	compare        []string // variants besides the default, at strictness 50
	sweep          string   // the variant swept over -strictness
	shortPhones    int
	fromJSON       string
	only           string
	reference      bool
	referenceCalls int
	jsonPath       string
	sample         time.Duration
	pocketsphinx   string
	ffmpeg         string
	modelDir       string
	timeout        time.Duration
	renderOnly     bool
	engine         bool
	kbps           map[int]int // by rate
	workers        workersOptions
}

func (o options) ffmpegPath() string       { return or(o.ffmpeg, "ffmpeg") }
func (o options) pocketsphinxPath() string { return or(o.pocketsphinx, "pocketsphinx_continuous") }

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

func main() {
	var o options
	rates := flag.String("rates", "16000,8000", "sample rates of the corpus, comma-separated: 16000, 8000")
	strictness := flag.String("strictness", "20,35,50,65,80", "strictness values to sweep, comma-separated (0–100); 50, the default, is always measured")
	flag.StringVar(&o.dir, "dir", filepath.Join(os.TempDir(), "analyticsbench"), "directory the rendered corpus is kept in and reused from")
	flag.IntVar(&o.calls, "calls", 50, "calls per rate")
	flag.Int64Var(&o.seed, "seed", 1, "seed of the corpus")
	flag.StringVar(&o.sweep, "sweep", "default", "the engine configuration swept over -strictness: default, ds2, fill or nogate (the default one is always measured at 50)")
	flag.IntVar(&o.shortPhones, "short-phones", analytics.ShortPhrasePhones, "phrases of fewer phones are left out of the \"without short phrases\" figures (default: those the engine warns about)")
	flag.StringVar(&o.fromJSON, "from-json", "", "print the report of an earlier run's -json file and stop")
	flag.StringVar(&o.only, "only", "", "analyse this call of the corpus only, e.g. call-035 (to look into one)")
	compare := flag.String("compare", "ds2,fill", `engine configurations to analyse at strictness 50 beside the default, comma-separated: ds2 (-ds 2), fill (NoiseFill 120), nogate (NoGate); "" none`)
	flag.BoolVar(&o.reference, "reference", true, "also time pocketsphinx_continuous alone on the left channel")
	flag.IntVar(&o.referenceCalls, "reference-calls", 10, "calls of each rate the bare recogniser is timed on")
	flag.StringVar(&o.jsonPath, "json", "", "file to write the results to as JSON")
	flag.DurationVar(&o.sample, "sample", 20*time.Millisecond, "how often the children's VmRSS is sampled")
	flag.StringVar(&o.pocketsphinx, "pocketsphinx", "", "pocketsphinx_continuous to use (default: on PATH)")
	flag.StringVar(&o.ffmpeg, "ffmpeg", "", "ffmpeg to use (default: on PATH)")
	flag.StringVar(&o.modelDir, "model", "", "the recogniser's model directory (default "+analytics.DefaultModelDir+")")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Hour, "stop everything after this long")
	flag.BoolVar(&o.renderOnly, "render-only", false, "make the corpus in -dir and stop")
	flag.BoolVar(&o.engine, "engine", true, "measure the engine (part A); -engine=false with -workers N runs part B only")
	o.kbps = map[int]int{}
	kbps16 := flag.Int("kbps16", defaultKbps[16000], "MP3 bitrate of the 16 kHz calls, kbit/s (stereo, joint)")
	kbps8 := flag.Int("kbps8", defaultKbps[8000], "MP3 bitrate of the 8 kHz calls, kbit/s (stereo, joint)")
	workerFlags(&o.workers)
	flag.Parse()
	if flag.NArg() > 0 {
		fatalf("unexpected arguments: %v", flag.Args())
	}
	o.kbps[16000], o.kbps[8000] = *kbps16, *kbps8
	switch o.sweep {
	case "default", "ds2", "fill", "nogate":
	default:
		fatalf("-sweep: unknown %q (want default, ds2, fill, nogate)", o.sweep)
	}
	if o.fromJSON != "" {
		if err := printJSONReport(o.fromJSON); err != nil {
			fatalf("%v", err)
		}
		return
	}
	for _, v := range strings.Split(*compare, ",") {
		switch v = strings.TrimSpace(v); v {
		case "":
		case "ds2", "fill", "nogate":
			if !slices.Contains(o.compare, v) {
				o.compare = append(o.compare, v)
			}
		default:
			fatalf("-compare: unknown %q (want ds2, fill, nogate)", v)
		}
	}
	for _, r := range strings.Split(*rates, ",") {
		rate, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || defaultKbps[rate] == 0 {
			fatalf("-rates: %q: want 16000 or 8000", r)
		}
		o.rates = append(o.rates, rate)
	}
	for _, s := range strings.Split(*strictness, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < 0 || v > 100 {
			fatalf("-strictness: %q: want 0 to 100", s)
		}
		if !slices.Contains(o.strictness, v) {
			o.strictness = append(o.strictness, v)
		}
	}
	if !slices.Contains(o.strictness, defaultStrictness) {
		o.strictness = append(o.strictness, defaultStrictness)
	}
	slices.Sort(o.strictness)
	switch {
	case o.calls < 1:
		fatalf("-calls must be at least 1")
	case o.sample < time.Millisecond:
		fatalf("-sample must be at least 1ms")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	code := 0
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "analyticsbench:", err)
		code = 1
	}
	cancel()
	stop()
	os.Exit(code)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "analyticsbench: "+format+"\n", args...)
	os.Exit(2)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func run(ctx context.Context, o options) error {
	// What the dictionary keeps on the heap: every engine loads it once.
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	vs, err := variants(o)
	if err != nil {
		return err
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	dictionaryBytes := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / int64(len(vs))
	engine := vs[0].engine
	res := &results{Started: time.Now().UTC(), Args: os.Args[1:], Machine: machineInfo(ctx), Sample: o.sample, Seed: o.seed, ShortPhones: o.shortPhones}
	started := time.Now()
	corpora := map[int][]*call{}
	for _, rate := range o.rates {
		calls, err := loadCorpus(ctx, o.dir, o.seed, o.calls, rate, o.kbps[rate])
		if err != nil {
			return fmt.Errorf("cannot make the %d Hz corpus: %w", rate, err)
		}
		if o.only != "" {
			calls = slices.DeleteFunc(calls, func(c *call) bool { return c.Name != o.only })
			if len(calls) == 0 {
				return fmt.Errorf("-only %s: no such call among the first %d", o.only, o.calls)
			}
		}
		corpora[rate] = calls
	}
	res.Render = time.Since(started)
	if o.renderOnly {
		progress("corpus ready in %s (%v)", o.dir, res.Render.Round(time.Second))
		return nil
	}
	measured := time.Now()
	for _, rate := range o.rates {
		if !o.engine {
			break
		}
		rr, err := runRate(ctx, o, vs, corpora[rate])
		if err != nil {
			return err
		}
		rr.Heap.DictionaryBytes = dictionaryBytes
		res.Rates = append(res.Rates, rr)
	}
	res.Measure = time.Since(measured)
	if o.workers.recordings > 0 {
		if corpora[16000] == nil {
			return errors.New("-workers needs the 16 kHz corpus (-rates with 16000)")
		}
		wr, err := runWorkers(ctx, o, corpora[16000])
		if err != nil {
			return fmt.Errorf("workers: %w", err)
		}
		res.Workers = wr
	}
	res.Took = time.Since(res.Started)
	res.Phones = phraseInfo(engine)
	res.markdown(os.Stdout)
	if o.jsonPath != "" {
		if err := res.writeJSON(o.jsonPath); err != nil {
			return err
		}
		progress("wrote %s", o.jsonPath)
	}
	return nil
}

// runRate analyses every call of one rate with every job, call by call.
func runRate(ctx context.Context, o options, vs []variant, calls []*call) (*rateResult, error) {
	rate := calls[0].Rate
	rr := &rateResult{Rate: rate, Kbps: calls[0].Kbps, Calls: len(calls), AudioHours: audioHours(calls), Placed: phrasesPlaced(calls)}
	engines := map[string]*analytics.Engine{}
	for _, v := range vs {
		engines[v.Name] = v.engine
		rr.Variants = append(rr.Variants, v)
	}
	rr.Sweep = o.sweep
	var jobs []job
	for _, s := range o.strictness {
		jobs = append(jobs, job{Variant: o.sweep, Strictness: s})
	}
	for _, v := range append([]string{"default"}, o.compare...) {
		if j := (job{Variant: v, Strictness: defaultStrictness}); !slices.Contains(jobs, j) {
			jobs = append(jobs, j)
		}
	}
	tallies := map[string]*tally{}
	for _, j := range jobs {
		tallies[j.key()] = newTally(j)
		rr.Jobs = append(rr.Jobs, j.key())
	}
	rr.Tallies = tallies
	var ref *bare
	if o.reference {
		var err error
		ref, err = newBare(o, engines["default"], filepath.Join(o.dir, "bare"), defaultStrictness)
		if err != nil {
			return nil, err
		}
		if err := ref.measureStartup(ctx, o); err != nil {
			return nil, err
		}
		rr.Bare = ref
	}
	progress("%d kHz: %d calls (%.2f h of audio, %d phrases placed) × %d configurations%s",
		rate/1000, len(calls), rr.AudioHours, rr.Placed, len(jobs), map[bool]string{true: " + the bare recogniser", false: ""}[ref != nil])
	started := time.Now()
	for i, c := range calls {
		// Rotate the order so no configuration always runs first.
		for k := range jobs {
			j := jobs[(i+k)%len(jobs)]
			if err := analyzeOne(ctx, engines[j.Variant], c, j.Strictness, tallies[j.key()], o.sample); err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				// One failed analysis is a finding, not the end of an
				// hour's run: it is counted, named, and left out.
				t := tallies[j.key()]
				t.Failed = append(t.Failed, err.Error())
				progress("  %v (left out)", err)
			}
		}
		if ref != nil && i < o.referenceCalls {
			if err := ref.run(ctx, o, c, o.sample); err != nil {
				return nil, err
			}
		}
		if done := i + 1; done%5 == 0 || done == len(calls) {
			elapsed := time.Since(started)
			eta := time.Duration(float64(elapsed) / float64(done) * float64(len(calls)-done))
			d := tallies[job{Variant: "default", Strictness: defaultStrictness}.key()]
			total := d.total()
			progress("  %d kHz: %d/%d calls, %v, about %v left; at 50 so far recall %.1f %%, %d false alarms, %.1f audio h per CPU h",
				rate/1000, done, len(calls), elapsed.Round(time.Second), eta.Round(time.Second), 100*total.recall(), total.FalseAlarms, d.audioPerCPU())
		}
	}
	// The Go heap, on the longest call, alone.
	longest := slices.MaxFunc(calls, func(a, b *call) int { return cmp.Compare(a.Length, b.Length) })
	heap, err := measureHeap(ctx, engines["default"], longest, o.sample)
	if err != nil {
		return nil, err
	}
	rr.Heap = heap
	rr.Took = time.Since(started)
	return rr, nil
}
