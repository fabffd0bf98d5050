package ffmpeg

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func mustLayout(t *testing.T, monitors []Monitor, selected []int, maxWidth int) Layout {
	t.Helper()
	layout, err := PlanLayout(monitors, selected, maxWidth)
	if err != nil {
		t.Fatal(err)
	}
	return layout
}

// The part after the inputs is the same on every OS.
var wantOutput = "-map [video] -an -r 5 -c:v libx264 -preset veryfast -crf 32 -g 300 -x264-params " + x264Params +
	" -pix_fmt yuv420p -colorspace bt709 -color_primaries bt709 -color_trc bt709 -color_range tv" +
	" -movflags +empty_moov+default_base_moof -frag_duration 1000000 -flush_packets 1 -f mp4 pipe:1"

const wantMask = ",drawbox@mask=x=0:y=0:w=iw:h=ih:t=fill:color=black:enable=0[video]"

func TestCaptureArgs(t *testing.T) {
	guide := []Monitor{{Name: "DP-1", Primary: true, W: 2560, H: 1440}, {Name: "HDMI-1", X: 2560, W: 1920, H: 1080}}
	single := []Monitor{{Name: "screen", Primary: true, W: 1920, H: 1080}}
	three := []Monitor{{Name: "L", W: 1280, H: 1024}, {Name: "M", X: 1280, W: 1920, H: 1080}, {Name: "R", X: 3200, W: 1920, H: 1200}}
	tests := []struct {
		name   string
		spec   CaptureSpec
		inputs string // the arguments before -filter_complex, after the log flags
		filter string
	}{
		{
			name:   "linux, guide's layout in one grab",
			spec:   CaptureSpec{OS: "linux", Display: ":99", Layout: mustLayout(t, guide, nil, 1920)},
			inputs: "-probesize 32 -f x11grab -draw_mouse 1 -framerate 5 -video_size 4480x1440 -i :99.0+0,0",
			filter: "[0:v]scale=1919:617:flags=area:out_color_matrix=bt709:out_range=tv,format=yuv420p,pad=1920:618:0:0:black" + wantMask,
		},
		{
			name:   "linux, one monitor away from the origin, screen given",
			spec:   CaptureSpec{OS: "linux", Display: "localhost:10.1", Layout: mustLayout(t, guide, []int{1}, 1920), FrameRate: 10},
			inputs: "-probesize 32 -f x11grab -draw_mouse 1 -framerate 10 -video_size 1920x1080 -i localhost:10.1+2560,0",
			filter: "[0:v]scale=out_color_matrix=bt709:out_range=tv,format=yuv420p" + wantMask,
		},
		{
			name: "linux, outer monitors of three stacked",
			spec: CaptureSpec{OS: "linux", Display: ":0", Layout: mustLayout(t, three, []int{0, 2}, 1920)},
			inputs: "-thread_queue_size 64 -probesize 32 -f x11grab -draw_mouse 1 -framerate 5 -video_size 1280x1024 -i :0.0+0,0 " +
				"-thread_queue_size 64 -probesize 32 -f x11grab -draw_mouse 1 -framerate 5 -video_size 1920x1200 -i :0.0+3200,0",
			filter: "[0:v]setsar=1[m0];[1:v]setsar=1[m1];[m0][m1]xstack=inputs=2:layout=0_0|1280_0:fill=black[desk];" +
				"[desk]scale=1920:720:flags=area:out_color_matrix=bt709:out_range=tv,format=yuv420p" + wantMask,
		},
		{
			name:   "windows, guide's layout",
			spec:   CaptureSpec{OS: "windows", Layout: mustLayout(t, guide, nil, 1920)},
			inputs: "-probesize 32 -f gdigrab -draw_mouse 1 -framerate 5 -offset_x 0 -offset_y 0 -video_size 4480x1440 -i desktop",
			filter: "[0:v]scale=1919:617:flags=area:out_color_matrix=bt709:out_range=tv,format=yuv420p,pad=1920:618:0:0:black" + wantMask,
		},
		{
			name:   "windows, monitor left of the primary",
			spec:   CaptureSpec{OS: "windows", Layout: mustLayout(t, []Monitor{{Name: `\\.\DISPLAY2`, X: -1920, W: 1920, H: 1080}}, nil, 1920)},
			inputs: "-probesize 32 -f gdigrab -draw_mouse 1 -framerate 5 -offset_x -1920 -offset_y 0 -video_size 1920x1080 -i desktop",
			filter: "[0:v]scale=out_color_matrix=bt709:out_range=tv,format=yuv420p" + wantMask,
		},
		{
			name: "windows, a monitor left of the primary and the primary in one grab",
			spec: CaptureSpec{OS: "windows", Layout: mustLayout(t, []Monitor{
				{Name: "monitor_0", X: -1280, W: 1280, H: 1024}, {Name: "monitor_1", Primary: true, W: 1920, H: 1080},
			}, nil, 1920)},
			inputs: "-probesize 32 -f gdigrab -draw_mouse 1 -framerate 5 -offset_x -1280 -offset_y 0 -video_size 3200x1080 -i desktop",
			filter: "[0:v]scale=1920:648:flags=area:out_color_matrix=bt709:out_range=tv,format=yuv420p" + wantMask,
		},
		{
			name: "windows, a monitor above the primary",
			spec: CaptureSpec{OS: "windows", Layout: mustLayout(t, []Monitor{
				{Name: "monitor_0", Primary: true, W: 1920, H: 1080}, {Name: "monitor_1", Y: -1080, W: 1920, H: 1080},
			}, nil, 1920)},
			inputs: "-probesize 32 -f gdigrab -draw_mouse 1 -framerate 5 -offset_x 0 -offset_y -1080 -video_size 1920x2160 -i desktop",
			filter: "[0:v]scale=out_color_matrix=bt709:out_range=tv,format=yuv420p" + wantMask,
		},
		{
			name: "windows, outer monitors stacked, one at negative x",
			spec: CaptureSpec{OS: "windows", Layout: mustLayout(t, []Monitor{
				{Name: "monitor_0", X: -1920, W: 1920, H: 1080}, {Name: "monitor_1", Primary: true, W: 1920, H: 1080},
				{Name: "monitor_2", X: 1920, W: 1920, H: 1200},
			}, []int{0, 2}, 1920)},
			inputs: "-thread_queue_size 64 -probesize 32 -f gdigrab -draw_mouse 1 -framerate 5 -offset_x -1920 -offset_y 0 -video_size 1920x1080 -i desktop " +
				"-thread_queue_size 64 -probesize 32 -f gdigrab -draw_mouse 1 -framerate 5 -offset_x 1920 -offset_y 0 -video_size 1920x1200 -i desktop",
			filter: "[0:v]setsar=1[m0];[1:v]setsar=1[m1];[m0][m1]xstack=inputs=2:layout=0_0|1920_0:fill=black[desk];" +
				"[desk]scale=1920:600:flags=area:out_color_matrix=bt709:out_range=tv,format=yuv420p" + wantMask,
		},
		{
			name: "windows, outer monitors of three stacked",
			spec: CaptureSpec{OS: "windows", Layout: mustLayout(t, three, []int{0, 2}, 1920)},
			inputs: "-thread_queue_size 64 -probesize 32 -f gdigrab -draw_mouse 1 -framerate 5 -offset_x 0 -offset_y 0 -video_size 1280x1024 -i desktop " +
				"-thread_queue_size 64 -probesize 32 -f gdigrab -draw_mouse 1 -framerate 5 -offset_x 3200 -offset_y 0 -video_size 1920x1200 -i desktop",
			filter: "[0:v]setsar=1[m0];[1:v]setsar=1[m1];[m0][m1]xstack=inputs=2:layout=0_0|1280_0:fill=black[desk];" +
				"[desk]scale=1920:720:flags=area:out_color_matrix=bt709:out_range=tv,format=yuv420p" + wantMask,
		},
		{
			name: "darwin, guide's layout, one device per monitor",
			spec: CaptureSpec{OS: "darwin", Layout: mustLayout(t, guide, nil, 1920), Devices: []string{"1", "2"}},
			inputs: "-thread_queue_size 64 -probesize 32 -f avfoundation -capture_cursor 1 -framerate 5 -i 1:none " +
				"-thread_queue_size 64 -probesize 32 -f avfoundation -capture_cursor 1 -framerate 5 -i 2:none",
			filter: "[0:v]scale=2560:1440,setsar=1[m0];[1:v]scale=1920:1080,setsar=1[m1];[m0][m1]xstack=inputs=2:layout=0_0|2560_0:fill=black[desk];" +
				"[desk]scale=1919:617:flags=area:out_color_matrix=bt709:out_range=tv,format=yuv420p,pad=1920:618:0:0:black" + wantMask,
		},
		{
			name:   "darwin, single screen",
			spec:   CaptureSpec{OS: "darwin", Layout: mustLayout(t, single, nil, 1920), Devices: []string{"3"}},
			inputs: "-probesize 32 -f avfoundation -capture_cursor 1 -framerate 5 -i 3:none",
			filter: "[0:v]scale=1920:1080,setsar=1[m0];[m0]scale=out_color_matrix=bt709:out_range=tv,format=yuv420p" + wantMask,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, err := CaptureArgs(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(args[:4], []string{"-nostats", "-hide_banner", "-loglevel", "error"}) {
				t.Errorf("starts with %q", args[:4])
			}
			filterAt := slices.Index(args, "-filter_complex")
			if filterAt < 0 {
				t.Fatalf("no -filter_complex in %q", args)
			}
			if got := strings.Join(args[4:filterAt], " "); got != tt.inputs {
				t.Errorf("inputs\n got %s\nwant %s", got, tt.inputs)
			}
			if got := args[filterAt+1]; got != tt.filter {
				t.Errorf("filter\n got %s\nwant %s", got, tt.filter)
			}
			output := strings.Join(args[filterAt+2:], " ")
			if tt.spec.FrameRate == 10 {
				output = strings.NewReplacer("-r 10 ", "-r 5 ", "-g 600 ", "-g 300 ").Replace(output)
			}
			if output != wantOutput {
				t.Errorf("output\n got %s\nwant %s", output, wantOutput)
			}
		})
	}
}

