package srs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Log is srs's own log file (logFile, GSR.log by default): one plain text
// line per event, "2006-01-02 15:04:05.000 LEVEL component: message", the
// time in local time as a desktop's support person reads it. Every line
// passes through a redactor that blanks the secrets srs holds (session
// tokens, the proxy password), so that an error text quoting one cannot
// leak it.
type Log struct {
	mu      sync.Mutex
	w       io.Writer
	file    *os.File
	now     func() time.Time
	secrets map[string]bool
}

// OpenLog appends to the log file at path, creating it and its folder.
func OpenLog(path string, now func() time.Time) (*Log, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the log folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the log file: %w", err)
	}
	l := NewLog(f, now)
	l.file = f
	return l, nil
}

// NewLog writes log lines to w.
func NewLog(w io.Writer, now func() time.Time) *Log {
	if now == nil {
		now = time.Now
	}
	return &Log{w: w, now: now, secrets: map[string]bool{}}
}

// Close closes the log file OpenLog opened.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return nil
	}
	err := l.file.Close()
	l.file = nil
	l.w = io.Discard
	return err
}

// Infof logs an event.
func (l *Log) Infof(format string, args ...any) { l.line("INFO ", format, args...) }

// Warnf logs something that works, but not as it should.
func (l *Log) Warnf(format string, args ...any) { l.line("WARN ", format, args...) }

// Errorf logs a failure, with its reason.
func (l *Log) Errorf(format string, args ...any) { l.line("ERROR", format, args...) }

// hide makes the redactor blank s from now on; forget stops it.
func (l *Log) hide(s string) {
	if len(s) < 4 {
		// Too short to blank without mangling ordinary words; srs's
		// secrets are tokens and passwords, a short proxy password is
		// still never formatted into a line.
		return
	}
	l.mu.Lock()
	l.secrets[s] = true
	l.mu.Unlock()
}

func (l *Log) forget(s string) {
	l.mu.Lock()
	delete(l.secrets, s)
	l.mu.Unlock()
}

func (l *Log) line(level, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	// One event, one line: a multi-line error (ffmpeg's stderr) is joined.
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\r", " ")), " ")
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := range l.secrets {
		msg = strings.ReplaceAll(msg, s, "***")
	}
	fmt.Fprintf(l.w, "%s %s %s\n", l.now().Format("2006-01-02 15:04:05.000"), level, msg)
	if l.file != nil {
		// Lines are few; syncing each keeps the last one before a crash.
		_ = l.file.Sync()
	}
}
