package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"callvault/internal/analytics/synth"
)

// benchPhrases are the topics, one phrase each, of different lengths;
// "refund" is kept short on purpose (fewer phones than
// analytics.ShortPhrasePhones) to show what a short phrase costs.
var benchPhrases = []synth.CorpusPhrase{
	{Text: "cancel my subscription", Speaker: 1},
	{Text: "speak to a manager", Speaker: 1},
	{Text: "too expensive", Speaker: 1},
	{Text: "refund", Speaker: 1},
	{Text: "change my address", Speaker: 1},
	{Text: "is there anything else", Speaker: 0},
	{Text: "thank you for calling", Speaker: 0},
	{Text: "credit card", Speaker: 0},
}

// defaultKbps is the bitrate calls are kept at by default, typical of
// call recording (-kbps16, -kbps8 change it).
var defaultKbps = map[int]int{16000: 32, 8000: 16}

// call is one rendered call of the corpus: its MP3 and its ground truth.
type call struct {
	Name   string         `json:"name"`
	Rate   int            `json:"rate"`
	Kbps   int            `json:"kbps"`
	Seed   int64          `json:"seed"`
	Length time.Duration  `json:"lengthNs"`
	Placed []synth.Placed `json:"placed"`
	// Phrases are the corpus phrases the call was made with, so a cache
	// made for other phrases is not reused.
	Phrases []synth.CorpusPhrase `json:"phrases"`
	MP3     string               `json:"-"`
}

// loadCorpus returns n calls at rate from dir/r<rate>, rendering (and
// encoding) those not there yet. Every call keeps its ground truth in a
// JSON file beside its MP3; the WAV is removed once encoded.
func loadCorpus(ctx context.Context, dir string, seed int64, n, rate, kbps int) ([]*call, error) {
	sub := filepath.Join(dir, fmt.Sprintf("r%d-%dk", rate, kbps))
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return nil, err
	}
	specs := synth.Corpus(seed, n, benchPhrases, rate)
	calls := make([]*call, 0, n)
	rendered := 0
	started := time.Now()
	for i, spec := range specs {
		name := fmt.Sprintf("call-%03d", i)
		c, err := cachedCall(sub, name, seed, rate, kbps)
		if err != nil {
			if rendered == 0 {
				progress("rendering %d kHz calls into %s (reused when present)", rate/1000, sub)
			}
			if c, err = renderCall(ctx, sub, name, seed, rate, kbps, spec); err != nil {
				return nil, err
			}
			rendered++
			if rendered%10 == 0 {
				progress("  %d kHz: %d rendered (call %d of %d), %v", rate/1000, rendered, i+1, n, time.Since(started).Round(time.Second))
			}
		}
		calls = append(calls, c)
	}
	if rendered > 0 {
		progress("rendered %d %d kHz calls in %v", rendered, rate/1000, time.Since(started).Round(time.Second))
	}
	return calls, nil
}

// cachedCall reads a call rendered earlier with the same seed, rate,
// bitrate and phrases.
func cachedCall(dir, name string, seed int64, rate, kbps int) (*call, error) {
	b, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		return nil, err
	}
	var c call
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	c.MP3 = filepath.Join(dir, name+".mp3")
	if fi, err := os.Stat(c.MP3); err != nil || fi.Size() == 0 {
		return nil, errors.New("no mp3")
	}
	if c.Seed != seed || c.Rate != rate || c.Kbps != kbps || !slices.Equal(c.Phrases, benchPhrases) {
		return nil, errors.New("made differently")
	}
	return &c, nil
}

func renderCall(ctx context.Context, dir, name string, seed int64, rate, kbps int, spec synth.Spec) (*call, error) {
	wav, placed, err := synth.Render(ctx, dir, name, spec)
	if err != nil {
		return nil, err
	}
	mp3, err := synth.MP3(ctx, wav, kbps)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(wav); err != nil {
		return nil, err
	}
	c := &call{Name: name, Rate: rate, Kbps: kbps, Seed: seed, Length: spec.Length, Placed: placed, Phrases: benchPhrases, MP3: mp3}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	// The JSON last, through a partial name: it marks the call complete.
	partial := filepath.Join(dir, name+".json.partial")
	if err := os.WriteFile(partial, b, 0o644); err != nil {
		return nil, err
	}
	return c, os.Rename(partial, filepath.Join(dir, name+".json"))
}

// phrasesPlaced counts the topic phrases the calls say.
func phrasesPlaced(calls []*call) int {
	n := 0
	for _, c := range calls {
		for _, p := range c.Placed {
			if p.PhraseEnd > 0 {
				n++
			}
		}
	}
	return n
}

// audioHours is the calls' total length.
func audioHours(calls []*call) float64 {
	var total time.Duration
	for _, c := range calls {
		total += c.Length
	}
	return total.Hours()
}
