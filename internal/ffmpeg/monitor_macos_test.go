package ffmpeg

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// Device lists as `ffmpeg -hide_banner -f avfoundation -list_devices true -i ""` writes them to
// stderr, written here from libavdevice/avfoundation.m's log lines ("[%d] %s", "[%d] Capture
// screen %d", newer releases adding "  [uid:…]" to cameras) and ffmpeg's closing error.
const (
	// A MacBook with an external display, ffmpeg 4–6.
	avfMacBookTwoScreens = `[AVFoundation indev @ 0x7f9a5c704880] AVFoundation video devices:
[AVFoundation indev @ 0x7f9a5c704880] [0] FaceTime HD Camera
[AVFoundation indev @ 0x7f9a5c704880] [1] Capture screen 0
[AVFoundation indev @ 0x7f9a5c704880] [2] Capture screen 1
[AVFoundation indev @ 0x7f9a5c704880] AVFoundation audio devices:
[AVFoundation indev @ 0x7f9a5c704880] [0] MacBook Pro Microphone
[AVFoundation indev @ 0x7f9a5c704880] [1] Microsoft Teams Audio
: Input/output error
`
	// ffmpeg 7 and later: cameras with their unique IDs, a Continuity Camera and a virtual
	// camera before the screens, ffmpeg's own errors after the list.
	avfNewerThreeScreens = `[AVFoundation indev @ 0x13be04a80] AVFoundation video devices:
[AVFoundation indev @ 0x13be04a80] [0] MacBook Pro Camera  [uid:47B4B64B-7067-4B9C-AD2B-AE273A71F4B5]
[AVFoundation indev @ 0x13be04a80] [1] OBS Virtual Camera  [uid:7626645E-4425-469E-9D8B-97E0FA59AC75]
[AVFoundation indev @ 0x13be04a80] [2] iPhone Camera  [uid:2D1E3F5A-0000-0000-0000-000000000001]
[AVFoundation indev @ 0x13be04a80] [3] Capture screen 0
[AVFoundation indev @ 0x13be04a80] [4] Capture screen 1
[AVFoundation indev @ 0x13be04a80] [5] Capture screen 2
[AVFoundation indev @ 0x13be04a80] AVFoundation audio devices:
[AVFoundation indev @ 0x13be04a80] [0] MacBook Pro Microphone  [uid:BuiltInMicrophoneDevice]
[AVFoundation indev @ 0x13be04a80] [1] iPhone Microphone  [uid:2D1E3F5A-0000-0000-0000-000000000002]
[in#0 @ 0x600003c7c100] Error opening input: Input/output error
Error opening input file .
Error opening input files: Input/output error
`
	// A Mac mini without a camera, CRLF as a terminal log might have it.
	avfMacMiniOneScreen = "[AVFoundation indev @ 0x7fc1b8e04c00] AVFoundation video devices:\r\n" +
		"[AVFoundation indev @ 0x7fc1b8e04c00] [0] Capture screen 0\r\n" +
		"[AVFoundation indev @ 0x7fc1b8e04c00] AVFoundation audio devices:\r\n" +
		": Input/output error\r\n"
	avfNotMacOS = "Unknown input format: 'avfoundation'\n"
)

