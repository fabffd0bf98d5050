package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"callvault/internal/vault"
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fail reserves and fails an attempt; it reports whether it was admitted.
func fail(l *LoginLimiter, login, addr string) bool {
	res, _ := l.Reserve(login, addr)
	if res == nil {
		return false
	}
	res.Failed()
	return true
}

func succeed(l *LoginLimiter, login, addr string) bool {
	res, _ := l.Reserve(login, addr)
	if res == nil {
		return false
	}
	res.Succeeded()
	return true
}

// The back-off rule of LoginLimiter, step by step.
func TestLimiterBackoff(t *testing.T) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	l := NewLoginLimiter(clock.Now)
	if !succeed(l, "rcbs@acme", "198.51.100.9") { // the backup host
		t.Fatal("first login refused")
	}
	for i := 0; i < pairFreeAttempts; i++ {
		if !fail(l, "rcbs@acme", "203.0.113.7") {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	_, wait := l.Reserve("rcbs@acme", "203.0.113.7")
	if wait < 59*time.Second || wait > time.Minute {
		t.Fatalf("after 5 failures: wait %v, want 1 minute", wait)
	}
	// The owner from its own address is not kept out.
	if !succeed(l, "rcbs@acme", "198.51.100.9") {
		t.Fatal("the right password from the owner's address is refused")
	}
	// The waits double: 1, 2, 4 … minutes, up to an hour.
	for _, want := range []time.Duration{2, 4, 8, 16, 32, 60, 60} {
		clock.advance(backoffMax) // past any wait
		if !fail(l, "rcbs@acme", "203.0.113.7") {
			t.Fatal("refused after the back-off")
		}
		if fail(l, "rcbs@acme", "203.0.113.7") {
			t.Fatal("a second attempt right after a failed one was admitted")
		}
		if _, wait := l.Reserve("rcbs@acme", "203.0.113.7"); wait != want*time.Minute {
			t.Fatalf("wait %v, want %v", wait, want*time.Minute)
		}
	}
	// A success clears the pair.
	clock.advance(backoffMax)
	if !succeed(l, "rcbs@acme", "203.0.113.7") {
		t.Fatal("refused after the back-off")
	}
	for i := 0; i < pairFreeAttempts; i++ {
		if !fail(l, "rcbs@acme", "203.0.113.7") {
			t.Fatalf("after a success: attempt %d refused", i+1)
		}
	}
}

// Reservations count before the outcome: parallel attempts cannot all
// pass before the first failure is counted.
func TestLimiterReservesInParallel(t *testing.T) {
	l := NewLoginLimiter(nil)
	var admitted []*Reservation
	for i := 0; i < 100; i++ {
		if res, _ := l.Reserve("victim@acme", "203.0.113.7"); res != nil {
			admitted = append(admitted, res)
		}
	}
	if len(admitted) != pairFreeAttempts {
		t.Fatalf("%d of 100 parallel attempts admitted, want %d", len(admitted), pairFreeAttempts)
	}
	admitted[0].Cancel() // a check that never ran gives its attempt back
	if res, _ := l.Reserve("victim@acme", "203.0.113.7"); res == nil {
		t.Fatal("a cancelled attempt was not given back")
	}
}

// Under attack (20 failures lately, from guesses spread over minutes to
// get past the budget of the name), new addresses get one attempt each,
// addresses that logged in before keep theirs, and the right password
// from a new address still logs in.
func TestLimiterUnderAttack(t *testing.T) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	l := NewLoginLimiter(clock.Now)
	if !succeed(l, "rcbs@acme", "192.0.2.10") { // the backup host, known
		t.Fatal("first login refused")
	}
	guesses := func(addr string) int {
		n := 0
		for i := 0; i < 10; i++ {
			if fail(l, "rcbs@acme", addr) {
				n++
			}
		}
		return n
	}
	// One new address a minute, 10 guesses each: 5 are checked (the
	// pair's and the name's 5) until the decaying count reaches 20, after
	// 5 minutes; then 1.
	for a := 0; ; a++ {
		clock.advance(time.Minute)
		n := guesses(fmt.Sprintf("203.0.113.%d", a))
		if n == attackFreeAttempts && a >= 4 {
			break
		}
		if n != pairFreeAttempts || a >= 6 {
			t.Fatalf("minute %d: %d guesses checked", a+1, n)
		}
	}
	// Under attack, each new address gets 1 attempt, until the name's
	// budget (4 left this minute) is spent.
	for a := 0; a < nameBudget-1; a++ {
		if n := guesses(fmt.Sprintf("198.18.0.%d", a)); n != attackFreeAttempts {
			t.Fatalf("under attack, a new address had %d guesses checked, want 1", n)
		}
	}
	if n := guesses("198.18.0.99"); n != 0 {
		t.Fatalf("%d guesses checked past the budget of the name", n)
	}
	// The right password from a new address waits for the budget (until
	// the minute of the first token drawn is over), then logs in.
	_, wait := l.Reserve("rcbs@acme", "198.51.100.77")
	if wait <= 0 || wait > time.Minute {
		t.Fatalf("a new address with the budget spent: wait %v, want at most a minute", wait)
	}
	clock.advance(wait)
	if !succeed(l, "rcbs@acme", "198.51.100.77") {
		t.Fatal("the right password from a new address is refused under attack")
	}
	for i := 0; i < 3; i++ { // the known host keeps its 5 attempts
		if !fail(l, "rcbs@acme", "192.0.2.10") {
			t.Fatalf("known address: attempt %d refused under attack", i+1)
		}
	}
	if !succeed(l, "rcbs@acme", "192.0.2.10") {
		t.Fatal("known address refused under attack")
	}
}

