package analytics

import (
	"cmp"
	"slices"

	"callvault/internal/ffmpeg"
	"callvault/internal/vault"
)

// speakers names each channel's speaker: stereo calls have the agent on
// agentChannel and the customer on the other; a mono call's speaker is
// unknown.
func speakers(channels int, agentChannel string) []string {
	if channels == 1 {
		return []string{vault.SpeakerUnknown}
	}
	if agentChannel == "right" {
		return []string{vault.SpeakerCustomer, vault.SpeakerAgent}
	}
	return []string{vault.SpeakerAgent, vault.SpeakerCustomer}
}

// assemble turns the measurements and hits into the result.
func assemble(format ffmpeg.PCMFormat, meters []*levelMeter, hits [][]Hit, owners map[string][]vault.Topic, phones map[string]int, in Input) *Result {
	res := &Result{Channels: format.Channels, Events: []vault.Event{}, Categories: []string{}}
	who := speakers(format.Channels, in.Settings.AgentChannel)
	var length int64
	talk := make([][]Span, len(meters))
	for c, m := range meters {
		talk[c] = m.talk()
		res.Peaks = append(res.Peaks, m.peaks)
		length = max(length, int64(len(m.levels))*vadFrame)
	}
	res.Metrics.DurationMs = length
	for c, spans := range talk {
		for _, s := range spans {
			res.Talk = append(res.Talk, vault.Event{Type: vault.EventTalk, Speaker: who[c], StartMs: s.StartMs, EndMs: s.EndMs})
		}
		switch who[c] {
		case vault.SpeakerAgent:
			res.Metrics.AgentTalkMs += total(spans)
		case vault.SpeakerCustomer:
			res.Metrics.CustomerTalkMs += total(spans)
		default:
			res.Metrics.UnknownTalkMs += total(spans)
		}
	}
	silenceMin := int64(in.Settings.SilenceMs)
	if silenceMin <= 0 {
		silenceMin = int64(vault.DefaultAnalyticsSettings().SilenceMs)
	}
	for _, s := range gaps(union(talk...), length, silenceMin) {
		res.Events = append(res.Events, vault.Event{Type: vault.EventSilence, StartMs: s.StartMs, EndMs: s.EndMs})
		res.Metrics.SilenceMs += s.EndMs - s.StartMs
		res.Metrics.LongestSilenceMs = max(res.Metrics.LongestSilenceMs, s.EndMs-s.StartMs)
	}
	if len(talk) == 2 {
		for _, s := range overlaps(talk[0], talk[1], CrosstalkMinMs) {
			res.Events = append(res.Events, vault.Event{Type: vault.EventCrosstalk, StartMs: s.StartMs, EndMs: s.EndMs})
			res.Metrics.CrosstalkMs += s.EndMs - s.StartMs
		}
	}
	for c := range hits {
		hits[c] = plausible(hits[c], talk[c], phones)
	}
	res.Events = append(res.Events, topicEvents(hits, who, owners)...)
	slices.SortStableFunc(res.Events, func(a, b vault.Event) int {
		return cmp.Or(cmp.Compare(a.StartMs, b.StartMs), cmp.Compare(a.Type, b.Type), cmp.Compare(a.Name, b.Name))
	})
	res.Categories = Categorize(in.Categories, res.Events, length)
	return res
}

// topicEvents turns each channel's hits into topic events: one per topic
// that has the phrase and listens to that speaker. The same phrase heard
// twice at overlapping times is one event, the surer one: on one channel
// the spotter may report a phrase twice, and across channels a voice may
// leak into the other's line.
func topicEvents(hits [][]Hit, who []string, owners map[string][]vault.Topic) []vault.Event {
	var events []vault.Event
	for c, list := range hits {
		for _, h := range list {
			for _, t := range owners[h.Phrase] {
				if t.Speaker != "" && t.Speaker != vault.SpeakerAny && who[c] != vault.SpeakerUnknown && who[c] != t.Speaker {
					continue
				}
				events = append(events, vault.Event{Type: vault.EventTopic, Name: t.Name, Phrase: h.Phrase, Speaker: who[c],
					StartMs: h.StartMs, EndMs: h.EndMs, Confidence: h.Confidence})
			}
		}
	}
	slices.SortFunc(events, func(a, b vault.Event) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Phrase, b.Phrase), cmp.Compare(a.StartMs, b.StartMs))
	})
	var out []vault.Event
	for _, e := range events {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.Name == e.Name && last.Phrase == e.Phrase && e.StartMs < last.EndMs {
				if e.Confidence > last.Confidence {
					*last = e
				}
				continue
			}
		}
		out = append(out, e)
	}
	return out
}

// A hit is plausible when it lasts about as long as its phrase can be
// said and lies mostly in talk on its channel. The spotter sometimes
// stretches a match over seconds of silence; measured on the generated
// corpus, such hits were all false alarms.
const (
	maxMsPerPhone = 250
	maxExtraMs    = 600
	minTalkShare  = 0.5
)

func plausible(hits []Hit, talk []Span, phones map[string]int) []Hit {
	var out []Hit
	for _, h := range hits {
		length := h.EndMs - h.StartMs
		if length <= 0 || length > int64(phones[h.Phrase])*maxMsPerPhone+maxExtraMs {
			continue
		}
		var inTalk int64
		for _, s := range talk {
			inTalk += max(0, min(s.EndMs, h.EndMs)-max(s.StartMs, h.StartMs))
		}
		if float64(inTalk) < minTalkShare*float64(length) {
			continue
		}
		out = append(out, h)
	}
	return out
}
