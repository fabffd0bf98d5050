package service

import (
	"sync"
	"time"
)

// LoginLimiter slows password guessing, for the API and the UI alike: a
// login name or a client address with too many failures in a window is
// refused until the window ends.
type LoginLimiter struct {
	mu      sync.Mutex
	now     func() time.Time
	windows map[string]*failWindow
}

type failWindow struct {
	start    time.Time
	failures int
}

const (
	limitWindow       = time.Minute
	maxFailsPerLogin  = 5
	maxFailsPerClient = 20
)

// NewLoginLimiter returns a limiter on the given clock.
func NewLoginLimiter(now func() time.Time) *LoginLimiter {
	return &LoginLimiter{now: now, windows: map[string]*failWindow{}}
}

// Blocked returns how long the client or login must wait, or 0.
func (l *LoginLimiter) Blocked(ip, login string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var wait time.Duration
	for key, limit := range map[string]int{"ip:" + ip: maxFailsPerClient, "login:" + login: maxFailsPerLogin} {
		w := l.windows[key]
		if w == nil || now.Sub(w.start) >= limitWindow {
			continue
		}
		if w.failures >= limit {
			wait = max(wait, w.start.Add(limitWindow).Sub(now))
		}
	}
	return wait
}

// Fail counts a failed login of the client and the login name.
func (l *LoginLimiter) Fail(ip, login string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.windows) > 100000 { // bound memory under a flood of names
		for k, w := range l.windows {
			if now.Sub(w.start) >= limitWindow {
				delete(l.windows, k)
			}
		}
	}
	for _, key := range []string{"ip:" + ip, "login:" + login} {
		w := l.windows[key]
		if w == nil || now.Sub(w.start) >= limitWindow {
			w = &failWindow{start: now}
			l.windows[key] = w
		}
		w.failures++
	}
}
