package ffmpeg

import (
	"reflect"
	"strings"
	"testing"
)

type wantMonitor struct {
	name     string
	primary  bool
	original [4]int
	actual   [4]int
}

func TestPlanLayout(t *testing.T) {
	guide := []Monitor{
		{Name: "DP-1", Primary: true, X: 0, Y: 0, W: 2560, H: 1440},
		{Name: "HDMI-1", X: 2560, Y: 0, W: 1920, H: 1080},
	}
	tests := []struct {
		name                 string
		monitors             []Monitor
		selected             []int
		maxWidth             int
		stacked              bool
		x, y                 int
		originalW, originalH int
		width, height        int
		contentW, contentH   int
		encodedW, encodedH   int
		want                 []wantMonitor
	}{
		{
			name:     "guide example",
			monitors: guide, maxWidth: 1920,
			originalW: 4480, originalH: 1440, width: 1920, height: 617,
			contentW: 1919, contentH: 617, encodedW: 1920, encodedH: 618,
			want: []wantMonitor{
				{"monitor_0", true, [4]int{0, 0, 2560, 1440}, [4]int{0, 0, 1096, 617}},
				{"monitor_1", false, [4]int{2560, 0, 4480, 1080}, [4]int{1096, 0, 1919, 462}},
			},
		},
		{
			name:     "single 1920x1080 is not scaled",
			monitors: []Monitor{{Name: "screen", Primary: true, W: 1920, H: 1080}}, maxWidth: 1920,
			originalW: 1920, originalH: 1080, width: 1920, height: 1080,
			contentW: 1920, contentH: 1080, encodedW: 1920, encodedH: 1080,
			want: []wantMonitor{{"monitor_0", true, [4]int{0, 0, 1920, 1080}, [4]int{0, 0, 1920, 1080}}},
		},
		{
			name:     "small monitor is never scaled up",
			monitors: []Monitor{{Name: "screen", W: 1280, H: 720}}, maxWidth: 1920,
			originalW: 1280, originalH: 720, width: 1280, height: 720,
			contentW: 1280, contentH: 720, encodedW: 1280, encodedH: 720,
			want: []wantMonitor{{"monitor_0", false, [4]int{0, 0, 1280, 720}, [4]int{0, 0, 1280, 720}}},
		},
		{
			name:     "3840x1080 as two 1920x1080, primary on the right",
			monitors: []Monitor{{Name: "B", Primary: true, X: 1920, W: 1920, H: 1080}, {Name: "A", W: 1920, H: 1080}}, maxWidth: 1920,
			originalW: 3840, originalH: 1080, width: 1920, height: 540,
			contentW: 1920, contentH: 540, encodedW: 1920, encodedH: 540,
			want: []wantMonitor{
				{"monitor_0", false, [4]int{0, 0, 1920, 1080}, [4]int{0, 0, 960, 540}},
				{"monitor_1", true, [4]int{1920, 0, 3840, 1080}, [4]int{960, 0, 1920, 540}},
			},
		},
		{
			name:     "1024x768 pair",
			monitors: []Monitor{{Name: "A", Primary: true, W: 1024, H: 768}, {Name: "B", X: 1024, W: 1024, H: 768}}, maxWidth: 1920,
			originalW: 2048, originalH: 768, width: 1920, height: 720,
			contentW: 1920, contentH: 720, encodedW: 1920, encodedH: 720,
			want: []wantMonitor{
				{"monitor_0", true, [4]int{0, 0, 1024, 768}, [4]int{0, 0, 960, 720}},
				{"monitor_1", false, [4]int{1024, 0, 2048, 768}, [4]int{960, 0, 1920, 720}},
			},
		},
		{
			name:     "1024x768 pair at 2048 is not scaled",
			monitors: []Monitor{{Name: "A", Primary: true, W: 1024, H: 768}, {Name: "B", X: 1024, W: 1024, H: 768}}, maxWidth: 2048,
			originalW: 2048, originalH: 768, width: 2048, height: 768,
			contentW: 2048, contentH: 768, encodedW: 2048, encodedH: 768,
			want: []wantMonitor{
				{"monitor_0", true, [4]int{0, 0, 1024, 768}, [4]int{0, 0, 1024, 768}},
				{"monitor_1", false, [4]int{1024, 0, 2048, 768}, [4]int{1024, 0, 2048, 768}},
			},
		},
		{
			name:     "second of the guide's monitors alone, away from the origin",
			monitors: guide, selected: []int{1}, maxWidth: 1920,
			x: 2560, originalW: 1920, originalH: 1080, width: 1920, height: 1080,
			contentW: 1920, contentH: 1080, encodedW: 1920, encodedH: 1080,
			want: []wantMonitor{{"monitor_0", false, [4]int{0, 0, 1920, 1080}, [4]int{0, 0, 1920, 1080}}},
		},
		{
			name: "outer monitors of three are stacked side by side",
			monitors: []Monitor{
				{Name: "L", W: 1280, H: 1024}, {Name: "M", Primary: true, X: 1280, W: 1920, H: 1080}, {Name: "R", X: 3200, W: 1920, H: 1200},
			},
			selected: []int{2, 0}, maxWidth: 1920, stacked: true,
			originalW: 3200, originalH: 1200, width: 1920, height: 720,
			contentW: 1920, contentH: 720, encodedW: 1920, encodedH: 720,
			want: []wantMonitor{
				{"monitor_0", false, [4]int{0, 0, 1280, 1024}, [4]int{0, 0, 768, 614}},
				{"monitor_1", false, [4]int{1280, 0, 3200, 1200}, [4]int{768, 0, 1920, 720}},
			},
		},
		{
			name:     "monitors touching only at a corner are stacked",
			monitors: []Monitor{{Name: "A", W: 800, H: 600}, {Name: "B", X: 800, Y: 600, W: 800, H: 600}}, maxWidth: 1920, stacked: true,
			originalW: 1600, originalH: 600, width: 1600, height: 600,
			contentW: 1600, contentH: 600, encodedW: 1600, encodedH: 600,
			want: []wantMonitor{
				{"monitor_0", false, [4]int{0, 0, 800, 600}, [4]int{0, 0, 800, 600}},
				{"monitor_1", false, [4]int{800, 0, 1600, 600}, [4]int{800, 0, 1600, 600}},
			},
		},
		{
			name:     "one above the other, negative origin, odd sizes padded",
			monitors: []Monitor{{Name: "top", X: -100, Y: -769, W: 1365, H: 769}, {Name: "bottom", Primary: true, W: 1365, H: 767}}, maxWidth: 1920,
			x: -100, y: -769, originalW: 1465, originalH: 1536, width: 1465, height: 1536,
			contentW: 1465, contentH: 1536, encodedW: 1466, encodedH: 1536,
			want: []wantMonitor{
				{"monitor_0", false, [4]int{0, 0, 1365, 769}, [4]int{0, 0, 1365, 769}},
				{"monitor_1", true, [4]int{100, 769, 1465, 1536}, [4]int{100, 769, 1465, 1536}},
			},
		},
		{
			name: "Windows: a monitor left of the primary, at negative x, in one grab",
			monitors: []Monitor{
				{Name: "monitor_0", X: -1280, W: 1280, H: 1024}, {Name: "monitor_1", Primary: true, W: 1920, H: 1080},
			},
			maxWidth: 1920,
			x:        -1280, originalW: 3200, originalH: 1080, width: 1920, height: 648,
			contentW: 1920, contentH: 648, encodedW: 1920, encodedH: 648,
			want: []wantMonitor{
				{"monitor_0", false, [4]int{0, 0, 1280, 1024}, [4]int{0, 0, 768, 614}},
				{"monitor_1", true, [4]int{1280, 0, 3200, 1080}, [4]int{768, 0, 1920, 648}},
			},
		},
		{
			name: "Windows: only the monitor at negative x",
			monitors: []Monitor{
				{Name: "monitor_0", X: -1280, Y: 56, W: 1280, H: 1024}, {Name: "monitor_1", Primary: true, W: 1920, H: 1080},
			},
			selected: []int{0}, maxWidth: 1920,
			x: -1280, y: 56, originalW: 1280, originalH: 1024, width: 1280, height: 1024,
			contentW: 1280, contentH: 1024, encodedW: 1280, encodedH: 1024,
			want: []wantMonitor{{"monitor_0", false, [4]int{0, 0, 1280, 1024}, [4]int{0, 0, 1280, 1024}}},
		},
		{
			name: "Windows: above and left of the primary, negative x and y",
			monitors: []Monitor{
				{Name: "monitor_0", X: -1920, Y: -300, W: 1920, H: 1080}, {Name: "monitor_1", Primary: true, W: 2560, H: 1440},
			},
			maxWidth: 1920,
			x:        -1920, y: -300, originalW: 4480, originalH: 1740, width: 1920, height: 745,
			contentW: 1918, contentH: 745, encodedW: 1920, encodedH: 746,
			want: []wantMonitor{
				{"monitor_0", false, [4]int{0, 0, 1920, 1080}, [4]int{0, 0, 822, 462}},
				{"monitor_1", true, [4]int{1920, 300, 4480, 1740}, [4]int{822, 128, 1918, 745}},
			},
		},
		{
			name: "Windows: outer monitors, one at negative x, are stacked",
			monitors: []Monitor{
				{Name: "monitor_0", X: -1920, W: 1920, H: 1080}, {Name: "monitor_1", Primary: true, W: 1920, H: 1080},
				{Name: "monitor_2", X: 1920, W: 1920, H: 1200},
			},
			selected: []int{0, 2}, maxWidth: 1920, stacked: true,
			originalW: 3840, originalH: 1200, width: 1920, height: 600,
			contentW: 1920, contentH: 600, encodedW: 1920, encodedH: 600,
			want: []wantMonitor{
				{"monitor_0", false, [4]int{0, 0, 1920, 1080}, [4]int{0, 0, 960, 540}},
				{"monitor_1", false, [4]int{1920, 0, 3840, 1200}, [4]int{960, 0, 1920, 600}},
			},
		},
		{
			name:     "odd maxWidth is taken as the even one below",
			monitors: []Monitor{{Name: "A", W: 1921, H: 1081}}, maxWidth: 1919,
			originalW: 1921, originalH: 1081, width: 1918, height: 1079,
			contentW: 1917, contentH: 1079, encodedW: 1918, encodedH: 1080,
			want: []wantMonitor{{"monitor_0", false, [4]int{0, 0, 1921, 1081}, [4]int{0, 0, 1917, 1079}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layout, err := PlanLayout(tt.monitors, tt.selected, tt.maxWidth)
			if err != nil {
				t.Fatal(err)
			}
			got := []int{layout.X, layout.Y, layout.OriginalWidth, layout.OriginalHeight, layout.Width, layout.Height,
				layout.ContentWidth, layout.ContentHeight, layout.EncodedWidth, layout.EncodedHeight}
			want := []int{tt.x, tt.y, tt.originalW, tt.originalH, tt.width, tt.height, tt.contentW, tt.contentH, tt.encodedW, tt.encodedH}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("x, y, original, virtual, content, encoded = %v, want %v", got, want)
			}
			if layout.Stacked != tt.stacked {
				t.Errorf("stacked = %v, want %v", layout.Stacked, tt.stacked)
			}
			var monitors []wantMonitor
			for _, m := range layout.Monitors {
				monitors = append(monitors, wantMonitor{m.Name, m.Primary, m.Original, m.Actual})
				if m.Desktop != tt.monitors[m.Index] {
					t.Errorf("%s: desktop %+v is not monitor %d", m.Name, m.Desktop, m.Index)
				}
			}
			if !reflect.DeepEqual(monitors, tt.want) {
				t.Errorf("monitors\n got %+v\nwant %+v", monitors, tt.want)
			}
		})
	}
}

