package redis_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yihao-city/yihao/channels/hotline/acd"
	"github.com/yihao-city/yihao/channels/hotline/acd/acdtest"
	"github.com/yihao-city/yihao/redis"
)

// testClient connects to the test Redis, closed when t ends.
func testClient(t *testing.T) *goredis.Client {
	t.Helper()
	c, err := redis.Connect(context.Background(), testURL())
	if err != nil {
		t.Fatalf("Redis at %s is not reachable (set YIHAO_TEST_REDIS_URL): %v", testURL(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testPrefix is a fresh key prefix whose keys are deleted when t ends.
func testPrefix(t *testing.T, c *goredis.Client) string {
	t.Helper()
	prefix := "yihao-test:" + rand.Text() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("clean up %s: %v", prefix, err)
		}
	})
	return prefix
}

func TestPresence(t *testing.T) {
	acdtest.Run(t, func(t *testing.T, s acd.Strategy) acd.Presence {
		c := testClient(t)
		return redis.NewPresence(c, testPrefix(t, c), s)
	})
}

// Two instances, each with its own connection, claim from one pool of
// agents at once: each agent is given exactly one call.
func TestPresenceSharedAcrossInstances(t *testing.T) {
	const agents, claims = 20, 200
	ctx := context.Background()
	c1, c2 := testClient(t), testClient(t)
	prefix := testPrefix(t, c1)
	a, b := redis.NewPresence(c1, prefix, acd.LongestIdle), redis.NewPresence(c2, prefix, acd.LongestIdle)
	t0 := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	for i := range agents {
		p := a
		if i%2 == 1 {
			p = b
		}
		ext := fmt.Sprint(2001 + i)
		if err := p.Register(ctx, acd.Binding{Agent: ext, Contact: "sip:" + ext + "@10.0.0.1", Source: "10.0.0.1:5060",
			Transport: "udp", Expires: t0.Add(time.Hour)}, nil, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(time.Minute)
	var (
		mu    sync.Mutex
		given = map[string]string{} // agent -> call
		wg    sync.WaitGroup
	)
	for i := range claims {
		p := a
		if i%2 == 1 {
			p = b
		}
		wg.Go(func() {
			call := fmt.Sprint("call-", i)
			bd, ok, err := p.Claim(ctx, "", call, now)
			if err != nil {
				t.Error(err)
				return
			}
			if !ok {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if other, dup := given[bd.Agent]; dup {
				t.Errorf("%s given %s and %s", bd.Agent, other, call)
			}
			given[bd.Agent] = call
		})
	}
	wg.Wait()
	if len(given) != agents {
		t.Fatalf("%d agents given a call, want all %d", len(given), agents)
	}
	for agent, call := range given {
		s, err := b.Status(ctx, agent, now)
		if err != nil {
			t.Fatal(err)
		}
		if s.State != acd.OnCall || s.CallID != call {
			t.Errorf("%s is %s on %q, want on_call on %s", agent, s.State, s.CallID, call)
		}
	}
}
