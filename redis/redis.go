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
	// A Redis that is down must fail a command at once: every store here has
	// its fallback, but a WeChat push asks Redis six times within WeChat's
	// 5 s, and the intake's in-flight bound fills behind a slow limiter.
	// With go-redis's defaults (five dial attempts, three retries) a
	// command took 1.7 s to fail, and 3.4 s through Commands, whose batches
	// wait in line (faults' stop-redis answered WeChat 503s); with one dial
	// attempt and one retry, some 20 ms. One retry still mends a connection
	// Redis closed on a restart. A URL's max_retries (-1: none) still
	// rules.
	if opt.MaxRetries == 0 {
		opt.MaxRetries = 1
	}
	if opt.DialerRetries == 0 {
		opt.DialerRetries = 1
	}
	if opt.Protocol == 0 {
		// RESP2: nothing here uses RESP3's push messages, and with RESP3 the
		// client looks for pending pushes around every command, a tenth of a
		// WeChat push's CPU in the profile. ?protocol=3 in the URL still
		// chooses RESP3.
		opt.Protocol = 2
	}
	c := goredis.NewClient(opt)
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis: %w", err)
	}
	return c, nil
}

// Commands is c's commands batched across goroutines (go-redis's
// autopipelining): what concurrent callers send while the previous batch is
// answered goes as one pipeline, one write and one read for all. A WeChat
// push makes six small round trips and a call two scripts; at a few
// thousand a second, one each cost Redis and Yihao more CPU in system calls
// than in the commands. A lone caller still sends at once. Every shared
// store here takes it; subscriptions and Ping stay on c.
//
// Commands are not bound by their ctx once queued. A command waits for the
// batch ahead of it and then for its own: a Redis that refuses connections
// fails it in some 20 ms (Connect's one dial and one retry), one whose
// packets are dropped only after the dial timeout (2 s) twice. A batch that
// fails on the network is sent again whole, as go-redis resends a lone
// command, so a command may run twice either way: a push's nonce then
// finds its own digest, its claim its own lease (the push is answered 503
// and WeChat tries again), and an agent claimed twice is freed when the
// hold lapses.
func Commands(c *goredis.Client) (goredis.Cmdable, error) {
	ap, err := c.AutoPipeline()
	if err != nil {
		return nil, fmt.Errorf("redis: autopipeline: %w", err)
	}
	return ap, nil
}

// Limiter is a rate limiter shared by every instance (GCRA in a Lua script).
type Limiter struct {
	l      *redis_rate.Limiter
	rate   redis_rate.Limit
	prefix string
}

// NewLimiter limits keys under prefix at r.
func NewLimiter(c goredis.Cmdable, prefix string, r limit.Rate) *Limiter {
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
