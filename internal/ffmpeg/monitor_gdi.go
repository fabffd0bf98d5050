package ffmpeg

import (
	"errors"
	"fmt"
	"sort"
)

// gdiMonitor is one monitor as user32's GetMonitorInfoW reports it: MONITORINFO's rcMonitor,
// in virtual-desktop coordinates (the primary monitor's top-left corner is 0,0, so a monitor left
// of or above it has negative ones; right and bottom are exclusive), and its dwFlags.
type gdiMonitor struct {
	Left, Top, Right, Bottom int32
	Flags                    uint32
}

// monitorInfoPrimary is MONITORINFOF_PRIMARY.
const monitorInfoPrimary = 0x1

// gdiMonitors turns what EnumDisplayMonitors and GetMonitorInfoW found into Monitors: sorted left
// to right (then top to bottom), as PlanLayout orders them, and named "monitor_0", "monitor_1", …
// in that order, so that config.json's monitor indexes count from the left as on Linux. The
// coordinates are kept as they are: gdigrab's -offset_x and -offset_y take the same virtual-desktop
// coordinates, negative ones included. Empty or inverted rectangles, coordinates beyond ±65535
// and more than 16 monitors are refused.
func gdiMonitors(found []gdiMonitor) ([]Monitor, error) {
	if len(found) == 0 {
		return nil, errors.New("cannot list the monitors: Windows reports none")
	}
	if len(found) > maxMonitors {
		return nil, fmt.Errorf("cannot list the monitors: Windows reports %d, at most %d are taken", len(found), maxMonitors)
	}
	monitors := make([]Monitor, 0, len(found))
	for i, r := range found {
		// int, not int32: Right-Left of hostile values would overflow int32.
		left, top, right, bottom := int(r.Left), int(r.Top), int(r.Right), int(r.Bottom)
		m := Monitor{Primary: r.Flags&monitorInfoPrimary != 0, X: left, Y: top, W: right - left, H: bottom - top}
		if m.W < 1 || m.H < 1 || m.W > maxCoordinate || m.H > maxCoordinate ||
			left < -maxCoordinate || top < -maxCoordinate || right > maxCoordinate || bottom > maxCoordinate {
			return nil, fmt.Errorf("cannot list the monitors: monitor %d has the rectangle (%d,%d)-(%d,%d)", i, left, top, right, bottom)
		}
		monitors = append(monitors, m)
	}
	sort.SliceStable(monitors, func(a, b int) bool {
		if monitors[a].X != monitors[b].X {
			return monitors[a].X < monitors[b].X
		}
		return monitors[a].Y < monitors[b].Y
	})
	for i := range monitors {
		monitors[i].Name = fmt.Sprintf("monitor_%d", i)
	}
	return monitors, nil
}
