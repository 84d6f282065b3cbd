package wechat

import (
	"context"
	"sync"
	"time"
)

// MemorySeen coordinates WeChat's retries of a push in one process (no
// Redis): Claim, Done, Forget as Dedup says. Its twin shared by several
// instances is redis.Seen.
type MemorySeen struct {
	ttl time.Duration
	now func() time.Time

	mu        sync.Mutex
	keys      map[string]seenKey
	nextPrune time.Time
}

type seenKey struct {
	done  bool
	reply string
	until time.Time
}

// NewMemorySeen keeps done keys for ttl by the clock now (time.Now when nil).
func NewMemorySeen(ttl time.Duration, now func() time.Time) *MemorySeen {
	if now == nil {
		now = time.Now
	}
	return &MemorySeen{ttl: ttl, now: now, keys: map[string]seenKey{}}
}

// Claim takes key for lease unless an unexpired lease holds it or it is done.
func (s *MemorySeen) Claim(_ context.Context, key string, lease time.Duration) (Claim, string, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(now)
	if k, ok := s.keys[key]; ok && now.Before(k.until) {
		if k.done {
			return Done, k.reply, nil
		}
		return Held, "", nil
	}
	s.bound(now)
	s.keys[key] = seenKey{until: now.Add(lease)}
	return Claimed, "", nil
}

// Done records key's reply for the ttl.
func (s *MemorySeen) Done(_ context.Context, key, reply string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = seenKey{done: true, reply: reply, until: s.now().Add(s.ttl)}
	return nil
}

// Forget drops key, so that the next attempt claims it.
func (s *MemorySeen) Forget(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, key)
	return nil
}

// maxMemoryKeys bounds the in-process stores keyed by what WeChat pushes
// (MsgIds, OpenIDs): far above an hour of a city's messages.
const maxMemoryKeys = 1 << 18

// bound makes room for one more key: expired keys go, and if a flood has
// left the map full of live ones, arbitrary ones down to three quarters
// (a retry of a forgotten push may then be handled twice: the price of a
// bound).
func (s *MemorySeen) bound(now time.Time) {
	if len(s.keys) < maxMemoryKeys {
		return
	}
	s.nextPrune = time.Time{}
	s.prune(now)
	for k := range s.keys {
		if len(s.keys) <= maxMemoryKeys*3/4 {
			break
		}
		delete(s.keys, k)
	}
}

// prune drops expired keys, at most once per ttl.
func (s *MemorySeen) prune(now time.Time) {
	if now.Before(s.nextPrune) {
		return
	}
	for k, v := range s.keys {
		if !now.Before(v.until) {
			delete(s.keys, k)
		}
	}
	s.nextPrune = now.Add(s.ttl)
}

// Len is the number of keys remembered, expired ones not yet pruned
// included.
func (s *MemorySeen) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}