// Spraying many names from one address stops that address, but not a
// login that succeeded from it before.
func TestLimiterSpray(t *testing.T) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	l := NewLoginLimiter(clock.Now)
	if !succeed(l, "rcbs@acme", "203.0.113.7") {
		t.Fatal("first login refused")
	}
	n := 0
	for i := 0; i < 200; i++ {
		if fail(l, fmt.Sprintf("user%d@acme", i), "203.0.113.7") {
			n++
		}
	}
	if n != sprayFailures {
		t.Fatalf("%d names tried from one address, want %d", n, sprayFailures)
	}
	if _, wait := l.Reserve("someone@acme", "203.0.113.7"); wait <= 0 {
		t.Fatal("spraying address not refused")
	}
	clock.advance(time.Hour) // the count decays: the address may try again
	if !fail(l, "someone@acme", "203.0.113.7") {
		t.Fatal("spraying address still refused an hour later")
	}
	if !succeed(l, "rcbs@acme", "203.0.113.7") {
		t.Fatal("a login that succeeded from the address before is refused")
	}
}

// A remembered password is accepted without a reservation only from a
// pair in good standing, so that the verified cache never answers guesses
// the limiter would refuse.
func TestLimiterRemembered(t *testing.T) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	l := NewLoginLimiter(clock.Now)
	// Any number at once from a clean pair: rcbs's threads.
	for i := 0; i < 100; i++ {
		if !l.Remembered("rcbs@acme", "198.51.100.1") {
			t.Fatalf("remembered login %d of a clean pair refused", i)
		}
	}
	// An attempt in flight: the cache path is closed until it settles.
	res, _ := l.Reserve("john@acme", "203.0.113.9")
	if l.Remembered("john@acme", "203.0.113.9") {
		t.Fatal("remembered login accepted beside an attempt in flight")
	}
	res.Failed()
	if l.Remembered("john@acme", "203.0.113.9") {
		t.Fatal("remembered login accepted after a failure of the pair")
	}
	// The same login from another, clean address still gets in.
	if !l.Remembered("john@acme", "198.51.100.2") {
		t.Fatal("remembered login from a clean address refused")
	}
	// A success clears the pair.
	clock.advance(2 * time.Minute)
	if !succeed(l, "john@acme", "203.0.113.9") || !l.Remembered("john@acme", "203.0.113.9") {
		t.Fatal("a pair cleared by a success is not in good standing")
	}
	// A spraying address: only pairs proven before pass.
	for i := 0; i < sprayFailures; i++ {
		fail(l, fmt.Sprintf("user%d@acme", i), "192.0.2.66")
	}
	if l.Remembered("mary@acme", "192.0.2.66") {
		t.Fatal("remembered login of a new pair accepted from a spraying address")
	}
}