// Displays as `system_profiler SPDisplaysDataType -json` reports them, written here from the
// keys Apple's tool prints (shortened: GPU details left out).
const (
	// An Apple-silicon MacBook Pro (Retina, "looks like" 1512x982) with a 4K display scaled to
	// look like 1920x1080, which is not the main display.
	spMacBookAnd4K = `{
  "SPDisplaysDataType" : [
    {
      "_name" : "Apple M1 Pro",
      "spdisplays_mtlgpufamilysupport" : "spdisplays_metal3",
      "spdisplays_ndrvs" : [
        {
          "_name" : "DELL U2720Q",
          "_spdisplays_display-product-id" : "a0f1",
          "_spdisplays_display-serial-number" : "4c4d4b33",
          "_spdisplays_display-vendor-id" : "10ac",
          "_spdisplays_display-week" : "23",
          "_spdisplays_display-year" : "2021",
          "_spdisplays_displayID" : "3",
          "_spdisplays_pixels" : "3840 x 2160",
          "_spdisplays_resolution" : "1920 x 1080 @ 60.00Hz",
          "spdisplays_mirror" : "spdisplays_off",
          "spdisplays_online" : "spdisplays_yes",
          "spdisplays_pixelresolution" : "spdisplays_4k",
          "spdisplays_resolution" : "spdisplays_3840x2160",
          "spdisplays_rotation" : "spdisplays_supported"
        },
        {
          "_name" : "Color LCD",
          "_spdisplays_display-product-id" : "a050",
          "_spdisplays_display-serial-number" : "fd626d62",
          "_spdisplays_display-vendor-id" : "610",
          "_spdisplays_displayID" : "1",
          "_spdisplays_pixels" : "3024 x 1964",
          "_spdisplays_resolution" : "1512 x 982 @ 120.00Hz",
          "spdisplays_ambient_brightness" : "spdisplays_yes",
          "spdisplays_connection_type" : "spdisplays_internal",
          "spdisplays_display_type" : "spdisplays_built-in-liquid-retina-xdr",
          "spdisplays_main" : "spdisplays_yes",
          "spdisplays_mirror" : "spdisplays_off",
          "spdisplays_online" : "spdisplays_yes",
          "spdisplays_pixelresolution" : "spdisplays_3024x1964Retina"
        }
      ],
      "spdisplays_vendor" : "sppci_vendor_Apple",
      "sppci_bus" : "spdisplays_builtin",
      "sppci_cores" : "16",
      "sppci_device_type" : "spdisplays_gpu",
      "sppci_model" : "Apple M1 Pro"
    }
  ]
}`
	// A 5K iMac (Intel): the display hangs off the discrete GPU, the integrated one lists an
	// empty connector.
	spIMac5K = `{
  "SPDisplaysDataType" : [
    {
      "_name" : "Intel UHD Graphics 630",
      "spdisplays_ndrvs" : [
        { "_name" : "spdisplays_display_connector", "spdisplays_status" : "spdisplays_not_connected" }
      ],
      "sppci_model" : "Intel UHD Graphics 630"
    },
    {
      "_name" : "Radeon Pro 5500 XT",
      "spdisplays_ndrvs" : [
        {
          "_name" : "iMac",
          "_spdisplays_displayID" : "4280a41",
          "_spdisplays_pixels" : "5120 x 2880",
          "_spdisplays_resolution" : "2560 x 1440 @ 60.00Hz",
          "spdisplays_connection_type" : "spdisplays_internal",
          "spdisplays_display_type" : "spdisplays_built-in_retinaLCD",
          "spdisplays_main" : "spdisplays_yes",
          "spdisplays_mirror" : "spdisplays_off",
          "spdisplays_online" : "spdisplays_yes",
          "spdisplays_pixelresolution" : "spdisplays_5120x2880Retina"
        }
      ],
      "sppci_model" : "Radeon Pro 5500 XT"
    }
  ]
}`
	// A Mac mini with a 1440p display and an offline one, and no pixel counts (older releases).
	spMacMiniNoPixels = `{"SPDisplaysDataType":[{"_name":"Intel UHD Graphics 630","spdisplays_ndrvs":[
  {"_name":"LG QHD","_spdisplays_resolution":"2560 x 1440 @ 59.95Hz","spdisplays_main":"spdisplays_yes","spdisplays_online":"spdisplays_yes"},
  {"_name":"Projector","_spdisplays_resolution":"1920 x 1080 @ 60.00Hz","spdisplays_online":"spdisplays_no"}]}]}`
	// A headless Mac: a GPU with no displays at all.
	spHeadless = `{"SPDisplaysDataType":[{"_name":"Apple M2","sppci_model":"Apple M2"}]}`
)

