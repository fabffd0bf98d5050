package ffmpeg

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"
)

// blackLuma: a masked frame decodes to luma 0–2; moving testsrc2 content stays far above.
const blackLuma = 16

// capturedSample is one real capture of the shared display, made once and used by several
// tests: 4 s of both virtual monitors scaled to 960 wide, masked from 1.5 s to 2.5 s.
var capturedSample struct {
	once   sync.Once
	video  []byte
	layout Layout
	err    error
}

func sampleCapture(t *testing.T) ([]byte, Layout) {
	t.Helper()
	display := sharedDisplay(t)
	capturedSample.once.Do(func() {
		capturedSample.video, capturedSample.layout, capturedSample.err = captureMasked(display)
	})
	if capturedSample.err != nil {
		t.Fatal(capturedSample.err)
	}
	return capturedSample.video, capturedSample.layout
}

func captureMasked(display string) ([]byte, Layout, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	monitors, err := ListMonitors(ctx, display)
	if err != nil {
		return nil, Layout{}, err
	}
	layout, err := PlanLayout(monitors, nil, 960)
	if err != nil {
		return nil, Layout{}, err
	}
	capture, err := StartCapture(ctx, "ffmpeg", CaptureSpec{OS: "linux", Display: display, Layout: layout})
	if err != nil {
		return nil, Layout{}, err
	}
	var video bytes.Buffer
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(&video, capture.Output())
		read <- err
	}()
	started := time.Now()
	at := func(d time.Duration) { time.Sleep(time.Until(started.Add(d))) }
	at(1500 * time.Millisecond)
	if err := capture.Mask(true); err != nil {
		return nil, Layout{}, err
	}
	at(2500 * time.Millisecond)
	if err := capture.Mask(false); err != nil {
		return nil, Layout{}, err
	}
	at(4 * time.Second)
	if err := capture.Stop(); err != nil {
		return nil, Layout{}, err
	}
	if err := <-read; err != nil {
		return nil, Layout{}, err
	}
	return video.Bytes(), layout, nil
}

