// Package analytics is speech analytics: a call's audio decoded by ffmpeg,
// its voice activity measured per channel (talk, silence, cross-talk), the
// tenant's topic phrases spotted by pocketsphinx, categories decided over
// the topics found. Audio moves through pipes only.
package analytics

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"callvault/internal/ffmpeg"
	"callvault/internal/vault"
)

// DefaultModelDir is where Debian's pocketsphinx-en-us installs its model.
const DefaultModelDir = "/usr/share/pocketsphinx/model/en-us"

// sampleRate is the model's: every call is resampled to it (8 kHz
// telephone audio too; its upper band is simply empty).
const sampleRate = 16000

// EngineName is what an analysis names as its engine.
const EngineName = "pocketsphinx-kws"

// EngineRevision changes whenever the pipeline would hear a call
// differently (thresholds, gate, voice activity): analyses made before
// are then recognised again, not only categorised again.
const EngineRevision = "2026-12-01"

// ErrNoRecogniser is returned when pocketsphinx or its model is missing.
var ErrNoRecogniser = errors.New("the speech recogniser is not installed")

// Engine runs the pipeline. The zero value finds pocketsphinx_continuous
// and ffmpeg on PATH and Debian's en-US model.
type Engine struct {
	Pocketsphinx string // pocketsphinx_continuous
	FFmpeg       string
	ModelDir     string // holds en-us/ (the acoustic model) and cmudict-en-us.dict
	// DecoderArgs are extra pocketsphinx arguments (e.g. "-ds", "2").
	DecoderArgs []string
	// NoiseFill is the level (RMS, of 32768) of a high-band noise the
	// recogniser hears over the audio (see noiseFill); 0 or negative:
	// none, the measured default.
	NoiseFill float64
	// NoGate feeds the recogniser every pause too (see gate); for
	// measuring what the gate costs and saves.
	NoGate bool

	once    sync.Once
	dict    *Dictionary
	loadErr error
}

// NewEngine returns an engine with the given tools ("" finds them on PATH).
func NewEngine(pocketsphinx, ffmpegPath, modelDir string) *Engine {
	e := &Engine{Pocketsphinx: pocketsphinx, FFmpeg: ffmpegPath, ModelDir: modelDir}
	if e.Pocketsphinx == "" {
		e.Pocketsphinx = "pocketsphinx_continuous"
	}
	if e.FFmpeg == "" {
		e.FFmpeg = "ffmpeg"
	}
	if e.ModelDir == "" {
		e.ModelDir = DefaultModelDir
	}
	return e
}

// decoderArgs: none by default. Frame downsampling (-ds 2, the acoustic
// model scored on every other frame) halves the recogniser's time but
// lost phrases and moved hits by up to a second on compressed calls
// (docs/PERFORMANCE.md), so quality wins.
func (e *Engine) decoderArgs() []string {
	return e.DecoderArgs
}

// Supports reports whether the engine has a model for a language: en-US
// only (the model Debian ships).
func (e *Engine) Supports(language string) bool {
	return strings.EqualFold(language, "en-US") || strings.EqualFold(language, "en")
}

// Languages lists the languages the engine has a model for.
func (e *Engine) Languages() []string { return []string{"en-US"} }

// Dictionary loads the recogniser's dictionary once; ErrNoRecogniser when
// the model is not installed.
func (e *Engine) Dictionary() (*Dictionary, error) {
	e.once.Do(func() {
		path := filepath.Join(e.ModelDir, "cmudict-en-us.dict")
		if _, err := os.Stat(filepath.Join(e.ModelDir, "en-us", "mdef")); err != nil {
			e.loadErr = fmt.Errorf("%w: no acoustic model in %s (install pocketsphinx-en-us)", ErrNoRecogniser, e.ModelDir)
			return
		}
		e.dict, e.loadErr = LoadDictionary(path)
		if e.loadErr != nil {
			e.loadErr = fmt.Errorf("%w: %w", ErrNoRecogniser, e.loadErr)
		}
	})
	return e.dict, e.loadErr
}