func TestParseAVFoundationDevices(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{name: "MacBook with a camera and two screens", in: avfMacBookTwoScreens, want: []string{"1", "2"}},
		{name: "newer ffmpeg, three cameras, three screens", in: avfNewerThreeScreens, want: []string{"3", "4", "5"}},
		{name: "one screen, no camera, CRLF", in: avfMacMiniOneScreen, want: []string{"0"}},
		{
			name: "no screens",
			in:   "[AVFoundation indev @ 0x1] AVFoundation video devices:\n[AVFoundation indev @ 0x1] [0] FaceTime HD Camera\n[AVFoundation indev @ 0x1] AVFoundation audio devices:\n",
			want: nil,
		},
		{
			name: "an audio device named like a screen is not one",
			in:   "[AVFoundation indev @ 0x1] AVFoundation video devices:\n[AVFoundation indev @ 0x1] [0] Capture screen 0\n[AVFoundation indev @ 0x1] AVFoundation audio devices:\n[AVFoundation indev @ 0x1] [0] Capture screen 1\n",
			want: []string{"0"},
		},
		{
			name: "leading zeros are dropped",
			in:   "AVFoundation video devices:\n[01] Capture screen 0\n",
			want: []string{"1"},
		},
		{name: "ffmpeg without avfoundation", in: avfNotMacOS, wantErr: "no \"AVFoundation video devices:\" line"},
		{name: "empty", in: "", wantErr: "no \"AVFoundation video devices:\" line"},
		{
			name:    "screens out of order",
			in:      "AVFoundation video devices:\n[1] Capture screen 1\n[2] Capture screen 0\n",
			wantErr: "screen 1 listed where screen 0 belongs",
		},
		{
			name:    "a screen twice",
			in:      "AVFoundation video devices:\n[1] Capture screen 0\n[2] Capture screen 0\n",
			wantErr: "screen 0 listed where screen 1 belongs",
		},
		{name: "screen number is not one", in: "AVFoundation video devices:\n[1] Capture screen zero\n", wantErr: "not a number"},
		{name: "too many screens", in: "AVFoundation video devices:\n[17] Capture screen 16\n", wantErr: "outside 0…15"},
		{name: "huge input", in: "AVFoundation video devices:\n" + strings.Repeat("x", maxAVFoundationOutput), wantErr: "too much"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAVFoundationDevices([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseSystemProfiler(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []MacDisplay
		wantErr string
	}{
		{
			name: "Retina MacBook and a scaled 4K display: pixels, not points",
			in:   spMacBookAnd4K,
			want: []MacDisplay{{W: 3840, H: 2160}, {W: 3024, H: 1964, Main: true}},
		},
		{name: "5K iMac, an empty connector skipped", in: spIMac5K, want: []MacDisplay{{W: 5120, H: 2880, Main: true}}},
		{name: "no pixel counts, an offline display", in: spMacMiniNoPixels, want: []MacDisplay{{W: 2560, H: 1440, Main: true}}},
		{name: "headless", in: spHeadless, want: nil},
		{
			name: "older spdisplays_resolution",
			in:   `{"SPDisplaysDataType":[{"spdisplays_ndrvs":[{"spdisplays_resolution":"1920 x 1200 (WUXGA - Widescreen Ultra eXtended Graphics Array)"}]}]}`,
			want: []MacDisplay{{W: 1920, H: 1200}},
		},
		{name: "not JSON", in: "SPDisplaysDataType: Graphics/Displays:\n", wantErr: "invalid character"},
		{name: "another data type", in: `{"SPUSBDataType":[]}`, wantErr: "no SPDisplaysDataType"},
		{name: "null", in: `{"SPDisplaysDataType":null}`, wantErr: "no SPDisplaysDataType"},
		{name: "size without x", in: `{"SPDisplaysDataType":[{"spdisplays_ndrvs":[{"_spdisplays_pixels":"3840x2160"}]}]}`, wantErr: `size "3840x2160" is not "W x H"`},
		{name: "zero width", in: `{"SPDisplaysDataType":[{"spdisplays_ndrvs":[{"_spdisplays_pixels":"0 x 2160"}]}]}`, wantErr: "width"},
		{name: "absurd height", in: `{"SPDisplaysDataType":[{"spdisplays_ndrvs":[{"_spdisplays_pixels":"3840 x 99999999999"}]}]}`, wantErr: "height"},
		{name: "a size that is not a string", in: `{"SPDisplaysDataType":[{"spdisplays_ndrvs":[{"_spdisplays_pixels":3840}]}]}`, wantErr: "cannot unmarshal"},
		{
			name:    "too many",
			in:      `{"SPDisplaysDataType":[{"spdisplays_ndrvs":[` + strings.Repeat(`{"_spdisplays_pixels":"800 x 600"},`, 16) + `{"_spdisplays_pixels":"800 x 600"}]}]}`,
			wantErr: "more than 16",
		},
		{name: "huge input", in: `{"SPDisplaysDataType":[]}` + strings.Repeat(" ", maxSystemProfilerJSON), wantErr: "too much"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSystemProfiler([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMacMonitors(t *testing.T) {
	tests := []struct {
		name     string
		devices  []string
		displays []MacDisplay
		want     []Monitor
		wantErr  string
	}{
		{
			name:     "the main display is screen 0 and first, wherever system_profiler lists it",
			devices:  []string{"1", "2"},
			displays: []MacDisplay{{W: 3840, H: 2160}, {W: 3024, H: 1964, Main: true}},
			want: []Monitor{
				{Name: "monitor_0", Primary: true, W: 3024, H: 1964, Device: "1"},
				{Name: "monitor_1", X: 3024, W: 3840, H: 2160, Device: "2"},
			},
		},
		{
			name:     "three, the others in system_profiler's order",
			devices:  []string{"3", "4", "5"},
			displays: []MacDisplay{{W: 1920, H: 1080}, {W: 2560, H: 1440}, {W: 5120, H: 2880, Main: true}},
			want: []Monitor{
				{Name: "monitor_0", Primary: true, W: 5120, H: 2880, Device: "3"},
				{Name: "monitor_1", X: 5120, W: 1920, H: 1080, Device: "4"},
				{Name: "monitor_2", X: 7040, W: 2560, H: 1440, Device: "5"},
			},
		},
		{
			name:     "none marked main: the first is",
			devices:  []string{"0"},
			displays: []MacDisplay{{W: 2560, H: 1440}},
			want:     []Monitor{{Name: "monitor_0", Primary: true, W: 2560, H: 1440, Device: "0"}},
		},
		{name: "no screens", devices: nil, displays: []MacDisplay{{W: 2560, H: 1440}}, wantErr: "avfoundation lists none"},
		{name: "counts differ", devices: []string{"1", "2"}, displays: []MacDisplay{{W: 2560, H: 1440, Main: true}}, wantErr: "avfoundation lists 2, system_profiler 1 displays"},
		{
			name:     "too wide side by side",
			devices:  []string{"1", "2"},
			displays: []MacDisplay{{W: 40000, H: 1000}, {W: 40000, H: 1000}},
			wantErr:  "wider than 65535",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := macMonitors(tt.devices, tt.displays)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// From the two listings to avfoundation's arguments: each selected screen's device, each scaled
// to its pixel size, side by side.
func TestMacMonitorsToAVFoundation(t *testing.T) {
	devices, err := ParseAVFoundationDevices([]byte(avfMacBookTwoScreens))
	if err != nil {
		t.Fatal(err)
	}
	displays, err := ParseSystemProfiler([]byte(spMacBookAnd4K))
	if err != nil {
		t.Fatal(err)
	}
	monitors, err := macMonitors(devices, displays)
	if err != nil {
		t.Fatal(err)
	}
	layout := mustLayout(t, monitors, []int{1}, 1920)
	args, err := CaptureArgs(CaptureSpec{OS: "darwin", Layout: layout, Devices: []string{layout.Monitors[0].Desktop.Device}})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(args, " ")
	if !strings.Contains(joined, "-f avfoundation -capture_cursor 1 -framerate 5 -i 2:none") ||
		!strings.Contains(joined, "[0:v]scale=3840:2160,setsar=1[m0];[m0]scale=1920:1080:flags=area:") {
		t.Errorf("args %s", joined)
	}
}

// listMacMonitors with stand-ins for ffmpeg and system_profiler that print what the real ones
// print: ffmpeg's listing on stderr with a failing exit status, system_profiler's JSON.
func TestListMacMonitorsWithStandIns(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the stand-ins are shell scripts")
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(filepath.Join(dir, name+".out"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	script := func(path, body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ffmpegPath := write("ffmpeg", avfNewerThreeScreens)
	// The arguments must be the listing ones, or the stand-in lists nothing.
	script(ffmpegPath, `[ "$*" = "-hide_banner -nostdin -f avfoundation -list_devices true -i " ] || exit 2; cat "$0.out" >&2; exit 1`)
	profilerPath := write("system_profiler", `{"SPDisplaysDataType":[{"spdisplays_ndrvs":[
		{"_spdisplays_pixels":"3840 x 2160"},{"_spdisplays_pixels":"3024 x 1964","spdisplays_main":"spdisplays_yes"},{"_spdisplays_resolution":"1920 x 1080 @ 60.00Hz"}]}]}`)
	script(profilerPath, `[ "$*" = "SPDisplaysDataType -json" ] || exit 2; cat "$0.out"`)

	got, err := listMacMonitors(context.Background(), ffmpegPath, profilerPath)
	if err != nil {
		t.Fatal(err)
	}
	want := []Monitor{
		{Name: "monitor_0", Primary: true, W: 3024, H: 1964, Device: "3"},
		{Name: "monitor_1", X: 3024, W: 3840, H: 2160, Device: "4"},
		{Name: "monitor_2", X: 6864, W: 1920, H: 1080, Device: "5"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	noAVFoundation := write("ffmpeg-linux", avfNotMacOS)
	script(noAVFoundation, `cat "$0.out" >&2; exit 1`)
	if _, err := listMacMonitors(context.Background(), noAVFoundation, profilerPath); err == nil ||
		!strings.Contains(err.Error(), "no \"AVFoundation video devices:\" line: Unknown input format: 'avfoundation'") {
		t.Errorf("without avfoundation: %v", err)
	}
	if _, err := listMacMonitors(context.Background(), filepath.Join(dir, "missing"), profilerPath); err == nil ||
		!strings.Contains(err.Error(), "cannot run") {
		t.Errorf("without ffmpeg: %v", err)
	}
	failing := filepath.Join(dir, "system_profiler-failing")
	script(failing, `echo "SPDisplaysDataType: unknown data type" >&2; exit 1`)
	if _, err := listMacMonitors(context.Background(), ffmpegPath, failing); err == nil ||
		!strings.Contains(err.Error(), "exit status 1: SPDisplaysDataType: unknown data type") {
		t.Errorf("failing system_profiler: %v", err)
	}
}

func TestListDesktopMonitorsElsewhere(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("lists the real monitors on " + runtime.GOOS)
	}
	for goos, wantErr := range map[string]string{
		"windows": "cannot list Windows monitors on linux",
		"darwin":  "cannot list macOS screens on linux",
		"plan9":   "unsupported OS",
		"linux":   "no display",
	} {
		if _, err := ListDesktopMonitors(context.Background(), Desktop{OS: goos}); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: error %v, want one containing %q", goos, err, wantErr)
		}
	}
}

func FuzzParseAVFoundationDevices(f *testing.F) {
	for _, seed := range []string{avfMacBookTwoScreens, avfNewerThreeScreens, avfMacMiniOneScreen, avfNotMacOS,
		"AVFoundation video devices:\n[1] Capture screen 1\n", "[x @ y] [z @ w] AVFoundation video devices:\n[99999] Capture screen 15\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		devices, err := ParseAVFoundationDevices(in)
		if err != nil {
			return
		}
		if len(devices) > maxMonitors {
			t.Fatalf("%d screens", len(devices))
		}
		for _, device := range devices {
			if !isDigits(device) {
				t.Fatalf("device %q is not an index", device)
			}
		}
	})
}

func FuzzParseSystemProfiler(f *testing.F) {
	for _, seed := range []string{spMacBookAnd4K, spIMac5K, spMacMiniNoPixels, spHeadless,
		`{"SPDisplaysDataType":[{"spdisplays_ndrvs":[{"_spdisplays_pixels":"65535 x 1"},{"_spdisplays_resolution":"1 x 65535 @ 1Hz"}]}]}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		displays, err := ParseSystemProfiler(in)
		if err != nil {
			return
		}
		if len(displays) > maxMonitors {
			t.Fatalf("%d displays", len(displays))
		}
		for _, d := range displays {
			if d.W < 1 || d.H < 1 || d.W > maxCoordinate || d.H > maxCoordinate {
				t.Fatalf("accepted %+v", d)
			}
		}
		// Whatever parses must pair with as many screens and plan without a panic.
		devices := make([]string, len(displays))
		for i := range devices {
			devices[i] = "1"
		}
		if monitors, err := macMonitors(devices, displays); err == nil {
			_, _ = PlanLayout(monitors, nil, 1920)
		}
	})
}
