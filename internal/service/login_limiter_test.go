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
