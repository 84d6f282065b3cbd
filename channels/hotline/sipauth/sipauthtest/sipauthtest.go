// Package sipauthtest is the conformance suite every sipauth.Lockout and
// sipauth.NonceLedger must pass.
package sipauthtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/hotline/sipauth"
)

// NewLockout returns an empty Lockout with policy p, cleaned up when t ends.
// Two calls within one test must share state (two instances).
type NewLockout func(t *testing.T, p sipauth.Policy) sipauth.Lockout

// NewNonceLedger returns an empty ledger, cleaned up when t ends.
type NewNonceLedger func(t *testing.T) sipauth.NonceLedger

// t0 is the start of every test's clock.
var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

var policy = sipauth.Policy{Failures: 5, Window: 10 * time.Minute, Lockout: 15 * time.Minute}

// RunLockout runs the lockout tests.
func RunLockout(t *testing.T, newLockout NewLockout) {
	t.Run("LocksAfterFailures", func(t *testing.T) {
		l := newLockout(t, policy)
		for i := 1; i <= 4; i++ {
			if d := fail(t, l, "2001", t0.Add(time.Duration(i)*time.Second)); d != 0 {
				t.Fatalf("locked after %d failures (%v)", i, d)
			}
		}
		if d := locked(t, l, "2001", t0.Add(5*time.Second)); d != 0 {
			t.Fatalf("locked before the fifth failure: %v", d)
		}
		if d := fail(t, l, "2001", t0.Add(5*time.Second)); d != policy.Lockout {
			t.Fatalf("fifth failure: lockout %v, want %v", d, policy.Lockout)
		}
		if d := locked(t, l, "2001", t0.Add(6*time.Minute)); d != policy.Lockout-6*time.Minute+5*time.Second {
			t.Fatalf("6 minutes later: locked %v more", d)
		}
		// Another key is not touched.
		if d := locked(t, l, "2002", t0.Add(6*time.Minute)); d != 0 {
			t.Fatalf("2002 locked by 2001's failures: %v", d)
		}
		// Lapses after the lockout.
		if d := locked(t, l, "2001", t0.Add(5*time.Second+policy.Lockout)); d != 0 {
			t.Fatalf("still locked after the lockout: %v", d)
		}
	})
	t.Run("WindowForgets", func(t *testing.T) {
		l := newLockout(t, policy)
		for i := range 4 {
			fail(t, l, "2001", t0.Add(time.Duration(i)*time.Second))
		}
		// The window (from the first failure) ends: counting starts again.
		later := t0.Add(policy.Window + time.Second)
		for i := range 4 {
			if d := fail(t, l, "2001", later.Add(time.Duration(i)*time.Second)); d != 0 {
				t.Fatalf("failure %d of a new window locked: %v", i+1, d)
			}
		}
		if d := fail(t, l, "2001", later.Add(10*time.Second)); d == 0 {
			t.Fatal("fifth failure of the new window did not lock")
		}
	})
	t.Run("SharedAndConcurrent", func(t *testing.T) {
		// Two handles (two instances) fail one key at once: exactly the
		// policy's number of failures pass unlocked.
		a, b := newLockout(t, policy), newLockout(t, policy)
		var unlocked atomic.Int32
		var wg sync.WaitGroup
		for i := range 40 {
			l := a
			if i%2 == 1 {
				l = b
			}
			wg.Go(func() {
				d, err := l.Fail(context.Background(), "3001", t0)
				if err != nil {
					t.Error(err)
					return
				}
				if d == 0 {
					unlocked.Add(1)
				}
			})
		}
		wg.Wait()
		if n := unlocked.Load(); n != int32(policy.Failures-1) {
			t.Fatalf("%d of 40 failures left the key unlocked, want %d", n, policy.Failures-1)
		}
		for _, l := range []sipauth.Lockout{a, b} {
			if d := locked(t, l, "3001", t0.Add(time.Second)); d <= 0 {
				t.Fatal("an instance does not see the lockout")
			}
		}
	})
}

func fail(t *testing.T, l sipauth.Lockout, key string, now time.Time) time.Duration {
	t.Helper()
	d, err := l.Fail(context.Background(), key, now)
	if err != nil {
		t.Fatalf("fail %s: %v", key, err)
	}
	return d
}

func locked(t *testing.T, l sipauth.Lockout, key string, now time.Time) time.Duration {
	t.Helper()
	d, err := l.Locked(context.Background(), key, now)
	if err != nil {
		t.Fatalf("locked %s: %v", key, err)
	}
	return d
}

// RunNonceLedger runs the ledger tests. newLedger called twice in one test
// must share state (two instances).
func RunNonceLedger(t *testing.T, newLedger NewNonceLedger) {
	t.Run("PairOnce", func(t *testing.T) {
		l := newLedger(t)
		until := t0.Add(5 * time.Minute)
		if !use(t, l, "n1", 1, until, t0) {
			t.Fatal("first use refused")
		}
		if use(t, l, "n1", 1, until, t0.Add(time.Second)) {
			t.Fatal("replayed pair accepted")
		}
		if !use(t, l, "n1", 2, until, t0.Add(time.Second)) {
			t.Fatal("next nonce-count refused")
		}
		if !use(t, l, "n2", 1, until, t0.Add(time.Second)) {
			t.Fatal("another nonce's first use refused")
		}
	})
	t.Run("ExpiredNonce", func(t *testing.T) {
		l := newLedger(t)
		if use(t, l, "n1", 1, t0, t0) {
			t.Fatal("a pair of an expired nonce accepted")
		}
	})
	t.Run("SharedAndConcurrent", func(t *testing.T) {
		a, b := newLedger(t), newLedger(t)
		var fresh atomic.Int32
		var wg sync.WaitGroup
		for i := range 20 {
			l := a
			if i%2 == 1 {
				l = b
			}
			wg.Go(func() {
				ok, err := l.Use(context.Background(), "shared", 7, t0.Add(time.Minute), t0)
				if err != nil {
					t.Error(err)
				}
				if ok {
					fresh.Add(1)
				}
			})
		}
		wg.Wait()
		if fresh.Load() != 1 {
			t.Fatalf("one pair accepted %d times by two instances", fresh.Load())
		}
	})
	t.Run("ManyPairs", func(t *testing.T) {
		l := newLedger(t)
		until := t0.Add(5 * time.Minute)
		for i := range 200 {
			if !use(t, l, fmt.Sprintf("nonce-%d", i), 1, until, t0) {
				t.Fatalf("pair %d refused", i)
			}
		}
		if use(t, l, "nonce-199", 1, until, t0) {
			t.Fatal("the last pair replayed")
		}
	})
}

func use(t *testing.T, l sipauth.NonceLedger, nonce string, nc uint32, until, now time.Time) bool {
	t.Helper()
	ok, err := l.Use(context.Background(), nonce, nc, until, now)
	if err != nil {
		t.Fatalf("use %s/%d: %v", nonce, nc, err)
	}
	return ok
}
