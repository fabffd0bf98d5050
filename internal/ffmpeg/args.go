package ffmpeg

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
)

// CaptureSpec says what to capture and how.
type CaptureSpec struct {
	// OS selects the capture device: "linux" (x11grab), "windows" (gdigrab) or "darwin"
	// (avfoundation); empty means the running system.
	OS string
	// Display is the X display on Linux, for example ":0" or ":99.0"; ignored elsewhere.
	Display string
	// Layout is what to capture, from PlanLayout. On Windows its coordinates are physical
	// desktop pixels, as gdigrab sees them.
	Layout Layout
	// FrameRate is frames per second; 0 means DefaultFrameRate.
	FrameRate int
	// Devices are, on macOS, the avfoundation video device of each Layout monitor, in
	// Layout.Monitors order (the index that `ffmpeg -f avfoundation -list_devices true -i ""`
	// prints for "Capture screen N", for example "1"); ignored elsewhere.
	Devices []string
}

// DefaultFrameRate is the guide's screen-recording frame rate.
const DefaultFrameRate = 5

const maxFrameRate = 60

// Encoder settings, chosen by measuring 60 s captures of a 1920x1080 Xvfb screen at 5 fps on the
// project's shared 2-core machine (ffmpeg 5.1, libx264; CPU is ffmpeg's user+system time over
// wall time, one core = 100 %; BenchmarkCapture repeats it):
//
//	office (text page, 300 px scroll over 2 s every 30 s, blinking cursor):  13.0 MB/h, 10.3 % CPU
//	motion (testsrc2, 25 fps, every pixel moving):                          282.5 MB/h, 18.9 % CPU
//
// What mattered, for office content: x264's scene-cut keyframe on every scroll costs ~200 KB
// (scenecut=0: 87 → 45 MB/h); veryfast's 16-pixel hexagon search misses a scroll of 30 pixels a
// frame, UMH with range 48 finds it (45 → 23 MB/h at CRF 32); a short lookahead keeps mbtree,
// which lets the static page keep its quality at CRF 32 (without it 24 MB/h instead of 15).
// B-frames save nothing on office content (18 % on motion) but add frames of delay, as frame
// threads do; with neither, and two slice threads, the first fragment leaves 2.1 s after start
// instead of 3.6 s, so a crash loses less. A keyframe a minute (about half of the office rate)
// keeps seeking in a player short. The invisible mask is a disabled filter (see MaskFilter).
const (
	x264Preset = "veryfast"
	x264CRF    = "32"
	x264Params = "scenecut=0:rc-lookahead=3:bframes=0:me=umh:merange=48:sliced-threads=1:threads=2"
	// keyframeSeconds is the GOP length in seconds.
	keyframeSeconds = 60
)

// MaskFilter is the name of the drawbox filter that blacks out the whole encoded frame during a
// pause. It starts disabled and is switched with the filter graph's generic "enable" command:
// a disabled drawbox costs nothing, while the guide-style invisible box (color=black@0) would
// blend every pixel of every frame, measured at 10 % of a core for 1920x1080 at 5 fps.
const MaskFilter = "drawbox@mask"

