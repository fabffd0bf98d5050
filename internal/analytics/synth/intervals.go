package synth

import (
	"cmp"
	"slices"
	"time"
)

// Interval is a stretch of a call, from Start up to (not including) End.
type Interval struct{ Start, End time.Duration }

// Talk returns, for each of channels channels, the merged intervals where
// some line's audio sounds (Placed.Start to End), sorted. Lines touching
// or overlapping on a channel merge into one interval; lines on a channel
// outside 0..channels-1 are ignored.
func Talk(placed []Placed, channels int) [][]Interval {
	talk := make([][]Interval, channels)
	for ch := range talk {
		var spans []Interval
		for _, p := range placed {
			if p.Channel == ch && p.End > p.Start {
				spans = append(spans, Interval{p.Start, p.End})
			}
		}
		talk[ch] = merge(spans)
	}
	return talk
}

// Silences returns the intervals of at least minLength within 0..length
// where no channel sounds.
func Silences(placed []Placed, length, minLength time.Duration) []Interval {
	var spans []Interval
	for _, p := range placed {
		if p.End > p.Start {
			spans = append(spans, Interval{p.Start, p.End})
		}
	}
	var silences []Interval
	cursor := time.Duration(0)
	for _, s := range merge(spans) {
		if s.Start >= length {
			break
		}
		silences = appendAtLeast(silences, Interval{cursor, s.Start}, minLength)
		cursor = max(cursor, s.End)
	}
	return appendAtLeast(silences, Interval{cursor, length}, minLength)
}

// Crosstalk returns the intervals of at least minLength where both
// channels, 0 and 1, sound.
func Crosstalk(placed []Placed, minLength time.Duration) []Interval {
	talk := Talk(placed, 2)
	left, right := talk[0], talk[1]
	var both []Interval
	for i, j := 0, 0; i < len(left) && j < len(right); {
		overlap := Interval{max(left[i].Start, right[j].Start), min(left[i].End, right[j].End)}
		both = appendAtLeast(both, overlap, minLength)
		if left[i].End < right[j].End {
			i++
		} else {
			j++
		}
	}
	return both
}

// merge sorts spans and joins those that overlap or touch.
func merge(spans []Interval) []Interval {
	slices.SortFunc(spans, func(a, b Interval) int { return cmp.Compare(a.Start, b.Start) })
	var merged []Interval
	for _, s := range spans {
		if n := len(merged); n > 0 && s.Start <= merged[n-1].End {
			merged[n-1].End = max(merged[n-1].End, s.End)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// appendAtLeast appends span when it is not empty and lasts at least
// minLength.
func appendAtLeast(spans []Interval, span Interval, minLength time.Duration) []Interval {
	if span.End > span.Start && span.End-span.Start >= minLength {
		return append(spans, span)
	}
	return spans
}
