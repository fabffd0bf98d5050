package synth

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"time"
)

// CorpusPhrase is a topic phrase for Corpus and who says it.
type CorpusPhrase struct {
	Text    string
	Speaker int // channel: 0 = the agent, 1 = the customer
}

// The channels of Corpus's calls.
const (
	agentChannel    = 0
	customerChannel = 1
)

// corpusVoices are the voices Corpus's speakers have: the 16 kHz ones
// (kal, at 8 kHz, would be upsampled in a 16 kHz call).
var corpusVoices = []string{"slt", "kal16", "awb", "rms"}

// The shape of Corpus's calls.
const (
	minCallLength = 60 * time.Second
	maxCallLength = 180 * time.Second
	topicShare    = 2.0 / 3 // of the calls that have topic phrases
	maxTopics     = 3       // per call
	minPause      = 300 * time.Millisecond
	maxPause      = 4 * time.Second
	maxShortPause = 1500 * time.Millisecond // around greetings and closings
	overlapShare  = 0.18                    // of the changes of speaker that may overlap
	minOverlap    = 500 * time.Millisecond
	maxOverlap    = 1500 * time.Millisecond
	sameSpeaker   = 0.2 // chance that a speaker says a second sentence
	leadIn        = 2 * time.Second
	// turnGap keeps a speaker's own lines apart even when their estimated
	// durations are short of the real ones.
	turnGap = 300 * time.Millisecond
	// topicLate is how long after its planned time a topic phrase waits
	// before its speaker is made to take the next turn.
	topicLate = 8 * time.Second
)

// Corpus builds n varied calls for quality benchmarks from a seed: the
// agent on channel 0, the customer on channel 1, 60–180 s each, at
// sampleRate. Their lines are drawn from built-in pools of ordinary
// contact-centre sentences (greetings, account questions, addresses, small
// talk; a hundred of them), leaving out any that contain one of the
// phrases. About two thirds of the calls have one to three of the phrases,
// each braced in a sentence of its Speaker's. Each speaker has one of the
// voices slt, kal16, awb and rms; the pauses between turns are 0.3–4 s,
// and about one change of speaker in eight overlaps by 0.5–1.5 s.
//
// Lines are placed by the durations flite gives the built-in sentences
// (measured once and kept in durations.tsv) and by an estimate for the
// phrases, so a pause or an overlap next to a phrase can be off by a few
// tenths of a second; the ground truth is always what Render reports.
//
// Corpus is deterministic for a seed, and call i does not depend on n. It
// panics when a phrase is empty, has braces, or has a Speaker other than 0
// or 1.
func Corpus(seed int64, n int, phrases []CorpusPhrase, sampleRate int) []Spec {
	for _, p := range phrases {
		if strings.TrimSpace(p.Text) == "" || strings.ContainsAny(p.Text, "{}") {
			panic(fmt.Sprintf("synth: Corpus phrase %q: want a non-empty phrase without braces", p.Text))
		}
		if p.Speaker != agentChannel && p.Speaker != customerChannel {
			panic(fmt.Sprintf("synth: Corpus phrase %q has speaker %d: want 0 (agent) or 1 (customer)", p.Text, p.Speaker))
		}
	}
	pools := newCorpusPools(phrases)
	specs := make([]Spec, 0, max(n, 0))
	for i := range max(n, 0) {
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
		specs = append(specs, pools.call(rng, phrases, sampleRate))
	}
	return specs
}

// corpusPools are the sentences of one Corpus, those that contain a topic
// phrase left out.
type corpusPools struct {
	greetings, turns, closings, topicTemplates [2][]string // by channel
}

