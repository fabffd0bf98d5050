package analytics

import (
	"io"
	"math"
	"sort"
)

// The gate keeps long pauses from the recogniser. In a two-party call
// each channel is silent while the other side talks, about half the
// time; scoring that silence is the recogniser's largest cost, and a
// keyword is never found in it. The gate decides online, per 20 ms frame
// against a running noise floor, and passes talk with gatePreRoll before
// it and gateHangover after it; what it drops is remembered as a map from
// the recogniser's time to the call's, so hits land where they were said.
const (
	gateFrameMs  = 20
	gateMarginDB = 10.0  // above the noise floor is talk
	gateMinDBFS  = -55.0 // never below this, however quiet the line
	gateRiseDB   = 0.02  // the floor rises this much per frame (1 dB/s) and falls at once
	gatePreRoll  = 400   // ms kept before talk
	gateHangover = 600   // ms kept after talk; shorter pauses pass whole
)

// gate passes one channel's 16-bit PCM to w, less its long pauses.
type gate struct {
	w         io.Writer
	frameLen  int // bytes per frame
	frame     []byte
	floor     float64
	started   bool
	open      bool
	quietMs   int      // since the last talk frame, while open
	ring      [][]byte // the last gatePreRoll of frames, while closed
	fedFrames int64    // frames written
	inFrames  int64    // frames seen
	segments  []segment
	disabled  bool
}

// segment: from the recogniser's fedMs on, its time is the call's callMs
// plus the difference.
type segment struct{ fedMs, callMs int64 }

func newGate(w io.Writer, rate int, disabled bool) *gate {
	return &gate{w: w, frameLen: rate * gateFrameMs / 1000 * 2, disabled: disabled}
}

// write takes the next samples of the channel (16-bit little-endian).
func (g *gate) write(p []byte) error {
	if g.disabled {
		_, err := g.w.Write(p)
		return err
	}
	for len(p) > 0 {
		n := min(len(p), g.frameLen-len(g.frame))
		g.frame = append(g.frame, p[:n]...)
		p = p[n:]
		if len(g.frame) == g.frameLen {
			if err := g.decide(g.frame); err != nil {
				return err
			}
			g.frame = g.frame[:0]
		}
	}
	return nil
}

// close passes what is left of a frame.
func (g *gate) close() error {
	if g.disabled || len(g.frame) == 0 {
		return nil
	}
	err := g.decide(g.frame)
	g.frame = g.frame[:0]
	return err
}

func frameLevel(frame []byte) float64 {
	var sum float64
	n := len(frame) / 2
	for i := 0; i+1 < len(frame); i += 2 {
		v := float64(int16(uint16(frame[i]) | uint16(frame[i+1])<<8))
		sum += v * v
	}
	if n == 0 || sum == 0 {
		return -100
	}
	return 10 * math.Log10(sum/float64(n)/(32768*32768))
}

func (g *gate) decide(frame []byte) error {
	level := frameLevel(frame)
	if !g.started {
		g.floor, g.started = level, true
	}
	if level < g.floor {
		g.floor = level
	} else {
		g.floor += gateRiseDB
	}
	talk := level > max(g.floor+gateMarginDB, gateMinDBFS)
	at := g.inFrames
	g.inFrames++
	switch {
	case g.open && talk:
		g.quietMs = 0
		return g.feed(frame)
	case g.open:
		g.quietMs += gateFrameMs
		if g.quietMs > gateHangover {
			g.open = false
			return g.keep(frame)
		}
		return g.feed(frame)
	case talk:
		// Open: the pre-roll first, then this frame, mapped to where
		// the pre-roll began in the call.
		g.open, g.quietMs = true, 0
		start := at - int64(len(g.ring))
		g.segments = append(g.segments, segment{fedMs: g.fedFrames * gateFrameMs, callMs: start * gateFrameMs})
		for _, f := range g.ring {
			if err := g.feed(f); err != nil {
				return err
			}
		}
		g.ring = g.ring[:0]
		return g.feed(frame)
	default:
		return g.keep(frame)
	}
}

func (g *gate) feed(frame []byte) error {
	g.fedFrames++
	_, err := g.w.Write(frame)
	return err
}

// keep holds a closed gate's frame for the pre-roll.
func (g *gate) keep(frame []byte) error {
	limit := gatePreRoll / gateFrameMs
	if len(g.ring) == limit {
		recycled := g.ring[0]
		copy(g.ring, g.ring[1:])
		g.ring = g.ring[:limit-1]
		g.ring = append(g.ring, append(recycled[:0], frame...))
		return nil
	}
	g.ring = append(g.ring, append([]byte(nil), frame...))
	return nil
}

// callMs maps the recogniser's time to the call's.
func (g *gate) callMs(fedMs int64) int64 {
	if g.disabled || len(g.segments) == 0 {
		return fedMs
	}
	i := sort.Search(len(g.segments), func(i int) bool { return g.segments[i].fedMs > fedMs }) - 1
	if i < 0 {
		i = 0
	}
	return g.segments[i].callMs + fedMs - g.segments[i].fedMs
}

// passedShare is the part of the channel the recogniser heard.
func (g *gate) passedShare() float64 {
	if g.inFrames == 0 {
		return 1
	}
	return float64(g.fedFrames) / float64(g.inFrames)
}
