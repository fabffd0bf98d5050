package ffmpeg

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Helpers for tests and benchmarks that need a real X display with something on it: Xvfb,
// virtual monitors, and ffplay showing generated content.

// ErrDisplayInUse is returned by StartXvfb when another X server holds the display.
var ErrDisplayInUse = errors.New("display in use by another X server")

// xStartTimeout bounds how long StartXvfb and StartTestContent wait for the display and the window.
const xStartTimeout = 10 * time.Second

// StartXvfb starts Xvfb on display (":97") with one screen of w x h pixels and 24-bit colour, and
// returns once the display answers xrandr. stop ends it; so does the end of ctx. The server runs
// with -noreset: without it, it resets whenever its last client leaves, forgetting the virtual
// monitors that SetVirtualMonitors made.
func StartXvfb(ctx context.Context, display string, w, h int) (stop func(), err error) {
	number, ok := strings.CutPrefix(display, ":")
	if !ok || !isDigits(number) {
		return nil, fmt.Errorf("cannot start Xvfb: display %q is not :N", clip(display))
	}
	if w < 1 || h < 1 || w > maxEncodedSide || h > maxEncodedSide {
		return nil, fmt.Errorf("cannot start Xvfb: screen %dx%d is out of bounds", w, h)
	}
	cmd := exec.CommandContext(ctx, "Xvfb", display, "-screen", "0", fmt.Sprintf("%dx%dx24", w, h), "-nolisten", "tcp", "-noreset")
	// SIGTERM lets Xvfb remove its lock file and socket; a kill would leave them behind.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 3 * time.Second
	stderr := newTailBuffer(2 << 10)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start Xvfb: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(xStartTimeout)
	for {
		select {
		case <-exited:
			if strings.Contains(stderr.String(), "already active") {
				return nil, fmt.Errorf("cannot start Xvfb on %s: %w", display, ErrDisplayInUse)
			}
			return nil, withTail(fmt.Errorf("cannot start Xvfb on %s: it exited", display), stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if _, err := runXrandr(ctx, display, "--current"); err == nil {
			// Another server may be what answered, while ours is still failing on the lock:
			// the lock file names the server that owns the display.
			lock, _ := os.ReadFile("/tmp/.X" + number + "-lock")
			if owner, _ := strconv.Atoi(strings.TrimSpace(string(lock))); owner == cmd.Process.Pid {
				return stop, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			if strings.Contains(stderr.String(), "already active") {
				return nil, fmt.Errorf("cannot start Xvfb on %s: %w", display, ErrDisplayInUse)
			}
			return nil, withTail(fmt.Errorf("cannot start Xvfb on %s: display did not answer within %s", display, xStartTimeout), stderr)
		}
	}
}

// SetVirtualMonitors splits the screen of display into the given monitors with
// `xrandr --setmonitor` (RandR 1.5), so that `xrandr --listmonitors` and ListMonitors see them.
// The first monitor takes over the screen's outputs, which hides the automatic monitor that
// covers the whole screen; the primary flag is set from Monitor.Primary. The X server must not
// reset between calls (Xvfb -noreset, as StartXvfb runs it).
func SetVirtualMonitors(ctx context.Context, display string, monitors []Monitor) error {
	if len(monitors) == 0 || len(monitors) > maxMonitors {
		return fmt.Errorf("cannot set virtual monitors: %d monitors", len(monitors))
	}
	current, err := runXrandr(ctx, display, "--current")
	if err != nil {
		return err
	}
	outputs := "none"
	if connected := parseXrandrOutputs(current); len(connected) > 0 {
		outputs = strings.Join(connected, ",")
	}
	for i, m := range monitors {
		if err := checkMonitorName(m.Name); err != nil || m.W < 1 || m.H < 1 || m.X < 0 || m.Y < 0 {
			return fmt.Errorf("cannot set virtual monitor %d: bad name or geometry", i)
		}
		// Replacing a monitor of the same name is refused; remove it first, absent or not.
		_, _ = runXrandr(ctx, display, "--delmonitor", m.Name)
		name := m.Name
		if m.Primary {
			name = "*" + name
		}
		// Millimetres at 96 dpi: xrandr wants a physical size, nothing here uses it.
		geometry := fmt.Sprintf("%d/%dx%d/%d+%d+%d", m.W, m.W*254/960, m.H, m.H*254/960, m.X, m.Y)
		monitorOutputs := "none"
		if i == 0 {
			monitorOutputs = outputs
		}
		if _, err := runXrandr(ctx, display, "--setmonitor", name, geometry, monitorOutputs); err != nil {
			return fmt.Errorf("cannot set virtual monitor %q: %w", m.Name, err)
		}
	}
	return nil
}

// Test content kinds for StartTestContent.
const (
	// ContentOffice is a page of text that scrolls 300 pixels over 2 s every 30 s, with a
	// blinking cursor: mostly static, like office work.
	ContentOffice = "office"
	// ContentMotion is ffmpeg's testsrc2 pattern at 25 fps: everything moves.
	ContentMotion = "motion"
)

// StartTestContent shows generated content of kind (ContentOffice or ContentMotion) in a
// borderless ffplay window at x, y of size w x h on display, and returns once the window is
// mapped. stop closes it; so does the end of ctx.
func StartTestContent(ctx context.Context, display string, kind string, x, y, w, h int) (stop func(), err error) {
	if w < 16 || h < 16 || w > maxEncodedSide || h > maxEncodedSide || x < 0 || y < 0 {
		return nil, fmt.Errorf("cannot start test content: window %dx%d+%d+%d is out of bounds", w, h, x, y)
	}
	var graph string
	switch kind {
	case ContentOffice:
		graph = officeGraph(w, h)
	case ContentMotion:
		graph = fmt.Sprintf("testsrc2=size=%dx%d:rate=25", w, h)
	default:
		return nil, fmt.Errorf("cannot start test content: unknown kind %q", clip(kind))
	}
	title := fmt.Sprintf("callvault-%s-%d-%d", kind, os.Getpid(), rand.Uint32())
	cmd := exec.CommandContext(ctx, "ffplay", "-hide_banner", "-loglevel", "error", "-nostats", "-an", "-noborder",
		"-left", strconv.Itoa(x), "-top", strconv.Itoa(y), "-x", strconv.Itoa(w), "-y", strconv.Itoa(h),
		"-window_title", title, "-f", "lavfi", graph)
	cmd.Env = append(os.Environ(), "DISPLAY="+display, "SDL_AUDIODRIVER=dummy")
	stderr := newTailBuffer(2 << 10)
	cmd.Stderr = stderr
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start test content: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop = func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	waitCtx, cancel := context.WithTimeout(ctx, xStartTimeout)
	defer cancel()
	search := exec.CommandContext(waitCtx, "xdotool", "search", "--sync", "--name", "^"+title+"$")
	search.Env = cmd.Env
	searchErr := newTailBuffer(1 << 10)
	search.Stderr = searchErr
	if err := search.Run(); err != nil {
		stop()
		return nil, withTail(withTail(fmt.Errorf("cannot start test content: its window did not appear: %w", err), searchErr), stderr)
	}
	return stop, nil
}

// officeGraph is a lavfi graph of a white page of text four screens long: it is rendered once
// (loop), then a crop scrolls over it, so ffplay spends its time showing frames, not drawing
// text.
func officeGraph(w, h int) string {
	const lineHeight, linesPerBlock, fontSize = 28, 20, 20
	words := strings.Fields("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua customer account invoice ticket status pending resolved")
	pageHeight := 4 * h
	random := rand.New(rand.NewPCG(1, 2)) // the same page every time
	parts := []string{
		fmt.Sprintf("color=c=white:s=%dx%d:r=5:d=0.2", w, pageHeight),
		fmt.Sprintf("drawbox=x=0:y=0:w=%d:h=ih:t=fill:color=0xE8ECF2", w/8), // a side panel
	}
	lines := pageHeight / lineHeight
	for block := 0; block < lines; block += linesPerBlock {
		var text []string
		for line := block; line < min(block+linesPerBlock, lines); line++ {
			var sentence []string
			for range 6 + random.IntN(12) {
				sentence = append(sentence, words[random.IntN(len(words))])
			}
			text = append(text, strings.Join(sentence, " "))
		}
		parts = append(parts, fmt.Sprintf("drawtext=text='%s':x=%d:y=%d:fontsize=%d:fontcolor=black:line_spacing=6",
			strings.Join(text, "\n"), w/8+20, block*lineHeight+10, fontSize))
	}
	parts = append(parts, "loop=loop=-1:size=1",
		// Scroll 300 px during the first 2 s of every 30 s; wrap at the end of the page.
		fmt.Sprintf(`crop=%d:%d:0:'mod(300*(floor(t/30)+min(mod(t\,30)\,2)/2)\,%d)'`, w, h, pageHeight-h),
		// A blinking cursor, and a header bar drawn after the crop so it stays put.
		fmt.Sprintf("drawbox=x=0:y=0:w=iw:h=%d:t=fill:color=0x2B5797", min(48, h/8)),
		fmt.Sprintf(`drawbox=x=%d:y=%d:w=3:h=22:t=fill:color=black:enable='lt(mod(t\,1)\,0.5)'`, w/8+16, min(48, h/8)+12))
	return strings.Join(parts, ",")
}
