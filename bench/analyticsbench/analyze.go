package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"callvault/internal/analytics"
	"callvault/internal/vault"
)

// defaultStrictness is where the per-phrase, voice activity, memory and
// comparison numbers are taken.
const defaultStrictness = analytics.DefaultStrictness

// variant is one engine configuration compared.
type variant struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	engine      *analytics.Engine
}

// variants makes the engines compared, each with its dictionary loaded
// (outside any measurement).
func variants(o options) ([]variant, error) {
	withDefaults := func(configure func(e *analytics.Engine)) *analytics.Engine {
		e := analytics.NewEngine(o.pocketsphinx, o.ffmpeg, o.modelDir)
		configure(e)
		return e
	}
	vs := []variant{
		{Name: "default", Description: "the engine as shipped (the gate on; DecoderArgs nil: every frame scored; NoiseFill 0: none)", engine: withDefaults(func(*analytics.Engine) {})},
		{Name: "ds2", Description: `DecoderArgs: []string{"-ds", "2"} (the acoustic model scored on every other frame)`,
			engine: withDefaults(func(e *analytics.Engine) { e.DecoderArgs = []string{"-ds", "2"} })},
		{Name: "fill", Description: "NoiseFill: 120 (high-band noise of RMS 120 under the audio)", engine: withDefaults(func(e *analytics.Engine) { e.NoiseFill = 120 })},
		{Name: "nogate", Description: "NoGate: true (the recogniser hears the long pauses too)", engine: withDefaults(func(e *analytics.Engine) { e.NoGate = true })},
	}
	for _, v := range vs {
		if err := v.engine.Check(); err != nil {
			return nil, err
		}
	}
	return vs, nil
}

// job is one configuration every call is analysed with.
type job struct {
	Variant    string `json:"variant"`
	Strictness int    `json:"strictness"`
}

func (j job) key() string { return fmt.Sprintf("%s@%d", j.Variant, j.Strictness) }

// tally adds up one job's analyses over a rate's calls.
type tally struct {
	job
	Calls     int                     `json:"calls"`
	Audio     time.Duration           `json:"audioNs"`
	CPU       time.Duration           `json:"cpuNs"` // this process + children, the sampler's thread taken out
	Wall      time.Duration           `json:"wallNs"`
	Phrases   map[string]*phraseCount `json:"phrases"`
	Silence   intervalCount           `json:"silence"`
	Crosstalk intervalCount           `json:"crosstalk"`
	// Per analysis, in call order.
	ChildrenPeakKiB []int64 `json:"childrenPeakKiB"`
	ChildHWMKiB     []int64 `json:"childHWMKiB"`
	MaxChildren     int     `json:"maxChildren"` // the most children seen at once
	// Failed are the analyses that returned an error, left out of the rest.
	Failed     []string      `json:"failed,omitempty"`
	SamplerCPU time.Duration `json:"samplerCpuNs"`
	// Misses and FalseAlarms list what went wrong (at most maxDetails
	// each), for reading the JSON.
	Misses      []detail `json:"misses,omitempty"`
	FalseAlarms []detail `json:"falseAlarms,omitempty"`
}

// maxDetails bounds the misses and false alarms a tally lists.
const maxDetails = 400

func newTally(j job) *tally {
	t := &tally{job: j, Phrases: map[string]*phraseCount{}}
	for _, p := range benchPhrases {
		t.Phrases[p.Text] = &phraseCount{}
	}
	return t
}

// total adds up the phrases.
func (t *tally) total() phraseCount {
	var sum phraseCount
	for _, p := range t.Phrases {
		sum.add(*p)
	}
	return sum
}

// recall is the share of placed phrases found.
func (p phraseCount) recall() float64 {
	if p.Placed == 0 {
		return 0
	}
	return float64(p.Found) / float64(p.Placed)
}

// audioPerCPU is audio hours per CPU hour.
func (t *tally) audioPerCPU() float64 {
	if t.CPU <= 0 {
		return 0
	}
	return t.Audio.Seconds() / t.CPU.Seconds()
}

func (t *tally) falseAlarmsPerHour(p phraseCount) float64 {
	return float64(p.FalseAlarms) / t.Audio.Hours()
}

// topicsAt are the bench's topics, one per phrase and named after it,
// at a strictness, listening to either speaker.
func topicsAt(strictness int) []vault.Topic {
	topics := make([]vault.Topic, 0, len(benchPhrases))
	for _, p := range benchPhrases {
		topics = append(topics, vault.Topic{Name: p.Text, Phrases: []vault.Phrase{{Text: p.Text}}, Strictness: strictness, Speaker: vault.SpeakerAny})
	}
	return topics
}

