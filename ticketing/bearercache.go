package ticketing

import (
	"context"
	"sync"
	"time"
)

// BearerCache remembers the bearer tokens it checked in the last TTL, so a
// door that hears from the same phones every few seconds (the grid
// supervisors' positions, 3,000 phones every 30 s) does not read the token
// and its user from the store on every request. What the store says about
// a token (revoked, its user disabled or given another role) takes effect
// on each instance within TTL. Only tokens that passed are remembered: a
// refused one is asked of the store every time.
type BearerCache struct {
	ts  TokenUsers
	ttl time.Duration
	max int
	now func() time.Time

	mu sync.Mutex
	m  map[string]cachedBearer // by the digest of the header
}

type cachedBearer struct {
	b       Bearer
	expires time.Time
}

// bearerCacheMax bounds the cache: more phones than a city has supervisors.
const bearerCacheMax = 50000

// NewBearerCache checks tokens with ts and remembers them for ttl.
func NewBearerCache(ts TokenUsers, ttl time.Duration, now func() time.Time) *BearerCache {
	if now == nil {
		now = time.Now
	}
	return &BearerCache{ts: ts, ttl: ttl, max: bearerCacheMax, now: now, m: map[string]cachedBearer{}}
}

// Authenticate is Authenticate, answered from memory for a header that
// passed within the TTL. The Bearer is the caller's to read, not change.
func (c *BearerCache) Authenticate(ctx context.Context, header string) (*Bearer, error) {
	key := HashToken(header)
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		b := e.b
		return &b, nil
	}
	b, err := Authenticate(ctx, c.ts, header)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m) // a flood of distinct tokens: start again
		}
	}
	c.m[key] = cachedBearer{b: *b, expires: now.Add(c.ttl)}
	return b, nil
}
