package ffmpeg

import (
	"errors"
	"fmt"
	"sort"
)

// Layout is how the selected monitors become one video picture, and what the guide's
// screen-recording metadata says about it.
//
// The selected monitors are composed into an original picture of OriginalWidth x OriginalHeight
// (the metadata's originalVirtualWidth/Height). When they form one connected area on the desktop
// that no unselected monitor overlaps, the picture is their bounding box on the desktop, whose
// top-left corner is X, Y, and it is captured in one grab; otherwise (Stacked) each monitor is
// captured on its own and they are placed side by side, left to right in desktop X order, aligned
// at the top, in a picture as tall as the tallest.
//
// That picture is scaled down, never up, so that it fits maxWidth: Width x Height is the
// metadata's virtualWidth/Height. Height is floor(OriginalHeight*maxWidth/OriginalWidth), and the
// one scale factor Height/OriginalHeight is applied to every coordinate with the result rounded
// down; that is the rule that reproduces the guide's example exactly (4480x1440 at maxWidth 1920 →
// 1920x617, monitor_1 at [1096, 0, 1919, 462]). The scaled picture is ContentWidth x
// ContentHeight (1919x617 there) at the top-left of the encoded frame, EncodedWidth x
// EncodedHeight, which rounds Width and Height up to even numbers as H.264 in yuv420p needs
// (1920x618 there), padded with black. So every Actual position is exact in the encoded frame,
// and the metadata keeps the guide's numbers.
type Layout struct {
	X, Y                          int  // desktop position of the original picture's top-left corner (when not Stacked)
	Stacked                       bool // monitors are captured one by one and placed side by side
	OriginalWidth, OriginalHeight int  // originalVirtualWidth/Height
	Width, Height                 int  // virtualWidth/Height
	ContentWidth, ContentHeight   int  // the scaled picture inside the encoded frame
	EncodedWidth, EncodedHeight   int  // the H.264 frame size: even, at least Width x Height
	Monitors                      []LayoutMonitor
}

// LayoutMonitor is one selected monitor in a Layout.
type LayoutMonitor struct {
	Name    string  // "monitor_0", "monitor_1", … left to right (desktop X, then Y)
	Primary bool    // the source monitor is the primary one
	Index   int     // index of the source monitor in the list given to PlanLayout
	Desktop Monitor // the source monitor, in desktop coordinates (what is grabbed)
	// Original is [left, top, right, bottom] in the original picture (originalPositions);
	// right and bottom are exclusive.
	Original [4]int
	// Actual is Original in the encoded frame (actualPositions).
	Actual [4]int
}

// Limits of what PlanLayout accepts: H.264 encoders refuse frames beyond 16384 pixels a side
// long before any monitor arrangement needs it.
const (
	minMaxWidth    = 16
	maxEncodedSide = 16384
)

