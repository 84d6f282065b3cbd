// Package limit is the in-process rate limiter, used when no Redis is
// configured (one instance), and in front of the shared one where a small
// allowance per instance may skip Redis (LocalFirst). It is GCRA, the same
// algorithm the Redis limiter runs, so one setting means the same thing on
// both.
package limit

import (
	"context"
	"sync"
	"time"
)

// Rate is how many events per period a key may have, with Burst at once.
type Rate struct {
	Events int
	Period time.Duration
	Burst  int
}

// PerMinute allows n events a minute with a burst of burst.
func PerMinute(n, burst int) Rate { return Rate{Events: n, Period: time.Minute, Burst: burst} }

// Local limits keys in one process.
type Local struct {
	rate Rate
	now  func() time.Time

	mu    sync.Mutex
	tat   map[string]time.Time // theoretical arrival time per key
	swept time.Time            // the last sweep of expired keys
}

// Len is how many keys are remembered.
func (l *Local) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tat)
}

// NewLocal returns a limiter for r.
func NewLocal(r Rate) *Local {
	return &Local{rate: r, now: time.Now, tat: map[string]time.Time{}}
}

// maxKeys bounds memory. A new key arriving at it sweeps the expired keys
// and, if a flood of distinct keys (addresses, names) has left too many
// live, forgets arbitrary ones down to three quarters of it, so sweeps are
// at least maxKeys/4 new keys apart. A key forgotten under such a flood
// starts afresh: the price of a bound.
const maxKeys = 100_000

// sweepEvery is how often a new key also sweeps the expired ones below
// maxKeys, so that keys seen once (most citizens) do not stay until the
// bound is reached.
const sweepEvery = time.Minute

// Allow takes one event for key if the rate allows it now.
func (l *Local) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	interval := l.rate.Period / time.Duration(l.rate.Events)
	tolerance := interval * time.Duration(l.rate.Burst)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok := l.tat[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	if allowAt := next.Add(-tolerance - interval); allowAt.After(now) {
		return false, allowAt.Sub(now), nil
	}
	if full := len(l.tat) >= maxKeys; !ok && (full || now.Sub(l.swept) >= sweepEvery) {
		l.swept = now
		for k, t := range l.tat {
			if t.Before(now) {
				delete(l.tat, k)
			}
		}
		for k := range l.tat {
			if !full || len(l.tat) <= maxKeys*3/4 {
				break
			}
			delete(l.tat, k)
		}
	}
	l.tat[key] = next
	return true, 0, nil
}

// Limiter admits or refuses one more event for a key: Local, the shared
// limiter of package redis, LocalFirst.
type Limiter interface {
	Allow(ctx context.Context, key string) (bool, time.Duration, error)
}

// LocalFirst lets each key a small allowance in this process and asks a
// shared limiter only for what goes past it. A limit shared through Redis
// costs a round trip and a script for every event, while nearly every key
// stays far below it: a citizen on WeChat sends one to a few messages a
// conversation, and it was a tenth of the door's throughput on PostgreSQL
// and Redis (BENCHMARKS.md, "A ninth pass"). Such keys never reach Redis; a
// flood does as soon as it has used its allowance here, and from then on
// the shared limit rules it. What a key can send past the shared limit is
// bounded: the allowance at each instance, on top of the shared rate. While
// the shared limiter cannot be asked (Redis away), this process applies the
// shared rate itself, so a flood is still bounded, per instance.
type LocalFirst struct {
	local    *Local
	shared   Limiter
	fallback *Local // the shared rate, in this process, while shared fails
}

// NewLocalFirst gives each key allowance in this process, then asks
// shared, whose rate is rate (applied here while shared fails).
func NewLocalFirst(allowance Rate, shared Limiter, rate Rate) *LocalFirst {
	return &LocalFirst{local: NewLocal(allowance), shared: shared, fallback: NewLocal(rate)}
}

// Allow admits key's event from its allowance here, or asks the shared
// limiter, or, when that fails, the shared rate in this process.
func (l *LocalFirst) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	if ok, _, _ := l.local.Allow(ctx, key); ok {
		return true, 0, nil
	}
	ok, wait, err := l.shared.Allow(ctx, key)
	if err != nil {
		return l.fallback.Allow(ctx, key)
	}
	return ok, wait, nil
}
