package httpx

import (
	"io"
	"net/http"
	"time"
)

// Request bodies have read deadlines, set per request with
// http.ResponseController: the server's ReadTimeout is one figure for
// every request, too short for a 4 GiB upload and too long for a login.
// A body deadline ends only a body that does not arrive; it is lifted as
// soon as the body has been read.

// BodyDeadline gives r's body timeout to arrive in full.
func BodyDeadline(w http.ResponseWriter, r *http.Request, timeout time.Duration) {
	setBodyDeadline(w, r, timeout, 0)
}

// BodyIdleDeadline gives r's body idle to deliver each next bytes: a
// large upload that keeps arriving is never cut off, a stalled one is.
func BodyIdleDeadline(w http.ResponseWriter, r *http.Request, idle time.Duration) {
	setBodyDeadline(w, r, idle, idle)
}

func setBodyDeadline(w http.ResponseWriter, r *http.Request, first, idle time.Duration) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	rc := http.NewResponseController(w)
	if b, ok := r.Body.(*deadlineBody); ok { // a second call replaces the first
		b.idle = idle
		b.extend(time.Now(), first)
		return
	}
	if err := rc.SetReadDeadline(time.Now().Add(first)); err != nil {
		return // not a real connection (a test recorder)
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, idle: idle, extended: time.Now()}
}

type deadlineBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	idle     time.Duration // 0: a fixed deadline
	extended time.Time
	done     bool
}

func (b *deadlineBody) extend(now time.Time, d time.Duration) {
	b.extended = now
	_ = b.rc.SetReadDeadline(now.Add(d))
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.done {
		return n, err
	}
	if err == io.EOF {
		// Read in full: lift the deadline (net/http does too for
		// HTTP/1). After a timeout the deadline stays past: the server
		// must not wait for the rest of a stalled body.
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
		return n, err
	}
	if b.idle > 0 && n > 0 {
		// Move the deadline at most every idle/8: a syscall per read of a
		// 4 GiB upload is not needed.
		if now := time.Now(); now.Sub(b.extended) > b.idle/8 {
			b.extend(now, b.idle)
		}
	}
	return n, err
}
