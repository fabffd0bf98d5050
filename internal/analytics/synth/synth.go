// Package synth makes synthetic phone calls with a known ground truth for
// the tests and benchmarks of the speech analytics: where each spoken
// phrase lies, on which channel, and where the silences and the
// cross-talk are. Speech comes from flite (resampled with sox when the
// voice's rate is not the call's), is mixed in Go over a faint noise
// floor, and is written as a 16-bit PCM WAV; MP3 encodes one with lame.
//
// The files are small test fixtures, so a call is mixed in memory.
package synth

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Line is one utterance placed on a channel at a time.
type Line struct {
	Channel int           // 0 = left, 1 = right (mono calls: must be 0)
	At      time.Duration // where the speech starts in the call
	// Text is what is said. A part in braces, as in "I want to {cancel my
	// subscription} today", is a phrase whose exact placement is reported
	// (at most one braced part per line; the braces are not spoken).
	Text  string
	Voice string // flite voice: slt, kal16, awb, rms or kal; "" = "slt"
}

// Spec describes one call.
type Spec struct {
	Lines      []Line
	Length     time.Duration // total length; 0 = last line's end + 1 s
	SampleRate int           // 16000 or 8000 (the output's rate)
	Stereo     bool
	// NoiseDBFS is the RMS level of a faint white noise background in
	// dBFS, e.g. -60; 0 = -60. It must lie in -90..-20: the call is never
	// digital silence, and the noise stays well under the speech.
	NoiseDBFS float64
}

// Placed is where a line's audio actually landed, the leading and trailing
// silence of the synthesised audio trimmed away, so Start is when sound
// begins and End when it stops.
type Placed struct {
	Line                                 // as given in the Spec
	Start, End             time.Duration // the spoken audio of the whole line; Start is Line.At rounded to a sample
	PhraseStart, PhraseEnd time.Duration // of the braced part; zero when none
}

const (
	defaultVoice     = "slt"
	defaultNoiseDBFS = -60
	// phraseGap is the silence between a braced phrase and the speech
	// around it, which is synthesised apart so its bounds are exact.
	phraseGap = 80 * time.Millisecond
	// trailingSilence ends a call whose Spec has no Length.
	trailingSilence = time.Second
	// cacheDirName is the directory under Render's dir that keeps
	// synthesised pieces between Render calls.
	cacheDirName = "synth-cache"
)

