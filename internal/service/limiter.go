package service

import (
	"math"
	"sync"
	"time"
)

// LoginLimiter decides which login attempts may have their password
// checked: the one limiter of the API's Basic auth, POST /api/v2/login and
// the UI's POST /login (all through Logins). An attempt is reserved before
// the password is hashed, so parallel guesses cannot all pass before the
// first failure is counted, and it is settled afterwards as a success or a
// failure.
//
// The rule is back-off, not lockout, so that a stranger guessing at a
// login cannot keep its owner (say rcbs, the backup user) out:
//
//   - Per login name and client address ("pair"): up to 5 attempts are
//     allowed, counting those in flight. After the 5th consecutive failure
//     the pair waits 1 minute, and after each further failure twice as
//     long as before, up to 1 hour; after a wait one attempt at a time is
//     allowed. A success clears the pair. So one address gets at most 5
//     guesses in its first minute, then 1 per 1, 2, 4, … 60 minutes.
//   - Per login name, from all addresses: when the name has had 20 or
//     more failures lately (a count that decays with a 15-minute time
//     constant, plus the attempts in flight), it is under attack: a pair
//     that has not logged in successfully in the last 30 days gets 1
//     attempt instead of 5 before its back-off starts. An address without
//     failures still gets its attempt, so the right password from a new
//     address still logs in; pairs that logged in before keep their 5.
//   - Per client address, over all login names (password spraying): 50
//     failures lately (same decay) refuse further attempts from that
//     address, except for pairs that logged in successfully before.
//
// State is kept in memory per server replica, bounded in size; entries
// older than their rule are forgotten.
type LoginLimiter struct {
	mu    sync.Mutex
	now   func() time.Time
	pairs map[pairKey]*pairState
	names map[string]*decaying
	addrs map[string]*decaying
}

const (
	pairFreeAttempts   = 5
	attackFreeAttempts = 1
	backoffFirst       = time.Minute
	backoffMax         = time.Hour
	attackFailures     = 20
	sprayFailures      = 50
	failureDecay       = 15 * time.Minute // time constant of the decaying counts
	provenFor          = 30 * 24 * time.Hour
	forgetPairAfter    = 24 * time.Hour // of no failure (and no success to remember)
	maxLimiterEntries  = 100_000        // per map; bounds memory under a flood of names
)

type pairKey struct{ login, addr string }

type pairState struct {
	failures    int       // consecutive, since the last success
	pending     int       // reserved, not settled
	until       time.Time // no attempt before this
	lastFailure time.Time
	lastSuccess time.Time
}

// decaying is a count of failures that decays exponentially, plus the
// attempts in flight.
type decaying struct {
	value   float64
	at      time.Time
	pending int
}

func (d *decaying) current(now time.Time) float64 {
	return d.value * math.Exp(-now.Sub(d.at).Seconds()/failureDecay.Seconds())
}

func (d *decaying) add(now time.Time) {
	d.value = d.current(now) + 1
	d.at = now
}

// NewLoginLimiter returns a limiter on the given clock (nil: time.Now).
func NewLoginLimiter(now func() time.Time) *LoginLimiter {
	if now == nil {
		now = time.Now
	}
	return &LoginLimiter{now: now, pairs: map[pairKey]*pairState{}, names: map[string]*decaying{}, addrs: map[string]*decaying{}}
}

// Reservation is one admitted attempt; settle it with exactly one of
// Succeeded, Failed or Cancel.
type Reservation struct {
	l       *LoginLimiter
	key     pairKey
	proven  bool // the pair logged in successfully lately
	settled bool
}

// Proven reports whether this login succeeded from this address lately
// (within 30 days): such attempts get the reserved password-check slot.
func (r *Reservation) Proven() bool { return r.proven }

// Reserve admits an attempt of login from addr, or returns how long to
// wait (nil reservation).
func (l *LoginLimiter) Reserve(login, addr string) (*Reservation, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	key := pairKey{login, addr}
	p := l.pairs[key]
	if p == nil {
		if len(l.pairs) >= maxLimiterEntries {
			l.prune(now)
		}
		p = &pairState{}
		l.pairs[key] = p
	}
	if now.Before(p.until) {
		return nil, p.until.Sub(now)
	}
	proven := !p.lastSuccess.IsZero() && now.Sub(p.lastSuccess) < provenFor
	name, address := l.counter(l.names, login, now), l.counter(l.addrs, addr, now)
	if !proven && address.current(now)+float64(address.pending) >= sprayFailures {
		// Wait until the decaying count falls below the threshold.
		over := (address.current(now) + float64(address.pending)) / (sprayFailures - 1)
		return nil, max(time.Second, time.Duration(failureDecay.Seconds()*math.Log(over)*float64(time.Second)))
	}
	free := pairFreeAttempts
	if !proven && name.current(now)+float64(name.pending) >= attackFailures {
		free = attackFreeAttempts
	}
	switch {
	case p.failures < free && p.failures+p.pending < free:
	case p.failures >= free && p.pending == 0: // after a back-off: one at a time
	default:
		return nil, time.Second // attempts in flight decide first
	}
	p.pending++
	name.pending++
	address.pending++
	return &Reservation{l: l, key: key, proven: proven}, 0
}