func TestCaptureArgsRefuses(t *testing.T) {
	layout := mustLayout(t, []Monitor{{Name: "screen", W: 1920, H: 1080}}, nil, 1920)
	offScreen := mustLayout(t, []Monitor{{Name: "left", X: -1920, W: 1920, H: 1080}}, nil, 1920)
	tests := []struct {
		name    string
		spec    CaptureSpec
		wantErr string
	}{
		{"no display", CaptureSpec{OS: "linux", Layout: layout}, "X display"},
		{"display with a region", CaptureSpec{OS: "linux", Display: ":0+10,10", Layout: layout}, "X display"},
		{"display with spaces", CaptureSpec{OS: "linux", Display: "a b:0", Layout: layout}, "X display"},
		{"negative X11 region", CaptureSpec{OS: "linux", Display: ":0", Layout: offScreen}, "off the screen"},
		{"no layout", CaptureSpec{OS: "linux", Display: ":0"}, "no monitors"},
		{"odd encoded size", CaptureSpec{OS: "windows", Layout: func() Layout { l := layout; l.EncodedWidth = 1921; return l }()}, "odd"},
		{"frame rate", CaptureSpec{OS: "windows", Layout: layout, FrameRate: 1000}, "frame rate"},
		{"darwin without devices", CaptureSpec{OS: "darwin", Layout: layout}, "0 avfoundation devices for 1 monitors"},
		{"darwin device not an index", CaptureSpec{OS: "darwin", Layout: layout, Devices: []string{"1:0"}}, "not an index"},
		{"unknown OS", CaptureSpec{OS: "plan9", Layout: layout}, "unsupported OS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CaptureArgs(tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestMuxArgs(t *testing.T) {
	tests := []struct {
		offset string
		filter string
	}{
		{"0s", "asetpts=PTS-STARTPTS,aresample=48000,atrim=start_sample=1024,asetpts=PTS-STARTPTS,apad"},
		{"1.5s", "asetpts=PTS-STARTPTS,aresample=48000,atrim=start_sample=73024,asetpts=PTS-STARTPTS,apad"},
		{"-250ms", "asetpts=PTS-STARTPTS,aresample=48000,adelay=delays=10976S:all=1,apad"},
		{"-21333us", "asetpts=PTS-STARTPTS,aresample=48000,apad"},
		{"10us", "asetpts=PTS-STARTPTS,aresample=48000,atrim=start_sample=1024,asetpts=PTS-STARTPTS,apad"},
	}
	for _, tt := range tests {
		offset, _ := time.ParseDuration(tt.offset)
		args, err := muxArgs(offset)
		if err != nil {
			t.Fatal(err)
		}
		at := slices.Index(args, "-filter:a")
		if at < 0 || args[at+1] != tt.filter {
			t.Errorf("%s: args %q, want -filter:a %s", tt.offset, args, tt.filter)
		}
		if !slices.Contains(args, "pipe:3") || !slices.Contains(args, "pipe:4") || args[len(args)-1] != "pipe:1" {
			t.Errorf("%s: args %q do not read pipe:3, pipe:4 and write pipe:1", tt.offset, args)
		}
	}
	if _, err := muxArgs(25 * time.Hour); err == nil {
		t.Error("an offset of 25 h is accepted")
	}
}