// PlanLayout lays out the monitors at indexes selected (nil selects all) for a video at most
// maxWidth wide. See Layout for the rules.
func PlanLayout(monitors []Monitor, selected []int, maxWidth int) (Layout, error) {
	if maxWidth < minMaxWidth || maxWidth > maxEncodedSide {
		return Layout{}, fmt.Errorf("cannot plan layout: maxWidth %d is outside %d…%d", maxWidth, minMaxWidth, maxEncodedSide)
	}
	if len(monitors) == 0 {
		return Layout{}, errors.New("cannot plan layout: no monitors")
	}
	if len(monitors) > maxMonitors {
		return Layout{}, fmt.Errorf("cannot plan layout: %d monitors, at most %d", len(monitors), maxMonitors)
	}
	for i, m := range monitors {
		if m.W < 1 || m.H < 1 || m.W > maxCoordinate || m.H > maxCoordinate ||
			m.X < -maxCoordinate || m.X > maxCoordinate || m.Y < -maxCoordinate || m.Y > maxCoordinate {
			return Layout{}, fmt.Errorf("cannot plan layout: monitor %d (%q) has geometry %dx%d%+d%+d out of bounds", i, m.Name, m.W, m.H, m.X, m.Y)
		}
	}
	indexes, err := selectedIndexes(len(monitors), selected)
	if err != nil {
		return Layout{}, err
	}
	// Left to right, then top to bottom: the names and the stacking order follow the desktop.
	sort.SliceStable(indexes, func(a, b int) bool {
		ma, mb := monitors[indexes[a]], monitors[indexes[b]]
		if ma.X != mb.X {
			return ma.X < mb.X
		}
		return ma.Y < mb.Y
	})

	var layout Layout
	layout.Monitors = make([]LayoutMonitor, len(indexes))
	if grabbable(monitors, indexes) {
		left, top, right, bottom := boundingBox(monitors, indexes)
		layout.X, layout.Y = left, top
		layout.OriginalWidth, layout.OriginalHeight = right-left, bottom-top
		for i, index := range indexes {
			m := monitors[index]
			layout.Monitors[i].Original = [4]int{m.X - left, m.Y - top, m.X - left + m.W, m.Y - top + m.H}
		}
	} else {
		layout.Stacked = true
		for i, index := range indexes {
			m := monitors[index]
			layout.Monitors[i].Original = [4]int{layout.OriginalWidth, 0, layout.OriginalWidth + m.W, m.H}
			layout.OriginalWidth += m.W
			layout.OriginalHeight = max(layout.OriginalHeight, m.H)
		}
	}
	for i, index := range indexes {
		lm := &layout.Monitors[i]
		lm.Name = fmt.Sprintf("monitor_%d", i)
		lm.Primary = monitors[index].Primary
		lm.Index = index
		lm.Desktop = monitors[index]
	}

	maxWidth &^= 1 // an odd limit could only be met by an odd, unencodable width
	if layout.OriginalWidth <= maxWidth {
		layout.Width, layout.Height = layout.OriginalWidth, layout.OriginalHeight
		layout.ContentWidth, layout.ContentHeight = layout.Width, layout.Height
		for i := range layout.Monitors {
			layout.Monitors[i].Actual = layout.Monitors[i].Original
		}
	} else {
		// int64: 16 monitors of 65535 pixels times a width limit overflows 32-bit int.
		height := int64(layout.OriginalHeight) * int64(maxWidth) / int64(layout.OriginalWidth)
		if height < 1 {
			return Layout{}, fmt.Errorf("cannot plan layout: %dx%d scaled to width %d is less than one pixel high", layout.OriginalWidth, layout.OriginalHeight, maxWidth)
		}
		scale := func(v int) int { return int(int64(v) * height / int64(layout.OriginalHeight)) }
		layout.Width, layout.Height = maxWidth, int(height)
		layout.ContentWidth, layout.ContentHeight = scale(layout.OriginalWidth), layout.Height
		for i := range layout.Monitors {
			for k, v := range layout.Monitors[i].Original {
				layout.Monitors[i].Actual[k] = scale(v)
			}
		}
	}
	layout.EncodedWidth, layout.EncodedHeight = roundUpEven(layout.Width), roundUpEven(layout.Height)
	if layout.EncodedHeight > maxEncodedSide {
		return Layout{}, fmt.Errorf("cannot plan layout: %d pixels high is more than an encoder takes (%d)", layout.EncodedHeight, maxEncodedSide)
	}
	return layout, nil
}

func selectedIndexes(count int, selected []int) ([]int, error) {
	if selected == nil {
		all := make([]int, count)
		for i := range all {
			all[i] = i
		}
		return all, nil
	}
	if len(selected) == 0 {
		return nil, errors.New("cannot plan layout: no monitor selected")
	}
	seen := make(map[int]bool, len(selected))
	indexes := make([]int, 0, len(selected))
	for _, index := range selected {
		if index < 0 || index >= count {
			return nil, fmt.Errorf("cannot plan layout: monitor %d selected, there are %d", index, count)
		}
		if seen[index] {
			return nil, fmt.Errorf("cannot plan layout: monitor %d selected twice", index)
		}
		seen[index] = true
		indexes = append(indexes, index)
	}
	return indexes, nil
}

// grabbable reports whether the selected monitors can be captured as their bounding box: they
// form one connected area (each shares an edge or overlaps with another, a touching corner is not
// enough) and no unselected monitor shows inside the box.
func grabbable(monitors []Monitor, indexes []int) bool {
	left, top, right, bottom := boundingBox(monitors, indexes)
	isSelected := make(map[int]bool, len(indexes))
	for _, index := range indexes {
		isSelected[index] = true
	}
	for i, m := range monitors {
		if !isSelected[i] && m.X < right && m.X+m.W > left && m.Y < bottom && m.Y+m.H > top {
			return false
		}
	}
	// Flood the "touches" relation from the first monitor.
	reached := map[int]bool{indexes[0]: true}
	queue := []int{indexes[0]}
	for len(queue) > 0 {
		a := monitors[queue[0]]
		queue = queue[1:]
		for _, index := range indexes {
			if !reached[index] && touches(a, monitors[index]) {
				reached[index] = true
				queue = append(queue, index)
			}
		}
	}
	return len(reached) == len(indexes)
}

// touches reports whether two monitors overlap or share a stretch of edge.
func touches(a, b Monitor) bool {
	overlapX := min(a.X+a.W, b.X+b.W) - max(a.X, b.X)
	overlapY := min(a.Y+a.H, b.Y+b.H) - max(a.Y, b.Y)
	return overlapX >= 0 && overlapY >= 0 && (overlapX > 0 || overlapY > 0)
}

func boundingBox(monitors []Monitor, indexes []int) (left, top, right, bottom int) {
	first := monitors[indexes[0]]
	left, top, right, bottom = first.X, first.Y, first.X+first.W, first.Y+first.H
	for _, index := range indexes[1:] {
		m := monitors[index]
		left, top = min(left, m.X), min(top, m.Y)
		right, bottom = max(right, m.X+m.W), max(bottom, m.Y+m.H)
	}
	return left, top, right, bottom
}

func roundUpEven(v int) int { return v + v&1 }
