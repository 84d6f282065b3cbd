package hotline_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yihao-city/yihao/channels/hotline"
	"github.com/yihao-city/yihao/channels/hotline/acd"
	"github.com/yihao-city/yihao/channels/hotline/sipptest"
	"github.com/yihao-city/yihao/redis"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
)

func redisURL() string {
	if u := os.Getenv("YIHAO_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// redisClient is a fresh connection to the test Redis; keys under the
// returned prefix are deleted when t ends.
func redisClient(t *testing.T, prefix string) *goredis.Client {
	t.Helper()
	c, err := redis.Connect(context.Background(), redisURL())
	if err != nil {
		t.Fatalf("Redis at %s is not reachable (set YIHAO_TEST_REDIS_URL): %v", redisURL(), err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		c.Close()
	})
	return c
}

// Two instances behind nothing but their shared PostgreSQL and Redis: 20
// agents registered half through each, 200 calls at once, half to each.
// Every call is answered exactly once, and no agent ever has two calls at
// a time: per agent, the answered intervals in the call log never overlap.
func TestTwoInstancesShareAgents(t *testing.T) {
	url := pgtest.SchemaURL(t)
	prefix := "yihao-test:" + rand.Text() + ":"
	var envs [2]*sipEnv
	for i := range envs {
		store, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(store.Close)
		rdb := redisClient(t, prefix)
		envs[i] = newSIPEnv(t, store, redis.NewPresence(rdb, prefix+"acd:", acd.LongestIdle), redis.NewBus(rdb, prefix+"live:"),
			hotline.SIPConfig{QueueWait: time.Minute})
	}
	var agents []string
	for i := range 20 {
		agents = append(agents, strconv.Itoa(3001+i))
	}
	envs[0].addAgents(t, agents...)
	port := sipptest.FreePort(t)
	envs[0].register(t, "udp", port, agents[:10]...)
	envs[1].register(t, "udp", port, agents[10:]...)
	uas := sipptest.Start(t, "agent_uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "u1")

	var wg sync.WaitGroup
	results := make([]sipptest.Result, 2)
	// 50 calls/s each: the test is about sharing agents, not throughput
	// (testdata/sipp/bench.sh measures that); bursts of 200/s on two busy
	// cores, with other packages' tests running, now and then lost a UDP
	// packet past sipp's retransmissions.
	for i, e := range envs {
		wg.Go(func() {
			results[i] = sipptest.Run(t, "caller_uac.xml", e.addr, "-s", "12345", "-d", "500",
				"-m", "100", "-l", "100", "-r", "50", "-i", "127.0.0.1", "-t", "un", "-timeout", "120s")
		})
	}
	wg.Wait()
	for i, res := range results {
		if res.Successful != 100 || res.Failed != 0 {
			t.Fatalf("callers of instance %d: %s", i, res)
		}
	}
	byAgent := answeredOnce(t, envs[0].waitCalls(t, 200), agents)
	if len(byAgent) < 15 {
		t.Errorf("only %d of 20 agents took calls", len(byAgent))
	}
	if res := uas.Stop(); res.Successful != 200 {
		t.Errorf("agents' phones: %s", res)
	}
	t.Logf("200 calls over two instances, %d agents, calls per agent: %v", len(byAgent), perAgent(byAgent))
}

// answeredOnce checks that every call was answered by one of agents and
// that no agent ever had two calls at a time (per agent, the answered
// intervals in the call log never overlap); it returns the calls by agent.
func answeredOnce(t *testing.T, cs map[string]*ticketing.Call, agents []string) map[string][]*ticketing.Call {
	t.Helper()
	byAgent := map[string][]*ticketing.Call{}
	for id, c := range cs {
		if c.Cause != ticketing.CauseAnswered {
			t.Fatalf("call %s: cause %q", id, c.Cause)
		}
		byAgent[c.Agent] = append(byAgent[c.Agent], c)
	}
	for a, calls := range byAgent {
		if !slices.Contains(agents, a) {
			t.Fatalf("call answered by %q, not one of the agents", a)
		}
		slices.SortFunc(calls, func(x, y *ticketing.Call) int { return cmp.Compare(x.AnsweredAt.UnixMicro(), y.AnsweredAt.UnixMicro()) })
		for i := 1; i < len(calls); i++ {
			if calls[i].AnsweredAt.Before(calls[i-1].EndedAt) {
				t.Fatalf("agent %s double-booked: call %s answered at %v before call %s ended at %v",
					a, calls[i].CallID, calls[i].AnsweredAt, calls[i-1].CallID, calls[i-1].EndedAt)
			}
		}
	}
	return byAgent
}

// Many callers at once and few agents: the head of the line claims agents
// for the callers behind it, in one go, as agents come free. Every caller
// is answered once, no agent has two calls, the callers who waited for an
// agent were told so (182 Queued), and nobody is left waiting. In one
// process (acd.Memory) and through Redis.
func TestLineHandsOverAgents(t *testing.T) {
	for _, name := range []string{"memory", "redis"} {
		t.Run(name, func(t *testing.T) {
			var presence acd.Presence
			if name == "redis" {
				prefix := "yihao-test:" + rand.Text() + ":"
				presence = redis.NewPresence(redisClient(t, prefix), prefix+"acd:", acd.LongestIdle)
			}
			e := newSIPEnv(t, sqliteStore(t), presence, nil, hotline.SIPConfig{QueueWait: time.Minute})
			agents := []string{"2001", "2002", "2003", "2004", "2005"}
			e.addAgents(t, agents...)
			port := sipptest.FreePort(t)
			e.register(t, "udp", port, agents...)
			uas := sipptest.Start(t, "agent_uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "u1")
			// 60 callers within a fifth of a second, each talking 0.2 s.
			res := sipptest.Run(t, "caller_uac.xml", e.addr, "-s", "12345", "-d", "200",
				"-m", "60", "-l", "60", "-r", "300", "-i", "127.0.0.1", "-t", "un", "-timeout", "60s")
			if res.Successful != 60 || res.Failed != 0 {
				t.Fatalf("callers: %s", res)
			}
			byAgent := answeredOnce(t, e.waitCalls(t, 60), agents)
			if res := uas.Stop(); res.Successful != 60 {
				t.Errorf("agents' phones: %s", res)
			}
			if q := e.metric(t, "yihao_hotline_queued_calls"); q != 0 {
				t.Errorf("%v callers still counted in line", q)
			}
			// The first five find an agent free; most of the rest wait. Only
			// a caller who waited hears 182, not one waiting a moment for
			// the claim ahead of it.
			queued := e.metric(t, "yihao_sip_responses_total", "method", "INVITE", "code", "182")
			if queued < 30 || queued > 55 {
				t.Errorf("%v callers told 182 Queued, want most of the 55 who waited", queued)
			}
			for _, a := range agents {
				st, err := e.presence.Status(context.Background(), a, time.Now())
				if err != nil || st.State != acd.Available {
					t.Errorf("agent %s after the calls: %v %v", a, st.State, err)
				}
			}
			t.Logf("calls per agent: %v; %v callers told 182 Queued", perAgent(byAgent), queued)
		})
	}
}

func perAgent(m map[string][]*ticketing.Call) map[string]int {
	out := map[string]int{}
	for a, cs := range m {
		out[a] = len(cs)
	}
	return out
}

// An instance that dies mid-call stops renewing the call's hold on its
// agent: the other instance sees the agent free HoldFor later and gives
// it the next call, where without the hold the agent would stay on the
// dead instance's call for good.
func TestDeadInstanceFreesItsAgent(t *testing.T) {
	const holdFor = 3 * time.Second
	ctx := context.Background()
	url := pgtest.SchemaURL(t)
	prefix := "yihao-test:" + rand.Text() + ":"
	var envs [2]*sipEnv
	for i := range envs {
		store, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(store.Close)
		rdb := redisClient(t, prefix)
		envs[i] = newSIPEnv(t, store, redis.NewPresence(rdb, prefix+"acd:", acd.LongestIdle), redis.NewBus(rdb, prefix+"live:"),
			hotline.SIPConfig{RingTimeout: 2 * time.Second, HoldFor: holdFor})
	}
	a, b := envs[0], envs[1]
	a.addAgents(t, "2001")
	port := sipptest.FreePort(t)
	a.register(t, "udp", port, "2001")
	sipptest.Start(t, "agent_uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "u1")
	sipptest.Start(t, "caller_uac.xml", a.addr, "-s", "12345", "-d", "60000", "-m", "1", "-i", "127.0.0.1", "-t", "u1")

	status := func() acd.Status {
		t.Helper()
		st, err := b.presence.Status(ctx, "2001", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	var first acd.Status
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if first = status(); first.State == acd.OnCall && answeredCalls(t, a) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the call was not answered: agent %s", first.State)
		}
	}
	// While instance a lives, it renews the hold past its first lapse.
	time.Sleep(holdFor + time.Second)
	if st := status(); st.State != acd.OnCall || st.CallID != first.CallID || !st.HoldUntil.After(first.HoldUntil) {
		t.Fatalf("mid-call, after %v: %s on %q held until %s; want still on %q, held beyond %s",
			holdFor+time.Second, st.State, st.CallID, st.HoldUntil, first.CallID, first.HoldUntil)
	}

	// Instance a dies: no BYE will be handled, no hold renewed.
	a.sip.Close()
	var st acd.Status
	for deadline := time.Now().Add(holdFor + 3*time.Second); ; time.Sleep(100 * time.Millisecond) {
		if st = status(); st.State == acd.Available {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent still %s on %q %v after its instance died", st.State, st.CallID, holdFor+3*time.Second)
		}
	}
	res := sipptest.Run(t, "caller_uac.xml", b.addr, "-s", "12345", "-d", "300", "-m", "1", "-i", "127.0.0.1", "-t", "u1", "-timeout", "20s")
	if res.Successful != 1 {
		t.Fatalf("the next call, through instance b: %s", res)
	}
	if got := answeredCalls(t, b); got < 2 {
		t.Errorf("%d answered calls in the shared log, want both", got)
	}
}
