package analytics

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"callvault/internal/vault"
)

// Limits of a tenant's configuration: the recogniser spots every phrase
// of every topic in one pass, and its cost grows with their number.
const (
	MaxTopics          = 200
	MaxCategories      = 200
	MaxPhrasesPerTopic = 50
	MaxPhraseWords     = 8
	maxNameLen         = 64
	// DefaultStrictness is a topic's strictness when not given.
	DefaultStrictness = 50
	// ShortPhrasePhones: a phrase of fewer phones is accepted with a
	// warning, since short phrases are what the spotter mistakes most:
	// on the generated corpus "refund" (6 phones) gave 75 false alarms an
	// hour at strictness 50, "credit card" (10) 8, longer phrases none
	// (docs/PERFORMANCE.md, "Speech analytics").
	ShortPhrasePhones = 8
)

// The threshold of a phrase: pocketsphinx's keyword spotter reports a
// phrase when its acoustic score beats the phone loop's by more than the
// threshold, a probability (1e-N). The score of a phrase adds up over its
// phones, so the threshold's exponent is made proportional to the
// phrase's phones: N = phones × perPhone(strictness), perPhone falling
// linearly from lenientPerPhone at strictness 0 to strictPerPhone at 100.
// The two ends were chosen from bench/analyticsbench's sweep on the
// generated corpus (docs/PERFORMANCE.md). At the default 50 phrases of 11
// phones or more gave no false alarms, but the 16 kHz aims (recall ≥ 90 %,
// ≤ 2 false alarms an hour) are not met on 32 kbit/s calls at any value:
// recall there is limited by the MP3's band, not the threshold.
const (
	lenientPerPhone = 6.0
	strictPerPhone  = 0.5
	maxExponent     = 80
)

// ThresholdExponent is N of a phrase's threshold 1e-N.
func ThresholdExponent(phones, strictness int) int {
	strictness = max(0, min(100, strictness))
	perPhone := lenientPerPhone - (lenientPerPhone-strictPerPhone)*float64(strictness)/100
	n := int(math.Round(float64(phones) * perPhone))
	return max(1, min(maxExponent, n))
}

// CheckName checks a topic or category name: 1–64 printable characters,
// no surrounding spaces.
func CheckName(kind, name string) error {
	if name == "" || utf8.RuneCountInString(name) > maxNameLen || strings.TrimSpace(name) != name || !utf8.ValidString(name) {
		return vault.Errorf(vault.EINVALID, "a %s name is 1 to %d characters, without surrounding spaces", kind, maxNameLen)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return vault.Errorf(vault.EINVALID, "a %s name must be printable", kind)
		}
	}
	return nil
}

func checkSpeaker(what, speaker string, allowEmpty bool) (string, error) {
	switch speaker {
	case vault.SpeakerAgent, vault.SpeakerCustomer, vault.SpeakerAny:
		return speaker, nil
	case "":
		if allowEmpty {
			return vault.SpeakerAny, nil
		}
	}
	return "", vault.Errorf(vault.EINVALID, "%s: speaker must be agent, customer or any", what)
}

func checkStrictness(what string, s int) error {
	if s < 0 || s > 100 {
		return vault.Errorf(vault.EINVALID, "%s: strictness must be from 0 to 100", what)
	}
	return nil
}

// CheckTopic validates a topic against the recogniser's dictionary and
// normalises it: each phrase's text as the words the recogniser reads,
// speaker "any" when not given. A phrase with a word the dictionary does
// not have is refused, naming the word; warnings name phrases that are
// accepted but likely to give false alarms.
func CheckTopic(t *vault.Topic, dict *Dictionary, strictnessGiven bool) (warnings []string, err error) {
	if err := CheckName("topic", t.Name); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("topic %q", t.Name)
	if !strictnessGiven {
		t.Strictness = DefaultStrictness
	}
	if err := checkStrictness(what, t.Strictness); err != nil {
		return nil, err
	}
	if t.Speaker, err = checkSpeaker(what, t.Speaker, true); err != nil {
		return nil, err
	}
	if len(t.Phrases) == 0 || len(t.Phrases) > MaxPhrasesPerTopic {
		return nil, vault.Errorf(vault.EINVALID, "%s: give 1 to %d phrases", what, MaxPhrasesPerTopic)
	}
	seen := map[string]bool{}
	for i := range t.Phrases {
		p := &t.Phrases[i]
		words := Words(p.Text)
		if len(words) == 0 || len(words) > MaxPhraseWords {
			return nil, vault.Errorf(vault.EINVALID, "%s: phrase %q: give 1 to %d words", what, p.Text, MaxPhraseWords)
		}
		if p.Strictness != nil {
			if err := checkStrictness(fmt.Sprintf("%s, phrase %q", what, p.Text), *p.Strictness); err != nil {
				return nil, err
			}
		}
		phones := 0
		for _, w := range words {
			n, ok := dict.Phones(w)
			if !ok {
				return nil, vault.Errorf(vault.EINVALID, "%s: phrase %q: the word %q is not in the recogniser's dictionary; spell it as words it knows", what, p.Text, w)
			}
			phones += n
		}
		p.Text = strings.Join(words, " ")
		if seen[p.Text] {
			return nil, vault.Errorf(vault.EINVALID, "%s: phrase %q is given twice", what, p.Text)
		}
		seen[p.Text] = true
		if phones < ShortPhrasePhones {
			warnings = append(warnings, fmt.Sprintf("%s: phrase %q is short (%d phones); short phrases give false alarms, prefer two or three words", what, p.Text, phones))
		}
	}
	return warnings, nil
}

