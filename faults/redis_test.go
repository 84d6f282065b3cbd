package faults

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yihao-city/yihao/channels/hotline/sipptest"
)

// redisDown is how long stop-redis keeps Redis away.
const redisDown = 3 * time.Second

// stopRedis: Redis stops (a shutdown; it keeps nothing, as the suite runs
// it without persistence) for redisDown while reports stream in, then
// starts again on its port. Redis holds only shared state (rate limits,
// WeChat's retry coordination and conversations, presence, screen pops);
// the tickets are in PostgreSQL, so every door must keep taking reports
// throughout, and the instances must be ready again on their own.
// /readyz checks Redis too: what it answers meanwhile is recorded.
func (cl *cluster) stopRedis(t *testing.T) {
	const fault = "stop-redis"
	ctx, cancel := context.WithTimeout(t.Context(), faultLimit)
	defer cancel()
	restarted := false
	defer func() {
		if !restarted {
			if err := cl.redis.start(); err != nil {
				t.Errorf("redis start: %v", err)
			}
		}
	}()
	// The agents' phones registered before: Redis holds their presence.
	phones := cl.registerPhones(t, [2]string{cl.sip[0], cl.sip[1]})
	before, err := cl.redisKeys(ctx)
	if err != nil {
		t.Errorf("redis keys: %v", err)
	}
	l := cl.startLoad(ctx, t, fault, 4)
	defer l.finish()

	l.until(ctx, 2*time.Second)
	if err := cl.redis.stop(); err != nil {
		t.Errorf("redis stop: %v", err)
	}
	down := time.Now()
	t.Logf("%s: redis stopped", l.at())
	watch := cl.watchReady(ctx, 250*time.Millisecond)
	l.until(ctx, 2*time.Second+redisDown)
	if err := cl.redis.start(); err != nil {
		t.Fatalf("redis start on :%d: %v", cl.redis.Port, err)
	}
	restarted = true
	up := time.Now()
	during := watch()
	t.Logf("%s: redis started again on :%d after %v away", l.at(), cl.redis.Port, up.Sub(down).Round(time.Millisecond))

	// Ready again with nobody's help, and how soon.
	var again []string
	for _, in := range cl.instances {
		if err := in.WaitReady(settleFor); err != nil {
			t.Errorf("%s not ready again after redis came back: %v", in.Name, err)
			again = append(again, in.Name+":never")
			continue
		}
		again = append(again, fmt.Sprintf("%s:%v", in.Name, time.Since(up).Round(10*time.Millisecond)))
	}
	// Shared state written since the restart, while the load still runs
	// (the rate limiter's keys live only seconds).
	const sampleAt = faultLoad - 500*time.Millisecond
	l.until(ctx, sampleAt)
	fresh, err := cl.redisKeys(ctx)
	if err != nil {
		t.Errorf("redis keys: %v", err)
	}
	l.until(ctx, faultLoad)
	if err := l.finish(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: load stopped, every delivery finished", l.at())
	line := fmt.Sprintf("fault=%s check=readyz redis_down=%v during=%s ready_again=%s",
		fault, up.Sub(down).Round(10*time.Millisecond), formatReady(during), strings.Join(again, ","))
	t.Log(line)
	fmt.Println(line)
	// Nothing is to be refused: Redis is not where reports are kept.
	cl.settle(ctx, t, l, nil, nil)

	// The instances use the new Redis again: the load after the restart
	// left its keys there.
	t.Logf("keys in redis before the fault: %s; %v after it came back empty: %s",
		formatAnswers(before), sampleAt-2*time.Second-redisDown, formatAnswers(fresh))
	for _, want := range []string{"wechat:seen", "wechat:conv"} {
		if fresh[want] == 0 {
			t.Errorf("no %q keys in redis after the restart: the instances do not use it again", want)
		}
	}

	// The phone door afterwards. The agents' registrations were in Redis
	// alone, and this Redis came back with nothing (as would a failover to
	// an empty replica); phones register again only at their Expires (up
	// to ten minutes). Each instance's acd.Keeper puts the agents back within
	// a round or two, so calls are answered again with nobody's help.
	if phones != nil {
		restoredIn, keys := time.Duration(-1), map[string]int{}
		for start := time.Now(); time.Since(start) < settleFor; time.Sleep(100 * time.Millisecond) {
			if keys, err = cl.redisKeys(ctx); err == nil && keys["acd"] >= before["acd"] {
				restoredIn = time.Since(up)
				break
			}
		}
		if restoredIn < 0 {
			t.Errorf("the agents' presence was not put back within %v of redis's return: %d keys, had %d", settleFor, keys["acd"], before["acd"])
		}
		const calls = 6
		caller, since := callerNumber(), time.Now().Add(-time.Second)
		res := sipptest.Run(t, "caller_uac.xml", cl.sip[1], "-s", "12345", "-set", "caller", caller,
			"-d", strconv.Itoa(int(sipTalk/time.Millisecond)), "-m", strconv.Itoa(calls), "-r", strconv.Itoa(calls),
			"-i", "127.0.0.1", "-t", "u1", "-timeout", "30s")
		causes, err := cl.callCauses(ctx, caller, since)
		if err != nil {
			t.Errorf("calls: %v", err)
		}
		line := fmt.Sprintf("fault=%s channel=sip agents_registered_before=%d agent_keys_before=%d agent_keys_after=%d restored_seen_after=%v calls_after=%d answered_after=%d failed_after=%d causes=%s",
			fault, sipAgents, before["acd"], keys["acd"], restoredIn.Round(10*time.Millisecond), res.Created, res.Successful, res.Failed, formatAnswers(causes))
		t.Log(line)
		fmt.Println(line)
		if res.Successful != calls || causes["answered"] != calls {
			t.Errorf("after redis came back empty, %d of %d calls answered (sipp), %d in the call log: the agents were not put back", res.Successful, calls, causes["answered"])
		}
	}
}

// watchReady polls every instance's /readyz every interval until the
// returned func is called; that returns the answers seen, by instance.
func (cl *cluster) watchReady(ctx context.Context, interval time.Duration) func() map[string]map[string]int {
	ctx, cancel := context.WithCancel(ctx)
	seen := map[string]map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, in := range cl.instances {
		seen[in.Name] = map[string]int{}
		wg.Go(func() {
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for ctx.Err() == nil {
				pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
				err := in.Ready(pctx)
				pcancel()
				kind := "200"
				switch {
				case ctx.Err() != nil:
					return
				case err == nil:
				case strings.HasPrefix(err.Error(), "readyz: "):
					kind = strings.Fields(err.Error())[1]
				default:
					kind = transportKind(err)
				}
				mu.Lock()
				seen[in.Name][kind]++
				mu.Unlock()
				select {
				case <-ctx.Done():
				case <-tick.C:
				}
			}
		})
	}
	return func() map[string]map[string]int {
		cancel()
		wg.Wait()
		return seen
	}
}

// formatReady is "instance=answer:count/...,..." in a stable order.
func formatReady(m map[string]map[string]int) string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, n+":"+strings.ReplaceAll(formatAnswers(m[n]), ",", "/"))
	}
	return strings.Join(parts, ",")
}

// redisKeys counts the keys in the suite's Redis by kind: "intake" (the
// web door's rate limit), "wechat:seen", "wechat:rate" and so on (the
// rate limiter's keys carry its own "rate:" prefix before Yihao's).
func (cl *cluster) redisKeys(ctx context.Context) (map[string]int, error) {
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", cl.redis.Port)})
	defer c.Close()
	out := map[string]int{}
	iter := c.Scan(ctx, 0, "*", 500).Iterator()
	for iter.Next(ctx) {
		k := strings.TrimPrefix(strings.TrimPrefix(iter.Val(), "rate:"), "yihao:")
		parts := strings.SplitN(k, ":", 3)
		kind := parts[0]
		if kind == "wechat" && len(parts) > 1 {
			kind += ":" + parts[1]
		}
		out[kind]++
	}
	return out, iter.Err()
}
