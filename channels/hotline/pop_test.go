package hotline_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/hotline"
	"github.com/yihao-city/yihao/channels/hotline/acd"
	"github.com/yihao-city/yihao/channels/hotline/sipptest"
	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/redis"
	"github.com/yihao-city/yihao/ticketing"
)

// Calls through the proxy pop up on the answering agent's desk: ringing,
// answered, ended, in that order for every call, the first two with the
// caller's earlier tickets (newest first, whichever spelling of the number
// the web form stored) and nothing of another caller's. The relay looks up
// and publishes many calls' pops at once; each call's pops keep their
// order. On the embedded store over the in-process bus, and on PostgreSQL
// over Redis.
func TestSIPCallsPopUp(t *testing.T) {
	for _, st := range bothStores {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			var presence acd.Presence
			var bus pubsub.Bus
			if st.name == "postgres" {
				prefix := "yihao-test:" + rand.Text() + ":"
				rdb := redisClient(t, prefix)
				presence, bus = redis.NewPresence(rdb, prefix+"acd:", acd.LongestIdle), redis.NewBus(rdb, prefix+"live:")
			}
			e := newSIPEnv(t, store, presence, bus, hotline.SIPConfig{})
			ctx := context.Background()
			var earlier []string
			for i, text := range []string{"小区门口路灯不亮", "楼道堆放杂物"} {
				tk, _, err := e.svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, Text: text,
					Reporter: ticketing.Contact{Phone: "13800130000"}, ReceivedAt: time.Now().Add(time.Duration(i-48) * time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
				earlier = append([]string{tk.Number}, earlier...) // newest first
			}

			agents := []string{"2001", "2002", "2003"}
			e.addAgents(t, agents...)
			pops := make(chan []byte, 256)
			for _, a := range agents {
				msgs, cancel, err := e.bus.Subscribe(ctx, hotline.AgentTopic(a))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(cancel)
				go func() {
					for m := range msgs {
						pops <- m
					}
				}()
			}
			port := sipptest.FreePort(t)
			e.register(t, "udp", port, agents...)
			uas := sipptest.Start(t, "agent_uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "u1", "-d", "100")
			for i := range 2 {
				res := sipptest.Run(t, "caller_uac.xml", e.addr, "-s", "12319", "-set", "caller", fmt.Sprintf("1380013%04d", i), "-d", "100",
					"-m", "6", "-r", "20", "-i", "127.0.0.1", "-t", "un", "-timeout", "30s")
				if res.Successful != 6 || res.Failed != 0 {
					t.Fatalf("caller %d: %s", i, res)
				}
			}
			if res := uas.Stop(); res.Successful != 12 || res.Failed != 0 {
				t.Fatalf("agents' phones: %s", res)
			}

			kinds := map[string][]string{} // by call
			ended := 0
			timeout := time.After(10 * time.Second)
			for ended < 12 {
				var p hotline.Pop
				select {
				case m := <-pops:
					if err := json.Unmarshal(m, &p); err != nil {
						t.Fatalf("pop %s: %v", m, err)
					}
				case <-timeout:
					t.Fatalf("%d calls' pops ended, want 12: %v", ended, kinds)
				}
				kinds[p.CallID] = append(kinds[p.CallID], p.Kind)
				var got []string
				for _, et := range p.Earlier {
					got = append(got, et.Number)
				}
				want := []string(nil)
				if p.Caller == "+8613800130000" && p.Kind != hotline.PopEnded {
					want = earlier
				}
				if fmt.Sprint(got) != fmt.Sprint(want) || p.LineLabel != "12319 城建服务热线" && p.Kind != hotline.PopEnded || !contains(agents, p.Agent) {
					t.Errorf("%s pop of %s from %s: earlier %v (want %v), line %q, agent %q", p.Kind, p.CallID, p.Caller, got, want, p.LineLabel, p.Agent)
				}
				if p.Kind == hotline.PopEnded {
					ended++
				}
			}
			if len(kinds) != 12 {
				t.Errorf("pops of %d calls, want 12", len(kinds))
			}
			for id, ks := range kinds {
				if fmt.Sprint(ks) != "[ringing answered ended]" {
					t.Errorf("call %s popped %v, want ringing, answered, ended", id, ks)
				}
			}
		})
	}
}
