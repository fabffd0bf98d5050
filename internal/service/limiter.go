package service

import (
	"math"
	"net/netip"
	"sync"
	"time"
)

// LoginLimiter decides which login attempts may have their password
// checked: the one limiter of the API's Basic auth, POST /api/v2/login
// and the UI's POST /login (all through Logins). An attempt is reserved
// before the password is hashed, so parallel guesses cannot all pass
// before the first failure is counted, and it is settled afterwards as a
// success or a failure. A refused attempt costs no password check and
// stores nothing.
//
// The rule is back-off, not lockout, so that a stranger guessing at a
// login cannot keep its owner (say rcbs, the backup user) out. A pair
// (login name and client address) is proven when it logged in
// successfully in the last 30 days: rcbs on its host, a user at their
// usual desk.
//
//   - Per pair: up to 5 attempts are allowed, counting those in flight.
//     After the 5th consecutive failure the pair waits 1 minute, and after
//     each further failure twice as long as before, up to 1 hour; after a
//     wait one attempt at a time is allowed. A success clears the pair. So
//     one address gets at most 5 guesses in its first minute, then 1 per
//     1, 2, 4, … 60 minutes.
//   - Per login name, from all addresses: the attempts of pairs that are
//     not proven draw from a budget of 5 tokens, counting those in
//     flight, and a token comes back one minute after it was drawn. So at
//     most 5 such guesses per login name are checked in any minute,
//     however many addresses guess (a botnet); the 6th waits until the
//     minute of the 1st is over. An attempt that is cancelled (never
//     checked) or succeeds gives its token back at once; only failures
//     spend the budget. Proven pairs neither draw from it nor are refused
//     by it: a stranger who keeps spending it can delay the logins of new
//     addresses of the name, never a proven pair's.
//   - Per login name, from all addresses: when the name has had 20 or
//     more failures lately (a count that decays with a 15-minute time
//     constant, plus the attempts in flight), it is under attack: a pair
//     that is not proven gets 1 attempt instead of 5 before its back-off
//     starts. Proven pairs keep their 5.
//   - Per client address, over all login names (password spraying): 50
//     failures lately (same decay) refuse further attempts from that
//     address, except for proven pairs.
//
// A client address is an IPv4 address, or the /64 prefix of an IPv6
// address: one host or network usually holds a whole /64, so its
// addresses are one client for every rule above.
//
// State is kept in memory per server replica, at most 100,000 entries
// per map. Entries that no rule needs are forgotten. When a map is full,
// entries whose loss would only give attempts back are dropped, but never
// a pair in back-off or proven, a name under attack or with a token
// drawn in the last minute, an address over the spraying threshold, or an entry with an
// attempt in flight; when that is not enough, new pairs that are not
// proven are refused for a few seconds (proven pairs still get in).
type LoginLimiter struct {
	mu    sync.Mutex
	now   func() time.Time
	pairs map[pairKey]*pairState
	names map[string]*nameState
	addrs map[string]*decaying
	// noPruneBefore (of pairs, names, addrs): the last prune left the map
	// full of entries that must be kept; until this time new entries are
	// refused without another scan.
	noPruneBefore [3]time.Time
}

const (
	pairFreeAttempts   = 5
	attackFreeAttempts = 1
	backoffFirst       = time.Minute
	backoffMax         = time.Hour
	nameBudget         = 5           // attempts of pairs not proven, per login name …
	nameRefill         = time.Minute // … in any minute: a token comes back a minute after its draw
	attackFailures     = 20
	sprayFailures      = 50
	failureDecay       = 15 * time.Minute // time constant of the decaying counts
	provenFor          = 30 * 24 * time.Hour
	forgetPairAfter    = 24 * time.Hour  // of no failure (and no success to remember)
	maxLimiterEntries  = 100_000         // per map; bounds memory under a flood of names
	fullWait           = 5 * time.Second // the wait of a new pair while the maps are full of protected entries
)

type pairKey struct{ login, addr string }

type pairState struct {
	failures    int       // consecutive, since the last success
	pending     int       // reserved, not settled
	until       time.Time // no attempt before this
	lastFailure time.Time
	lastSuccess time.Time
}

// proven reports whether the pair logged in successfully lately (p may
// be nil).
func (p *pairState) proven(now time.Time) bool {
	return p != nil && !p.lastSuccess.IsZero() && now.Sub(p.lastSuccess) < provenFor
}

