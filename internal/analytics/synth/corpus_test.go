package synth

import (
	"context"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var testPhrases = []CorpusPhrase{
	{Text: "cancel my subscription", Speaker: customerChannel},
	{Text: "speak to a manager", Speaker: customerChannel},
	{Text: "refund", Speaker: customerChannel},
	{Text: "account", Speaker: customerChannel}, // in some built-in sentences, which must go
	{Text: "special offer", Speaker: agentChannel},
	{Text: "direct debit", Speaker: agentChannel},
}

// phraseIn reports which phrase, if any, text contains as whole words,
// case-insensitive.
func phraseIn(text string) string {
	for _, p := range testPhrases {
		pattern := `(?i)\b` + strings.ReplaceAll(regexp.QuoteMeta(p.Text), " ", `\s+`) + `\b`
		if regexp.MustCompile(pattern).MatchString(text) {
			return p.Text
		}
	}
	return ""
}

var bracedPart = regexp.MustCompile(`\{([^{}]*)\}`)

func TestCorpus(t *testing.T) {
	specs := Corpus(1, 50, testPhrases, 8000)
	if again := Corpus(1, 50, testPhrases, 8000); !reflect.DeepEqual(specs, again) {
		t.Error("Corpus(1, 50) differs from one call to the next")
	}
	if first := Corpus(1, 5, testPhrases, 8000); !reflect.DeepEqual(first, specs[:5]) {
		t.Error("Corpus(1, 5) is not the start of Corpus(1, 50)")
	}
	if other := Corpus(2, 50, testPhrases, 8000); reflect.DeepEqual(other, specs) {
		t.Error("Corpus(2, 50) is Corpus(1, 50)")
	}
	if len(specs) != 50 {
		t.Fatalf("%d calls, want 50", len(specs))
	}

	sentences := map[string]bool{}
	withPhrases, overlaps, changes := 0, 0, 0
	for i, spec := range specs {
		if !spec.Stereo || spec.SampleRate != 8000 || spec.Length < minCallLength || spec.Length > maxCallLength {
			t.Errorf("call %d: stereo %v, %d Hz, %v long; want stereo at 8000 Hz, 60–180 s", i, spec.Stereo, spec.SampleRate, spec.Length)
		}
		voices := [2]string{}
		phrases := 0
		var lastEnd time.Duration
		channelFree := [2]time.Duration{}
		for j, line := range spec.Lines {
			if voices[line.Channel] == "" {
				voices[line.Channel] = line.Voice
			}
			if line.Voice != voices[line.Channel] || !slices.Contains(corpusVoices, line.Voice) {
				t.Errorf("call %d line %d: voice %q on channel %d, which has %q", i, j, line.Voice, line.Channel, voices[line.Channel])
			}
			if m := bracedPart.FindStringSubmatch(line.Text); m != nil {
				phrases++
				k := slices.IndexFunc(testPhrases, func(p CorpusPhrase) bool { return p.Text == m[1] })
				if k < 0 || testPhrases[k].Speaker != line.Channel {
					t.Errorf("call %d line %d: phrase %q on channel %d is not one of the phrases, by its speaker", i, j, m[1], line.Channel)
				}
				if p := phraseIn(bracedPart.ReplaceAllString(line.Text, "")); p != "" {
					t.Errorf("call %d line %d: %q has %q outside its braces", i, j, line.Text, p)
				}
			} else {
				sentences[line.Text] = true
				if p := phraseIn(line.Text); p != "" {
					t.Errorf("call %d line %d: %q, not a phrase line, contains %q", i, j, line.Text, p)
				}
			}

			// The plan by the duration estimates: a speaker never over
			// himself, pauses of 0.3–4 s or overlaps of 0.5–1.5 s.
			expected, upper := estimate(line.Voice, spec.SampleRate, line.Text)
			if line.At < channelFree[line.Channel] {
				t.Errorf("call %d line %d starts at %v, before the speaker's last line ends at %v", i, j, line.At, channelFree[line.Channel])
			}
			if j > 0 {
				gap := line.At - lastEnd
				overlap := gap >= -maxOverlap && gap <= -minOverlap
				// A modelled phrase's upper bound can hold a speaker back
				// longer.
				if !overlap && (gap < minPause || gap > maxPause+time.Second) {
					t.Errorf("call %d line %d: %v after the last line ends, want a pause or an overlap", i, j, gap)
				}
				if overlap {
					overlaps++
				}
				if line.Channel != spec.Lines[j-1].Channel {
					changes++
				}
			}
			lastEnd = max(lastEnd, line.At+expected)
			channelFree[line.Channel] = line.At + upper
		}
		if voices[0] == voices[1] || voices[0] == "" || voices[1] == "" {
			t.Errorf("call %d: voices %q, want two different", i, voices)
		}
		if phrases > 0 {
			withPhrases++
		}
		if phrases > maxTopics {
			t.Errorf("call %d has %d phrases, want at most %d", i, phrases, maxTopics)
		}
	}
	t.Logf("%d distinct sentences, %d of 50 calls with phrases, %d overlaps in %d changes of speaker", len(sentences), withPhrases, overlaps, changes)
	if len(sentences) < 50 {
		t.Errorf("%d distinct sentences, want at least 50", len(sentences))
	}
	if withPhrases < 25 || withPhrases > 42 {
		t.Errorf("%d of 50 calls have phrases, want about two thirds", withPhrases)
	}
	if overlaps*16 < changes || overlaps*5 > changes {
		t.Errorf("%d overlaps in %d changes of speaker, want about one in eight", overlaps, changes)
	}
}

func TestCorpusPools(t *testing.T) {
	var all []string
	for _, pool := range [][]string{agentGreetings, customerGreetings, agentTurns, customerTurns, agentClosings, customerClosings} {
		all = append(all, pool...)
	}
	slices.Sort(all)
	if n := len(slices.Compact(slices.Clone(all))); n != len(all) || n < 60 {
		t.Errorf("%d built-in sentences, %d distinct; want at least 60, none twice", len(all), n)
	}
	for _, s := range all {
		if strings.ContainsAny(s, "{}0123456789") {
			t.Errorf("built-in sentence %q has braces or digits", s)
		}
	}
	for _, s := range slices.Concat(agentTopicTemplates, customerTopicTemplates) {
		if strings.Count(s, "{}") != 1 {
			t.Errorf("topic template %q: want one {}", s)
		}
	}
}

// TestCorpusRender renders a call of the corpus and checks that the
// pauses and overlaps Render places are the ones Corpus planned.
func TestCorpusRender(t *testing.T) {
	specs := Corpus(1, 6, testPhrases, 8000)
	// The shortest call with a phrase.
	spec := Spec{Length: time.Hour}
	for _, s := range specs {
		if s.Length < spec.Length && slices.ContainsFunc(s.Lines, func(l Line) bool { return strings.Contains(l.Text, "{") }) {
			spec = s
		}
	}
	start := time.Now()
	_, placed, err := Render(context.Background(), t.TempDir(), "corpus", spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rendered %v, %d lines, in %v", spec.Length, len(spec.Lines), time.Since(start))

	checkCorpusCall(t, spec, placed)
	t.Logf("cross-talk %v", Crosstalk(placed, 0))
}

// checkCorpusCall checks that the pauses and overlaps Render placed are
// the ones Corpus planned, and that a speaker's lines are apart.
func checkCorpusCall(t *testing.T, spec Spec, placed []Placed) {
	t.Helper()
	// A phrase's duration is only estimated, so the line after the one
	// that ends last is only checked when that one has no phrase.
	var plannedEnd, placedEnd time.Duration
	plannedByPhrase, placedByPhrase := false, false
	for j, p := range placed {
		if j > 0 && !plannedByPhrase && !placedByPhrase {
			planned, got := p.At-plannedEnd, p.Start-placedEnd
			if diff := got - planned; diff < -tolerance || diff > tolerance {
				t.Errorf("line %d: %v after the last line's end, planned %v", j, got, planned)
			}
		}
		hasPhrase := p.PhraseEnd != 0
		if p.End > placedEnd {
			placedEnd, placedByPhrase = p.End, hasPhrase
		}
		if expected, _ := estimate(p.Voice, spec.SampleRate, p.Text); p.At+expected > plannedEnd {
			plannedEnd, plannedByPhrase = p.At+expected, hasPhrase
		}
	}
	for ch, talk := range Talk(placed, 2) {
		for k := 1; k < len(talk); k++ {
			if talk[k].Start-talk[k-1].End < turnGap-tolerance {
				t.Errorf("channel %d: lines %v and %v closer than %v", ch, talk[k-1], talk[k], turnGap)
			}
		}
	}
}

func TestCorpusPanics(t *testing.T) {
	for _, phrases := range [][]CorpusPhrase{
		{{Text: "refund", Speaker: 2}},
		{{Text: " ", Speaker: 0}},
		{{Text: "{refund}", Speaker: 0}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Corpus(%v) did not panic", phrases)
				}
			}()
			Corpus(1, 1, phrases, 8000)
		}()
	}
}
