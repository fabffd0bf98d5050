package synth

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// durationsTSV holds how long flite takes to say each built-in sentence
// and topic-template piece in each of corpusVoices, trimmed, at 16 and
// 8 kHz (the low-pass of resampling shortens the faint ends of some
// words by up to 80 ms): lines of voice, rate, milliseconds and text,
// tab-separated. TestDurations checks it against flite and rewrites it
// with -update.
//
//go:embed durations.tsv
var durationsTSV string

// measuredDurations is durationsTSV by piece.
var measuredDurations = sync.OnceValue(func() map[pieceKey]time.Duration {
	durations := map[pieceKey]time.Duration{}
	for i, line := range strings.Split(durationsTSV, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, "\t", 4)
		if len(fields) != 4 {
			panic(fmt.Sprintf("synth: durations.tsv line %d: want voice, rate, milliseconds and text", i+1))
		}
		rate, err1 := strconv.Atoi(fields[1])
		ms, err2 := strconv.Atoi(fields[2])
		if err1 != nil || err2 != nil {
			panic(fmt.Sprintf("synth: durations.tsv line %d: want voice, rate, milliseconds and text", i+1))
		}
		durations[pieceKey{voice: fields[0], rate: rate, text: fields[3]}] = time.Duration(ms) * time.Millisecond
	}
	return durations
})

const (
	// measuredSlack covers the rounding of a measured duration to the
	// millisecond, and small changes of flite or sox.
	measuredSlack = 20 * time.Millisecond
	// modelledSlack makes an upper bound of a modelled duration: the
	// durations in durations.tsv are 0.57 to 1.54 times the modelled ones
	// (the extremes are short pieces; 95 % are within ±17 %), and
	// TestDurations keeps it so.
	modelledSlack = 1.6
)

// estimate returns how long voice takes to say a line's text at rate, the
// braced phrase's gaps included: the expected duration and an upper bound,
// both in whole milliseconds. Measured pieces are near exact; others (a
// caller's phrases) are modelled.
func estimate(voice string, rate int, text string) (expected, upper time.Duration) {
	parts, err := splitText(text)
	if err != nil {
		panic("synth: estimate of a line Corpus made: " + err.Error())
	}
	for i, piece := range parts.pieces() {
		if i > 0 {
			expected += phraseGap
			upper += phraseGap
		}
		if d, ok := measuredDurations()[pieceKey{voice: voice, rate: rate, text: piece}]; ok {
			expected += d
			upper += d + measuredSlack
			continue
		}
		d := speechModels[voice].duration(piece)
		expected += d
		upper += time.Duration(float64(d) * modelledSlack)
	}
	return expected.Round(time.Millisecond), (upper + time.Millisecond - 1).Truncate(time.Millisecond)
}

// speechModel estimates how long a voice takes to say a text from a few
// counts, by coefficients (in seconds) fitted by least squares to
// durations.tsv.
type speechModel struct {
	base, perLetter, perSyllable, perSpelledLetter, perPause float64
}

var speechModels = map[string]speechModel{
	"slt":   {0.4939, 0.0366, 0.0773, 0.0662, 0.2686},
	"kal16": {0.2767, 0.0431, 0.0459, 0.1127, 0.4537},
	"awb":   {0.5528, 0.0497, 0.0331, 0.1192, 0.2508},
	"rms":   {0.3440, 0.0461, 0.0733, 0.1362, 0.2191},
}

func (m speechModel) duration(text string) time.Duration {
	c := countSpeech(text)
	seconds := m.base + m.perLetter*float64(c.letters) + m.perSyllable*float64(c.syllables) +
		m.perSpelledLetter*float64(c.spelledLetters) + m.perPause*float64(c.pauses)
	return time.Duration(seconds * float64(time.Second))
}

// speechCounts are what speechModel estimates from.
type speechCounts struct {
	letters, syllables, spelledLetters, pauses int
}

func countSpeech(text string) speechCounts {
	var c speechCounts
	words := strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && r != '\'' })
	for _, w := range words {
		c.syllables += syllables(w)
		if len([]rune(w)) == 1 && unicode.IsUpper([]rune(w)[0]) {
			c.spelledLetters++
		}
	}
	fields := strings.Fields(text)
	for i, f := range fields {
		for _, r := range f {
			if unicode.IsLetter(r) {
				c.letters++
			}
		}
		// A comma is a pause, and so is the end of a sentence that is
		// not the last.
		if strings.ContainsAny(f, ",;:") || i < len(fields)-1 && strings.ContainsAny(f, ".?!") {
			c.pauses++
		}
	}
	return c
}

// syllables guesses a word's syllables from its groups of vowels.
func syllables(word string) int {
	word = strings.ToLower(word)
	groups, inVowels := 0, false
	for _, r := range word {
		vowel := strings.ContainsRune("aeiouy", r)
		if vowel && !inVowels {
			groups++
		}
		inVowels = vowel
	}
	if groups > 1 && strings.HasSuffix(word, "e") && !strings.HasSuffix(word, "le") {
		groups--
	}
	return max(groups, 1)
}