// evictable reports whether forgetting p can only give attempts back:
// no attempt in flight, no back-off, not proven.
func (p *pairState) evictable(now time.Time) bool {
	return p.pending == 0 && !now.Before(p.until) && !p.proven(now)
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

// load is the decayed count plus the attempts in flight.
func (d *decaying) load(now time.Time) float64 {
	if d == nil {
		return 0
	}
	return d.current(now) + float64(d.pending)
}

func (d *decaying) add(now time.Time) {
	d.value = d.current(now) + 1
	d.at = now
}

// nameState is what the limiter knows of one login name.
type nameState struct {
	failures decaying // lately, from all addresses
	// drawn are the times the tokens of the budget (attempts of pairs not
	// proven) were drawn; a token is back a minute later, or when its
	// attempt gives it back (the zero time).
	drawn [nameBudget]time.Time
}

func (n *nameState) free(i int, now time.Time) bool {
	return n.drawn[i].IsZero() || now.Sub(n.drawn[i]) >= nameRefill
}

// budget returns how many tokens are left, and when the next comes back
// if none is (n may be nil: a full budget).
func (n *nameState) budget(now time.Time) (left int, wait time.Duration) {
	if n == nil {
		return nameBudget, 0
	}
	wait = nameRefill
	for i := range n.drawn {
		if n.free(i, now) {
			left++
		} else {
			wait = min(wait, nameRefill-now.Sub(n.drawn[i]))
		}
	}
	return left, wait
}

// draw takes a token (there must be one) and returns which.
func (n *nameState) draw(now time.Time) int {
	for i := range n.drawn {
		if n.free(i, now) {
			n.drawn[i] = now
			return i
		}
	}
	panic("login limiter: no token to draw")
}

// refund gives token i, drawn at drawn, back (unless it is back already
// and was drawn again).
func (n *nameState) refund(i int, drawn time.Time) {
	if n.drawn[i].Equal(drawn) {
		n.drawn[i] = time.Time{}
	}
}

// evictable reports whether forgetting n can only give attempts back:
// no attempt in flight, no token drawn in the last minute, not under
// attack.
func (n *nameState) evictable(now time.Time) bool {
	if left, _ := n.budget(now); n.failures.pending > 0 || left < nameBudget {
		return false
	}
	return n.failures.current(now) < attackFailures
}

// limiterAddr is the key of a client address: an IPv4 address whole, an
// IPv6 address by its /64 prefix. Anything else (no address) is its own
// key.
func limiterAddr(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	prefix, err := a.Prefix(64)
	if err != nil {
		return addr
	}
	return prefix.String()
}

// sprayWait is how long an address with the given load waits until its
// decaying count falls below the spraying threshold.
func sprayWait(load float64) time.Duration {
	over := load / (sprayFailures - 1)
	return max(time.Second, time.Duration(failureDecay.Seconds()*math.Log(over)*float64(time.Second)))
}

// NewLoginLimiter returns a limiter on the given clock (nil: time.Now).
func NewLoginLimiter(now func() time.Time) *LoginLimiter {
	if now == nil {
		now = time.Now
	}
	return &LoginLimiter{now: now, pairs: map[pairKey]*pairState{}, names: map[string]*nameState{}, addrs: map[string]*decaying{}}
}

// Reservation is one admitted attempt; settle it with exactly one of
// Succeeded, Failed or Cancel.
type Reservation struct {
	l *LoginLimiter
	// The entries of the attempt; entries with an attempt in flight are
	// never pruned. name and addr are nil only for a proven pair while
	// their maps are full.
	pair    *pairState
	name    *nameState
	addr    *decaying
	proven  bool      // the pair logged in successfully lately
	token   int       // of the name's budget, if drawnAt is set
	drawnAt time.Time // when the token was drawn; zero: none was
	settled bool
}

// Proven reports whether this login succeeded from this address lately
// (within 30 days): such attempts get the reserved password-check slot.
func (r *Reservation) Proven() bool { return r.proven }

// Reserve admits an attempt of login from addr, or returns how long to
// wait (nil reservation). A refusal stores nothing.
func (l *LoginLimiter) Reserve(login, addr string) (*Reservation, time.Duration) {
	addr = limiterAddr(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	key := pairKey{login, addr}
	p, name, address := l.pairs[key], l.names[login], l.addrs[addr]
	if p != nil && now.Before(p.until) {
		return nil, p.until.Sub(now)
	}
	proven := p.proven(now)
	if load := address.load(now); !proven && load >= sprayFailures {
		return nil, sprayWait(load)
	}
	if p != nil {
		free := pairFreeAttempts
		if !proven && name != nil && name.failures.load(now) >= attackFailures {
			free = attackFreeAttempts
		}
		switch {
		case p.failures < free && p.failures+p.pending < free:
		case p.failures >= free && p.pending == 0: // after a back-off: one at a time
		default:
			return nil, time.Second // attempts in flight decide first
		}
	}
	if left, wait := name.budget(now); !proven && left < 1 {
		return nil, max(time.Second, wait)
	}
	// Admitted: only now is anything stored.
	if !proven && !l.room(now, p == nil, name == nil, address == nil) {
		return nil, fullWait
	}
	if p == nil {
		p = &pairState{}
		l.pairs[key] = p
	}
	if name == nil && l.room(now, false, true, false) {
		name = &nameState{failures: decaying{at: now}}
		l.names[login] = name
	}
	if address == nil && l.room(now, false, false, true) {
		address = &decaying{at: now}
		l.addrs[addr] = address
	}
	r := &Reservation{l: l, pair: p, name: name, addr: address, proven: proven}
	p.pending++
	if name != nil {
		name.failures.pending++
		if !proven {
			r.token, r.drawnAt = name.draw(now), now
		}
	}
	if address != nil {
		address.pending++
	}
	return r, 0
}

// room reports whether each map that is to get a new entry has room for
// it, pruning a full one first (at most every few seconds while it is
// full of entries that must be kept).
func (l *LoginLimiter) room(now time.Time, pair, name, addr bool) bool {
	return (!pair || l.roomIn(0, func() int { return len(l.pairs) }, l.prunePairs, now)) &&
		(!name || l.roomIn(1, func() int { return len(l.names) }, l.pruneNames, now)) &&
		(!addr || l.roomIn(2, func() int { return len(l.addrs) }, l.pruneAddrs, now))
}

func (l *LoginLimiter) roomIn(i int, size func() int, prune func(time.Time), now time.Time) bool {
	if size() < maxLimiterEntries {
		return true
	}
	if now.Before(l.noPruneBefore[i]) {
		return false
	}
	prune(now)
	if size() < maxLimiterEntries {
		return true
	}
	l.noPruneBefore[i] = now.Add(fullWait)
	return false
}

// The prune functions forget what no rule needs any more; if that is not
// enough (a flood of new names or addresses), they drop entries whose
// loss can only give attempts back, down to 90 % of the bound: never a
// pair in back-off or proven, a name under attack or with a token drawn
// in the last minute, an address over the spraying threshold, or an entry with an
// attempt in flight.
const pruneTo = maxLimiterEntries * 9 / 10

func (l *LoginLimiter) prunePairs(now time.Time) {
	for k, p := range l.pairs {
		if p.evictable(now) && now.Sub(p.lastFailure) > forgetPairAfter {
			delete(l.pairs, k)
		}
	}
	for k, p := range l.pairs {
		if len(l.pairs) < pruneTo {
			break
		}
		if p.evictable(now) {
			delete(l.pairs, k)
		}
	}
}

func (l *LoginLimiter) pruneNames(now time.Time) {
	for k, n := range l.names {
		if n.evictable(now) && n.failures.current(now) < 0.5 {
			delete(l.names, k)
		}
	}
	for k, n := range l.names {
		if len(l.names) < pruneTo {
			break
		}
		if n.evictable(now) {
			delete(l.names, k)
		}
	}
}

func (l *LoginLimiter) pruneAddrs(now time.Time) {
	for k, d := range l.addrs {
		if d.pending == 0 && d.current(now) < 0.5 {
			delete(l.addrs, k)
		}
	}
	for k, d := range l.addrs {
		if len(l.addrs) < pruneTo {
			break
		}
		if d.pending == 0 && d.current(now) < sprayFailures {
			delete(l.addrs, k)
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
	p, name, address := r.pair, r.name, r.addr
	p.pending--
	if name != nil {
		name.failures.pending = max(0, name.failures.pending-1)
		if !r.drawnAt.IsZero() && !failed {
			name.refund(r.token, r.drawnAt)
		}
	}
	if address != nil {
		address.pending = max(0, address.pending-1)
	}
	switch {
	case succeeded:
		p.failures, p.until, p.lastSuccess = 0, time.Time{}, now
	case failed:
		free := pairFreeAttempts
		if !p.proven(now) && name != nil && name.failures.current(now) >= attackFailures {
			free = attackFreeAttempts
		}
		p.failures++
		p.lastFailure = now
		if name != nil {
			name.failures.add(now)
		}
		if address != nil {
			address.add(now)
		}
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
// reservation: only when Reserve would admit it and it would be the
// pair's only attempt in flight: no failures of the pair since its last
// success, no attempt in flight, no back-off, and unless the pair is
// proven, an address not refused for spraying, a token left in the
// name's budget and room for the pair. It then records the success (which
// draws no token, as a reserved success gives its token back).
// Otherwise the caller reserves an attempt as for any other, so that the
// cache never answers a guess the limiter would refuse.
func (l *LoginLimiter) Remembered(login, addr string) bool {
	addr = limiterAddr(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	key := pairKey{login, addr}
	p := l.pairs[key]
	if p != nil && (p.failures > 0 || p.pending > 0 || now.Before(p.until)) {
		return false
	}
	if !p.proven(now) {
		name, address := l.names[login], l.addrs[addr]
		if left, _ := name.budget(now); address.load(now) >= sprayFailures || left < 1 ||
			!l.room(now, p == nil, name == nil, address == nil) {
			return false
		}
	}
	if p == nil {
		p = &pairState{}
		l.pairs[key] = p
	}
	p.lastSuccess = now
	return true
}