// floodAddr is the i-th of many distinct IPv4 addresses.
func floodAddr(i int) string {
	return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
}

// The budget of a login name: at most 5 guesses a minute are checked
// from pairs that are not proven, however many addresses guess (a botnet,
// or the many /64s of one IPv6 network); proven pairs neither draw from
// it nor are refused by it.
func TestLimiterNameBudget(t *testing.T) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	l := NewLoginLimiter(clock.Now)
	if !succeed(l, "rcbs@acme", "192.0.2.10") { // the backup host
		t.Fatal("first login refused")
	}
	var checked []time.Time    // when guesses were checked
	for a := 0; a < 100; a++ { // 100 bots at once, one guess each
		if fail(l, "rcbs@acme", floodAddr(a)) {
			checked = append(checked, clock.Now())
		}
	}
	if checks := len(checked); checks != nameBudget {
		t.Fatalf("%d guesses checked from 100 addresses at once, want %d", checks, nameBudget)
	}
	// The backup host is never refused by the budget, and does not draw
	// from it.
	for i := 0; i < 10; i++ {
		res, wait := l.Reserve("rcbs@acme", "192.0.2.10")
		if res == nil {
			t.Fatalf("the proven pair refused with the budget spent: wait %v", wait)
		}
		if i%2 == 0 {
			res.Failed()
		} else {
			res.Succeeded()
		}
	}
	if !l.Remembered("rcbs@acme", "192.0.2.10") {
		t.Fatal("a remembered login of the proven pair refused with the budget spent")
	}
	// A new address waits for the budget, remembered password or not
	// (else the cache would answer the guesses the limiter refuses).
	if l.Remembered("rcbs@acme", "198.51.100.1") {
		t.Fatal("a remembered login of a new pair accepted with the budget spent")
	}
	if _, wait := l.Reserve("rcbs@acme", "198.51.100.1"); wait <= 0 || wait > time.Minute {
		t.Fatalf("a new pair with the budget spent: wait %v, want at most a minute", wait)
	}
	// Ten minutes of a botnet guessing from a new address every second:
	// at most 5 guesses are checked in any minute (any 60 seconds, not
	// only each minute of the clock), and 5 every minute.
	for s := 0; s < 600; s++ {
		clock.advance(time.Second)
		if fail(l, "rcbs@acme", fmt.Sprintf("2001:db8:%x::1", s)) {
			checked = append(checked, clock.Now())
		}
	}
	for i := nameBudget; i < len(checked); i++ {
		if d := checked[i].Sub(checked[i-nameBudget]); d < time.Minute {
			t.Fatalf("guesses %d to %d checked within %v, want 5 at most in any minute", i-nameBudget+1, i+1, d)
		}
	}
	if len(checked) < 10*nameBudget {
		t.Fatalf("%d guesses checked in 10 minutes and a burst, want at least %d: the budget does not come back", len(checked), 10*nameBudget)
	}
	// Attempts never checked (cancelled) and successes give their draw
	// back; attempts in flight count.
	clock.advance(time.Minute)
	var inFlight []*Reservation
	for a := 0; a < nameBudget; a++ {
		res, _ := l.Reserve("rcbs@acme", fmt.Sprintf("198.51.100.%d", 10+a))
		if res == nil {
			t.Fatalf("attempt %d of a full budget refused", a+1)
		}
		inFlight = append(inFlight, res)
	}
	if res, _ := l.Reserve("rcbs@acme", "198.51.100.99"); res != nil {
		t.Fatal("an attempt past the budget admitted while 5 are in flight")
	}
	for _, res := range inFlight {
		res.Cancel()
	}
	if !succeed(l, "rcbs@acme", "198.51.100.98") {
		t.Fatal("the budget was not given back by cancelled attempts")
	}
	for a := 0; a < nameBudget; a++ {
		if !fail(l, "rcbs@acme", fmt.Sprintf("198.51.100.%d", 30+a)) {
			t.Fatalf("attempt %d refused after a success: the success spent the budget", a+1)
		}
	}
	// Other names have budgets of their own.
	if !fail(l, "mary@acme", "198.51.100.99") {
		t.Fatal("another login refused")
	}
}

