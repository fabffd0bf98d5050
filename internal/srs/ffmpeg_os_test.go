package srs

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"testing"

	"callvault/internal/ffmpeg"
)

// The capturer on Windows and macOS, with the monitor list ffmpeg's
// listers give there standing in for the system: the plan, the capture
// spec and ffmpeg's arguments that follow from it.
func TestFFmpegCapturerOnWindowsAndMacOS(t *testing.T) {
	// user32's monitors: one left of the primary, at negative x.
	windows := []ffmpeg.Monitor{
		{Name: "monitor_0", X: -1280, W: 1280, H: 1024},
		{Name: "monitor_1", Primary: true, W: 1920, H: 1080},
	}
	// avfoundation's screens: main first, side by side, each with its device.
	mac := []ffmpeg.Monitor{
		{Name: "monitor_0", Primary: true, W: 3024, H: 1964, Device: "1"},
		{Name: "monitor_1", X: 3024, W: 3840, H: 2160, Device: "2"},
	}
	tests := []struct {
		name      string
		device    string
		monitors  []ffmpeg.Monitor
		selection MonitorSelection
		wantOS    string
		devices   []string
		inputs    []string // what ffmpeg's arguments must hold
		primary   []bool
	}{
		{
			name: "gdigrab, all monitors in one grab from negative x", device: DeviceGDIGrab, monitors: windows,
			wantOS: "windows", inputs: []string{"-f gdigrab -draw_mouse 1 -framerate 5 -offset_x -1280 -offset_y 0 -video_size 3200x1080 -i desktop"},
			primary: []bool{false, true},
		},
		{
			name: "gdigrab, the primary", device: DeviceGDIGrab, monitors: windows, selection: MonitorSelection{Primary: true},
			wantOS: "windows", inputs: []string{"-offset_x 0 -offset_y 0 -video_size 1920x1080 -i desktop"},
			primary: []bool{true},
		},
		{
			name: "avfoundation, all screens", device: DeviceAVFoundation, monitors: mac,
			wantOS: "darwin", devices: []string{"1", "2"}, inputs: []string{"-i 1:none", "-i 2:none"},
			primary: []bool{true, false},
		},
		{
			name: "avfoundation, the second screen", device: DeviceAVFoundation, monitors: mac, selection: MonitorSelection{Indexes: []int{1}},
			wantOS: "darwin", devices: []string{"2"}, inputs: []string{"-f avfoundation -capture_cursor 1 -framerate 5 -i 2:none"},
			primary: []bool{false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewFFmpegCapturer(&Config{FFmpegPath: "ffmpeg", CaptureDevice: tt.device, Display: ":0", Monitors: tt.selection}).(*ffmpegCapturer)
			c.list = func(context.Context) ([]ffmpeg.Monitor, error) { return slices.Clone(tt.monitors), nil }
			req := CaptureRequest{FrameRate: 5, MaxWidth: 1920}
			layout, err := c.Plan(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			var primary []bool
			for _, m := range layout.Monitors {
				primary = append(primary, m.Primary)
			}
			if !slices.Equal(primary, tt.primary) {
				t.Errorf("primary %v, want %v", primary, tt.primary)
			}
			spec, err := c.captureSpec(req, layout)
			if err != nil {
				t.Fatal(err)
			}
			if spec.OS != tt.wantOS || !slices.Equal(spec.Devices, tt.devices) {
				t.Errorf("spec OS %q devices %q, want %q %q", spec.OS, spec.Devices, tt.wantOS, tt.devices)
			}
			args, err := ffmpeg.CaptureArgs(spec)
			if err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(args, " ")
			for _, input := range tt.inputs {
				if !strings.Contains(joined, input) {
					t.Errorf("args %s\nlack %s", joined, input)
				}
			}
		})
	}
}

// Each capture device lists its own system's monitors; on Linux those of
// Windows and macOS cannot be, and say so.
func TestFFmpegCapturerListsPerDevice(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("lists the real monitors on " + runtime.GOOS)
	}
	for device, wantErr := range map[string]string{
		DeviceGDIGrab:      "cannot list Windows monitors on linux",
		DeviceAVFoundation: "cannot list macOS screens on linux",
		DeviceX11Grab:      "cannot run xrandr: no display",
	} {
		c := NewFFmpegCapturer(&Config{FFmpegPath: "ffmpeg", CaptureDevice: device}).(*ffmpegCapturer)
		if _, err := c.Plan(context.Background(), CaptureRequest{FrameRate: 5, MaxWidth: 1920}); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: error %v, want one containing %q", device, err, wantErr)
		}
	}
}
