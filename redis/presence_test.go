package redis_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
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

// testCommands is c's commands as every instance sends them
// (redis.Commands).
func testCommands(t *testing.T, c *goredis.Client) goredis.Cmdable {
	t.Helper()
	cmds, err := redis.Commands(c)
	if err != nil {
		t.Fatal(err)
	}
	return cmds
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
		return redis.NewPresence(testCommands(t, c), testPrefix(t, c), s)
	})
}

// Two instances, each with its own connection, claim from one pool of
// agents at once: each agent is given exactly one call.
func TestPresenceSharedAcrossInstances(t *testing.T) {
	const agents, claims = 20, 200
	ctx := context.Background()
	c1, c2 := testClient(t), testClient(t)
	prefix := testPrefix(t, c1)
	a, b := redis.NewPresence(testCommands(t, c1), prefix, acd.LongestIdle), redis.NewPresence(testCommands(t, c2), prefix, acd.LongestIdle)
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
			bd, ok, err := p.Claim(ctx, "", call, time.Time{}, now)
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

// switchable is the presence an instance sees: the test Redis, or, while
// down is set, a Redis that is not there (nothing listens on its port).
type switchable struct {
	up, away *redis.Presence
	down     bool
}

func (s *switchable) p() *redis.Presence {
	if s.down {
		return s.away
	}
	return s.up
}

func (s *switchable) Register(ctx context.Context, b acd.Binding, skills []string, now time.Time) error {
	return s.p().Register(ctx, b, skills, now)
}
func (s *switchable) Unregister(ctx context.Context, agent string, now time.Time) error {
	return s.p().Unregister(ctx, agent, now)
}
func (s *switchable) SetState(ctx context.Context, agent string, st acd.State, now time.Time) error {
	return s.p().SetState(ctx, agent, st, now)
}
func (s *switchable) Claim(ctx context.Context, skill, callID string, hold, now time.Time) (acd.Binding, bool, error) {
	return s.p().Claim(ctx, skill, callID, hold, now)
}
func (s *switchable) ClaimMany(ctx context.Context, skill string, callIDs []string, hold, now time.Time) ([]acd.Binding, error) {
	return s.p().ClaimMany(ctx, skill, callIDs, hold, now)
}
func (s *switchable) Hold(ctx context.Context, agent, callID string, until, now time.Time) error {
	return s.p().Hold(ctx, agent, callID, until, now)
}
func (s *switchable) Release(ctx context.Context, agent, callID string, readyAt, now time.Time) error {
	return s.p().Release(ctx, agent, callID, readyAt, now)
}
func (s *switchable) Status(ctx context.Context, agent string, now time.Time) (acd.Status, error) {
	return s.p().Status(ctx, agent, now)
}
func (s *switchable) Agents(ctx context.Context, now time.Time) ([]acd.Status, error) {
	return s.p().Agents(ctx, now)
}
func (s *switchable) Restore(ctx context.Context, st acd.Status, now time.Time) (bool, error) {
	return s.p().Restore(ctx, st, now)
}

// Redis goes away and comes back empty: the keeper puts every registered
// agent back as it was (available, on a call, in wrap-up, on break, with
// skills), leaves the unregistered one out, and the release that failed
// while Redis was away takes once it is back.
func TestKeeperRestoresLostAgents(t *testing.T) {
	ctx := context.Background()
	c := testClient(t)
	prefix := testPrefix(t, c)
	dead := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })
	s := &switchable{up: redis.NewPresence(testCommands(t, c), prefix, acd.LongestIdle), away: redis.NewPresence(testCommands(t, dead), prefix, acd.LongestIdle)}
	k := acd.NewKeeper(s, slog.New(slog.DiscardHandler))

	t0 := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	reg := func(ext string, now time.Time, skills ...string) {
		t.Helper()
		if err := s.Register(ctx, acd.Binding{Agent: ext, Contact: "sip:" + ext + "@10.0.0.7:5062", Source: "10.0.0.7:5062",
			Transport: "udp", Expires: t0.Add(time.Hour)}, skills, now); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(skill, call string, now time.Time, want string) {
		t.Helper()
		b, ok, err := s.Claim(ctx, skill, call, time.Time{}, now)
		if err != nil || !ok || b.Agent != want {
			t.Fatalf("claim %s: %s %v %v, want %s", call, b.Agent, ok, err, want)
		}
	}
	reg("2001", at(0))
	reg("2002", at(1))
	reg("2003", at(2))
	reg("2004", at(3), "110")
	reg("2005", at(4))
	claim("", "call-1", at(10), "2001")
	claim("", "call-2", at(11), "2002")
	if err := s.Release(ctx, "2002", "call-2", at(100), at(12)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetState(ctx, "2003", acd.Break, at(13)); err != nil {
		t.Fatal(err)
	}
	if err := s.Unregister(ctx, "2005", at(14)); err != nil {
		t.Fatal(err)
	}
	before, err := s.Agents(ctx, at(20))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := k.Round(ctx, at(20)); err != nil || n != 0 {
		t.Fatalf("first round: %d restored, %v", n, err)
	}

	// Redis goes away: 2001's call ends meanwhile and its release fails.
	s.down = true
	if err := k.Release(ctx, "2001", "call-1", at(25), at(25)); err == nil {
		t.Fatal("release with redis away: no error")
	}
	if _, err := k.Round(ctx, at(26)); err == nil {
		t.Fatal("round with redis away: no error")
	}
	// It comes back empty.
	iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
	s.down = false
	if _, err := s.Status(ctx, "2003", at(30)); err != acd.ErrUnknownAgent {
		t.Fatalf("2003 after the loss: %v, want unknown", err)
	}

	n, err := k.Round(ctx, at(30))
	if err != nil || n != 4 {
		t.Fatalf("round after the loss: %d restored, %v; want the 4 registered agents", n, err)
	}
	for _, b := range before {
		got, err := s.Status(ctx, b.Agent, at(30))
		switch {
		case b.Agent == "2005":
			if err != acd.ErrUnknownAgent {
				t.Errorf("2005 (unregistered) after the round: %+v %v, want not put back", got, err)
			}
		case err != nil:
			t.Errorf("%s: %v", b.Agent, err)
		case b.Agent == "2001":
			// the retried release: its call is over, and wrap-up ended at 25 s
			if got.State != acd.Available {
				t.Errorf("2001 is %s after the retried release, want available", got.State)
			}
		case !sameStatus(got, b):
			t.Errorf("%s put back as %+v, want %+v", b.Agent, got, b)
		}
	}
	// The put-back agents are in the ACD's sets: the longest idle agent
	// with skill 110 is 2004, available since 3 s.
	claim("110", "call-3", at(31), "2004")
	if ok, err := s.Restore(ctx, before[2], at(32)); ok || err != nil {
		t.Errorf("restoring a known agent: %v %v, want nothing done", ok, err)
	}
	if n, err := k.Round(ctx, at(33)); err != nil || n != 0 {
		t.Errorf("a round with nothing lost: %d restored, %v", n, err)
	}
}

// sameStatus compares what an instance sees of an agent.
func sameStatus(a, b acd.Status) bool {
	return a.Agent == b.Agent && a.State == b.State && a.Since.Equal(b.Since) && a.ReadyAt.Equal(b.ReadyAt) &&
		a.CallID == b.CallID && a.HoldUntil.Equal(b.HoldUntil) && fmt.Sprint(a.Skills) == fmt.Sprint(b.Skills) && fmt.Sprint(a.Binding) == fmt.Sprint(b.Binding)
}
