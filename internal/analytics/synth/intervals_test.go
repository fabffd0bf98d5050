package synth

import (
	"slices"
	"testing"
	"time"
)

func TestIntervals(t *testing.T) {
	s := time.Second
	line := func(channel int, start, end time.Duration) Placed {
		return Placed{Line: Line{Channel: channel}, Start: start, End: end}
	}
	for _, tc := range []struct {
		name      string
		placed    []Placed
		length    time.Duration
		talk      [][]Interval
		silences  []Interval // of at least 1 s
		crosstalk []Interval // of at least 500 ms
	}{
		{
			name:     "nothing said",
			length:   3 * s,
			talk:     [][]Interval{nil, nil},
			silences: []Interval{{0, 3 * s}},
		},
		{
			name:      "turns with a gap and an overlap",
			placed:    []Placed{line(0, 1*s, 4*s), line(1, 3*s, 6*s), line(0, 8*s, 9*s)},
			length:    10 * s,
			talk:      [][]Interval{{{1 * s, 4 * s}, {8 * s, 9 * s}}, {{3 * s, 6 * s}}},
			silences:  []Interval{{0, 1 * s}, {6 * s, 8 * s}, {9 * s, 10 * s}},
			crosstalk: []Interval{{3 * s, 4 * s}},
		},
		{
			name:     "a channel's own lines merge, out of order",
			placed:   []Placed{line(0, 5*s, 7*s), line(0, 2*s, 5*s), line(0, 3*s, 4*s)},
			length:   7 * s,
			talk:     [][]Interval{{{2 * s, 7 * s}}, nil},
			silences: []Interval{{0, 2 * s}},
		},
		{
			name:      "short gaps and overlaps are left out",
			placed:    []Placed{line(0, 0, 2*s), line(1, 1700*time.Millisecond, 3*s), line(0, 3500*time.Millisecond, 5*s)},
			length:    5500 * time.Millisecond,
			talk:      [][]Interval{{{0, 2 * s}, {3500 * time.Millisecond, 5 * s}}, {{1700 * time.Millisecond, 3 * s}}},
			crosstalk: nil,
		},
		{
			name:      "one long line under several",
			placed:    []Placed{line(1, 0, 10*s), line(0, 1*s, 2*s), line(0, 4*s, 4200*time.Millisecond), line(0, 6*s, 12*s)},
			length:    12 * s,
			talk:      [][]Interval{{{1 * s, 2 * s}, {4 * s, 4200 * time.Millisecond}, {6 * s, 12 * s}}, {{0, 10 * s}}},
			crosstalk: []Interval{{1 * s, 2 * s}, {6 * s, 10 * s}},
		},
		{
			name:     "speech past the length",
			placed:   []Placed{line(0, 1*s, 5*s)},
			length:   3 * s,
			talk:     [][]Interval{{{1 * s, 5 * s}}, nil},
			silences: []Interval{{0, 1 * s}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Talk(tc.placed, 2); !slices.EqualFunc(got, tc.talk, slices.Equal) {
				t.Errorf("Talk = %v, want %v", got, tc.talk)
			}
			if got := Silences(tc.placed, tc.length, time.Second); !slices.Equal(got, tc.silences) {
				t.Errorf("Silences = %v, want %v", got, tc.silences)
			}
			if got := Crosstalk(tc.placed, 500*time.Millisecond); !slices.Equal(got, tc.crosstalk) {
				t.Errorf("Crosstalk = %v, want %v", got, tc.crosstalk)
			}
		})
	}
}