// Render synthesises the call into dir as a 16-bit PCM WAV, dir/name.wav
// (stereo or mono at spec.SampleRate), and returns its path and the
// placements, in the order of spec.Lines. Synthesised pieces of speech are
// kept in dir/synth-cache and reused by later calls with the same dir.
func Render(ctx context.Context, dir, name string, spec Spec) (wavPath string, placed []Placed, err error) {
	if name == "" || strings.ContainsAny(name, `/\`) {
		return "", nil, fmt.Errorf("cannot render call %q: want a file name without directories", name)
	}
	wavPath = filepath.Join(dir, strings.TrimSuffix(name, ".wav")+".wav")
	channels, noiseDBFS, err := checkSpec(spec)
	if err != nil {
		return "", nil, fmt.Errorf("cannot render %s: %w", wavPath, err)
	}
	cacheDir := filepath.Join(dir, cacheDirName)
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", nil, fmt.Errorf("cannot render %s: %w", wavPath, err)
	}

	// Every line is one to three pieces (before, phrase, after); synthesise
	// each distinct piece once.
	lineParts := make([]textParts, len(spec.Lines))
	var keys []pieceKey
	seen := map[pieceKey]bool{}
	for i, line := range spec.Lines {
		lineParts[i], _ = splitText(line.Text) // checked by checkSpec
		for _, text := range lineParts[i].pieces() {
			k := pieceKey{voice: voiceOf(line), text: text, rate: spec.SampleRate}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	pieces, err := synthesiseAll(ctx, cacheDir, keys)
	if err != nil {
		return "", nil, fmt.Errorf("cannot render %s: %w", wavPath, err)
	}

	rate := spec.SampleRate
	audio := make([][]int16, len(spec.Lines))
	starts := make([]int, len(spec.Lines))
	placed = make([]Placed, len(spec.Lines))
	end := 0
	for i, line := range spec.Lines {
		voice := voiceOf(line)
		speech := func(text string) []int16 { return pieces[pieceKey{voice: voice, text: text, rate: rate}] }
		samples, phraseFrom, phraseTo := lineAudio(lineParts[i], speech, samplesOf(phraseGap, rate))
		start := samplesOf(line.At, rate)
		placed[i] = Placed{Line: line, Start: durationOf(start, rate), End: durationOf(start+len(samples), rate)}
		if phraseTo > 0 {
			placed[i].PhraseStart, placed[i].PhraseEnd = durationOf(start+phraseFrom, rate), durationOf(start+phraseTo, rate)
		}
		audio[i], starts[i] = samples, start
		end = max(end, start+len(samples))
	}

	length := end + samplesOf(trailingSilence, rate)
	if spec.Length != 0 {
		length = samplesOf(spec.Length, rate)
		for i, p := range placed {
			if p.End > durationOf(length, rate) {
				return "", nil, fmt.Errorf("cannot render %s: line %d ends at %v, after the call's length %v", wavPath, i, p.End, spec.Length)
			}
		}
	}

	tracks := make([][]int32, channels)
	for ch := range tracks {
		tracks[ch] = make([]int32, length)
	}
	for i, line := range spec.Lines {
		track := tracks[line.Channel][starts[i]:]
		for j, s := range audio[i] {
			track[j] += int32(s)
		}
	}
	noise := rand.New(rand.NewPCG(seedOf(name), uint64(rate)))
	out := interleave(tracks, noise, 32768*math.Pow(10, noiseDBFS/20))
	if err := writeWAV(wavPath, wavFormat{rate: rate, channels: channels}, out); err != nil {
		return "", nil, fmt.Errorf("cannot render: %w", err)
	}
	return wavPath, placed, nil
}

// lineAudio butts a line's pieces together, with phraseGap samples of
// silence either side of the phrase, and returns the samples and where the
// phrase lies in them (0, 0 when the line has none).
func lineAudio(parts textParts, speech func(text string) []int16, gap int) (samples []int16, phraseFrom, phraseTo int) {
	if parts.phrase == "" {
		return speech(parts.before), 0, 0
	}
	if parts.before != "" {
		samples = append(samples, speech(parts.before)...)
		samples = append(samples, make([]int16, gap)...)
	}
	phraseFrom = len(samples)
	samples = append(samples, speech(parts.phrase)...)
	phraseTo = len(samples)
	if parts.after != "" {
		samples = append(samples, make([]int16, gap)...)
		samples = append(samples, speech(parts.after)...)
	}
	return samples, phraseFrom, phraseTo
}

// interleave adds white noise of RMS sigma to the summed tracks and
// interleaves them as 16-bit samples, clipping what overflows.
func interleave(tracks [][]int32, noise *rand.Rand, sigma float64) []int16 {
	channels := len(tracks)
	out := make([]int16, len(tracks[0])*channels)
	for j := range tracks[0] {
		for ch, track := range tracks {
			v := float64(track[j]) + noise.NormFloat64()*sigma
			out[j*channels+ch] = int16(min(max(math.Round(v), math.MinInt16), math.MaxInt16))
		}
	}
	return out
}

// checkSpec reports what is wrong with spec, or else its channel count and
// noise level.
func checkSpec(spec Spec) (channels int, noiseDBFS float64, err error) {
	if spec.SampleRate != 16000 && spec.SampleRate != 8000 {
		return 0, 0, fmt.Errorf("sample rate %d: want 16000 or 8000", spec.SampleRate)
	}
	if spec.Length < 0 {
		return 0, 0, fmt.Errorf("negative length %v", spec.Length)
	}
	noiseDBFS = spec.NoiseDBFS
	if noiseDBFS == 0 {
		noiseDBFS = defaultNoiseDBFS
	}
	if noiseDBFS < -90 || noiseDBFS > -20 {
		return 0, 0, fmt.Errorf("noise level %g dBFS: want -90 to -20", noiseDBFS)
	}
	channels = 1
	if spec.Stereo {
		channels = 2
	}
	for i, line := range spec.Lines {
		if line.Channel < 0 || line.Channel >= channels {
			return 0, 0, fmt.Errorf("line %d is on channel %d of a call with %d", i, line.Channel, channels)
		}
		if line.At < 0 {
			return 0, 0, fmt.Errorf("line %d starts at %v, before the call", i, line.At)
		}
		if _, ok := voiceRates[voiceOf(line)]; !ok {
			return 0, 0, fmt.Errorf("line %d: unknown voice %q: want slt, kal16, awb, rms or kal", i, line.Voice)
		}
		parts, err := splitText(line.Text)
		if err != nil {
			return 0, 0, fmt.Errorf("line %d: %w", i, err)
		}
		if len(parts.pieces()) == 0 {
			return 0, 0, fmt.Errorf("line %d says nothing", i)
		}
	}
	return channels, noiseDBFS, nil
}

// textParts is a line's text split at its braced phrase.
type textParts struct {
	before, phrase, after string // the whole text in before when the line has no braces
}

// pieces returns the non-empty parts, in the order they are spoken.
func (p textParts) pieces() []string {
	var out []string
	for _, s := range []string{p.before, p.phrase, p.after} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// splitText splits a line's text at its braced phrase, if any.
func splitText(text string) (textParts, error) {
	opens, closes := strings.Count(text, "{"), strings.Count(text, "}")
	if opens == 0 && closes == 0 {
		return textParts{before: spoken(text)}, nil
	}
	i, j := strings.Index(text, "{"), strings.Index(text, "}")
	if opens != 1 || closes != 1 || j < i {
		return textParts{}, fmt.Errorf("cannot parse %q: want at most one {braced} phrase", text)
	}
	parts := textParts{
		before: spoken(text[:i]),
		phrase: spoken(text[i+1 : j]),
		after:  spoken(text[j+1:]),
	}
	if parts.phrase == "" {
		return textParts{}, fmt.Errorf("cannot parse %q: the braced phrase is empty", text)
	}
	return parts, nil
}

// spoken returns what of s is said: without surrounding spaces or the
// leading comma left after a "{phrase},", and "" when there is nothing in
// it to say (flite makes silence of the "." left after "{phrase}.", which
// would leave a piece with no sound to place).
func spoken(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) {
		return ""
	}
	return strings.TrimSpace(strings.TrimLeft(s, " ,;:"))
}

// synthesiseAll returns the speech of every key, running flite for a few
// pieces at a time.
func synthesiseAll(ctx context.Context, cacheDir string, keys []pieceKey) (map[pieceKey][]int16, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu     sync.Mutex
		pieces = make(map[pieceKey][]int16, len(keys))
		wg     sync.WaitGroup
		slots  = make(chan struct{}, min(runtime.GOMAXPROCS(0), 4))
	)
	for _, k := range keys {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			if ctx.Err() != nil {
				return
			}
			samples, err := piece(ctx, cacheDir, k)
			if err != nil {
				cancel(err)
				return
			}
			mu.Lock()
			pieces[k] = samples
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return pieces, nil
}

func voiceOf(line Line) string {
	if line.Voice == "" {
		return defaultVoice
	}
	return line.Voice
}

// seedOf makes the noise of a call depend on its name only, so a render is
// reproducible and two calls do not share their noise.
func seedOf(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// samplesOf returns the number of samples at rate nearest to d.
func samplesOf(d time.Duration, rate int) int {
	return int((int64(d)*int64(rate) + int64(time.Second)/2) / int64(time.Second))
}

// durationOf returns how long n samples at rate last (exact for 8 and
// 16 kHz).
func durationOf(n, rate int) time.Duration {
	return time.Duration(n) * time.Second / time.Duration(rate)
}