func newCorpusPools(phrases []CorpusPhrase) *corpusPools {
	var matchers []*regexp.Regexp
	for _, p := range phrases {
		matchers = append(matchers, phraseMatcher(p.Text))
	}
	keep := func(pool []string) []string {
		var kept []string
		for _, s := range pool {
			if !slices.ContainsFunc(matchers, func(m *regexp.Regexp) bool { return m.MatchString(s) }) {
				kept = append(kept, s)
			}
		}
		if len(kept) == 0 {
			panic(fmt.Sprintf("synth: Corpus: every built-in sentence like %q contains one of the phrases", pool[0]))
		}
		return kept
	}
	pools := &corpusPools{}
	pools.greetings = [2][]string{keep(agentGreetings), keep(customerGreetings)}
	pools.turns = [2][]string{keep(agentTurns), keep(customerTurns)}
	pools.closings = [2][]string{keep(agentClosings), keep(customerClosings)}
	pools.topicTemplates = [2][]string{keep(agentTopicTemplates), keep(customerTopicTemplates)}
	return pools
}

// phraseMatcher matches phrase in a text, case-insensitive, as whole words
// with any spacing between them.
func phraseMatcher(phrase string) *regexp.Regexp {
	words := strings.Fields(phrase)
	for i, w := range words {
		words[i] = regexp.QuoteMeta(w)
	}
	pattern := strings.Join(words, `\s+`)
	// \b only where the phrase begins or ends with a word character:
	// "refund!" has no boundary after it.
	trimmed := strings.TrimSpace(phrase)
	if isWordByte(trimmed[0]) {
		pattern = `\b` + pattern
	}
	if isWordByte(trimmed[len(trimmed)-1]) {
		pattern += `\b`
	}
	return regexp.MustCompile(`(?i)` + pattern)
}

