package wechat

import (
	"context"
	"sync"
	"time"
)

// MemorySeen remembers keys for a while, in process, to drop a message
// WeChat delivers again (it retries a push three times when the answer is
// slow). Its twin shared by several instances is redis.Seen.
type MemorySeen struct {
	ttl time.Duration
	now func() time.Time

	mu        sync.Mutex
	until     map[string]time.Time // key -> when it is forgotten
	nextPrune time.Time
}

// NewMemorySeen remembers each key for ttl by the clock now (time.Now when
// nil).
func NewMemorySeen(ttl time.Duration, now func() time.Time) *MemorySeen {
	if now == nil {
		now = time.Now
	}
	return &MemorySeen{ttl: ttl, now: now, until: map[string]time.Time{}}
}

// First reports whether key is seen for the first time within the ttl,
// and remembers it.
func (s *MemorySeen) First(_ context.Context, key string) (bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(now)
	if until, ok := s.until[key]; ok && now.Before(until) {
		return false, nil
	}
	s.until[key] = now.Add(s.ttl)
	return true, nil
}

// Forget drops key, so that the next First for it is true again: for a
// message whose handling failed and that WeChat's retry should bring in.
func (s *MemorySeen) Forget(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.until, key)
	return nil
}

// prune drops expired keys, at most once per ttl, so the map holds about
// two ttls' worth of keys.
func (s *MemorySeen) prune(now time.Time) {
	if now.Before(s.nextPrune) {
		return
	}
	for k, until := range s.until {
		if !now.Before(until) {
			delete(s.until, k)
		}
	}
	s.nextPrune = now.Add(s.ttl)
}

// Len is the number of keys remembered, expired ones not yet pruned
// included.
func (s *MemorySeen) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.until)
}
