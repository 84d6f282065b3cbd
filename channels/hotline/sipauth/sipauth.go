// Package sipauth holds what digest authentication must remember between
// requests, so that a stolen Authorization cannot be replayed and a
// password cannot be guessed at line rate: a lockout of extensions with too
// many failed attempts, and a ledger of the (nonce, nonce-count) pairs
// already accepted. Both have an in-process implementation here, for one
// instance, and a Redis one in package redis that every instance shares;
// sipauthtest is the suite both pass.
package sipauth

import (
	"context"
	"fmt"
	"time"
)

// Lockout counts failed attempts per key (an agent's extension) and locks
// the key out once there are too many.
type Lockout interface {
	// Locked reports how much longer key is locked out (0: not locked).
	Locked(ctx context.Context, key string, now time.Time) (time.Duration, error)
	// Fail records one failed attempt for key and reports the lockout it
	// is under afterwards (0: not locked).
	Fail(ctx context.Context, key string, now time.Time) (time.Duration, error)
}

// Policy is when a key is locked out, and for how long.
type Policy struct {
	// Failures within Window lock the key out (default 5).
	Failures int
	// Window is counted from the first failure (default 15 minutes).
	Window time.Duration
	// Lockout is how long the key then stays locked, counted from the
	// failure that locked it (default 15 minutes).
	Lockout time.Duration
}

// WithDefaults fills the zero fields.
func (p Policy) WithDefaults() Policy {
	if p.Failures <= 0 {
		p.Failures = 5
	}
	if p.Window <= 0 {
		p.Window = 15 * time.Minute
	}
	if p.Lockout <= 0 {
		p.Lockout = 15 * time.Minute
	}
	return p
}

// NonceLedger remembers which (nonce, nonce-count) pairs were accepted, so
// each is accepted once (RFC 7616 §3.3: the server may track nc to stop
// replays).
type NonceLedger interface {
	// Use records the pair and reports whether it was new. until is when
	// the nonce expires: the pair need not be remembered past it.
	Use(ctx context.Context, nonce string, nc uint32, until, now time.Time) (bool, error)
}

// PairKey is the key every ledger keeps a pair under.
func PairKey(nonce string, nc uint32) string { return fmt.Sprintf("%s:%08x", nonce, nc) }