func (l *LoginLimiter) counter(m map[string]*decaying, key string, now time.Time) *decaying {
	d := m[key]
	if d == nil {
		if len(m) >= maxLimiterEntries {
			l.prune(now)
		}
		d = &decaying{at: now}
		m[key] = d
	}
	return d
}

// prune forgets what no rule needs any more; if that is not enough (a
// flood of new names or addresses), it drops idle entries at random, which
// can only give their attempts back, never refuse anyone.
func (l *LoginLimiter) prune(now time.Time) {
	for k, p := range l.pairs {
		if p.pending == 0 && !now.Before(p.until) && now.Sub(p.lastFailure) > forgetPairAfter &&
			(p.lastSuccess.IsZero() || now.Sub(p.lastSuccess) > provenFor) {
			delete(l.pairs, k)
		}
	}
	for _, m := range []map[string]*decaying{l.names, l.addrs} {
		for k, d := range m {
			if d.pending == 0 && d.current(now) < 0.5 {
				delete(m, k)
			}
		}
	}
	for k, p := range l.pairs {
		if len(l.pairs) < maxLimiterEntries*9/10 {
			break
		}
		if p.pending == 0 {
			delete(l.pairs, k)
		}
	}
	for _, m := range []map[string]*decaying{l.names, l.addrs} {
		for k, d := range m {
			if len(m) < maxLimiterEntries*9/10 {
				break
			}
			if d.pending == 0 {
				delete(m, k)
			}
		}
	}
}

// settle ends a reservation: failed counts a failure, succeeded clears the
// pair, neither releases it uncounted.
func (r *Reservation) settle(succeeded, failed bool) {
	l := r.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.settled {
		return
	}
	r.settled = true
	now := l.now()
	p := l.pairs[r.key]
	if p == nil { // pruned meanwhile
		p = &pairState{pending: 1}
		l.pairs[r.key] = p
	}
	p.pending--
	name, address := l.counter(l.names, r.key.login, now), l.counter(l.addrs, r.key.addr, now)
	name.pending = max(0, name.pending-1)
	address.pending = max(0, address.pending-1)
	switch {
	case succeeded:
		p.failures, p.until, p.lastSuccess = 0, time.Time{}, now
	case failed:
		free := pairFreeAttempts
		proven := !p.lastSuccess.IsZero() && now.Sub(p.lastSuccess) < provenFor
		if !proven && name.current(now) >= attackFailures {
			free = attackFreeAttempts
		}
		p.failures++
		p.lastFailure = now
		name.add(now)
		address.add(now)
		if p.failures >= free {
			wait := backoffFirst << min(p.failures-free, 10)
			p.until = now.Add(min(wait, backoffMax))
		}
	}
}

// Succeeded settles the attempt as a login: the pair starts afresh.
func (r *Reservation) Succeeded() { r.settle(true, false) }

// Failed settles the attempt as a wrong password (or unknown login).
func (r *Reservation) Failed() { r.settle(false, true) }

// Cancel releases an attempt whose password was never checked (the
// server was busy, the store failed, the client went away).
func (r *Reservation) Cancel() { r.settle(false, false) }

// Remembered reports whether a login whose password was verified moments
// ago (the verified cache of auth.go) may be accepted without a
// reservation: only when its pair has no failures since its last success,
// no attempt in flight and no back-off, and its address is not refused
// for spraying (unless the pair is proven). It then records the success.
// Otherwise the caller reserves an attempt as for any other.
func (l *LoginLimiter) Remembered(login, addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	key := pairKey{login, addr}
	p := l.pairs[key]
	if p != nil && (p.failures > 0 || p.pending > 0 || now.Before(p.until)) {
		return false
	}
	proven := p != nil && !p.lastSuccess.IsZero() && now.Sub(p.lastSuccess) < provenFor
	if a := l.addrs[addr]; !proven && a != nil && a.current(now)+float64(a.pending) >= sprayFailures {
		return false
	}
	if p == nil {
		if len(l.pairs) >= maxLimiterEntries {
			l.prune(now)
		}
		p = &pairState{}
		l.pairs[key] = p
	}
	p.lastSuccess = now
	return true
}
