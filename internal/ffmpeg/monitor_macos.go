package ffmpeg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// systemProfilerPath is where macOS keeps system_profiler; srs started by launchd may have a
// short PATH.
const systemProfilerPath = "/usr/sbin/system_profiler"

// Bounds of the macOS listings: a device list is a few hundred bytes and system_profiler's
// displays a few kilobytes; more is not what was asked for.
const (
	maxAVFoundationOutput = 64 << 10
	maxSystemProfilerJSON = 1 << 20
	macListTimeout        = 30 * time.Second
)

// avfoundationScreenName is how ffmpeg names a screen among the video devices, before its number.
const avfoundationScreenName = "Capture screen "

// ParseAVFoundationDevices parses what `ffmpeg -f avfoundation -list_devices true -i ""` writes
// to standard error:
//
//	[AVFoundation indev @ 0x7f8b2c004a00] AVFoundation video devices:
//	[AVFoundation indev @ 0x7f8b2c004a00] [0] FaceTime HD Camera
//	[AVFoundation indev @ 0x7f8b2c004a00] [1] Capture screen 0
//	[AVFoundation indev @ 0x7f8b2c004a00] [2] Capture screen 1
//	[AVFoundation indev @ 0x7f8b2c004a00] AVFoundation audio devices:
//	[AVFoundation indev @ 0x7f8b2c004a00] [0] MacBook Pro Microphone
//	: Input/output error
//
// It returns the video device index of each screen: element i is the index of "Capture screen i"
// ("1", "2" above). ffmpeg numbers the screens in CoreGraphics' active display order, whose first
// is the main display. Lines other than video devices (cameras, audio devices, ffmpeg's own
// messages) are skipped; a list without its "AVFoundation video devices:" line, screens not
// numbered 0, 1, … in order, or more than 16 of them are refused.
func ParseAVFoundationDevices(out []byte) ([]string, error) {
	if len(out) > maxAVFoundationOutput {
		return nil, fmt.Errorf("cannot parse avfoundation devices: %d bytes of output is too much", len(out))
	}
	var devices []string
	inVideo, sawVideo := false, false
	for _, line := range nonEmptyLines(out) {
		text := stripLogPrefix(line)
		switch text {
		case "AVFoundation video devices:":
			inVideo, sawVideo = true, true
			continue
		case "AVFoundation audio devices:":
			inVideo = false
			continue
		}
		if !inVideo {
			continue
		}
		index, name, ok := parseDeviceEntry(text)
		if !ok {
			continue
		}
		screenText, ok := strings.CutPrefix(name, avfoundationScreenName)
		if !ok {
			continue // a camera
		}
		if fields := strings.Fields(screenText); len(fields) > 0 {
			screenText = fields[0]
		}
		screen, err := boundedInt(screenText, 0, maxMonitors-1)
		if err != nil {
			return nil, fmt.Errorf("cannot parse avfoundation devices: screen %s: %w", clip(screenText), err)
		}
		if screen != len(devices) {
			return nil, fmt.Errorf("cannot parse avfoundation devices: screen %d listed where screen %d belongs", screen, len(devices))
		}
		devices = append(devices, index)
	}
	if !sawVideo {
		return nil, errors.New("cannot parse avfoundation devices: no \"AVFoundation video devices:\" line")
	}
	return devices, nil
}

// stripLogPrefix removes ffmpeg's log context, "[AVFoundation indev @ 0x7f8b2c004a00] ", from a
// line; a device's "[1] " has no " @ " and stays.
func stripLogPrefix(line string) string {
	for strings.HasPrefix(line, "[") {
		prefix, rest, ok := strings.Cut(line[1:], "]")
		if !ok || !strings.Contains(prefix, " @ ") {
			break
		}
		line = strings.TrimPrefix(rest, " ")
	}
	return strings.TrimSpace(line)
}