// An IPv6 client is its /64: five guesses from five addresses of one /64
// are one pair's five; IPv4 addresses stay whole.
func TestLimiterIPv6Prefix(t *testing.T) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	l := NewLoginLimiter(clock.Now)
	for i := 1; i <= pairFreeAttempts; i++ {
		if !fail(l, "mary@acme", fmt.Sprintf("2001:db8:1:2::%x", i)) {
			t.Fatalf("guess %d refused", i)
		}
	}
	if _, wait := l.Reserve("mary@acme", "2001:db8:1:2:ffff:ffff:ffff:ffff"); wait < 59*time.Second {
		t.Fatalf("a 6th address of the /64: wait %v, want the pair's back-off of 1 minute", wait)
	}
	// Proven from one address of a /64 is proven from all of it (privacy
	// addresses change), not from the next /64.
	if !succeed(l, "john@acme", "2001:db8:1:2::10") {
		t.Fatal("login refused")
	}
	proven := func(login, addr string) bool {
		t.Helper()
		res, wait := l.Reserve(login, addr)
		if res == nil {
			t.Fatalf("%s from %s refused: wait %v", login, addr, wait)
		}
		defer res.Cancel()
		return res.Proven()
	}
	if !proven("john@acme", "2001:db8:1:2:aaaa:bbbb:cccc:dddd") {
		t.Fatal("another address of the same /64 is not proven")
	}
	if proven("john@acme", "2001:db8:1:3::10") {
		t.Fatal("an address of another /64 is proven")
	}
	if !succeed(l, "ann@acme", "203.0.113.7") {
		t.Fatal("login refused")
	}
	if proven("ann@acme", "203.0.113.8") {
		t.Fatal("the next IPv4 address is proven")
	}
	if !proven("ann@acme", "::ffff:203.0.113.7") {
		t.Fatal("the IPv4-mapped form of the address is not proven")
	}
	// Spraying from many addresses of one /64 is spraying from one
	// address.
	for i := 0; i < sprayFailures; i++ {
		if !fail(l, fmt.Sprintf("user%d@acme", i), fmt.Sprintf("2001:db8:9:9::%x", i+1)) {
			t.Fatalf("spray %d refused", i)
		}
	}
	if res, _ := l.Reserve("someone@acme", "2001:db8:9:9:1234::1"); res != nil {
		t.Fatal("a /64 that sprayed 50 names is not refused")
	}
}

// A refused attempt stores nothing: it costs no password check, so a
// flood of them must not fill the limiter's maps (and push out what they
// hold).
func TestLimiterRefusalStoresNothing(t *testing.T) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	l := NewLoginLimiter(clock.Now)
	for i := 0; i < sprayFailures; i++ {
		fail(l, fmt.Sprintf("user%d@acme", i), "192.0.2.66")
	}
	for i := 0; i < pairFreeAttempts; i++ {
		fail(l, "victim@acme", "203.0.113.7")
	}
	sizes := func() string { return fmt.Sprint(len(l.pairs), len(l.names), len(l.addrs)) }
	before := sizes()
	refused := func(login, addr string) {
		t.Helper()
		if res, _ := l.Reserve(login, addr); res != nil {
			t.Fatalf("%s from %s admitted", login, addr)
		}
	}
	for i := 0; i < 1000; i++ {
		refused(fmt.Sprintf("new%d@acme", i), "192.0.2.66") // a spraying address
		refused("victim@acme", "203.0.113.7")               // a pair in back-off
	}
	if after := sizes(); after != before {
		t.Fatalf("2,000 refused attempts grew the maps (pairs, names, addresses) from %s to %s", before, after)
	}
	for i := 0; i < 1000; i++ {
		refused("victim@acme", floodAddr(i)) // a name with its budget spent
	}
	if after := sizes(); after != before {
		t.Fatalf("1,000 refused attempts grew the maps (pairs, names, addresses) from %s to %s", before, after)
	}
}

