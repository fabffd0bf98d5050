package ffmpeg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Monitor is one monitor of a desktop, in desktop pixels.
type Monitor struct {
	// Name is as xrandr names it on Linux ("DP-1"; Xvfb virtual monitors: "monitor_0");
	// "monitor_0", "monitor_1", … left to right on Windows and macOS, which have no short names.
	Name    string
	Primary bool
	X, Y    int // top-left corner on the virtual desktop; may be negative on Windows
	W, H    int
	// Device is, on macOS, avfoundation's video device index of this screen (what
	// CaptureSpec.Devices takes); empty elsewhere.
	Device string
}

// Bounds of what a monitor list may hold: xrandr's own limits (16-bit geometry) and a count no
// desktop reaches, so hostile or garbled input cannot make later arithmetic overflow or allocate.
const (
	maxMonitors     = 16
	maxCoordinate   = 65535
	maxMonitorName  = 128
	maxXrandrOutput = 64 << 10
)

// ParseXrandrMonitors parses the output of `xrandr --listmonitors`:
//
//	Monitors: 2
//	 0: +*DP-1 2560/597x1440/336+0+0  DP-1
//	 1: +HDMI-1 1920/509x1080/286+2560+0  HDMI-1
//
// The name is the second field without xrandr's "+" (automatic) and "*" (primary) marks; the
// fields after the geometry are outputs, absent for a virtual monitor made with `--setmonitor …
// none`, so the name is not taken from the last field. Input that is not exactly this shape, more
// than 16 monitors, or coordinates beyond ±65535 are refused with an error.
func ParseXrandrMonitors(out []byte) ([]Monitor, error) {
	if len(out) > maxXrandrOutput {
		return nil, fmt.Errorf("cannot parse xrandr monitors: %d bytes of output is too much", len(out))
	}
	lines := nonEmptyLines(out)
	if len(lines) == 0 {
		return nil, errors.New("cannot parse xrandr monitors: empty output")
	}
	countText, ok := strings.CutPrefix(lines[0], "Monitors:")
	if !ok {
		return nil, fmt.Errorf("cannot parse xrandr monitors: first line %q does not start with \"Monitors:\"", clip(lines[0]))
	}
	count, err := strconv.Atoi(strings.TrimSpace(countText))
	if err != nil || count < 0 || count > maxMonitors {
		return nil, fmt.Errorf("cannot parse xrandr monitors: count %q is not a number from 0 to %d", clip(countText), maxMonitors)
	}
	if len(lines)-1 != count {
		return nil, fmt.Errorf("cannot parse xrandr monitors: %d announced, %d listed", count, len(lines)-1)
	}
	monitors := make([]Monitor, 0, count)
	for i, line := range lines[1:] {
		m, err := parseXrandrMonitorLine(line, i)
		if err != nil {
			return nil, fmt.Errorf("cannot parse xrandr monitor %d: %w", i, err)
		}
		monitors = append(monitors, m)
	}
	return monitors, nil
}

// parseXrandrMonitorLine parses " 0: +*DP-1 2560/597x1440/336+0+0  DP-1".
func parseXrandrMonitorLine(line string, index int) (Monitor, error) {
	fields := strings.Fields(line)
	if len(fields) < 3 {
		return Monitor{}, fmt.Errorf("line %q has fewer than 3 fields", clip(line))
	}
	if fields[0] != strconv.Itoa(index)+":" {
		return Monitor{}, fmt.Errorf("line %q does not start with %q", clip(line), strconv.Itoa(index)+":")
	}
	name := strings.TrimPrefix(fields[1], "+")
	name, primary := strings.CutPrefix(name, "*")
	if err := checkMonitorName(name); err != nil {
		return Monitor{}, err
	}
	m := Monitor{Name: name, Primary: primary}
	if err := parseXrandrGeometry(fields[2], &m); err != nil {
		return Monitor{}, err
	}
	return m, nil
}

