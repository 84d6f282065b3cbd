package redis_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yihao-city/yihao/redis"
)

// BenchmarkSharedState is what a WeChat push asks of Redis besides its
// limiter (the push's nonce, its claim, the citizen's conversation read and
// kept, the reply recorded), from 32 goroutines as 32 pushes at once: over
// the plain client, one round trip per command each; over redis.Commands,
// batched across the pushes.
func BenchmarkSharedState(b *testing.B) {
	for _, tc := range []struct {
		name string
		cmds func(*testing.B, *goredis.Client) goredis.Cmdable
	}{
		{"client", func(_ *testing.B, c *goredis.Client) goredis.Cmdable { return c }},
		{"commands", func(b *testing.B, c *goredis.Client) goredis.Cmdable {
			cmds, err := redis.Commands(c)
			if err != nil {
				b.Fatal(err)
			}
			return cmds
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c, err := redis.Connect(context.Background(), testURL())
			if err != nil {
				b.Skipf("Redis at %s is not reachable: %v", testURL(), err)
			}
			defer c.Close()
			// Every key expires within a minute: no clean-up to time.
			prefix := "yihao-bench:" + rand.Text() + ":"
			cmds := tc.cmds(b, c)
			nonces, seen := redis.NewNonces(cmds, prefix+"n:"), redis.NewSeen(cmds, prefix+"s:", time.Minute)
			convs := redis.NewConversations(cmds, prefix+"c:")
			push := func(ctx context.Context, i int64) error {
				k := strconv.FormatInt(i, 10)
				if ok, err := nonces.Remember(ctx, k, "digest", time.Minute); err != nil || !ok {
					return fmt.Errorf("nonce %s: %v %w", k, ok, err)
				}
				if _, _, err := seen.Claim(ctx, k, time.Second); err != nil {
					return err
				}
				if _, _, err := convs.Open(ctx, "openid"+k); err != nil {
					return err
				}
				if err := convs.Keep(ctx, "openid"+k, k, time.Minute); err != nil {
					return err
				}
				return seen.Done(ctx, k, "reply")
			}
			var n atomic.Int64
			ctx := context.Background()
			b.SetParallelism(16) // 32 goroutines on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := push(ctx, n.Add(1)); err != nil {
						b.Error(err) // not Fatal: this is not the benchmark's goroutine
						return
					}
				}
			})
		})
	}
}
