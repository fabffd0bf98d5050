package synth

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite durations.tsv from flite")

// corpusPieces returns every piece of speech of the built-in sentences and
// topic templates, as Render would synthesise them.
func corpusPieces() []string {
	var pieces []string
	for _, pool := range [][]string{agentGreetings, customerGreetings, agentTurns, customerTurns, agentClosings, customerClosings} {
		pieces = append(pieces, pool...)
	}
	for _, template := range slices.Concat(agentTopicTemplates, customerTopicTemplates) {
		parts, err := splitText(strings.Replace(template, "{}", "{x}", 1))
		if err != nil {
			panic(err)
		}
		for _, p := range []string{parts.before, parts.after} {
			if p != "" {
				pieces = append(pieces, p)
			}
		}
	}
	slices.Sort(pieces)
	return slices.Compact(pieces)
}

// TestDurations checks that durations.tsv has every built-in piece in
// every corpus voice and still agrees with flite on a sample; with -update
// it measures them all again (about a minute) and rewrites it.
func TestDurations(t *testing.T) {
	ctx := context.Background()
	pieces := corpusPieces()
	if *update {
		var keys []pieceKey
		for _, rate := range []int{16000, 8000} {
			for _, voice := range corpusVoices {
				for _, p := range pieces {
					keys = append(keys, pieceKey{voice: voice, text: p, rate: rate})
				}
			}
		}
		speech, err := synthesiseAll(ctx, t.TempDir(), keys)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		b.WriteString("# voice, rate, milliseconds, text: flite's durations of Corpus's pieces, trimmed (go test ./internal/analytics/synth -run TestDurations -update)\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "%s\t%d\t%d\t%s\n", k.voice, k.rate, durationOf(len(speech[k]), k.rate).Round(time.Millisecond).Milliseconds(), k.text)
		}
		if err := os.WriteFile("durations.tsv", []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}

	measured := measuredDurations()
	for _, rate := range []int{16000, 8000} {
		for _, voice := range corpusVoices {
			for _, p := range pieces {
				if _, ok := measured[pieceKey{voice: voice, rate: rate, text: p}]; !ok {
					t.Errorf("durations.tsv has no %s %q at %d Hz: run go test ./internal/analytics/synth -run TestDurations -update", voice, p, rate)
				}
			}
		}
	}
	if t.Failed() {
		return
	}

	// The model's upper bound must hold where it can be checked.
	for key, d := range measured {
		if modelled := speechModels[key.voice].duration(key.text); time.Duration(float64(modelled)*modelledSlack) < d {
			t.Errorf("%s %q at %d Hz: modelled %v, its upper bound under the measured %v", key.voice, key.text, key.rate, modelled, d)
		}
	}

	// A sample, at both rates, against flite.
	dir := t.TempDir()
	var keys []pieceKey
	for i, voice := range corpusVoices {
		for _, rate := range []int{16000, 8000} {
			keys = append(keys, pieceKey{voice: voice, text: pieces[(i*37+rate/1000)%len(pieces)], rate: rate})
		}
	}
	speech, err := synthesiseAll(ctx, dir, keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		got, want := durationOf(len(speech[k]), k.rate), measured[k]
		if diff := got - want; diff > measuredSlack || diff < -measuredSlack {
			t.Errorf("%s %q at %d Hz lasts %v, durations.tsv says %v: run go test ./internal/analytics/synth -run TestDurations -update", k.voice, k.text, k.rate, got, want)
		}
	}
}