// CaptureArgs returns ffmpeg's arguments (without the program name) for a capture of spec that
// writes fragmented MP4 of H.264 to standard output and reads interactive commands from standard
// input.
func CaptureArgs(spec CaptureSpec) ([]string, error) {
	goos := spec.OS
	if goos == "" {
		goos = runtime.GOOS
	}
	frameRate := spec.FrameRate
	if frameRate == 0 {
		frameRate = DefaultFrameRate
	}
	if frameRate < 1 || frameRate > maxFrameRate {
		return nil, fmt.Errorf("cannot build capture: frame rate %d is outside 1…%d", frameRate, maxFrameRate)
	}
	layout := spec.Layout
	if err := checkLayout(layout); err != nil {
		return nil, err
	}
	rate := strconv.Itoa(frameRate)

	args := []string{"-nostats", "-hide_banner", "-loglevel", "error"}
	var inputs [][]string
	switch goos {
	case "linux":
		display, err := x11Display(spec.Display)
		if err != nil {
			return nil, err
		}
		for _, region := range grabRegions(layout) {
			if region.X < 0 || region.Y < 0 {
				return nil, fmt.Errorf("cannot build capture: X11 region at %d,%d is off the screen", region.X, region.Y)
			}
			inputs = append(inputs, []string{"-f", "x11grab", "-draw_mouse", "1", "-framerate", rate,
				"-video_size", size(region.W, region.H), "-i", fmt.Sprintf("%s+%d,%d", display, region.X, region.Y)})
		}
	case "windows":
		for _, region := range grabRegions(layout) {
			inputs = append(inputs, []string{"-f", "gdigrab", "-draw_mouse", "1", "-framerate", rate,
				"-offset_x", strconv.Itoa(region.X), "-offset_y", strconv.Itoa(region.Y),
				"-video_size", size(region.W, region.H), "-i", "desktop"})
		}
	case "darwin":
		// avfoundation grabs whole screens, one device each, so every monitor is an input.
		if len(spec.Devices) != len(layout.Monitors) {
			return nil, fmt.Errorf("cannot build capture: %d avfoundation devices for %d monitors", len(spec.Devices), len(layout.Monitors))
		}
		for _, device := range spec.Devices {
			if !isDigits(device) {
				return nil, fmt.Errorf("cannot build capture: avfoundation device %q is not an index", clip(device))
			}
			inputs = append(inputs, []string{"-f", "avfoundation", "-capture_cursor", "1", "-framerate", rate,
				"-i", device + ":none"})
		}
	default:
		return nil, fmt.Errorf("cannot build capture: unsupported OS %q", clip(goos))
	}
	for _, input := range inputs {
		if len(inputs) > 1 {
			// Separate grabbers must not block each other while the encoder is busy.
			args = append(args, "-thread_queue_size", "64")
		}
		// ffmpeg probes an input with up to 5 MB of it: 17 frames, 3.4 s at 5 fps, of a
		// 320x240 region, before it starts (and reads its commands). One frame says it all.
		args = append(args, "-probesize", "32")
		args = append(args, input...)
	}
	args = append(args, "-filter_complex", captureFilter(layout, goos == "darwin"), "-map", "[video]", "-an")
	args = append(args, encodeArgs(frameRate)...)
	args = append(args, fragmentArgs()...)
	return append(args, "pipe:1"), nil
}

// grabRegions are the desktop rectangles to grab: the bounding box when the layout allows one
// grab, else each monitor.
func grabRegions(layout Layout) []Monitor {
	if !layout.Stacked && len(layout.Monitors) > 0 {
		return []Monitor{{X: layout.X, Y: layout.Y, W: layout.OriginalWidth, H: layout.OriginalHeight}}
	}
	regions := make([]Monitor, len(layout.Monitors))
	for i, m := range layout.Monitors {
		regions[i] = m.Desktop
	}
	return regions
}

// captureFilter composes the inputs into the original picture, scales it to the content size,
// pads it to the encoded size and ends in the mask. perInput means every monitor is its own
// input (macOS), each scaled to the monitor's size first, since Retina screens deliver twice
// the logical pixels.
func captureFilter(layout Layout, perInput bool) string {
	var graph strings.Builder
	regions := len(grabRegions(layout))
	if perInput {
		regions = len(layout.Monitors)
	}
	source := "[0:v]"
	if regions > 1 || perInput {
		var positions []string
		for i, m := range layout.Monitors {
			fmt.Fprintf(&graph, "[%d:v]", i)
			if perInput {
				fmt.Fprintf(&graph, "scale=%d:%d,", m.Desktop.W, m.Desktop.H)
			}
			fmt.Fprintf(&graph, "setsar=1[m%d];", i)
			positions = append(positions, fmt.Sprintf("%d_%d", m.Original[0], m.Original[1]))
		}
		if len(layout.Monitors) == 1 {
			source = "[m0]"
		} else {
			for i := range layout.Monitors {
				fmt.Fprintf(&graph, "[m%d]", i)
			}
			fmt.Fprintf(&graph, "xstack=inputs=%d:layout=%s:fill=black[desk];", len(layout.Monitors), strings.Join(positions, "|"))
			source = "[desk]"
		}
	}
	graph.WriteString(source)
	// BT.709 and limited range, tagged on the stream below, are what players assume for HD.
	if layout.ContentWidth != layout.OriginalWidth || layout.ContentHeight != layout.OriginalHeight {
		fmt.Fprintf(&graph, "scale=%d:%d:flags=area:", layout.ContentWidth, layout.ContentHeight)
	} else {
		graph.WriteString("scale=")
	}
	graph.WriteString("out_color_matrix=bt709:out_range=tv,format=yuv420p")
	if layout.EncodedWidth != layout.ContentWidth || layout.EncodedHeight != layout.ContentHeight {
		fmt.Fprintf(&graph, ",pad=%d:%d:0:0:black", layout.EncodedWidth, layout.EncodedHeight)
	}
	// After scaling and padding, so the mask covers every pixel of the encoded frame.
	graph.WriteString("," + MaskFilter + "=x=0:y=0:w=iw:h=ih:t=fill:color=black:enable=0[video]")
	return graph.String()
}