func TestCaptureOnXvfb(t *testing.T) {
	video, layout := sampleCapture(t)
	if layout.EncodedWidth != 960 || layout.EncodedHeight != 540 || layout.Stacked {
		t.Fatalf("layout %+v, want one grab encoded at 960x540", layout)
	}
	ctx := context.Background()
	probe, err := Probe(ctx, bytes.NewReader(video))
	if err != nil {
		t.Fatal(err)
	}
	stream, ok := probe.Stream("video")
	if !ok || stream.CodecName != "h264" || stream.Width != 960 || stream.Height != 540 || len(probe.Streams) != 1 {
		t.Fatalf("streams %+v, want one h264 960x540", probe.Streams)
	}
	if probe.Duration < 3*time.Second || probe.Duration > 5*time.Second {
		t.Fatalf("duration %s, want 3–5 s", probe.Duration)
	}
	decodesCleanly(t, video)
	// Stop let ffmpeg finish: the output ends with a whole box, nothing to salvage.
	if n, err := CompleteBoxes(io.Discard, bytes.NewReader(video)); err != nil || n != int64(len(video)) {
		t.Fatalf("%d of %d bytes are complete boxes (%v)", n, len(video), err)
	}

	lumas, err := FrameLuma(ctx, bytes.NewReader(video), DefaultFrameRate)
	if err != nil {
		t.Fatal(err)
	}
	// One run of black frames where the mask was on, picture before and after it.
	first, last, black := -1, -1, 0
	for i, luma := range lumas {
		if luma < blackLuma {
			black++
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	t.Logf("%d frames, black %d (%d…%d), lumas %.0f", len(lumas), black, first, last, lumas)
	if black < 3 || last-first+1 != black {
		t.Fatalf("black frames %d from %d to %d, want one run of at least 3", black, first, last)
	}
	// The mask went on 1.5 s after start, less ffmpeg's start-up; off a second later.
	if first < 2 || first > 9 || last >= len(lumas)-3 {
		t.Fatalf("black run %d…%d of %d frames is not inside the capture at about 1.5–2.5 s", first, last, len(lumas))
	}
}

func TestCaptureKilledIsSalvaged(t *testing.T) {
	display := sharedDisplay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	monitors, err := ListMonitors(ctx, display)
	if err != nil {
		t.Fatal(err)
	}
	// Only the second monitor, not scaled: another shape of capture than the masked sample.
	layout, err := PlanLayout(monitors, []int{1}, 1920)
	if err != nil {
		t.Fatal(err)
	}
	capture, err := StartCapture(ctx, "ffmpeg", CaptureSpec{OS: "linux", Display: display, Layout: layout})
	if err != nil {
		t.Fatal(err)
	}
	var video bytes.Buffer
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(&video, capture.Output())
		read <- err
	}()
	time.Sleep(4 * time.Second)
	if err := capture.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	if err := capture.Wait(); err == nil {
		t.Fatal("a killed capture ended without error")
	}
	var salvaged bytes.Buffer
	n, err := CompleteBoxes(&salvaged, bytes.NewReader(video.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("read %d bytes, %d complete", video.Len(), n)
	decodesCleanly(t, salvaged.Bytes())
	probe, err := Probe(ctx, bytes.NewReader(salvaged.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	stream, ok := probe.Stream("video")
	t.Logf("salvaged %s of a capture killed after 4 s", probe.Duration)
	// What a kill loses: the fragment being filled (≤ 1 s) and the encoder's lookahead.
	if !ok || stream.Width != 640 || stream.Height != 720 || probe.Duration < 1*time.Second {
		t.Fatalf("salvaged %+v, duration %s; want 640x720 h264 of at least 1 s", probe.Streams, probe.Duration)
	}
}

func TestCaptureEndsWithContext(t *testing.T) {
	display := sharedDisplay(t)
	ctx, cancel := context.WithCancel(context.Background())
	layout, err := PlanLayout([]Monitor{{Name: "monitor_0", W: 320, H: 240}}, nil, 1920)
	if err != nil {
		t.Fatal(err)
	}
	capture, err := StartCapture(ctx, "ffmpeg", CaptureSpec{OS: "linux", Display: display, Layout: layout})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, capture.Output()) }()
	time.Sleep(500 * time.Millisecond)
	cancel()
	done := make(chan error, 1)
	go func() { done <- capture.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("capture cancelled by its context ended without error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ffmpeg outlived its context")
	}
	if err := capture.Mask(true); err == nil {
		t.Error("Mask after the end succeeded")
	}
}

func TestCaptureReportsFFmpegError(t *testing.T) {
	layout, err := PlanLayout([]Monitor{{Name: "monitor_0", W: 320, H: 240}}, nil, 1920)
	if err != nil {
		t.Fatal(err)
	}
	// Display :1 of a host that cannot exist: ffmpeg fails at once, and says why.
	capture, err := StartCapture(context.Background(), "ffmpeg", CaptureSpec{OS: "linux", Display: "no-such-host.invalid:1", Layout: layout})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, capture.Output()); err != nil {
		t.Fatal(err)
	}
	err = capture.Wait()
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("x11grab")) && !bytes.Contains([]byte(err.Error()), []byte("no-such-host")) {
		t.Fatalf("error = %v, want ffmpeg's reason", err)
	}
	t.Log(err)
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	tail := newTailBuffer(16)
	for i := 0; i < 1000; i++ {
		_, _ = tail.Write([]byte("noise\n"))
	}
	_, _ = tail.Write([]byte("Enter command: <target>\nlast error\n"))
	if got := tail.String(); got != "last error" {
		t.Fatalf("tail = %q", got)
	}
	_, _ = tail.Write([]byte("a much longer line than the limit\n"))
	if got := tail.String(); got != "than the limit" {
		t.Fatalf("tail = %q, want the end of the long line", got)
	}
}

func TestStartTestContentOffice(t *testing.T) {
	display := sharedDisplay(t)
	stop, err := StartTestContent(context.Background(), display, ContentOffice, 0, 0, 320, 240)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// Below the header bar the page is white with black text: bright on average.
	frame := runFFmpeg(t, nil, "-f", "x11grab", "-video_size", "320x160", "-i", display+".0+0,60", "-frames:v", "1",
		"-vf", "scale=64:36,format=gray", "-f", "rawvideo", "pipe:1")
	var sum int
	for _, v := range frame {
		sum += int(v)
	}
	if mean := float64(sum) / float64(len(frame)); len(frame) != 64*36 || mean < 180 {
		t.Fatalf("office content has mean luma %.0f over %d pixels, want a bright page", mean, len(frame))
	}
}

// TestCaptureStacked captures two regions that touch only at a corner: two x11grab inputs
// composed by xstack, which only a real run shows ffmpeg accepts.
func TestCaptureStacked(t *testing.T) {
	display := sharedDisplay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	layout, err := PlanLayout([]Monitor{{Name: "a", W: 320, H: 240}, {Name: "b", X: 320, Y: 240, W: 320, H: 180}}, nil, 1920)
	if err != nil {
		t.Fatal(err)
	}
	if !layout.Stacked {
		t.Fatalf("layout %+v is not stacked", layout)
	}
	capture, err := StartCapture(ctx, "ffmpeg", CaptureSpec{OS: "linux", Display: display, Layout: layout})
	if err != nil {
		t.Fatal(err)
	}
	var video bytes.Buffer
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(&video, capture.Output())
		read <- err
	}()
	time.Sleep(2 * time.Second)
	if err := capture.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	decodesCleanly(t, video.Bytes())
	probe, err := Probe(ctx, bytes.NewReader(video.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := probe.Stream("video"); !ok || v.Width != 640 || v.Height != 240 || probe.Duration < time.Second {
		t.Fatalf("streams %+v, duration %s; want 640x240 of at least 1 s", probe.Streams, probe.Duration)
	}
}