// parseDeviceEntry parses "[1] Capture screen 0" into "1" and "Capture screen 0".
func parseDeviceEntry(text string) (index, name string, ok bool) {
	rest, ok := strings.CutPrefix(text, "[")
	if !ok {
		return "", "", false
	}
	indexText, name, ok := strings.Cut(rest, "] ")
	if !ok {
		return "", "", false
	}
	n, err := boundedInt(indexText, 0, maxCoordinate)
	if err != nil {
		return "", "", false
	}
	return strconv.Itoa(n), strings.TrimSpace(name), true
}

// MacDisplay is one display as system_profiler describes it.
type MacDisplay struct {
	W, H int  // the pixels avfoundation captures: the backing store, twice the points on Retina
	Main bool // the main display (the one with the menu bar)
}

// systemProfilerDisplays is the part of `system_profiler SPDisplaysDataType -json` read here:
// graphics processors, each with the displays attached to it.
type systemProfilerDisplays struct {
	GPUs *[]struct {
		Displays []struct {
			Pixels        string `json:"_spdisplays_pixels"`
			Resolution    string `json:"_spdisplays_resolution"`
			OldResolution string `json:"spdisplays_resolution"`
			Main          string `json:"spdisplays_main"`
			Online        string `json:"spdisplays_online"`
		} `json:"spdisplays_ndrvs"`
	} `json:"SPDisplaysDataType"`
}

// ParseSystemProfiler parses the output of `system_profiler SPDisplaysDataType -json`:
//
//	{"SPDisplaysDataType": [{"_name": "Apple M1 Pro", "spdisplays_ndrvs": [
//	  {"_name": "Color LCD", "_spdisplays_pixels": "3024 x 1964",
//	   "_spdisplays_resolution": "1512 x 982 @ 120.00Hz", "spdisplays_main": "spdisplays_yes", …},
//	  {"_name": "DELL U2720Q", "_spdisplays_pixels": "3840 x 2160",
//	   "_spdisplays_resolution": "1920 x 1080 @ 60.00Hz", …}]}]}
//
// into the displays of every graphics processor, in the order listed. A display's size is its
// _spdisplays_pixels (the backing store, which is what avfoundation captures: twice the
// resolution on Retina), else its _spdisplays_resolution ("2560 x 1440 @ 60.00Hz"), else the
// spdisplays_resolution of older releases; a "W x H" with anything after it. Entries without a
// size (a connector with nothing attached) and displays marked offline are skipped. Input that is
// not that JSON, a size that is not "W x H" within 1…65535, or more than 16 displays are refused.
func ParseSystemProfiler(out []byte) ([]MacDisplay, error) {
	if len(out) > maxSystemProfilerJSON {
		return nil, fmt.Errorf("cannot parse system_profiler displays: %d bytes of output is too much", len(out))
	}
	var report systemProfilerDisplays
	if err := json.Unmarshal(out, &report); err != nil {
		return nil, fmt.Errorf("cannot parse system_profiler displays: %w", err)
	}
	if report.GPUs == nil {
		return nil, errors.New("cannot parse system_profiler displays: no SPDisplaysDataType")
	}
	var displays []MacDisplay
	for _, gpu := range *report.GPUs {
		for _, d := range gpu.Displays {
			size := d.Pixels
			if size == "" {
				size = d.Resolution
			}
			if size == "" {
				size = d.OldResolution
			}
			if size == "" || d.Online == "spdisplays_no" {
				continue
			}
			w, h, err := parseMacSize(size)
			if err != nil {
				return nil, fmt.Errorf("cannot parse system_profiler display %d: %w", len(displays), err)
			}
			if len(displays) == maxMonitors {
				return nil, fmt.Errorf("cannot parse system_profiler displays: more than %d", maxMonitors)
			}
			displays = append(displays, MacDisplay{W: w, H: h, Main: d.Main == "spdisplays_yes"})
		}
	}
	return displays, nil
}