// A flood of distinct failed pairs past the bound on the maps drops only
// entries whose loss gives attempts back: the backup host stays proven,
// a pair in back-off keeps waiting, an address that sprayed stays
// refused, a name under attack stays so; and when the maps are full of
// such entries, new pairs are refused for a few seconds.
func TestLimiterFloodKeepsProtectedState(t *testing.T) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	l := NewLoginLimiter(clock.Now)
	if !succeed(l, "rcbs@acme", "192.0.2.10") {
		t.Fatal("first login refused")
	}
	for i := 0; i < pairFreeAttempts; i++ {
		fail(l, "victim@acme", "203.0.113.7")
	}
	for i := 0; i < 6; i++ { // the back-off grows to an hour
		clock.advance(backoffMax)
		fail(l, "victim@acme", "203.0.113.7")
	}
	check := func(when string) {
		t.Helper()
		if res, wait := l.Reserve("rcbs@acme", "192.0.2.10"); res == nil || !res.Proven() {
			t.Fatalf("%s: the backup host is not proven (wait %v)", when, wait)
		} else {
			res.Succeeded()
		}
		if _, wait := l.Reserve("victim@acme", "203.0.113.7"); wait < 30*time.Minute {
			t.Fatalf("%s: the pair in back-off waits %v, want most of an hour", when, wait)
		}
		if len(l.pairs) > maxLimiterEntries || len(l.names) > maxLimiterEntries || len(l.addrs) > maxLimiterEntries {
			t.Fatalf("%s: maps of %d, %d, %d entries", when, len(l.pairs), len(l.names), len(l.addrs))
		}
	}
	// 1. One and a half times the bound of distinct names from distinct addresses,
	// 1,000 failures a second (more than a server can check).
	next := 0
	flood := func(n int, tick bool) {
		for ; n > 0; n-- {
			if tick && next%1000 == 0 {
				clock.advance(time.Second)
			}
			fail(l, fmt.Sprintf("ghost%d@acme", next), floodAddr(next))
			next++
		}
	}
	flood(maxLimiterEntries*3/2, true)
	check("after the flood")

	// 2. A name under attack (20 failures lately, from new addresses
	// at the pace of its budget: 5 a minute) and an address that sprayed
	// 50 names.
	underAttack := func() bool { // one new address: after 1 failure, the back-off?
		t.Helper()
		addr := floodAddr(next)
		next++
		if !fail(l, "attacked@acme", addr) {
			t.Fatal("a guess at the pace of the budget refused")
		}
		res, _ := l.Reserve("attacked@acme", addr)
		if res != nil {
			res.Cancel()
		}
		return res == nil
	}
	for minutes, attacked := 0, 0; attacked < 3; minutes++ {
		clock.advance(time.Minute)
		if underAttack() {
			attacked++
		}
		for i := 1; i < nameBudget; i++ {
			fail(l, "attacked@acme", floodAddr(next))
			next++
		}
		if minutes > 15 {
			t.Fatal("the name is not under attack after 15 minutes at 5 failures a minute")
		}
	}
	for i := 0; i < sprayFailures; i++ {
		fail(l, fmt.Sprintf("sprayed%d@acme", i), "192.0.2.66")
	}
	// The bound more, all at once: the maps fill with entries that
	// must be kept (each new name has spent from its budget), so new pairs
	// are refused for a few seconds rather than anything kept dropped.
	flood(maxLimiterEntries, false)
	check("after the second flood")
	if d := l.addrs["192.0.2.66"]; d == nil || d.current(clock.Now()) < sprayFailures {
		t.Fatal("the count of the spraying address was dropped")
	}
	if l.names["attacked@acme"] == nil {
		t.Fatal("the count of the name under attack was dropped")
	}
	if res, wait := l.Reserve("newcomer@acme", "198.51.100.1"); res != nil || wait <= 0 || wait > 10*time.Second {
		t.Fatalf("a new pair while the maps are full of kept entries: admitted %v, wait %v, want a few seconds", res != nil, wait)
	}
	clock.advance(time.Minute) // the flood's names have their budgets back
	if !underAttack() {
		t.Fatal("the name under attack is no longer")
	}
	check("later")
	if !succeed(l, "newcomer@acme", "198.51.100.1") {
		t.Fatal("a new pair is still refused once the flood's names have their budgets back")
	}
}

