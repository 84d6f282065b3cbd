// Package redis holds the parts of Yihao that only matter when several
// instances run: they share state through Redis. Each has an in-process
// twin used when no Redis is configured.
package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/yihao-city/yihao/limit"
)

// Connect parses a redis:// URL and checks that the server answers.
func Connect(ctx context.Context, url string) (*goredis.Client, error) {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis: parse url: %w", err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 2*time.Second, time.Second, time.Second
	c := goredis.NewClient(opt)
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis: %w", err)
	}
	return c, nil
}

// Limiter is a rate limiter shared by every instance (GCRA in a Lua script).
type Limiter struct {
	l      *redis_rate.Limiter
	rate   redis_rate.Limit
	prefix string
}

// NewLimiter limits keys under prefix at r.
func NewLimiter(c *goredis.Client, prefix string, r limit.Rate) *Limiter {
	return &Limiter{l: redis_rate.NewLimiter(c), prefix: prefix,
		rate: redis_rate.Limit{Rate: r.Events, Period: r.Period, Burst: r.Burst + 1}}
}

// Allow takes one event for key if the shared rate allows it now.
func (l *Limiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	res, err := l.l.Allow(ctx, l.prefix+key, l.rate)
	if err != nil {
		return false, 0, fmt.Errorf("redis: rate limit: %w", err)
	}
	return res.Allowed > 0, res.RetryAfter, nil
}
