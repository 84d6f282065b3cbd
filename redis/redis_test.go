package redis_test

import (
	"context"
	"crypto/rand"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/yihao-city/yihao/limit"
	"github.com/yihao-city/yihao/redis"
)

func testURL() string {
	if u := os.Getenv("YIHAO_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Two limiters on one Redis stand for two instances: together they must
// allow no more than the shared burst.
func TestLimiterSharedAcrossInstances(t *testing.T) {
	ctx := context.Background()
	c1, err := redis.Connect(ctx, testURL())
	if err != nil {
		t.Fatalf("Redis at %s is not reachable (set YIHAO_TEST_REDIS_URL): %v", testURL(), err)
	}
	defer c1.Close()
	c2, err := redis.Connect(ctx, testURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	prefix := "yihao-test:" + rand.Text() + ":"
	rate := limit.PerMinute(60, 4)
	a, b := redis.NewLimiter(testCommands(t, c1), prefix, rate), redis.NewLimiter(testCommands(t, c2), prefix, rate)
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, wait, err := l.Allow(ctx, "ip:127.0.0.1")
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				allowed.Add(1)
			} else if wait <= 0 {
				t.Errorf("refused with no wait")
			}
		}()
	}
	wg.Wait()
	// Same meaning as the in-process limiter: burst plus the first event.
	if allowed.Load() != 5 {
		t.Fatalf("allowed %d of 20 across two instances, want 5", allowed.Load())
	}
	if ok, _, _ := a.Allow(ctx, "ip:10.0.0.1"); !ok {
		t.Error("another key was limited")
	}
	c1.Del(ctx, "rate:"+prefix+"ip:127.0.0.1", "rate:"+prefix+"ip:10.0.0.1") // redis_rate keys
}