// Proven pairs are kept however many there are (an attacker who knows
// one account's password can make them cheaply from many addresses); a
// new pair is then refused for a few seconds, proven pairs still get in.
func TestLimiterFullOfProvenPairs(t *testing.T) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	l := NewLoginLimiter(clock.Now)
	for i := 0; i < maxLimiterEntries; i++ {
		if !l.Remembered("user@acme", floodAddr(i)) {
			t.Fatalf("remembered login %d refused", i)
		}
	}
	if res, wait := l.Reserve("new@acme", "203.0.113.7"); res != nil || wait <= 0 || wait > 10*time.Second {
		t.Fatalf("a new pair with the map full of proven pairs: admitted %v, wait %v, want a few seconds", res != nil, wait)
	}
	if l.Remembered("new@acme", "203.0.113.7") {
		t.Fatal("a remembered login of a new pair accepted where Reserve refuses")
	}
	if len(l.pairs) != maxLimiterEntries {
		t.Fatalf("%d pairs, want %d", len(l.pairs), maxLimiterEntries)
	}
	for _, i := range []int{0, 7, maxLimiterEntries - 1} {
		if res, wait := l.Reserve("user@acme", floodAddr(i)); res == nil || !res.Proven() {
			t.Fatalf("proven pair %d refused (wait %v) or not proven", i, wait)
		} else {
			res.Failed()
		}
	}
	clock.advance(provenFor + time.Hour)
	if !succeed(l, "new@acme", "203.0.113.7") {
		t.Fatal("a new pair refused after the proven pairs aged out")
	}
}

// userStore is a store of one user, for Logins.
type userStore struct {
	vault.Store
	u vault.User
}

func (s *userStore) Tenant(_ context.Context, name string) (vault.Tenant, error) {
	if name != s.u.Tenant {
		return vault.Tenant{}, vault.ErrNotFound
	}
	return vault.Tenant{Name: name}, nil
}

func (s *userStore) Commit(context.Context, vault.Effects) error { return nil }

func (s *userStore) User(_ context.Context, tenant, name string) (vault.User, error) {
	if tenant != s.u.Tenant || name != s.u.Name {
		return vault.User{}, vault.ErrNotFound
	}
	return s.u, nil
}

// The right password of a disabled account is answered as a wrong one,
// after the same argon2id check, and counts as a failure, so that a
// guesser cannot tell that it was right; also when the password is
// remembered from before the account was disabled.
func TestDisabledLoginLooksLikeWrongPassword(t *testing.T) {
	hash, err := HashPassword("right-password")
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	store := &userStore{u: vault.User{Tenant: "acme", Name: "jane", PasswordHash: hash, Disabled: true}}
	svc := &Service{Store: store, Now: clock.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	checks := 0
	logins := NewLogins(svc, LoginOptions{OnCheck: func(string) { checks++ }})
	ctx := context.Background()
	_, wrong := logins.Authenticate(ctx, "jane@acme", "wrong-password", "203.0.113.7")
	if !errors.Is(wrong, errBadLogin) {
		t.Fatalf("a wrong password: %v", wrong)
	}
	svc.verified.add(hash, "right-password", clock.Now().UTC()) // checked before the account was disabled
	for i := 0; i < pairFreeAttempts-1; i++ {
		checksBefore := checks
		u, err := logins.Authenticate(ctx, "jane@acme", "right-password", "203.0.113.7")
		if u != nil || err == nil || err.Error() != wrong.Error() || vault.ErrorCode(err) != vault.ErrorCode(wrong) {
			t.Fatalf("the right password of a disabled account: %v, want the answer to a wrong one (%v)", err, wrong)
		}
		if checks != checksBefore+1 {
			t.Fatalf("the right password of a disabled account ran %d password checks, want 1 as for a wrong one", checks-checksBefore)
		}
	}
	// Five failures: the pair waits, as after five wrong passwords.
	if _, err := logins.Authenticate(ctx, "jane@acme", "right-password", "203.0.113.7"); RetryAfter(err) == 0 {
		t.Fatalf("after 5 attempts with the right password of a disabled account: %v, want a back-off", err)
	}
	// Enabled again, the remembered password logs in from another
	// address (once the name's budget is back) without a check.
	store.u.Disabled = false
	clock.advance(time.Minute)
	svc.verified.add(hash, "right-password", clock.Now().UTC())
	checksBefore := checks
	if u, err := logins.Authenticate(ctx, "jane@acme", "right-password", "198.51.100.9"); err != nil || u == nil {
		t.Fatalf("enabled again: %v", err)
	}
	if checks != checksBefore {
		t.Fatal("a remembered password was checked again")
	}
}