// encodeArgs are the H.264 settings shared by captures and by test videos made to look like them.
func encodeArgs(frameRate int) []string {
	return []string{"-r", strconv.Itoa(frameRate), "-c:v", "libx264", "-preset", x264Preset, "-crf", x264CRF,
		"-g", strconv.Itoa(keyframeSeconds * frameRate), "-x264-params", x264Params, "-pix_fmt", "yuv420p",
		"-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"}
}

// fragmentArgs make the MP4 muxer write a header with no samples and then a fragment about every
// second, flushed at once, so that whatever a crash leaves is a decodable prefix.
func fragmentArgs() []string {
	return []string{"-movflags", "+empty_moov+default_base_moof", "-frag_duration", "1000000", "-flush_packets", "1", "-f", "mp4"}
}

// checkLayout refuses layouts that PlanLayout cannot have produced, since a filter graph built
// from nonsense fails late and obscurely inside ffmpeg.
func checkLayout(layout Layout) error {
	if len(layout.Monitors) == 0 || len(layout.Monitors) > maxMonitors {
		return errors.New("cannot build capture: layout has no monitors or too many (use PlanLayout)")
	}
	sizes := []int{layout.OriginalWidth, layout.OriginalHeight, layout.ContentWidth, layout.ContentHeight, layout.EncodedWidth, layout.EncodedHeight}
	for _, v := range sizes {
		if v < 1 || v > maxCoordinate*maxMonitors {
			return errors.New("cannot build capture: layout has an empty or huge size (use PlanLayout)")
		}
	}
	if layout.EncodedWidth%2 != 0 || layout.EncodedHeight%2 != 0 || layout.EncodedWidth > maxEncodedSide || layout.EncodedHeight > maxEncodedSide ||
		layout.ContentWidth > layout.EncodedWidth || layout.ContentHeight > layout.EncodedHeight {
		return errors.New("cannot build capture: layout's encoded size is odd, too large or smaller than its content (use PlanLayout)")
	}
	for _, m := range layout.Monitors {
		if m.Desktop.W < 1 || m.Desktop.H < 1 || m.Desktop.W > maxCoordinate || m.Desktop.H > maxCoordinate || m.Original[0] < 0 || m.Original[1] < 0 {
			return errors.New("cannot build capture: layout monitor has a bad geometry (use PlanLayout)")
		}
	}
	return nil
}

// x11Display checks an X display name and names its screen, as x11grab wants: ":99" → ":99.0".
func x11Display(display string) (string, error) {
	host, rest, ok := strings.Cut(display, ":")
	if !ok || strings.ContainsAny(host, " \t\n+,:") {
		return "", fmt.Errorf("cannot build capture: X display %q is not [host]:N[.S]", clip(display))
	}
	number, screen, hasScreen := strings.Cut(rest, ".")
	if !isDigits(number) || (hasScreen && !isDigits(screen)) {
		return "", fmt.Errorf("cannot build capture: X display %q is not [host]:N[.S]", clip(display))
	}
	if !hasScreen {
		display += ".0"
	}
	return display, nil
}

func size(w, h int) string { return fmt.Sprintf("%dx%d", w, h) }
