package service

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"callvault/internal/vault"
)

// Logins is the one way in: the API's HTTP Basic auth, POST /api/v2/login
// and the UI's POST /login all call it, with the client's address. It
// holds the one LoginLimiter and bounds the password checks that run at
// once: argon2id takes 19 MiB per check, so unbounded parallel logins
// would take the server's memory (40 parallel bad logins took it from
// 95 MB to 758 MB before this bound).
//
// A successful check is remembered for a few minutes (the verified cache
// in auth.go), so that Basic auth, which sends the password with every
// request, costs a hash lookup and no argon2 after the first request.
type Logins struct {
	svc     *Service
	limiter *LoginLimiter
	slots   chan struct{}
	// reserved is one more slot, only for logins that succeeded from the
	// same address before (the backup host, a user's own desk): a flood
	// of strangers' guesses cannot queue them out.
	reserved chan struct{}
	maxWait  time.Duration
	queue    int64
	onCheck  func(login string)

	waiting atomic.Int64
	running atomic.Int64
	stats   struct {
		checks, refused, busy atomic.Uint64
		peak                  atomic.Int64
	}
}

// LoginOptions tune Logins; the zero value is the default.
type LoginOptions struct {
	// Concurrency is how many password checks run at once, besides the
	// one slot reserved for logins that succeeded from the same address
	// before. Default: GOMAXPROCS, at least 2 and at most 4. argon2id is
	// pure CPU, so more checks than cores only add memory and latency,
	// and the upper bound keeps argon2's memory under 100 MiB (5 × 19 MiB)
	// however many cores there are.
	Concurrency int
	// Queue is how many checks may wait for a slot (default 32 per slot);
	// beyond it a login is answered 503 with Retry-After at once.
	Queue int
	// MaxWait is how long a check waits for a slot (default 5 s).
	MaxWait time.Duration
	// OnCheck, when set, is called for every password check that runs
	// (tests count them).
	OnCheck func(login string)
}

// NewLogins returns the login gate of svc. Make one per server and hand
// it to the API and the UI.
func NewLogins(svc *Service, opt LoginOptions) *Logins {
	if opt.Concurrency <= 0 {
		opt.Concurrency = min(max(runtime.GOMAXPROCS(0), 2), 4)
	}
	if opt.Queue <= 0 {
		opt.Queue = 32 * opt.Concurrency
	}
	if opt.MaxWait <= 0 {
		opt.MaxWait = 5 * time.Second
	}
	return &Logins{
		svc: svc, limiter: NewLoginLimiter(svc.now), slots: make(chan struct{}, opt.Concurrency), reserved: make(chan struct{}, 1),
		maxWait: opt.MaxWait, queue: int64(opt.Queue), onCheck: opt.OnCheck,
	}
}

// LoginStats are counts since the server started, for metrics.
type LoginStats struct {
	Checks  uint64 // password checks run (argon2id)
	Refused uint64 // attempts refused by the limiter (429)
	Busy    uint64 // attempts refused because the checks were full (503)
	Running int64  // checks running now
	Peak    int64  // most checks that ran at once
	Slots   int    // the bound on Running: Concurrency, plus the slot reserved for proven logins
}

// Stats returns the counts.
func (l *Logins) Stats() LoginStats {
	return LoginStats{Checks: l.stats.checks.Load(), Refused: l.stats.refused.Load(), Busy: l.stats.busy.Load(),
		Running: l.running.Load(), Peak: l.stats.peak.Load(), Slots: cap(l.slots) + cap(l.reserved)}
}

// WaitError is a refusal to try now: 429 (the limiter) or 503 (busy),
// with how long to wait, for Retry-After.
type WaitError struct {
	Err  *vault.Error
	Wait time.Duration
}

func (e *WaitError) Error() string { return e.Err.Error() }
func (e *WaitError) Unwrap() error { return e.Err }

// RetryAfter returns the whole seconds to wait that err asks for, or 0.
func RetryAfter(err error) int {
	var we *WaitError
	if errors.As(err, &we) {
		return int((we.Wait + time.Second - 1) / time.Second)
	}
	return 0
}

func rateLimited(wait time.Duration) error {
	secs := int((wait + time.Second - 1) / time.Second)
	return &WaitError{Err: vault.Errorf(vault.ERATELIMIT, "too many failed logins; try again in %d seconds", secs), Wait: wait}
}

var errBusy = &WaitError{Err: vault.Errorf(vault.EUNAVAILABLE, "too many logins at once; try again in a second"), Wait: time.Second}