// analyzeOne analyses one call, measuring its CPU time (this process and
// its children, the sampler's thread taken out) and the children's RSS.
func analyzeOne(ctx context.Context, e *analytics.Engine, c *call, strictness int, t *tally, sampleEvery time.Duration) error {
	f, err := os.Open(c.MP3)
	if err != nil {
		return err
	}
	defer f.Close()
	in := analytics.Input{Settings: vault.DefaultAnalyticsSettings(), Topics: topicsAt(strictness)}
	s := startSampler(sampleEvery)
	cpuStart, wallStart := cpuNow(), time.Now()
	res, err := e.Analyze(ctx, f, in)
	cpu, wall := cpuNow()-cpuStart, time.Since(wallStart)
	mem := s.finish()
	if err != nil {
		return fmt.Errorf("%s (%s): %w", c.Name, t.key(), err)
	}

	t.Calls++
	t.Audio += c.Length
	t.CPU += cpu - mem.CPU
	t.SamplerCPU += mem.CPU
	t.Wall += wall
	t.ChildrenPeakKiB = append(t.ChildrenPeakKiB, mem.ChildrenPeakKiB)
	t.ChildHWMKiB = append(t.ChildHWMKiB, mem.ChildHWMKiB)
	t.MaxChildren = max(t.MaxChildren, mem.Children)
	sc := score(c, res.Events)
	for name, p := range sc.Phrases {
		if t.Phrases[name] == nil {
			t.Phrases[name] = &phraseCount{}
		}
		t.Phrases[name].add(*p)
	}
	t.Silence.add(sc.Silence)
	t.Crosstalk.add(sc.Crosstalk)
	t.Misses = append(t.Misses, sc.Misses[:min(len(sc.Misses), maxDetails-len(t.Misses))]...)
	t.FalseAlarms = append(t.FalseAlarms, sc.FalseAlarms[:min(len(sc.FalseAlarms), maxDetails-len(t.FalseAlarms))]...)
	return nil
}

// measureHeap analyses a call once more with no RSS sampler running (it
// allocates) and measures the Go heap: HeapInuse after − before, and the
// highest heap polled every sampleEvery.
func measureHeap(ctx context.Context, e *analytics.Engine, c *call, sampleEvery time.Duration) (heapSample, error) {
	f, err := os.Open(c.MP3)
	if err != nil {
		return heapSample{}, err
	}
	defer f.Close()
	in := analytics.Input{Settings: vault.DefaultAnalyticsSettings(), Topics: topicsAt(defaultStrictness)}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	poller, start := startHeapPoller(sampleEvery)
	_, err = e.Analyze(ctx, f, in)
	peak := poller.finish()
	runtime.ReadMemStats(&after)
	if err != nil {
		return heapSample{}, fmt.Errorf("%s: %w", c.Name, err)
	}
	return heapSample{Call: c.Name, InuseDelta: int64(after.HeapInuse) - int64(before.HeapInuse),
		PeakDelta: int64(peak) - int64(start), Allocated: int64(after.TotalAlloc - before.TotalAlloc)}, nil
}

// bare is pocketsphinx_continuous alone on the left channel, fed by
// ffmpeg through a pipe, with the engine's decoder arguments and the same
// keyphrases at the default strictness: what the recogniser costs without
// the engine around it.
type bare struct {
	Command string        `json:"command"`
	Calls   int           `json:"calls"`
	Audio   time.Duration `json:"audioNs"` // one channel of each call
	CPU     time.Duration `json:"cpuNs"`   // children: ffmpeg + pocketsphinx
	// DecodeCPU is ffmpeg's run again alone, to take its share apart.
	DecodeCPU time.Duration `json:"decodeCpuNs"`
	Hits      int           `json:"hits"`
	PeakKiB   int64         `json:"peakKiB"` // highest summed RSS of the two
	// StartupCPU is one recogniser's CPU time on no audio at all (model
	// loading), averaged over a few runs: what every channel pays.
	StartupCPU time.Duration `json:"startupCpuNs"`
	args       []string
	model      string
	dir        string
}

