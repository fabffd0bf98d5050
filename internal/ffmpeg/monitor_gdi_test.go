package ffmpeg

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// What EnumDisplayMonitors and GetMonitorInfoW report, in the order Windows enumerates them
// (which is not left to right).
func TestGDIMonitors(t *testing.T) {
	tests := []struct {
		name    string
		found   []gdiMonitor
		want    []Monitor
		wantErr string
	}{
		{
			name:  "one primary monitor",
			found: []gdiMonitor{{Right: 1920, Bottom: 1080, Flags: monitorInfoPrimary}},
			want:  []Monitor{{Name: "monitor_0", Primary: true, W: 1920, H: 1080}},
		},
		{
			name: "a monitor left of the primary has negative x",
			found: []gdiMonitor{
				{Right: 1920, Bottom: 1080, Flags: monitorInfoPrimary},
				{Left: -1280, Right: 0, Bottom: 1024},
			},
			want: []Monitor{
				{Name: "monitor_0", X: -1280, W: 1280, H: 1024},
				{Name: "monitor_1", Primary: true, W: 1920, H: 1080},
			},
		},
		{
			name: "a monitor above the primary has negative y",
			found: []gdiMonitor{
				{Right: 2560, Bottom: 1440, Flags: monitorInfoPrimary},
				{Left: 320, Top: -1080, Right: 2240, Bottom: 0},
			},
			want: []Monitor{
				{Name: "monitor_0", Primary: true, W: 2560, H: 1440},
				{Name: "monitor_1", X: 320, Y: -1080, W: 1920, H: 1080},
			},
		},
		{
			name: "primary between two, same x ordered by y",
			found: []gdiMonitor{
				{Left: 1920, Right: 3840, Bottom: 1200},
				{Right: 1920, Bottom: 1080, Flags: monitorInfoPrimary},
				{Left: -1920, Top: 0, Right: 0, Bottom: 1080},
				{Left: -1920, Top: -1080, Right: 0, Bottom: 0},
			},
			want: []Monitor{
				{Name: "monitor_0", X: -1920, Y: -1080, W: 1920, H: 1080},
				{Name: "monitor_1", X: -1920, W: 1920, H: 1080},
				{Name: "monitor_2", Primary: true, W: 1920, H: 1080},
				{Name: "monitor_3", X: 1920, W: 1920, H: 1200},
			},
		},
		{
			name:  "flags other than primary are ignored",
			found: []gdiMonitor{{Right: 1366, Bottom: 768, Flags: 0xfffe}},
			want:  []Monitor{{Name: "monitor_0", W: 1366, H: 768}},
		},
		{name: "none", found: nil, wantErr: "reports none"},
		{name: "empty rectangle", found: []gdiMonitor{{Left: 100, Right: 100, Bottom: 1080}}, wantErr: "monitor 0 has the rectangle (100,0)-(100,1080)"},
		{name: "inverted rectangle", found: []gdiMonitor{{Right: 1920, Bottom: 1080}, {Left: 10, Top: 10, Right: 0, Bottom: 0}}, wantErr: "monitor 1"},
		{name: "beyond 16-bit coordinates", found: []gdiMonitor{{Left: 65000, Right: 66000, Bottom: 1080}}, wantErr: "rectangle"},
		{name: "int32 extremes do not overflow", found: []gdiMonitor{{Left: math.MinInt32, Top: math.MinInt32, Right: math.MaxInt32, Bottom: math.MaxInt32}}, wantErr: "rectangle"},
		{name: "too many", found: make([]gdiMonitor, 17), wantErr: "17, at most 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := gdiMonitors(tt.found)
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

// From user32's rectangles to gdigrab's arguments: the virtual-desktop coordinates, negative
// ones included, reach -offset_x and -offset_y unchanged.
func TestGDIMonitorsToGdigrab(t *testing.T) {
	monitors, err := gdiMonitors([]gdiMonitor{
		{Right: 1920, Bottom: 1080, Flags: monitorInfoPrimary},
		{Left: -1280, Top: 56, Right: 0, Bottom: 1080},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		selected []int
		grabs    []string
	}{
		{nil, []string{"-offset_x -1280 -offset_y 0 -video_size 3200x1080"}},
		{[]int{0}, []string{"-offset_x -1280 -offset_y 56 -video_size 1280x1024"}},
		{[]int{1}, []string{"-offset_x 0 -offset_y 0 -video_size 1920x1080"}},
	}
	for _, tt := range tests {
		args, err := CaptureArgs(CaptureSpec{OS: "windows", Layout: mustLayout(t, monitors, tt.selected, 1920)})
		if err != nil {
			t.Fatal(err)
		}
		var grabs []string
		for i, arg := range args {
			if arg == "-offset_x" {
				grabs = append(grabs, strings.Join(args[i:i+6], " "))
			}
		}
		if !slices.Equal(grabs, tt.grabs) {
			t.Errorf("selected %v: grabs %q, want %q", tt.selected, grabs, tt.grabs)
		}
	}
}