// Authenticate checks a login ("user@tenant") and password from the
// client address and returns the user. Every wrong login looks the same;
// a refusal to try now is a *WaitError.
func (l *Logins) Authenticate(ctx context.Context, login, password, client string) (*vault.User, error) {
	name, tenant, err := SplitLogin(login)
	if err != nil {
		return nil, err
	}
	// The user is looked up before the attempt is reserved, so that the
	// reservation of a cached (cheap) check lasts microseconds.
	u, err := l.svc.Store.User(ctx, tenant, name)
	found := err == nil
	if err != nil && !errors.Is(err, vault.ErrNotFound) {
		return nil, fmt.Errorf("cannot look up the user of a login: %w", err)
	}
	now := l.svc.now()
	// A disabled user never takes the cheap paths of a remembered
	// password: its attempts are reserved, checked with argon2id and
	// counted as failures like any wrong password, and answered alike,
	// so that neither the answer, nor its time, nor the limiter's later
	// answers tell a guesser that the password was right.
	remembered := found && !u.Disabled && l.svc.verified.check(u.PasswordHash, password, now)
	if remembered && l.limiter.Remembered(login, client) {
		// The right password, checked by argon2id moments ago, from a
		// client in good standing: no attempt is reserved, so that the
		// parallel requests of rcbs's threads or of a player do not count
		// as attempts in flight. A client with failures or attempts in
		// flight, or that the limiter would refuse, takes the reservation
		// below, so the cache is never an oracle that answers guesses the
		// limiter would refuse.
		return &u, nil
	}
	res, wait := l.limiter.Reserve(login, client)
	if res == nil {
		l.stats.refused.Add(1)
		return nil, rateLimited(wait)
	}
	if remembered {
		// Reserved (so counted), and right: no argon2 needed. This is the
		// path of a remembered password from a pair with failures or
		// another attempt in flight.
		res.Succeeded()
		return &u, nil
	}
	hash := l.svc.dummyHash() // unknown users cost the same time
	if found {
		hash = u.PasswordHash
	}
	ok, err := l.check(ctx, login, hash, password, res.Proven())
	if err != nil {
		res.Cancel()
		return nil, err
	}
	actx := WithClient(ctx, client)
	if !found || !ok {
		res.Failed()
		l.svc.recordLogin(actx, login, nil, vault.OutcomeFailed, "wrong user or password")
		return nil, errBadLogin
	}
	if u.Disabled {
		// The right password of a disabled account: a failure, answered
		// as a wrong password. Only the log (no password in it) says why.
		res.Failed()
		l.svc.log().Info("login refused: the account is disabled", "login", login, "client", client)
		l.svc.recordLogin(actx, login, nil, vault.OutcomeFailed, "account disabled")
		return nil, errBadLogin
	}
	l.svc.verified.add(u.PasswordHash, password, now)
	res.Succeeded()
	// Audited when the password was checked in full: the cached checks
	// above are the same client going on with a password just proven,
	// as a session would.
	l.svc.recordLogin(actx, login, &u, vault.OutcomeOK, "")
	return &u, nil
}

// check runs one argon2id check in a slot, waiting for one at most
// MaxWait and only while fewer than Queue others wait. A proven login may
// also take the reserved slot.
func (l *Logins) check(ctx context.Context, login, hash, password string, proven bool) (bool, error) {
	reserved := l.reserved
	if !proven {
		reserved = nil // a nil channel is never ready
	}
	var slot chan struct{}
	select {
	case l.slots <- struct{}{}:
		slot = l.slots
	case reserved <- struct{}{}:
		slot = l.reserved
	default:
		if l.waiting.Add(1) > l.queue && !proven {
			l.waiting.Add(-1)
			l.stats.busy.Add(1)
			return false, errBusy
		}
		timer := time.NewTimer(l.maxWait)
		select {
		case l.slots <- struct{}{}:
			slot = l.slots
		case reserved <- struct{}{}:
			slot = l.reserved
		case <-timer.C:
			l.waiting.Add(-1)
			l.stats.busy.Add(1)
			return false, errBusy
		case <-ctx.Done():
			timer.Stop()
			l.waiting.Add(-1)
			return false, vault.Wrap(vault.EUNAVAILABLE, ctx.Err(), "the login was cancelled")
		}
		timer.Stop()
		l.waiting.Add(-1)
	}
	defer func() { <-slot }()
	running := l.running.Add(1)
	defer l.running.Add(-1)
	for {
		peak := l.stats.peak.Load()
		if running <= peak || l.stats.peak.CompareAndSwap(peak, running) {
			break
		}
	}
	l.stats.checks.Add(1)
	if l.onCheck != nil {
		l.onCheck(login)
	}
	ok := checkPassword(hash, password)
	// argon2id allocated 19 MiB that are garbage now. Left to the pacer,
	// such blocks pile up to twice the live heap under a flood of logins
	// (about 180 MB of RSS with 1,000 parallel bad logins); collecting
	// at once keeps the server near its live heap plus the running
	// checks. A collection of this small, pointer-free heap costs far
	// less than the argon2id pass before it, and only uncached checks
	// pay it: Basic auth with a remembered password never gets here.
	runtime.GC()
	return ok, nil
}

// Login authenticates and opens a browser session: the session token (for
// the cookie) and the session (with its CSRF token).
func (l *Logins) Login(ctx context.Context, login, password, client string) (string, vault.Session, error) {
	u, err := l.Authenticate(ctx, login, password, client)
	if err != nil {
		return "", vault.Session{}, err
	}
	return l.svc.openSession(ctx, u)
}
