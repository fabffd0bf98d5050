package main

import (
	"strings"
	"time"

	"callvault/internal/analytics/synth"
	"callvault/internal/vault"
)

// matchWindow is how far a topic event's start may be from where its
// phrase was placed and still count as finding it.
const matchWindow = time.Second

// The ground truth's minimum lengths, as the engine's: silences of the
// default settings' 3 s, cross-talk of analytics.CrosstalkMinMs.
const (
	truthSilence   = 3 * time.Second
	truthCrosstalk = 400 * time.Millisecond
)

// phraseCount is what was found of one phrase.
type phraseCount struct {
	Placed int `json:"placed"`
	Found  int `json:"found"`
	// FalseAlarms are topic events of the phrase with no placed phrase of
	// its topic and speaker within matchWindow of their start.
	FalseAlarms int `json:"falseAlarms"`
	// Duplicates are further events that match a phrase already found
	// (not false alarms: the phrase was said there).
	Duplicates int `json:"duplicates"`
}

func (p *phraseCount) add(o phraseCount) {
	p.Placed += o.Placed
	p.Found += o.Found
	p.FalseAlarms += o.FalseAlarms
	p.Duplicates += o.Duplicates
}

// intervalCount compares interval events with the ground truth.
type intervalCount struct {
	True    int `json:"true"`    // intervals of the ground truth
	Matched int `json:"matched"` // of them, overlapped by an event
	Events  int `json:"events"`
	False   int `json:"false"` // events overlapping no true interval
}

func (c *intervalCount) add(o intervalCount) {
	c.True += o.True
	c.Matched += o.Matched
	c.Events += o.Events
	c.False += o.False
}

// callScore is the quality of one analysis against its call's truth.
type callScore struct {
	Phrases     map[string]*phraseCount
	Silence     intervalCount
	Crosstalk   intervalCount
	Misses      []detail
	FalseAlarms []detail
}

// detail is one phrase missed or one false alarm.
type detail struct {
	Call    string `json:"call"`
	Phrase  string `json:"phrase"`
	Speaker string `json:"speaker"`
	AtMs    int64  `json:"atMs"`
	// NearestMs is, for a miss, how far the nearest event of the phrase
	// (any speaker) starts from it; for a false alarm, how far the
	// nearest placed phrase of its topic is; absent when there is none.
	NearestMs *int64 `json:"nearestMs,omitempty"`
}

// phraseOf returns the braced phrase of a placed line, "" when none.
func phraseOf(p synth.Placed) string {
	if p.PhraseEnd == 0 {
		return ""
	}
	_, rest, ok := strings.Cut(p.Text, "{")
	if !ok {
		return ""
	}
	phrase, _, _ := strings.Cut(rest, "}")
	return phrase
}

// speakerOf names a corpus channel's speaker as the engine does with
// agentChannel left.
func speakerOf(channel int) string {
	if channel == 0 {
		return vault.SpeakerAgent
	}
	return vault.SpeakerCustomer
}

// score compares an analysis's events with the call's truth. Topics are
// named after their one phrase.
func score(c *call, events []vault.Event) callScore {
	s := callScore{Phrases: map[string]*phraseCount{}}
	for _, p := range benchPhrases {
		s.Phrases[p.Text] = &phraseCount{}
	}
	type truth struct {
		phrase, speaker string
		start           int64
		found           bool
	}
	var truths []*truth
	for _, p := range c.Placed {
		if phrase := phraseOf(p); phrase != "" {
			truths = append(truths, &truth{phrase: phrase, speaker: speakerOf(p.Channel), start: p.PhraseStart.Milliseconds()})
			s.Phrases[phrase].Placed++
		}
	}
	var silences, crosstalk []vault.Event
	for _, e := range events {
		switch e.Type {
		case vault.EventSilence:
			silences = append(silences, e)
		case vault.EventCrosstalk:
			crosstalk = append(crosstalk, e)
		case vault.EventTopic:
			count := s.Phrases[e.Name]
			if count == nil { // not a topic of the bench: cannot happen
				count = &phraseCount{}
				s.Phrases[e.Name] = count
			}
			// The nearest placed phrase of the topic and speaker.
			var best *truth
			for _, t := range truths {
				d := abs(e.StartMs - t.start)
				if t.phrase == e.Name && t.speaker == e.Speaker && d <= matchWindow.Milliseconds() &&
					(best == nil || d < abs(e.StartMs-best.start)) {
					best = t
				}
			}
			switch {
			case best == nil:
				count.FalseAlarms++
				fa := detail{Call: c.Name, Phrase: e.Name, Speaker: e.Speaker, AtMs: e.StartMs}
				for _, t := range truths {
					if d := t.start - e.StartMs; t.phrase == e.Name && (fa.NearestMs == nil || abs(d) < abs(*fa.NearestMs)) {
						fa.NearestMs = &d
					}
				}
				s.FalseAlarms = append(s.FalseAlarms, fa)
			case best.found:
				count.Duplicates++
			default:
				best.found = true
				count.Found++
			}
		}
	}
	for _, t := range truths {
		if t.found {
			continue
		}
		miss := detail{Call: c.Name, Phrase: t.phrase, Speaker: t.speaker, AtMs: t.start}
		for _, e := range events {
			if d := e.StartMs - t.start; e.Type == vault.EventTopic && e.Name == t.phrase && (miss.NearestMs == nil || abs(d) < abs(*miss.NearestMs)) {
				miss.NearestMs = &d
			}
		}
		s.Misses = append(s.Misses, miss)
	}
	s.Silence = compareIntervals(synth.Silences(c.Placed, c.Length, truthSilence), silences)
	s.Crosstalk = compareIntervals(synth.Crosstalk(c.Placed, truthCrosstalk), crosstalk)
	return s
}

// compareIntervals counts the true intervals some event overlaps and the
// events that overlap none.
func compareIntervals(truth []synth.Interval, events []vault.Event) intervalCount {
	overlap := func(t synth.Interval, e vault.Event) bool {
		return e.StartMs < t.End.Milliseconds() && t.Start.Milliseconds() < e.EndMs
	}
	c := intervalCount{True: len(truth), Events: len(events)}
	for _, t := range truth {
		for _, e := range events {
			if overlap(t, e) {
				c.Matched++
				break
			}
		}
	}
	for _, e := range events {
		hit := false
		for _, t := range truth {
			if overlap(t, e) {
				hit = true
				break
			}
		}
		if !hit {
			c.False++
		}
	}
	return c
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
