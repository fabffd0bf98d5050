//go:build !windows

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

// Mux writes to out a fragmented MP4 with the H.264 video of video (an MP4, fragmented or with
// its index first, as a pipe needs) copied and the MP3 audio of audio (any sample rate, 8 kHz
// MPEG-2.5 included, mono or stereo) encoded to AAC, aligned by audioOffset = screen start −
// audio start: positive, the audio began earlier and its first audioOffset is skipped; negative,
// it began later and is delayed. The output is as long as the video.
//
// The inputs reach ffmpeg through pipes only (descriptors 3 and 4). Mux returns once ffmpeg has
// ended and it has stopped reading video and audio; the first failure wins: reading an input,
// writing out, or ffmpeg itself (its stderr tail is in the error). A reader that blocks forever
// blocks Mux: give it readers that end when ctx does.
func Mux(ctx context.Context, ffmpegPath string, video, audio io.Reader, audioOffset time.Duration, out io.Writer) error {
	args, err := muxArgs(audioOffset)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var pipes []*os.File
	closeAll := func() {
		for _, f := range pipes {
			f.Close()
		}
	}
	newPipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			pipes = append(pipes, r, w)
		}
		return r, w, err
	}
	videoRead, videoWrite, err1 := newPipe()
	audioRead, audioWrite, err2 := newPipe()
	outRead, outWrite, err3 := newPipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		closeAll()
		return fmt.Errorf("cannot mux: %w", err)
	}

	stderr := newTailBuffer(stderrTailSize)
	cmd := exec.CommandContext(ctx, ffmpegPath, args...)
	cmd.ExtraFiles = []*os.File{videoRead, audioRead} // pipe:3, pipe:4
	cmd.Stdout = outWrite
	cmd.Stderr = stderr
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		closeAll()
		return fmt.Errorf("cannot mux: %w", err)
	}
	// The child holds its ends; ours would keep ffmpeg's inputs and our output from ending.
	videoRead.Close()
	audioRead.Close()
	outWrite.Close()

	var failOnce sync.Once
	var failure error
	fail := func(err error) {
		failOnce.Do(func() { failure = err })
		cancel() // kills ffmpeg: nothing it makes from here on is wanted
	}

	var feeders sync.WaitGroup
	feed := func(name string, pipe *os.File, r io.Reader) {
		defer feeders.Done()
		defer pipe.Close() // ffmpeg sees the end of this input
		var readErr *inputError
		if err := copyInput(pipe, r); errors.As(err, &readErr) {
			fail(fmt.Errorf("cannot mux: cannot read %s: %w", name, readErr.err))
		}
		// A write error means ffmpeg stopped reading: it ended (its exit status says how) or
		// had what it needed, as -shortest does with the longer input.
	}
	feeders.Add(2)
	go feed("video", videoWrite, video)
	go feed("audio", audioWrite, audio)

	if _, err := io.Copy(writerFunc(func(p []byte) (int, error) {
		n, err := out.Write(p)
		if err != nil {
			err = &writeOutError{err}
		}
		return n, err
	}), outRead); err != nil {
		var outErr *writeOutError
		if errors.As(err, &outErr) {
			fail(fmt.Errorf("cannot mux: cannot write output: %w", outErr.err))
		} else {
			fail(fmt.Errorf("cannot mux: cannot read ffmpeg's output: %w", err))
		}
	}
	outRead.Close()
	waitErr := cmd.Wait()
	feeders.Wait()

	if failure != nil {
		return failure
	}
	if waitErr != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("cannot mux: %w", ctx.Err())
		}
		return withTail(fmt.Errorf("cannot mux: ffmpeg: %w", waitErr), stderr)
	}
	return nil
}

// inputError is a failure of the caller's reader, as opposed to ffmpeg's pipe.
type inputError struct{ err error }

func (e *inputError) Error() string { return e.err.Error() }

// copyInput copies r into pipe, telling apart a failing reader (*inputError) from a pipe that
// ffmpeg closed.
func copyInput(pipe *os.File, r io.Reader) error {
	buf := make([]byte, 64<<10)
	for {
		n, readErr := r.Read(buf)
		if n > 0 {
			if _, err := pipe.Write(buf[:n]); err != nil {
				return err
			}
		}
		if errors.Is(readErr, io.EOF) {
			return nil
		}
		if readErr != nil {
			return &inputError{readErr}
		}
	}
}

type writeOutError struct{ err error }

func (e *writeOutError) Error() string { return e.err.Error() }

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