// Check reports whether the tools run: pocketsphinx and ffmpeg found,
// the model installed.
func (e *Engine) Check() error {
	if _, err := exec.LookPath(e.Pocketsphinx); err != nil {
		return fmt.Errorf("%w: %s not found (install pocketsphinx)", ErrNoRecogniser, e.Pocketsphinx)
	}
	if _, err := exec.LookPath(e.FFmpeg); err != nil {
		return fmt.Errorf("cannot decode audio: %s not found (install ffmpeg)", e.FFmpeg)
	}
	_, err := e.Dictionary()
	return err
}

// Input is what one analysis needs of the tenant's configuration.
type Input struct {
	Settings   vault.AnalyticsSettings
	Topics     []vault.Topic
	Categories []vault.Category
}

// Result is one call's analysis.
type Result struct {
	Channels   int
	Events     []vault.Event // topics, silences, cross-talk, by start
	Talk       []vault.Event // talk spans per speaker
	Categories []string
	Metrics    vault.AnalysisMetrics
	// Peaks are each channel's waveform, one value 0–100 per PeakWindowMs.
	Peaks [][]uint8
}

// Analyze runs the pipeline over one call's audio (any format ffmpeg
// decodes from a pipe). The audio is decoded to 16 kHz PCM, measured and
// fed to one recogniser per channel as it comes: nothing is written to
// disk but the topics' words.
func (e *Engine) Analyze(ctx context.Context, src io.Reader, in Input) (*Result, error) {
	if !e.Supports(in.Settings.Language) {
		return nil, fmt.Errorf("%w: no model for %q", ErrUnsupported, in.Settings.Language)
	}
	var (
		dict    *Dictionary
		phrases []keyphrase
		owners  map[string][]vault.Topic
		phones  = map[string]int{}
	)
	if len(in.Topics) > 0 {
		if err := e.Check(); err != nil {
			return nil, err
		}
		dict, _ = e.Dictionary()
		phrases, owners = keyphrases(in.Topics, dict)
		for _, p := range phrases {
			phones[p.text] = p.phones
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		format ffmpeg.PCMFormat
		meters []*levelMeter
		hits   [][]Hit
	)
	err := ffmpeg.DecodePCM(ctx, e.FFmpeg, src, sampleRate, func(f ffmpeg.PCMFormat, pcm io.Reader) error {
		format = f
		for range f.Channels {
			meters = append(meters, newLevelMeter(f.Rate))
		}
		var spotters []*spotter
		if len(phrases) > 0 {
			for range f.Channels {
				sp, err := e.startSpotter(ctx, dict, phrases)
				if err != nil {
					for _, s := range spotters {
						s.kill()
					}
					return err
				}
				spotters = append(spotters, sp)
			}
		}
		gates := make([]*gate, len(spotters))
		buffers := make([]*bufio.Writer, len(spotters))
		for c, sp := range spotters {
			buffers[c] = bufio.NewWriterSize(sp.stdin, 64<<10)
			gates[c] = newGate(buffers[c], f.Rate, e.NoGate)
		}
		err := demux(pcm, f.Channels, meters, gates, e.noiseFillRMS())
		for c := range gates {
			if err == nil {
				err = gates[c].close()
			}
			if err == nil {
				err = buffers[c].Flush()
			}
		}
		if err != nil {
			for _, s := range spotters {
				s.kill()
			}
			return err
		}
		var errs []error
		for c, s := range spotters {
			h, err := s.wait()
			for i := range h {
				length := h[i].EndMs - h[i].StartMs
				h[i].StartMs = gates[c].callMs(h[i].StartMs)
				h[i].EndMs = h[i].StartMs + length
			}
			hits = append(hits, h)
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		return nil, err
	}
	return assemble(format, meters, hits, owners, phones, in), nil
}

// Errors of an analysis that are about its input, not the server.
var (
	ErrUnsupported = errors.New("language not supported")
	ErrUndecodable = ffmpeg.ErrUndecodable
)

// demux splits interleaved 16-bit frames into the meters and spotters,
// one channel each.
func demux(pcm io.Reader, channels int, meters []*levelMeter, gates []*gate, fillRMS float64) error {
	const frames = 4096
	in := make([]byte, frames*2*channels)
	outs := make([][]byte, channels)
	for c := range outs {
		outs[c] = make([]byte, 0, frames*2)
	}
	fills := make([]noiseFill, channels)
	for c := range fills {
		fills[c] = newNoiseFill(uint64(c)+1, fillRMS)
	}
	carry := 0
	for {
		n, err := pcm.Read(in[carry:])
		n += carry
		whole := n - n%(2*channels)
		for c := range outs {
			outs[c] = outs[c][:0]
		}
		for i := 0; i < whole; i += 2 * channels {
			for c := range channels {
				lo, hi := in[i+2*c], in[i+2*c+1]
				sample := int16(uint16(lo) | uint16(hi)<<8)
				meters[c].add(sample)
				v := fills[c].add(sample)
				outs[c] = append(outs[c], byte(v), byte(uint16(v)>>8))
			}
		}
		for c, g := range gates {
			if werr := g.write(outs[c]); werr != nil {
				return fmt.Errorf("the recogniser stopped reading its audio: %w", werr)
			}
		}
		carry = copy(in, in[whole:n])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cannot read decoded audio: %w", err)
		}
	}
}

// keyphrases lists the distinct phrases of the topics with their
// thresholds, and which topics each phrase belongs to. A phrase in two
// topics is spotted once, at the more lenient of their thresholds. A
// phrase with a word the dictionary lacks (checked when the topic was
// saved, so only after a model change) is left out.
func keyphrases(topics []vault.Topic, dict *Dictionary) ([]keyphrase, map[string][]vault.Topic) {
	owners := map[string][]vault.Topic{}
	exponent := map[string]int{}
	phonesOf := map[string]int{}
	var order []string
	for _, t := range topics {
		for _, p := range t.Phrases {
			words := Words(p.Text)
			phones := 0
			for _, w := range words {
				n, ok := dict.Phones(w)
				if !ok {
					phones = 0
					break
				}
				phones += n
			}
			if phones == 0 {
				continue
			}
			text := strings.Join(words, " ")
			strictness := t.Strictness
			if p.Strictness != nil {
				strictness = *p.Strictness
			}
			n := ThresholdExponent(phones, strictness)
			phonesOf[text] = phones
			if old, ok := exponent[text]; !ok {
				order = append(order, text)
				exponent[text] = n
			} else {
				exponent[text] = max(old, n)
			}
			if !slices.ContainsFunc(owners[text], func(o vault.Topic) bool { return o.Name == t.Name }) {
				owners[text] = append(owners[text], t)
			}
		}
	}
	out := make([]keyphrase, 0, len(order))
	for _, text := range order {
		out = append(out, keyphrase{text: text, exponent: exponent[text], phones: phonesOf[text]})
	}
	return out, owners
}

// noiseFill adds faint high-band noise to what the recogniser hears, for
// band-limited audio (8 kHz, or an MP3 low-passed by its encoder), which
// leaves the 16 kHz model's filters above 4–5.5 kHz with no energy. On the
// generated corpus it raised recall from 64 % to 95 % on 32 kbit/s calls
// and from 0 to 39 % on 8 kHz ones, with many more false alarms from
// short phrases; on one full-band call it lost the call's first phrase
// (docs/PERFORMANCE.md). It is off by default until the engine decides per
// channel whether the upper band is empty. First-differenced white noise
// rises towards 8 kHz, so the speech band gets almost none of it. The
// voice activity detector never hears it.
type noiseFill struct {
	state uint64
	prev  float64
	gain  float64
}

func (e *Engine) noiseFillRMS() float64 { return max(0, e.NoiseFill) }

// newNoiseFill makes a fill of the given RMS level; first-differenced
// uniform noise on [-1, 1) has an RMS of sqrt(2/3).
func newNoiseFill(seed uint64, rms float64) noiseFill {
	return noiseFill{state: seed*0x9E3779B97F4A7C15 | 1, gain: rms / 0.8165}
}

func (n *noiseFill) add(sample int16) int16 {
	// xorshift64*: deterministic, so an analysis gives the same result twice.
	n.state ^= n.state >> 12
	n.state ^= n.state << 25
	n.state ^= n.state >> 27
	w := float64(int64(n.state*2685821657736338717)>>11) / float64(1<<52) // uniform in [-1, 1)
	d := w - n.prev
	n.prev = w
	v := float64(sample) + d*n.gain
	return int16(max(-32768, min(32767, v)))
}
