package ffmpeg

import (
	"context"
	"flag"
	"io"
	"testing"
	"time"
)

var captureSeconds = flag.Int("capture-seconds", 60, "how long BenchmarkCapture records each kind of content")

// BenchmarkCapture records a 1920x1080 Xvfb screen at 5 fps for -capture-seconds (60) with office
// and with full-motion content and reports the output rate in MB per hour and ffmpeg's CPU use in
// percent of one core: the measurements behind the encoder settings in args.go. Run it alone:
//
//	go test ./internal/ffmpeg/ -run '^$' -bench Capture -benchtime 1x
func BenchmarkCapture(b *testing.B) {
	ctx := context.Background()
	display, stopX, err := startFreeXvfb(ctx, 1920, 1080)
	if err != nil {
		b.Fatal(err)
	}
	defer stopX()
	monitors, err := ListMonitors(ctx, display)
	if err != nil {
		b.Fatal(err)
	}
	layout, err := PlanLayout(monitors, nil, 1920)
	if err != nil {
		b.Fatal(err)
	}
	for _, kind := range []string{ContentOffice, ContentMotion} {
		b.Run(kind, func(b *testing.B) {
			stopContent, err := StartTestContent(ctx, display, kind, 0, 0, 1920, 1080)
			if err != nil {
				b.Fatal(err)
			}
			defer stopContent()
			var bytes int64
			var cpu, wall time.Duration
			for range b.N {
				capture, err := StartCapture(ctx, "ffmpeg", CaptureSpec{OS: "linux", Display: display, Layout: layout})
				if err != nil {
					b.Fatal(err)
				}
				started := time.Now()
				read := make(chan int64, 1)
				go func() {
					n, _ := io.Copy(io.Discard, capture.Output())
					read <- n
				}()
				time.Sleep(time.Duration(*captureSeconds) * time.Second)
				if err := capture.Stop(); err != nil {
					b.Fatal(err)
				}
				bytes += <-read
				wall += time.Since(started)
				cpu += capture.CPUTime()
			}
			b.ReportMetric(float64(bytes)/1e6/wall.Hours(), "MB/h")
			b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu%")
		})
	}
}
