package wechat

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Nonces remembers the signed URLs (timestamp and nonce) of the plaintext
// pushes taken, for as long as their timestamp is inside the replay
// window, with a fingerprint of the body each came with. A plaintext
// push's signature covers the query only, so without this anyone holding
// one signed URL could post any body with it until the window closed (in
// safe mode msg_signature covers the message too). WeChat's own retry of a
// push repeats its body, and is let through for the dedup by MsgId to
// answer.
type Nonces interface {
	// Remember records key with fingerprint until ttl has passed, and says
	// whether the push may go on: key is new, or was recorded with the
	// same fingerprint.
	Remember(ctx context.Context, key, fingerprint string, ttl time.Duration) (ok bool, err error)
}

// errNoncesFull is MemoryNonces refusing to grow past its bound.
var errNoncesFull = errors.New("wechat: too many signed pushes in the replay window to remember")

// MemoryNonces is Nonces in one process (no Redis), holding at most max
// keys: when full of unexpired keys it refuses new ones (an error: the push
// is answered 503 and WeChat retries it) rather than forget one and let
// its URL be replayed. Its twin shared by several instances is
// redis.Nonces.
type MemoryNonces struct {
	max int
	now func() time.Time

	mu        sync.Mutex
	keys      map[string]nonceEntry
	nextPrune time.Time
}

type nonceEntry struct {
	fingerprint string
	until       time.Time
}

// DefaultMaxNonces bounds MemoryNonces: ten minutes of pushes at more than
// 400 a second.
const DefaultMaxNonces = 1 << 18

// NewMemoryNonces keeps at most max keys (DefaultMaxNonces when max ≤ 0)
// by the clock now (time.Now when nil).
func NewMemoryNonces(max int, now func() time.Time) *MemoryNonces {
	if max <= 0 {
		max = DefaultMaxNonces
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryNonces{max: max, now: now, keys: map[string]nonceEntry{}}
}

// Remember is Nonces.Remember.
func (n *MemoryNonces) Remember(_ context.Context, key, fingerprint string, ttl time.Duration) (bool, error) {
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if e, ok := n.keys[key]; ok && now.Before(e.until) {
		return e.fingerprint == fingerprint, nil
	}
	if len(n.keys) >= n.max || !now.Before(n.nextPrune) {
		for k, e := range n.keys {
			if !now.Before(e.until) {
				delete(n.keys, k)
			}
		}
		n.nextPrune = now.Add(time.Minute)
		if len(n.keys) >= n.max {
			return false, errNoncesFull
		}
	}
	n.keys[key] = nonceEntry{fingerprint: fingerprint, until: now.Add(ttl)}
	return true, nil
}

// Len is how many keys are remembered, expired ones not yet pruned
// included.
func (n *MemoryNonces) Len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.keys)
}
