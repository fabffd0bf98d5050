package ffmpeg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// StopTimeout is how long Stop lets ffmpeg finish its last fragment after "q" before killing it.
const StopTimeout = 5 * time.Second

// Capture is a running ffmpeg screen capture.
type Capture struct {
	cmd    *exec.Cmd
	stderr *tailBuffer
	output *captureOutput

	stdinMu sync.Mutex
	stdin   io.WriteCloser

	done    chan struct{} // closed when the process has ended and waitErr is set
	waitErr error

	outputTaken sync.Once
}

// StartCapture starts ffmpeg (ffmpegPath, for example "ffmpeg" or a full path) capturing spec.
// The process is killed when ctx ends. Read Output to its end while the capture runs: ffmpeg
// blocks when nobody reads it.
func StartCapture(ctx context.Context, ffmpegPath string, spec CaptureSpec) (*Capture, error) {
	args, err := CaptureArgs(spec)
	if err != nil {
		return nil, err
	}
	// The output pipe is our own rather than cmd.StdoutPipe, which Wait would close while the
	// reader may still be taking the last fragment out of it.
	outputReader, outputWriter, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("cannot start capture: %w", err)
	}
	c := &Capture{
		cmd:    exec.CommandContext(ctx, ffmpegPath, args...),
		stderr: newTailBuffer(stderrTailSize),
		output: &captureOutput{file: outputReader},
		done:   make(chan struct{}),
	}
	c.cmd.Stdout = outputWriter
	c.cmd.Stderr = c.stderr
	// Bounds how long Wait waits for stderr if a grandchild kept it open.
	c.cmd.WaitDelay = 2 * time.Second
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		outputReader.Close()
		outputWriter.Close()
		return nil, fmt.Errorf("cannot start capture: %w", err)
	}
	if err := c.cmd.Start(); err != nil {
		outputReader.Close()
		outputWriter.Close()
		return nil, fmt.Errorf("cannot start capture: %w", err)
	}
	outputWriter.Close() // the child has its copy; ours would keep Output from ever ending
	go func() {
		err := c.cmd.Wait()
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("capture stopped: %w", ctx.Err())
			} else {
				err = fmt.Errorf("capture failed: %w", err)
			}
		}
		c.waitErr = withTail(err, c.stderr)
		close(c.done)
	}()
	return c, nil
}

// Output is the fragmented MP4 that ffmpeg writes. It ends (io.EOF) when ffmpeg has ended and
// closes itself then; Close abandons it early, which makes ffmpeg fail on its next write.
func (c *Capture) Output() io.ReadCloser {
	c.outputTaken.Do(func() {})
	return c.output
}

// Mask turns the black mask over the whole picture on or off, for the frames ffmpeg filters from
// then on (ffmpeg reads its commands at most every 0.1 s).
func (c *Capture) Mask(on bool) error {
	enable := "0"
	if on {
		enable = "1"
	}
	// ffmpeg's interactive 'c' command: target, time (-1 = now), command, argument, newline.
	return c.command("c" + MaskFilter + " -1 enable " + enable + "\n")
}

func (c *Capture) command(text string) error {
	c.stdinMu.Lock()
	defer c.stdinMu.Unlock()
	select {
	case <-c.done:
		return errors.New("cannot send command to capture: ffmpeg has ended")
	default:
	}
	if _, err := io.WriteString(c.stdin, text); err != nil {
		return fmt.Errorf("cannot send command to capture: %w", err)
	}
	return nil
}

// Stop ends the capture gracefully: ffmpeg is asked to quit, which flushes the encoder and
// writes the last fragment, and is killed if it has not ended within StopTimeout. It returns
// Wait's result, or an error saying it had to kill.
func (c *Capture) Stop() error {
	if err := c.command("q"); err != nil {
		select {
		case <-c.done:
			return c.Wait()
		default:
		}
	}
	timer := time.NewTimer(StopTimeout)
	defer timer.Stop()
	select {
	case <-c.done:
		return c.Wait()
	case <-timer.C:
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("cannot stop capture: ffmpeg did not end within %s after q, killed (is Output being read?)", StopTimeout)
	}
}

// Wait waits for ffmpeg to end and returns nil when it ended well; otherwise the error carries
// the last lines of ffmpeg's stderr. It may be called any number of times.
func (c *Capture) Wait() error {
	<-c.done
	c.outputTaken.Do(func() { c.output.Close() }) // nobody will read it
	return c.waitErr
}

// CPUTime is the processor time (user and system) that ffmpeg used; valid once Wait returned.
func (c *Capture) CPUTime() time.Duration {
	select {
	case <-c.done:
	default:
		return 0
	}
	state := c.cmd.ProcessState
	if state == nil {
		return 0
	}
	return state.UserTime() + state.SystemTime()
}

// Kill ends ffmpeg at once, without a last fragment, as a crash or power loss would.
func (c *Capture) Kill() error {
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("cannot kill capture: %w", err)
	}
	return nil
}

// captureOutput is the read end of ffmpeg's stdout; it closes itself at the end so that a
// reader that drains it leaks no descriptor.
type captureOutput struct {
	file      *os.File
	closeOnce sync.Once
}

func (o *captureOutput) Read(p []byte) (int, error) {
	n, err := o.file.Read(p)
	if err != nil {
		o.Close()
		if !errors.Is(err, io.EOF) && errors.Is(err, os.ErrClosed) {
			err = io.EOF
		}
	}
	return n, err
}

func (o *captureOutput) Close() error {
	var err error
	o.closeOnce.Do(func() { err = o.file.Close() })
	return err
}