// CheckCategory validates a category against the topics it names.
func CheckCategory(c *vault.Category, topics []vault.Topic) error {
	if err := CheckName("category", c.Name); err != nil {
		return err
	}
	what := fmt.Sprintf("category %q", c.Name)
	if len(c.All)+len(c.Any)+len(c.None) == 0 {
		return vault.Errorf(vault.EINVALID, "%s: give topics in all, any or none", what)
	}
	known := func(name string) bool {
		return slices.ContainsFunc(topics, func(t vault.Topic) bool { return t.Name == name })
	}
	for _, list := range [][]string{c.All, c.Any, c.None} {
		if len(list) > MaxTopics {
			return vault.Errorf(vault.EINVALID, "%s: too many topics", what)
		}
		for _, name := range list {
			if !known(name) {
				return vault.Errorf(vault.EINVALID, "%s: there is no topic %q", what, name)
			}
		}
	}
	if c.MinOccurrences < 0 || c.MinOccurrences > 1000 {
		return vault.Errorf(vault.EINVALID, "%s: minOccurrences must be from 1 to 1000", what)
	}
	if c.Speaker != "" {
		var err error
		if c.Speaker, err = checkSpeaker(what, c.Speaker, false); err != nil {
			return err
		}
	}
	if w := c.Within; w != nil {
		if w.FromSec < 0 || w.ToSec < 0 || w.FromSec > 86400 || w.ToSec > 86400 || (w.ToSec != 0 && w.ToSec <= w.FromSec) {
			return vault.Errorf(vault.EINVALID, "%s: within: 0 ≤ fromSec < toSec ≤ 86400 (toSec 0: to the end)", what)
		}
	}
	return nil
}

// UsedBy lists the categories that name a topic.
func UsedBy(categories []vault.Category, topic string) []string {
	var names []string
	for _, c := range categories {
		if slices.Contains(c.All, topic) || slices.Contains(c.Any, topic) || slices.Contains(c.None, topic) {
			names = append(names, c.Name)
		}
	}
	return names
}

// Categorize returns the names of the categories the events of a call of
// the given length fall in, in the categories' order.
func Categorize(categories []vault.Category, events []vault.Event, length int64) []string {
	out := []string{}
	for _, c := range categories {
		if matches(c, events, length) {
			out = append(out, c.Name)
		}
	}
	return out
}

func matches(c vault.Category, events []vault.Event, length int64) bool {
	lo, hi := int64(0), length
	if w := c.Within; w != nil {
		from, to := int64(w.FromSec)*1000, int64(w.ToSec)*1000
		if to == 0 {
			to = length
		}
		if w.FromEnd {
			lo, hi = length-to, length-from
		} else {
			lo, hi = from, to
		}
	}
	counts := map[string]int{}
	for _, e := range events {
		if e.Type != vault.EventTopic || e.StartMs < lo || e.StartMs >= hi {
			continue
		}
		if c.Speaker != "" && c.Speaker != vault.SpeakerAny && e.Speaker != c.Speaker && e.Speaker != vault.SpeakerUnknown {
			continue
		}
		counts[e.Name]++
	}
	need := max(1, c.MinOccurrences)
	for _, t := range c.All {
		if counts[t] < need {
			return false
		}
	}
	if len(c.Any) > 0 && !slices.ContainsFunc(c.Any, func(t string) bool { return counts[t] >= need }) {
		return false
	}
	for _, t := range c.None {
		if counts[t] > 0 {
			return false
		}
	}
	return true
}
