package limit

import (
	"context"
	"errors"
	"slices"
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

// shared counts what reaches it and admits max events per key.
type shared struct {
	max   int
	asked map[string]int
	err   error
}

func (s *shared) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	s.asked[key]++
	return s.asked[key] <= s.max, time.Second, s.err
}

// A key within its allowance here never reaches the shared limiter; past
// it, every event is the shared limiter's to decide, and the allowance
// comes back with time.
func TestLocalFirst(t *testing.T) {
	now := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	s := &shared{max: 2, asked: map[string]int{}}
	l := NewLocalFirst(PerMinute(3, 2), s, PerMinute(20, 1))
	l.local.now = func() time.Time { return now }
	l.fallback.now = func() time.Time { return now }
	ctx := context.Background()
	var got []bool
	for range 8 {
		ok, _, err := l.Allow(ctx, "oFlood")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ok)
	}
	want := []bool{true, true, true, true, true, false, false, false} // three here, then two shared
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events at once: %v, want %v", got, want)
		}
	}
	if s.asked["oFlood"] != 5 {
		t.Errorf("the shared limiter was asked %d times, want 5 (the events past the allowance)", s.asked["oFlood"])
	}
	if ok, _, _ := l.Allow(ctx, "oCalm"); !ok || s.asked["oCalm"] != 0 {
		t.Errorf("another key's first event: allowed %v, shared asked %d times; want allowed here", ok, s.asked["oCalm"])
	}
	now = now.Add(20 * time.Second) // one event's worth of the allowance back
	asked := s.asked["oFlood"]
	if ok, _, _ := l.Allow(ctx, "oFlood"); !ok || s.asked["oFlood"] != asked {
		t.Errorf("20 s later: allowed %v, shared asked %d more times; want allowed here", ok, s.asked["oFlood"]-asked)
	}
	// With the shared limiter away, its rate applies here: two at once
	// (burst 1), then refused, and no error for the caller to let pass.
	s.err = errors.New("redis down")
	got = got[:0]
	for range 4 {
		ok, _, err := l.Allow(ctx, "oFlood")
		if err != nil {
			t.Fatalf("with the shared limiter away: %v", err)
		}
		got = append(got, ok)
	}
	if want := []bool{true, true, false, false}; !slices.Equal(got, want) {
		t.Errorf("with the shared limiter away: %v, want %v (the shared rate, applied here)", got, want)
	}
}

// Keys seen once are forgotten when they have expired, a minute on,
// without waiting for the bound.
func TestLocalSweepsExpiredKeys(t *testing.T) {
	now := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	l := NewLocal(PerMinute(3, 2))
	l.now = func() time.Time { return now }
	ctx := context.Background()
	for i := range 1000 {
		l.Allow(ctx, "o"+strconv.Itoa(i))
	}
	if l.Len() != 1000 {
		t.Fatalf("%d keys remembered, want 1000", l.Len())
	}
	now = now.Add(2 * time.Minute)
	l.Allow(ctx, "oNew")
	if l.Len() != 1 {
		t.Errorf("%d keys remembered two minutes on, want only the new one", l.Len())
	}
}
