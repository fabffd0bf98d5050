package ffmpeg

import (
	"strings"
	"sync"
)

// stderrTailSize bounds what is kept of a child's stderr: enough for ffmpeg's last error lines,
// never more however long the process runs.
const stderrTailSize = 8 << 10

// tailBuffer is an io.Writer that keeps only the last limit bytes written to it.
type tailBuffer struct {
	mu        sync.Mutex
	limit     int
	buf       []byte
	truncated bool // the start of buf is the middle of a line
}

func newTailBuffer(limit int) *tailBuffer {
	return &tailBuffer{limit: limit}
}

// Write never fails, so a chatty child can never block on its stderr.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if n >= t.limit {
		t.buf = append(t.buf[:0], p[n-t.limit:]...)
		t.truncated = true
		return n, nil
	}
	if over := len(t.buf) + n - t.limit; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.truncated = true
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// String returns the kept tail, trimmed, with ffmpeg's interactive prompts removed.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	text := string(t.buf)
	// A line cut at its start is noise, unless it is all there is.
	if i := strings.IndexByte(text, '\n'); t.truncated && i >= 0 && i < len(strings.TrimRight(text, "\n")) {
		text = text[i+1:]
	}
	var kept []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "Enter command:") || strings.HasPrefix(line, "Command reply for stream") {
			continue
		}
		kept = append(kept, line)
	}
	return strings.Join(kept, "; ")
}

// withTail appends the child's stderr tail to err, when there is one.
func withTail(err error, tail *tailBuffer) error {
	if err == nil {
		return nil
	}
	if s := tail.String(); s != "" {
		return &tailError{err: err, tail: s}
	}
	return err
}

type tailError struct {
	err  error
	tail string
}

func (e *tailError) Error() string { return e.err.Error() + ": " + e.tail }
func (e *tailError) Unwrap() error { return e.err }
