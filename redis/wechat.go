package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yihao-city/yihao/channels/wechat"
)

// TokenCache is wechat.TokenCache shared by every instance through Redis:
// one access token for the account, so one instance's refresh does not
// invalidate another's token. The in-process twin is
// wechat.MemoryTokenCache.
type TokenCache struct {
	c   goredis.Cmdable
	key string
}

var _ wechat.TokenCache = (*TokenCache)(nil)

// NewTokenCache keeps the token at key (the whole key, prefix included),
// expiring with the token.
func NewTokenCache(c goredis.Cmdable, key string) *TokenCache {
	return &TokenCache{c: c, key: key}
}

// cachedToken is the value kept at the key.
type cachedToken struct {
	Token   string `json:"token"`
	Expires int64  `json:"expires_ms"` // Unix milliseconds
}

// Get returns the token, if one is kept.
func (tc *TokenCache) Get(ctx context.Context) (string, time.Time, bool, error) {
	v, err := tc.c.Get(ctx, tc.key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("redis: wechat token: %w", err)
	}
	var ct cachedToken
	if err := json.Unmarshal(v, &ct); err != nil || ct.Token == "" {
		// not ours, or from an older version: as if there were none
		return "", time.Time{}, false, nil
	}
	return ct.Token, time.UnixMilli(ct.Expires), true, nil
}

// Set keeps token until expires; a token already expired is not kept.
func (tc *TokenCache) Set(ctx context.Context, token string, expires time.Time) error {
	ttl := time.Until(expires).Truncate(time.Millisecond)
	if ttl <= 0 {
		return nil
	}
	v, err := json.Marshal(cachedToken{Token: token, Expires: expires.UnixMilli()})
	if err != nil {
		return fmt.Errorf("redis: wechat token: %w", err)
	}
	if err := tc.c.Set(ctx, tc.key, v, ttl).Err(); err != nil {
		return fmt.Errorf("redis: wechat token: %w", err)
	}
	return nil
}

// Seen coordinates WeChat's retries of a push across every instance
// (wechat.Dedup): a short lease while one attempt handles it, then the
// reply, kept for ttl. The in-process twin is wechat.MemorySeen.
type Seen struct {
	c      goredis.Cmdable
	prefix string
	ttl    time.Duration
}

// NewSeen keeps done keys under prefix for ttl.
func NewSeen(c goredis.Cmdable, prefix string, ttl time.Duration) *Seen {
	return &Seen{c: c, prefix: prefix, ttl: ttl}
}

// Values: "p" while a lease holds the key, "d" + the reply once done.

// Claim takes key for lease (SET NX PX) unless it is held or done.
func (s *Seen) Claim(ctx context.Context, key string, lease time.Duration) (wechat.Claim, string, error) {
	for range 3 {
		ok, err := s.c.SetNX(ctx, s.prefix+key, "p", lease).Result()
		if err != nil {
			return 0, "", fmt.Errorf("redis: seen: %w", err)
		}
		if ok {
			return wechat.Claimed, "", nil
		}
		v, err := s.c.Get(ctx, s.prefix+key).Result()
		switch {
		case errors.Is(err, goredis.Nil):
			continue // the lease ran out between the two commands
		case err != nil:
			return 0, "", fmt.Errorf("redis: seen: %w", err)
		case strings.HasPrefix(v, "d"):
			return wechat.Done, v[1:], nil
		}
		return wechat.Held, "", nil
	}
	return wechat.Held, "", nil
}

// Done records key's reply for the ttl.
func (s *Seen) Done(ctx context.Context, key, reply string) error {
	if err := s.c.Set(ctx, s.prefix+key, "d"+reply, s.ttl).Err(); err != nil {
		return fmt.Errorf("redis: seen: %w", err)
	}
	return nil
}

// Forget drops key, so that the next attempt claims it.
func (s *Seen) Forget(ctx context.Context, key string) error {
	if err := s.c.Del(ctx, s.prefix+key).Err(); err != nil {
		return fmt.Errorf("redis: seen: %w", err)
	}
	return nil
}

// Nonces is wechat.Nonces shared by every instance: one key per signed
// push URL (SET NX with the body's digest, expiring with the replay
// window), so a URL replayed to another instance is refused there too.
type Nonces struct {
	c      goredis.Cmdable
	prefix string
}

var _ wechat.Nonces = (*Nonces)(nil)

// NewNonces keeps the keys under prefix.
func NewNonces(c goredis.Cmdable, prefix string) *Nonces {
	return &Nonces{c: c, prefix: prefix}
}

// Remember is wechat.Nonces.Remember.
func (n *Nonces) Remember(ctx context.Context, key, fingerprint string, ttl time.Duration) (bool, error) {
	ttl = max(ttl, time.Second)
	for range 3 {
		ok, err := n.c.SetNX(ctx, n.prefix+key, fingerprint, ttl).Result()
		if err != nil {
			return false, fmt.Errorf("redis: nonces: %w", err)
		}
		if ok {
			return true, nil
		}
		v, err := n.c.Get(ctx, n.prefix+key).Result()
		switch {
		case errors.Is(err, goredis.Nil):
			continue // expired between the two commands
		case err != nil:
			return false, fmt.Errorf("redis: nonces: %w", err)
		}
		return v == fingerprint, nil
	}
	return false, nil
}
