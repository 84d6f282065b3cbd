package redis_test

import (
	"context"
	"crypto/rand"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// Two instances that give each citizen a small allowance before asking
// Redis (limit.LocalFirst, the WeChat door's limiter): a citizen's first
// messages leave nothing in Redis, and a flood across both instances gets
// the shared limit plus each instance's allowance, no more.
func TestLocalFirstAcrossInstances(t *testing.T) {
	ctx := context.Background()
	c := testClient(t)
	prefix := "yihao-test:" + rand.Text() + ":"
	shared := limit.PerMinute(20, 10)
	a := limit.NewLocalFirst(limit.PerMinute(3, 2), redis.NewLimiter(testCommands(t, c), prefix, shared), shared)
	b := limit.NewLocalFirst(limit.PerMinute(3, 2), redis.NewLimiter(testCommands(t, c), prefix, shared), shared)
	key := "rate:" + prefix + "oFlood"
	defer c.Del(ctx, key)
	allowed, start := 0, time.Now()
	for i := range 100 {
		l := a
		if i%2 == 1 {
			l = b
		}
		ok, _, err := l.Allow(ctx, "oFlood")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			allowed++
		}
		if i == 5 { // three at each instance: all from the allowances
			if n, err := c.Exists(ctx, key).Result(); err != nil || n != 0 {
				t.Fatalf("after six messages within the allowances Redis holds the citizen's key: %d, %v", n, err)
			}
		}
	}
	// The shared burst and first event (11), plus three at each instance;
	// and what the rates gave back meanwhile, on a machine slow enough
	// for it (one shared every 3 s, one at each instance every 20 s).
	want := 11 + 2*3
	took := time.Since(start)
	if allowed < want || allowed > want+int(took/(3*time.Second))+2*int(took/(20*time.Second)) {
		t.Fatalf("a flood across two instances got %d of 100 through in %v, want %d", allowed, took, want)
	}
}