// newBare writes the dictionary and keyphrase list the engine would give
// the recogniser at strictness.
func newBare(o options, e *analytics.Engine, dir string, strictness int) (*bare, error) {
	dict, err := e.Dictionary()
	if err != nil {
		return nil, err
	}
	words := map[string]bool{}
	var kws strings.Builder
	for _, p := range benchPhrases {
		phones := 0
		for _, w := range analytics.Words(p.Text) {
			n, _ := dict.Phones(w)
			phones += n
			words[w] = true
		}
		fmt.Fprintf(&kws, "%s /1e-%d/\n", strings.Join(analytics.Words(p.Text), " "), analytics.ThresholdExponent(phones, strictness))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lines, err := dictLines(filepath.Join(e.ModelDir, "cmudict-en-us.dict"), words)
	if err != nil {
		return nil, err
	}
	dictPath, kwsPath := filepath.Join(dir, "words.dict"), filepath.Join(dir, "phrases.kws")
	if err := os.WriteFile(dictPath, []byte(lines), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(kwsPath, []byte(kws.String()), 0o644); err != nil {
		return nil, err
	}
	// The engine's own arguments (internal/analytics kws.go) and decoder
	// arguments, and no log.
	args := []string{"-infile", "/dev/stdin", "-samprate", "16000", "-hmm", filepath.Join(e.ModelDir, "en-us"),
		"-dict", dictPath, "-kws", kwsPath, "-time", "yes", "-remove_silence", "no"}
	args = append(append(args, e.DecoderArgs...), "-logfn", "/dev/null")
	b := &bare{args: args, model: e.ModelDir, dir: dir}
	b.Command = fmt.Sprintf("%s -nostdin -loglevel error -i CALL.mp3 -af pan=mono|c0=c0 -ar 16000 -f s16le - | %s %s",
		o.ffmpegPath(), o.pocketsphinxPath(), strings.Join(args, " "))
	return b, nil
}

// dictLines returns the lines of a CMU dictionary for the given words
// (their variants too).
func dictLines(path string, words map[string]bool) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var out strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		word, _, _ := strings.Cut(sc.Text(), " ")
		if i := strings.IndexByte(word, '('); i > 0 {
			word = word[:i]
		}
		if words[word] {
			out.WriteString(sc.Text())
			out.WriteByte('\n')
		}
	}
	return out.String(), sc.Err()
}

// measureStartup runs the recogniser on no audio a few times.
func (b *bare) measureStartup(ctx context.Context, o options) error {
	const runs = 3
	args := slices.Clone(b.args)
	args[1] = "/dev/null"
	start := rusageCPU(syscall.RUSAGE_CHILDREN)
	for range runs {
		cmd := exec.CommandContext(ctx, o.pocketsphinxPath(), args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("pocketsphinx on no audio: %w: %s", err, out)
		}
	}
	b.StartupCPU = (rusageCPU(syscall.RUSAGE_CHILDREN) - start) / runs
	return nil
}

// run times ffmpeg | pocketsphinx on the call's left channel, and then
// ffmpeg alone to take its share apart.
func (b *bare) run(ctx context.Context, o options, c *call, sampleEvery time.Duration) error {
	ffArgs := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-i", c.MP3, "-af", "pan=mono|c0=c0", "-ar", "16000", "-f", "s16le", "-"}
	s := startSampler(sampleEvery)
	start := rusageCPU(syscall.RUSAGE_CHILDREN)
	hits, err := pipeline(exec.CommandContext(ctx, o.ffmpegPath(), ffArgs...), exec.CommandContext(ctx, o.pocketsphinxPath(), b.args...))
	cpu := rusageCPU(syscall.RUSAGE_CHILDREN) - start
	mem := s.finish()
	if err != nil {
		return fmt.Errorf("bare recogniser on %s: %w", c.Name, err)
	}
	start = rusageCPU(syscall.RUSAGE_CHILDREN)
	decode := exec.CommandContext(ctx, o.ffmpegPath(), ffArgs...)
	var stderr strings.Builder
	decode.Stdout, decode.Stderr = io.Discard, &stderr
	if err := decode.Run(); err != nil {
		return fmt.Errorf("ffmpeg on %s: %w: %s", c.Name, err, stderr.String())
	}
	b.DecodeCPU += rusageCPU(syscall.RUSAGE_CHILDREN) - start
	b.Calls++
	b.Audio += c.Length
	b.CPU += cpu
	b.Hits += hits
	b.PeakKiB = max(b.PeakKiB, mem.ChildrenPeakKiB)
	return nil
}

// pipeline runs from | to, the first's standard output into the second's
// input through a pipe, and counts the lines the second prints.
func pipeline(from, to *exec.Cmd) (lines int, err error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	from.Stdout, to.Stdin = w, r
	var fromErr, toErr strings.Builder
	from.Stderr, to.Stderr = &fromErr, &toErr
	out, err := to.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := from.Start(); err != nil {
		return 0, err
	}
	if err := to.Start(); err != nil {
		_ = from.Process.Kill()
		_ = from.Wait()
		return 0, err
	}
	w.Close()
	r.Close()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		// A hit is "phrase words start end probability".
		if f := strings.Fields(sc.Text()); len(f) >= 4 && isNumber(f[len(f)-1]) && isNumber(f[len(f)-2]) && isNumber(f[len(f)-3]) {
			lines++
		}
	}
	errFrom, errTo := from.Wait(), to.Wait()
	if errFrom != nil {
		return 0, fmt.Errorf("%s: %w: %s", from.Path, errFrom, fromErr.String())
	}
	if errTo != nil {
		return 0, fmt.Errorf("%s: %w: %s", to.Path, errTo, toErr.String())
	}
	return lines, nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}
