package ffmpeg

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseXrandrMonitors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Monitor
		wantErr string
	}{
		{
			name: "guide's two monitors",
			in:   "Monitors: 2\n 0: +*DP-1 2560/597x1440/336+0+0  DP-1\n 1: +HDMI-1 1920/509x1080/286+2560+0  HDMI-1\n",
			want: []Monitor{
				{Name: "DP-1", Primary: true, X: 0, Y: 0, W: 2560, H: 1440},
				{Name: "HDMI-1", X: 2560, Y: 0, W: 1920, H: 1080},
			},
		},
		{
			name: "Xvfb virtual monitors, the second without output",
			in:   "Monitors: 2\n 0: *monitor_0 1920/508x1080/286+0+0  screen\n 1: monitor_1 1920/508x1080/286+1920+0 \n",
			want: []Monitor{
				{Name: "monitor_0", Primary: true, W: 1920, H: 1080},
				{Name: "monitor_1", X: 1920, W: 1920, H: 1080},
			},
		},
		{
			name: "automatic monitor of plain Xvfb",
			in:   "Monitors: 1\n 0: +screen 3840/1016x1080/286+0+0  screen\n",
			want: []Monitor{{Name: "screen", W: 3840, H: 1080}},
		},
		{
			name: "negative offset and CRLF",
			in:   "Monitors: 1\r\n 0: +*eDP-1 1366/309x768/174+-1366+-10  eDP-1\r\n",
			want: []Monitor{{Name: "eDP-1", Primary: true, X: -1366, Y: -10, W: 1366, H: 768}},
		},
		{name: "none", in: "Monitors: 0\n", want: []Monitor{}},
		{name: "empty", in: "", wantErr: "empty output"},
		{name: "not xrandr", in: "Screen 0: minimum 8 x 8\n", wantErr: "does not start"},
		{name: "count too large", in: "Monitors: 17\n", wantErr: "count"},
		{name: "negative count", in: "Monitors: -1\n", wantErr: "count"},
		{name: "fewer lines than announced", in: "Monitors: 2\n 0: +*DP-1 2560/597x1440/336+0+0  DP-1\n", wantErr: "2 announced, 1 listed"},
		{name: "more lines than announced", in: "Monitors: 0\n 0: +*DP-1 2560/597x1440/336+0+0  DP-1\n", wantErr: "0 announced, 1 listed"},
		{name: "wrong index", in: "Monitors: 1\n 3: +*DP-1 2560/597x1440/336+0+0  DP-1\n", wantErr: "does not start with"},
		{name: "absurd width", in: "Monitors: 1\n 0: +*DP-1 65536/597x1440/336+0+0  DP-1\n", wantErr: "width"},
		{name: "absurd x", in: "Monitors: 1\n 0: +*DP-1 2560/597x1440/336+99999999999+0  DP-1\n", wantErr: "x:"},
		{name: "zero height", in: "Monitors: 1\n 0: +*DP-1 2560/597x0/336+0+0  DP-1\n", wantErr: "height"},
		{name: "garbled geometry", in: "Monitors: 1\n 0: +*DP-1 2560x1440+0+0  DP-1\n", wantErr: "geometry"},
		{name: "trailing offset", in: "Monitors: 1\n 0: +*DP-1 2560/597x1440/336+0+0+5  DP-1\n", wantErr: "y:"},
		{name: "two fields", in: "Monitors: 1\n 0: 2560/597x1440/336+0+0\n", wantErr: "fewer than 3 fields"},
		{name: "name is only marks", in: "Monitors: 1\n 0: +* 2560/597x1440/336+0+0 DP-1\n", wantErr: "name \"\" is empty"},
		{name: "huge input", in: "Monitors: 0\n" + strings.Repeat(" ", maxXrandrOutput), wantErr: "too much"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseXrandrMonitors([]byte(tt.in))
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
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseXrandrScreenSize(t *testing.T) {
	w, h, err := parseXrandrScreenSize([]byte("Screen 0: minimum 1 x 1, current 3840 x 1080, maximum 3840 x 1080\nscreen connected 3840x1080+0+0 0mm x 0mm\n"))
	if err != nil || w != 3840 || h != 1080 {
		t.Fatalf("got %dx%d, %v; want 3840x1080", w, h, err)
	}
	for _, bad := range []string{"", "Screen 0: minimum 1 x 1\n", "Screen 0: current 0 x 1080,\n", "Screen 0: current 70000 x 1080,\n"} {
		if _, _, err := parseXrandrScreenSize([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if got := parseXrandrOutputs([]byte("Screen 0: minimum 1 x 1, current 3840 x 1080\nscreen connected 3840x1080+0+0 0mm x 0mm\n   3840x1080      0.00*\nHDMI-1 disconnected\n")); !reflect.DeepEqual(got, []string{"screen"}) {
		t.Errorf("outputs = %q", got)
	}
}

func FuzzParseXrandrMonitors(f *testing.F) {
	f.Add([]byte("Monitors: 2\n 0: +*DP-1 2560/597x1440/336+0+0  DP-1\n 1: +HDMI-1 1920/509x1080/286+2560+0  HDMI-1\n"))
	f.Add([]byte("Monitors: 2\n 0: *monitor_0 1920/508x1080/286+0+0  screen\n 1: monitor_1 1920/508x1080/286+1920+0 \n"))
	f.Add([]byte("Monitors: 1\n 0: +*eDP-1 1366/309x768/174+-1366+-10  eDP-1\n"))
	f.Add([]byte("Monitors: 0\n"))
	f.Add([]byte("Monitors: 1\n 0: +*DP-1 65535/1x65535/1+65535+-65535\n"))
	f.Add([]byte("Monitors: 16\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		monitors, err := ParseXrandrMonitors(in)
		if err != nil {
			return
		}
		if len(monitors) > maxMonitors {
			t.Fatalf("%d monitors", len(monitors))
		}
		for _, m := range monitors {
			if m.Name == "" || m.W < 1 || m.H < 1 || m.W > maxCoordinate || m.H > maxCoordinate ||
				m.X < -maxCoordinate || m.X > maxCoordinate || m.Y < -maxCoordinate || m.Y > maxCoordinate {
				t.Fatalf("accepted %+v", m)
			}
		}
		// Whatever parses must be plannable without a panic.
		_, _ = PlanLayout(monitors, nil, 1920)
	})
}
