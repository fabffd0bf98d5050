package service

import (
	"fmt"
	"sync"
	"testing"
	"time"
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
	for i := 0; i < pairFreeAttempts; i++ {
		if !fail(l, "rcbs@acme", "203.0.113.7") {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	_, wait := l.Reserve("rcbs@acme", "203.0.113.7")
	if wait < 59*time.Second || wait > time.Minute {
		t.Fatalf("after 5 failures: wait %v, want 1 minute", wait)
	}
	// The owner from another address is not kept out.
	if !succeed(l, "rcbs@acme", "198.51.100.9") {
		t.Fatal("the right password from another address is refused")
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

// Under attack from many addresses, new addresses get one attempt each,
// addresses that logged in before keep theirs, and the right password
// from a new address still logs in.
func TestLimiterUnderAttack(t *testing.T) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	l := NewLoginLimiter(clock.Now)
	if !succeed(l, "rcbs@acme", "192.0.2.10") { // the backup host, known
		t.Fatal("first login refused")
	}
	checks := 0
	for a := 0; a < 40; a++ {
		for i := 0; i < 10; i++ {
			if fail(l, "rcbs@acme", fmt.Sprintf("203.0.113.%d", a)) {
				checks++
			}
		}
	}
	// 4 addresses × 5 attempts make the name under attack; the other 36
	// get one attempt each.
	if want := 4*pairFreeAttempts + 36; checks != want {
		t.Fatalf("%d checks from 40 addresses, want %d", checks, want)
	}
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
