package limit

import (
	"context"
	"strconv"
	"testing"
	"time"
)

func TestLocalBurstThenRate(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	l := NewLocal(PerMinute(60, 5))
	l.now = func() time.Time { return now }
	ctx := context.Background()
	allowed := 0
	for range 10 {
		if ok, _, _ := l.Allow(ctx, "a"); ok {
			allowed++
		}
	}
	// The burst plus the first event.
	if allowed != 6 {
		t.Fatalf("allowed %d of 10 at once, want 6", allowed)
	}
	ok, wait, _ := l.Allow(ctx, "a")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("after burst: ok=%v wait=%v, want refused with a wait of at most 1s", ok, wait)
	}
	if ok, _, _ := l.Allow(ctx, "b"); !ok {
		t.Fatal("another key was limited by the first")
	}
	now = now.Add(time.Second)
	if ok, _, _ := l.Allow(ctx, "a"); !ok {
		t.Fatal("one second later one more event should pass")
	}
	if ok, _, _ := l.Allow(ctx, "a"); ok {
		t.Fatal("but only one")
	}
}

// A flood of distinct keys, all live at once (one per spoofed address or
// invented name), cannot grow the limiter past its bound, and a key it
// still remembers stays limited.
func TestLocalBoundedUnderKeyFlood(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	l := NewLocal(PerMinute(1, 0)) // every key stays live for a minute
	l.now = func() time.Time { return now }
	ctx := context.Background()
	for i := range 3 * maxKeys {
		if ok, _, _ := l.Allow(ctx, "flood:"+strconv.Itoa(i)); !ok {
			t.Fatalf("key %d refused on its first event", i)
		}
		if n := l.Len(); n > maxKeys {
			t.Fatalf("%d keys remembered after %d distinct ones; bound %d", n, i+1, maxKeys)
		}
	}
	if ok, _, _ := l.Allow(ctx, "victim"); !ok {
		t.Fatal("a fresh key was refused")
	}
	if ok, _, _ := l.Allow(ctx, "victim"); ok {
		t.Fatal("a remembered key was not limited")
	}
}
