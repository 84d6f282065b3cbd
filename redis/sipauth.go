package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yihao-city/yihao/channels/hotline/sipauth"
)

// Lockout is sipauth.Lockout shared by every instance: failures for one
// extension count together wherever they arrive. The in-process twin is
// sipauth.MemoryLockout.
//
// Keys, under the prefix: fail:<key>, a hash of n (failures) and exp (Unix
// µs when the window or the lockout ends), expiring with it. Times are
// passed in, never Redis TIME.
type Lockout struct {
	c      goredis.Cmdable
	prefix string
	policy sipauth.Policy
	fail   *goredis.Script
}

// NewLockout keeps failures under prefix with policy p.
func NewLockout(c goredis.Cmdable, prefix string, p sipauth.Policy) *Lockout {
	return &Lockout{c: c, prefix: prefix, policy: p.WithDefaults(), fail: goredis.NewScript(failScript)}
}

var _ sipauth.Lockout = (*Lockout)(nil)

// failScript: KEYS[1] the key; ARGV now, end of a new window, end of a
// lockout (µs), failures that lock, the window's and the lockout's TTL
// (ms). Returns the end (µs) of the lockout the key is under, or "".
const failScript = `
local k = KEYS[1]
local now, max = tonumber(ARGV[1]), tonumber(ARGV[4])
local v = redis.call('HMGET', k, 'n', 'exp')
local n, exp = tonumber(v[1] or '0') or 0, v[2]
if not exp or tonumber(exp) <= now then
  n, exp = 0, ARGV[2]
end
n = n + 1
if n == max then exp = ARGV[3] end
redis.call('HSET', k, 'n', n, 'exp', exp)
if n == 1 then redis.call('PEXPIRE', k, ARGV[5]) end
if n == max then redis.call('PEXPIRE', k, ARGV[6]) end
if n >= max then return exp end
return ''
`

// Locked reports how much longer key is locked out.
func (l *Lockout) Locked(ctx context.Context, key string, now time.Time) (time.Duration, error) {
	v, err := l.c.HMGet(ctx, l.prefix+"fail:"+key, "n", "exp").Result()
	if err != nil {
		return 0, fmt.Errorf("redis: lockout: %w", err)
	}
	ns, _ := v[0].(string)
	exps, _ := v[1].(string)
	n, _ := strconv.Atoi(ns)
	exp, _ := strconv.ParseInt(exps, 10, 64)
	if n < l.policy.Failures || exp <= now.UnixMicro() {
		return 0, nil
	}
	return time.Duration(exp-now.UnixMicro()) * time.Microsecond, nil
}

// Fail records one failure for key.
func (l *Lockout) Fail(ctx context.Context, key string, now time.Time) (time.Duration, error) {
	us := now.UnixMicro()
	res, err := l.fail.Run(ctx, l.c, []string{l.prefix + "fail:" + key},
		us, now.Add(l.policy.Window).UnixMicro(), now.Add(l.policy.Lockout).UnixMicro(), l.policy.Failures,
		ttlMillis(l.policy.Window), ttlMillis(l.policy.Lockout)).Text()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return 0, fmt.Errorf("redis: lockout: %w", err)
	}
	if res == "" {
		return 0, nil
	}
	exp, err := strconv.ParseInt(res, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redis: lockout: end %q: %w", res, err)
	}
	return time.Duration(exp-us) * time.Microsecond, nil
}

// NonceLedger is sipauth.NonceLedger shared by every instance: a pair
// accepted by one is refused by all. Keys, under the prefix: nc:<nonce>:<nc>,
// each expiring with its nonce. The in-process twin is
// sipauth.MemoryNonceLedger.
type NonceLedger struct {
	c      goredis.Cmdable
	prefix string
}

// NewNonceLedger keeps pairs under prefix.
func NewNonceLedger(c goredis.Cmdable, prefix string) *NonceLedger {
	return &NonceLedger{c: c, prefix: prefix}
}

var _ sipauth.NonceLedger = (*NonceLedger)(nil)

// Use records the pair and reports whether it was new.
func (n *NonceLedger) Use(ctx context.Context, nonce string, nc uint32, until, now time.Time) (bool, error) {
	if !now.Before(until) {
		return false, nil
	}
	ok, err := n.c.SetNX(ctx, n.prefix+"nc:"+sipauth.PairKey(nonce, nc), "1", until.Sub(now)).Result()
	if err != nil {
		return false, fmt.Errorf("redis: nonce ledger: %w", err)
	}
	return ok, nil
}

// ttlMillis is d in whole milliseconds, at least one.
func ttlMillis(d time.Duration) int64 { return max(1, d.Milliseconds()) }