// parseMacSize parses "5120 x 2880" and "2560 x 1440 @ 60.00Hz".
func parseMacSize(s string) (w, h int, err error) {
	fields := strings.Fields(s)
	if len(fields) < 3 || fields[1] != "x" {
		return 0, 0, fmt.Errorf("size %q is not \"W x H\"", clip(s))
	}
	if w, err = boundedInt(fields[0], 1, maxCoordinate); err != nil {
		return 0, 0, fmt.Errorf("width: %w", err)
	}
	if h, err = boundedInt(fields[2], 1, maxCoordinate); err != nil {
		return 0, 0, fmt.Errorf("height: %w", err)
	}
	return w, h, nil
}

// macMonitors pairs avfoundation's screens (devices[i] is "Capture screen i") with
// system_profiler's displays. Screen 0 is CoreGraphics' main display, the one system_profiler
// marks spdisplays_main (its first display when none is marked); the other screens take the other
// displays in system_profiler's order, which is exact for two displays and a guess beyond (a
// wrong guess between screens of different sizes distorts their picture, since each is scaled to
// its display's size, but loses nothing). Neither tool tells where the screens are arranged, so
// they are placed side by side in device order, top-aligned, from x = 0: avfoundation grabs each
// screen on its own anyway, so only the picture's composition follows from it.
func macMonitors(devices []string, displays []MacDisplay) ([]Monitor, error) {
	if len(devices) == 0 {
		return nil, errors.New("cannot list the screens: avfoundation lists none")
	}
	if len(devices) != len(displays) {
		return nil, fmt.Errorf("cannot list the screens: avfoundation lists %d, system_profiler %d displays (mirrored?)", len(devices), len(displays))
	}
	main := 0
	for i, d := range displays {
		if d.Main {
			main = i
			break
		}
	}
	ordered := append([]MacDisplay{displays[main]}, displays[:main]...)
	ordered = append(ordered, displays[main+1:]...)
	monitors := make([]Monitor, len(devices))
	x := 0
	for i, d := range ordered {
		if x+d.W > maxCoordinate {
			return nil, fmt.Errorf("cannot list the screens: side by side they are wider than %d pixels", maxCoordinate)
		}
		monitors[i] = Monitor{Name: fmt.Sprintf("monitor_%d", i), Primary: i == 0, X: x, W: d.W, H: d.H, Device: devices[i]}
		x += d.W
	}
	return monitors, nil
}

// listMacMonitors lists the screens with ffmpeg's avfoundation device list and system_profiler.
func listMacMonitors(ctx context.Context, ffmpegPath, systemProfiler string) ([]Monitor, error) {
	ctx, cancel := context.WithTimeout(ctx, macListTimeout)
	defer cancel()

	// ffmpeg lists the devices and then fails, having no input to open: its exit status says
	// nothing, its listing is the answer.
	cmd := exec.CommandContext(ctx, ffmpegPath, "-hide_banner", "-nostdin", "-f", "avfoundation", "-list_devices", "true", "-i", "")
	listing := &cappedBuffer{limit: maxAVFoundationOutput}
	tail := newTailBuffer(1 << 10)
	cmd.Stderr = io.MultiWriter(tail, listing)
	var exitErr *exec.ExitError
	if err := cmd.Run(); err != nil && !errors.As(err, &exitErr) {
		return nil, withTail(fmt.Errorf("cannot run %s to list the avfoundation devices: %w", ffmpegPath, err), tail)
	}
	devices, err := ParseAVFoundationDevices(listing.Bytes())
	if err != nil {
		return nil, withTail(err, tail)
	}

	cmd = exec.CommandContext(ctx, systemProfiler, "SPDisplaysDataType", "-json")
	report := &cappedBuffer{limit: maxSystemProfilerJSON}
	stderr := newTailBuffer(1 << 10)
	cmd.Stdout, cmd.Stderr = report, stderr
	if err := cmd.Run(); err != nil {
		return nil, withTail(fmt.Errorf("cannot run %s SPDisplaysDataType -json: %w", systemProfiler, err), stderr)
	}
	displays, err := ParseSystemProfiler(report.Bytes())
	if err != nil {
		return nil, err
	}
	return macMonitors(devices, displays)
}
