package ffmpeg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// The X display that the tests share: one Xvfb, split into two virtual monitors, with moving
// content, started on first use and stopped when the tests end.
const (
	testScreenW, testScreenH = 1280, 720
)

var shared struct {
	once    sync.Once
	display string
	stop    []func()
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(shared.stop) - 1; i >= 0; i-- {
		shared.stop[i]()
	}
	os.Exit(code)
}

// sharedDisplay returns the tests' X display, with monitors monitor_0 (primary, left) and
// monitor_1 of 640x720 each showing moving content.
func sharedDisplay(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		ctx := context.Background()
		display, stop, err := startFreeXvfb(ctx, testScreenW, testScreenH)
		if err != nil {
			shared.err = err
			return
		}
		shared.display = display
		shared.stop = append(shared.stop, stop)
		half := testScreenW / 2
		if err := SetVirtualMonitors(ctx, display, []Monitor{
			{Name: "monitor_0", Primary: true, W: half, H: testScreenH},
			{Name: "monitor_1", X: half, W: half, H: testScreenH},
		}); err != nil {
			shared.err = err
			return
		}
		stopContent, err := StartTestContent(ctx, display, ContentMotion, 0, 0, testScreenW, testScreenH)
		if err != nil {
			shared.err = err
			return
		}
		shared.stop = append(shared.stop, stopContent)
	})
	if shared.err != nil {
		t.Fatalf("cannot set up the test display: %v", shared.err)
	}
	return shared.display
}

// startFreeXvfb starts Xvfb on the first free display from :97 on, leaving :99 to others, so
// that tests running at the same time on this machine do not collide.
func startFreeXvfb(ctx context.Context, w, h int) (display string, stop func(), err error) {
	for number := 97; number < 200; number++ {
		if number == 99 {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", number)); err == nil {
			continue
		}
		display = fmt.Sprintf(":%d", number)
		stop, err = StartXvfb(ctx, display, w, h)
		if errors.Is(err, ErrDisplayInUse) {
			continue
		}
		return display, stop, err
	}
	return "", nil, errors.New("no free X display from :97 to :199")
}

func TestListMonitorsOnXvfb(t *testing.T) {
	display := sharedDisplay(t)
	monitors, err := ListMonitors(context.Background(), display)
	if err != nil {
		t.Fatal(err)
	}
	want := []Monitor{{Name: "monitor_0", Primary: true, W: 640, H: 720}, {Name: "monitor_1", X: 640, W: 640, H: 720}}
	if fmt.Sprint(monitors) != fmt.Sprint(want) {
		t.Fatalf("monitors = %+v, want %+v", monitors, want)
	}
}

// ListMonitors falls back to the screen size when xrandr lists no monitor, which no Xvfb does;
// the parser of that fallback is tested here on real output.
func TestXrandrCurrentParses(t *testing.T) {
	display := sharedDisplay(t)
	out, err := runXrandr(context.Background(), display, "--current")
	if err != nil {
		t.Fatal(err)
	}
	w, h, err := parseXrandrScreenSize(out)
	if err != nil || w != testScreenW || h != testScreenH {
		t.Fatalf("screen = %dx%d, %v; want %dx%d", w, h, err, testScreenW, testScreenH)
	}
}

func TestStartXvfbRefusesTakenDisplay(t *testing.T) {
	display := sharedDisplay(t)
	_, err := StartXvfb(context.Background(), display, 320, 240)
	if !errors.Is(err, ErrDisplayInUse) {
		t.Fatalf("error = %v, want ErrDisplayInUse", err)
	}
}

// runFFmpeg runs ffmpeg with args, stdin from in, and returns its stdout; stderr must stay empty
// at -v error, which is how tests see that a stream decodes cleanly.
func runFFmpeg(t testing.TB, in []byte, args ...string) []byte {
	t.Helper()
	out, err := runTool(context.Background(), "ffmpeg", in, append([]string{"-nostdin", "-v", "error"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runTool runs program with stdin from in and returns its stdout; any stderr output is an error.
func runTool(ctx context.Context, program string, in []byte, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || strings.TrimSpace(stderr.String()) != "" {
		return nil, fmt.Errorf("%s %s: %v: %s", program, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// decodesCleanly decodes all of an MP4 and fails the test on any error ffmpeg reports.
func decodesCleanly(t testing.TB, mp4 []byte) {
	t.Helper()
	runFFmpeg(t, mp4, "-i", "pipe:0", "-f", "null", "-")
}
