package analytics

import (
	"math"
	"slices"
)

// Voice activity, by energy: each channel's 20 ms frames are talk when
// their level is well above the channel's own noise floor. The frame
// levels of a call are kept (4 bytes per 20 ms: 720 KB for an hour of
// stereo), not its audio, so the floor is measured over the whole call.
const (
	vadFrame = 20 // ms
	// A frame is talk above floor+vadMargin dB, the floor being the
	// channel's 10th percentile level, the result kept within
	// [vadMinDBFS, vadMaxDBFS] so a silent line and a line that never
	// stops talking both come out right.
	vadMargin  = 9.0
	vadMinDBFS = -50.0
	vadMaxDBFS = -32.0
	// Pauses inside speech shorter than this are talk (between words);
	// talk shorter than vadMinTalk is noise (a click).
	vadBridge  = 300 // ms
	vadMinTalk = 100 // ms
	// Talk starts vadPreRoll before its first loud frame and ends
	// vadHangover after its last: speech fades in and out below the
	// threshold (a soft consonant, a falling end).
	vadPreRoll  = 60  // ms
	vadHangover = 200 // ms
	// CrosstalkMinMs: both channels talking for at least this long is
	// cross-talk; shorter overlaps are turn-taking and back-channel.
	CrosstalkMinMs = 400
)

// Span is an interval of a call in milliseconds, [StartMs, EndMs).
type Span struct{ StartMs, EndMs int64 }

// levelMeter measures one channel's frame levels as samples arrive.
type levelMeter struct {
	frameLen int // samples per frame
	sum      float64
	n        int
	levels   []float32 // dBFS per frame
	peak     int32     // of the current peak window
	peaks    []uint8   // per PeakWindowMs: the largest |sample|, 0–100 of full scale
	inWindow int
}

// PeakWindowMs is the waveform's resolution: the player draws one bar per
// window (10 per second: 36,000 per channel for an hour).
const PeakWindowMs = 100

func newLevelMeter(rate int) *levelMeter {
	return &levelMeter{frameLen: rate * vadFrame / 1000}
}

func (m *levelMeter) add(sample int16) {
	if a := abs32(int32(sample)); a > m.peak {
		m.peak = a
	}
	m.inWindow++
	if m.inWindow == m.frameLen*PeakWindowMs/vadFrame {
		m.flushPeak()
	}
	v := float64(sample)
	m.sum += v * v
	m.n++
	if m.n == m.frameLen {
		m.flush()
	}
}

func (m *levelMeter) flush() {
	if m.n == 0 {
		return
	}
	mean := m.sum / float64(m.n) / (32768 * 32768)
	db := -100.0
	if mean > 1e-10 {
		db = 10 * math.Log10(mean)
	}
	m.levels = append(m.levels, float32(db))
	m.sum, m.n = 0, 0
}

func (m *levelMeter) flushPeak() {
	if m.inWindow == 0 {
		return
	}
	m.peaks = append(m.peaks, uint8((m.peak*100+16383)/32768))
	m.peak, m.inWindow = 0, 0
}

func abs32(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// talk returns the channel's talk spans.
func (m *levelMeter) talk() []Span {
	m.flush()
	m.flushPeak()
	if len(m.levels) == 0 {
		return nil
	}
	sorted := slices.Clone(m.levels)
	slices.Sort(sorted)
	floor := float64(sorted[len(sorted)/10])
	threshold := max(vadMinDBFS, min(vadMaxDBFS, floor+vadMargin))
	var spans []Span
	inTalk := false
	var start int
	for i, l := range m.levels {
		on := float64(l) > threshold
		switch {
		case on && !inTalk:
			start, inTalk = i, true
		case !on && inTalk:
			spans = append(spans, Span{int64(start * vadFrame), int64(i * vadFrame)})
			inTalk = false
		}
	}
	if inTalk {
		spans = append(spans, Span{int64(start * vadFrame), int64(len(m.levels) * vadFrame)})
	}
	// Bridge short pauses, then drop clicks.
	var bridged []Span
	for _, s := range spans {
		if n := len(bridged); n > 0 && s.StartMs-bridged[n-1].EndMs < vadBridge {
			bridged[n-1].EndMs = s.EndMs
			continue
		}
		bridged = append(bridged, s)
	}
	bridged = slices.DeleteFunc(bridged, func(s Span) bool { return s.EndMs-s.StartMs < vadMinTalk })
	end := int64(len(m.levels) * vadFrame)
	var out []Span
	for _, s := range bridged {
		s.StartMs, s.EndMs = max(0, s.StartMs-vadPreRoll), min(end, s.EndMs+vadHangover)
		if n := len(out); n > 0 && s.StartMs <= out[n-1].EndMs {
			out[n-1].EndMs = s.EndMs
			continue
		}
		out = append(out, s)
	}
	return out
}

// union merges spans of several channels.
func union(channels ...[]Span) []Span {
	var all []Span
	for _, c := range channels {
		all = append(all, c...)
	}
	slices.SortFunc(all, func(a, b Span) int { return int(a.StartMs - b.StartMs) })
	var out []Span
	for _, s := range all {
		if n := len(out); n > 0 && s.StartMs <= out[n-1].EndMs {
			out[n-1].EndMs = max(out[n-1].EndMs, s.EndMs)
			continue
		}
		out = append(out, s)
	}
	return out
}

// gaps returns the parts of [0, length) outside spans that last at least
// minMs.
func gaps(spans []Span, length, minMs int64) []Span {
	var out []Span
	at := int64(0)
	for _, s := range spans {
		if s.StartMs-at >= minMs {
			out = append(out, Span{at, s.StartMs})
		}
		at = max(at, s.EndMs)
	}
	if length-at >= minMs {
		out = append(out, Span{at, length})
	}
	return out
}

// overlaps returns where both a and b have talk, for at least minMs.
func overlaps(a, b []Span, minMs int64) []Span {
	var out []Span
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		lo, hi := max(a[i].StartMs, b[j].StartMs), min(a[i].EndMs, b[j].EndMs)
		if hi-lo >= minMs {
			out = append(out, Span{lo, hi})
		}
		if a[i].EndMs < b[j].EndMs {
			i++
		} else {
			j++
		}
	}
	return out
}

func total(spans []Span) int64 {
	var t int64
	for _, s := range spans {
		t += s.EndMs - s.StartMs
	}
	return t
}