func TestPlanLayoutRefuses(t *testing.T) {
	two := []Monitor{{Name: "A", W: 800, H: 600}, {Name: "B", X: 800, W: 800, H: 600}}
	tests := []struct {
		name     string
		monitors []Monitor
		selected []int
		maxWidth int
		wantErr  string
	}{
		{"no monitors", nil, nil, 1920, "no monitors"},
		{"empty selection", two, []int{}, 1920, "no monitor selected"},
		{"index out of range", two, []int{2}, 1920, "monitor 2 selected"},
		{"negative index", two, []int{-1}, 1920, "monitor -1 selected"},
		{"twice", two, []int{0, 0}, 1920, "twice"},
		{"tiny maxWidth", two, nil, 8, "maxWidth"},
		{"huge maxWidth", two, nil, 1 << 20, "maxWidth"},
		{"zero-sized monitor", []Monitor{{Name: "A", W: 0, H: 600}}, nil, 1920, "out of bounds"},
		{"too many", make([]Monitor, 17), nil, 1920, "at most"},
		{"flatter than a pixel", []Monitor{{Name: "A", W: 65535, H: 1}}, nil, 1920, "less than one pixel"},
		{"too tall to encode", []Monitor{{Name: "A", W: 100, H: 20000}}, nil, 1920, "more than an encoder takes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := PlanLayout(tt.monitors, tt.selected, tt.maxWidth)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