// isWordByte reports whether b is what regexp's \b counts as a word
// character.
func isWordByte(b byte) bool {
	return b == '_' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// topic is a phrase a call is to have and when its speaker may say it.
type topic struct {
	phrase CorpusPhrase
	due    time.Duration
}

// callScript places the lines of one call as it goes.
type callScript struct {
	rng    *rand.Rand
	rate   int
	voices [2]string
	lines  []Line
	used   map[string]bool
	// channelFree is, per channel, when its last line surely has ended
	// (by the upper bound of its duration).
	channelFree [2]time.Duration
	// end is when the last line is expected to end; lastStart and
	// lastLength are the start and expected duration of the last line.
	end, lastStart, lastLength time.Duration
	lastSpeaker                int
}

// call builds one call.
func (pools *corpusPools) call(rng *rand.Rand, phrases []CorpusPhrase, sampleRate int) Spec {
	planned := minCallLength + time.Duration(rng.Int64N(int64(maxCallLength-minCallLength)/int64(time.Millisecond)+1))*time.Millisecond
	voiceOrder := rng.Perm(len(corpusVoices))
	script := &callScript{
		rng:         rng,
		rate:        sampleRate,
		voices:      [2]string{corpusVoices[voiceOrder[0]], corpusVoices[voiceOrder[1]]},
		used:        map[string]bool{},
		lastSpeaker: customerChannel,
		end:         minPause + time.Duration(rng.Int64N(int64(leadIn-minPause))).Round(time.Millisecond),
	}

	// The closing pair must fit in whatever time the body leaves.
	closingReserve := 2*maxShortPause + 500*time.Millisecond
	for ch := range 2 {
		longest := time.Duration(0)
		for _, s := range pools.closings[ch] {
			_, upper := estimate(script.voices[ch], sampleRate, s)
			longest = max(longest, upper)
		}
		closingReserve += longest + turnGap
	}
	bodyEnd := planned - closingReserve

	var topics []topic
	if len(phrases) > 0 && rng.Float64() < topicShare {
		count := min(1+rng.IntN(maxTopics), len(phrases))
		latest := max(bodyEnd-20*time.Second, 20*time.Second)
		for _, i := range rng.Perm(len(phrases))[:count] {
			due := 15*time.Second + time.Duration(rng.Int64N(int64(latest-15*time.Second)))
			topics = append(topics, topic{phrase: phrases[i], due: due})
		}
		slices.SortFunc(topics, func(a, b topic) int { return cmp.Compare(a.due, b.due) })
	}

	script.say(agentChannel, pick(rng, pools.greetings[agentChannel], script.used), maxShortPause)
	script.say(customerChannel, pick(rng, pools.greetings[customerChannel], script.used), maxShortPause)
	for bodyOver := false; ; {
		speaker := 1 - script.lastSpeaker
		if rng.Float64() < sameSpeaker {
			speaker = script.lastSpeaker
		}
		// A topic long due, or left when the body is over, gets its
		// speaker the turn.
		if len(topics) > 0 && (bodyOver || script.end > topics[0].due+topicLate) {
			speaker = topics[0].phrase.Speaker
		}
		text := ""
		for i, t := range topics {
			if t.phrase.Speaker == speaker && (bodyOver || t.due <= script.end) {
				text = strings.Replace(pick(rng, pools.topicTemplates[speaker], nil), "{}", "{"+t.phrase.Text+"}", 1)
				topics = slices.Delete(topics, i, i+1)
				break
			}
		}
		if text == "" {
			text = pick(rng, pools.turns[speaker], script.used)
		}
		start, upper := script.next(speaker, text, maxPause)
		if start+upper > bodyEnd && !strings.Contains(text, "{") {
			// Topics still to say are added past the body's end, which
			// makes the call longer than planned (rarely needed).
			if len(topics) == 0 {
				break
			}
			bodyOver = true
			continue
		}
		script.add(speaker, text, start)
	}
	script.say(agentChannel, pick(rng, pools.closings[agentChannel], script.used), maxShortPause)
	script.say(customerChannel, pick(rng, pools.closings[customerChannel], script.used), maxShortPause)
	// The call ends soon after the last word, as a hang-up does, but not
	// under a minute.
	hangUp := minPause + time.Duration(rng.Int64N(int64(maxShortPause-minPause))).Round(time.Millisecond)
	callEnd := max(script.channelFree[0], script.channelFree[1]) + hangUp
	return Spec{
		Lines:      script.lines,
		Length:     max(callEnd, minCallLength),
		SampleRate: sampleRate,
		Stereo:     true,
	}
}

// say adds a line of speaker's after the last one.
func (s *callScript) say(speaker int, text string, longestPause time.Duration) {
	start, _ := s.next(speaker, text, longestPause)
	s.add(speaker, text, start)
}

// next returns when speaker would start saying text after the last line,
// and the upper bound of how long it takes: after a pause, or now and then
// overlapping the other speaker's last line, but never before the
// speaker's own last line has surely ended.
func (s *callScript) next(speaker int, text string, longestPause time.Duration) (start, upper time.Duration) {
	_, upper = estimate(s.voices[speaker], s.rate, text)
	ownFree := s.channelFree[speaker] + turnGap
	// Short pauses are the more common. Whole milliseconds, as the
	// estimates, read better in a Spec.
	pause := minPause + time.Duration(s.rng.Float64()*s.rng.Float64()*float64(longestPause-minPause)).Round(time.Millisecond)
	start = max(s.end+pause, ownFree)
	overlap := minOverlap + time.Duration(s.rng.Float64()*float64(maxOverlap-minOverlap)).Round(time.Millisecond)
	overlaps := s.rng.Float64() < overlapShare
	// Overlap only the line that ends the conversation so far, and only
	// when it is long enough to be interrupted.
	if overlaps && speaker != s.lastSpeaker && s.lastStart+s.lastLength == s.end &&
		s.lastLength >= overlap+time.Second && s.end-overlap >= ownFree {
		start = s.end - overlap
	}
	return start, upper
}

// add places a line.
func (s *callScript) add(speaker int, text string, start time.Duration) {
	expected, upper := estimate(s.voices[speaker], s.rate, text)
	s.lines = append(s.lines, Line{Channel: speaker, At: start, Text: text, Voice: s.voices[speaker]})
	s.channelFree[speaker] = max(s.channelFree[speaker], start+upper)
	s.end = max(s.end, start+expected)
	s.lastStart, s.lastLength, s.lastSpeaker = start, expected, speaker
}

// pick draws a sentence from pool, one not yet in used while there is one,
// and marks it used.
func pick(rng *rand.Rand, pool []string, used map[string]bool) string {
	var fresh []string
	for _, s := range pool {
		if !used[s] {
			fresh = append(fresh, s)
		}
	}
	if len(fresh) == 0 {
		fresh = pool
	}
	s := fresh[rng.IntN(len(fresh))]
	if used != nil {
		used[s] = true
	}
	return s
}