func checkMonitorName(name string) error {
	if name == "" || len(name) > maxMonitorName || !utf8.ValidString(name) {
		return fmt.Errorf("monitor name %q is empty, too long or not UTF-8", clip(name))
	}
	for _, r := range name {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("monitor name %q has a control or space character", clip(name))
		}
	}
	return nil
}

// parseXrandrGeometry parses "2560/597x1440/336+0+0" (width/mm x height/mm +x +y); xrandr prints
// a negative offset as "+-10".
func parseXrandrGeometry(s string, m *Monitor) error {
	bad := fmt.Errorf("geometry %q is not W/mmxH/mm+X+Y", clip(s))
	widthPart, rest, ok := strings.Cut(s, "x")
	if !ok {
		return bad
	}
	widthText, mmText, ok := strings.Cut(widthPart, "/")
	if !ok || !isDigits(mmText) {
		return bad
	}
	heightText, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return bad
	}
	mmText, offsets, ok := strings.Cut(rest, "+")
	if !ok || !isDigits(mmText) {
		return bad
	}
	xText, yText, ok := strings.Cut(offsets, "+")
	if !ok {
		return bad
	}
	var err error
	if m.W, err = boundedInt(widthText, 1, maxCoordinate); err != nil {
		return fmt.Errorf("width: %w", err)
	}
	if m.H, err = boundedInt(heightText, 1, maxCoordinate); err != nil {
		return fmt.Errorf("height: %w", err)
	}
	if m.X, err = boundedInt(xText, -maxCoordinate, maxCoordinate); err != nil {
		return fmt.Errorf("x: %w", err)
	}
	if m.Y, err = boundedInt(yText, -maxCoordinate, maxCoordinate); err != nil {
		return fmt.Errorf("y: %w", err)
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// boundedInt parses an optionally negative decimal within [lo, hi]; the digit limit keeps
// strconv from ever seeing a number that could overflow.
func boundedInt(s string, lo, hi int) (int, error) {
	digits := strings.TrimPrefix(s, "-")
	if !isDigits(digits) {
		return 0, fmt.Errorf("%q is not a number", clip(s))
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q is outside %d…%d", clip(s), lo, hi)
	}
	return n, nil
}

// parseXrandrScreenSize finds "current 3840 x 1080" in the "Screen 0:" line of `xrandr --current`.
func parseXrandrScreenSize(out []byte) (w, h int, err error) {
	if len(out) > maxXrandrOutput*16 {
		return 0, 0, errors.New("cannot parse xrandr screen: output is too long")
	}
	for _, line := range nonEmptyLines(out) {
		if !strings.HasPrefix(line, "Screen ") {
			continue
		}
		_, after, ok := strings.Cut(line, "current ")
		if !ok {
			continue
		}
		fields := strings.Fields(strings.ReplaceAll(after, ",", " "))
		if len(fields) < 3 || fields[1] != "x" {
			continue
		}
		if w, err = boundedInt(fields[0], 1, maxCoordinate); err != nil {
			return 0, 0, fmt.Errorf("cannot parse xrandr screen width: %w", err)
		}
		if h, err = boundedInt(fields[2], 1, maxCoordinate); err != nil {
			return 0, 0, fmt.Errorf("cannot parse xrandr screen height: %w", err)
		}
		return w, h, nil
	}
	return 0, 0, errors.New("cannot parse xrandr screen: no \"Screen N: … current W x H\" line")
}

// parseXrandrOutputs lists the outputs that `xrandr --current` reports as connected.
func parseXrandrOutputs(out []byte) []string {
	var outputs []string
	for _, line := range nonEmptyLines(out) {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[1] == "connected" && !strings.HasPrefix(line, " ") && checkMonitorName(fields[0]) == nil {
			outputs = append(outputs, fields[0])
		}
	}
	return outputs
}

// ListMonitors lists the monitors of X display (for example ":0") with `xrandr --listmonitors`.
// When xrandr lists none (an X server without RandR monitors), the whole screen of
// `xrandr --current` is returned as one primary monitor named "monitor_0".
func ListMonitors(ctx context.Context, display string) ([]Monitor, error) {
	out, err := runXrandr(ctx, display, "--listmonitors")
	if err != nil {
		return nil, err
	}
	monitors, err := ParseXrandrMonitors(out)
	if err != nil {
		return nil, err
	}
	if len(monitors) > 0 {
		return monitors, nil
	}
	out, err = runXrandr(ctx, display, "--current")
	if err != nil {
		return nil, err
	}
	w, h, err := parseXrandrScreenSize(out)
	if err != nil {
		return nil, err
	}
	return []Monitor{{Name: "monitor_0", Primary: true, W: w, H: h}}, nil
}

// Desktop says whose monitors ListDesktopMonitors lists.
type Desktop struct {
	// OS is as CaptureSpec.OS: "linux" (X11), "windows" or "darwin"; empty means the running
	// system. Windows and macOS monitors can only be listed on Windows and macOS.
	OS string
	// Display is the X display on Linux, as ListMonitors takes it; ignored elsewhere.
	Display string
	// FFmpegPath is the ffmpeg whose avfoundation lists the screens on macOS; empty means
	// "ffmpeg" on PATH. Ignored elsewhere.
	FFmpegPath string
}

// ListDesktopMonitors lists the monitors that a capture on desktop.OS grabs, in the coordinates
// CaptureArgs wants for that OS: on Linux those of ListMonitors (xrandr); on Windows user32's
// monitors, in physical pixels of the virtual desktop (see gdiMonitors); on macOS avfoundation's
// screens, each with its Device, sized by system_profiler and placed side by side (see
// macMonitors).
func ListDesktopMonitors(ctx context.Context, desktop Desktop) ([]Monitor, error) {
	goos := desktop.OS
	if goos == "" {
		goos = runtime.GOOS
	}
	switch goos {
	case "linux":
		return ListMonitors(ctx, desktop.Display)
	case "windows":
		return listWindowsMonitors()
	case "darwin":
		if runtime.GOOS != "darwin" {
			return nil, fmt.Errorf("cannot list macOS screens on %s", runtime.GOOS)
		}
		ffmpegPath := desktop.FFmpegPath
		if ffmpegPath == "" {
			ffmpegPath = "ffmpeg"
		}
		return listMacMonitors(ctx, ffmpegPath, systemProfilerPath)
	default:
		return nil, fmt.Errorf("cannot list monitors: unsupported OS %q", clip(goos))
	}
}

// runXrandr runs xrandr against display and returns its standard output.
func runXrandr(ctx context.Context, display string, args ...string) ([]byte, error) {
	if display == "" {
		return nil, errors.New("cannot run xrandr: no display")
	}
	cmd := exec.CommandContext(ctx, "xrandr", args...)
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	stdout := &cappedBuffer{limit: maxXrandrOutput * 16}
	stderr := newTailBuffer(1 << 10)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return nil, withTail(fmt.Errorf("cannot run xrandr %s on %s: %w", strings.Join(args, " "), display, err), stderr)
	}
	return stdout.Bytes(), nil
}

// cappedBuffer collects a child's output up to limit bytes and fails the write beyond it, so a
// misbehaving tool cannot exhaust memory.
type cappedBuffer struct {
	bytes.Buffer
	limit int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.Len()+len(p) > c.limit {
		return 0, fmt.Errorf("output longer than %d bytes", c.limit)
	}
	return c.Buffer.Write(p)
}

func nonEmptyLines(out []byte) []string {
	var lines []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(line) != "" {
			lines = append(lines, strings.TrimRight(line, " \t\r"))
		}
	}
	return lines
}

// clip shortens text quoted in an error message, since it may be hostile and long.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
