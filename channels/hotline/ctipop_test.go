package hotline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/yihao-city/yihao/channels/hotline"
	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing"
)

// A PBX's CTI events feed the same screen pops as the SIP proxy: the
// agent named by newCall or answer sees the call with the caller's earlier
// tickets, and the hangup closes it; ended calls count in the hotline series.
func TestCTIEventsPopUp(t *testing.T) {
	store := sqliteStore(t)
	e := newEnv(t, store)
	svc := ticketing.NewService(store, triage{})
	if _, _, err := svc.Submit(context.Background(), ticketing.Report{Channel: ticketing.ChannelWeb, Text: "小区门口路灯不亮",
		Reporter: ticketing.Contact{Phone: "139 1234 5678"}}); err != nil {
		t.Fatal(err)
	}
	lines, err := hotline.NewLines(demoLines, "86")
	if err != nil {
		t.Fatal(err)
	}
	bus := pubsub.NewMemory()
	reg := prometheus.NewRegistry()
	h := hotline.New(hotline.Config{Now: e.clock, Pops: bus, Lines: lines, Earlier: store, Calls: hotline.NewSIPMetrics(reg)}, store, nil, nil)
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	e.srv = srv

	msgs, cancel, err := bus.Subscribe(context.Background(), hotline.AgentTopic("2001"))
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	next := func(want string) hotline.Pop {
		t.Helper()
		select {
		case b := <-msgs:
			var p hotline.Pop
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			if p.Kind != want {
				t.Fatalf("pop %q, want %q", p.Kind, want)
			}
			return p
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s pop", want)
		}
		return hotline.Pop{}
	}
	cti := e.tokens[ticketing.RoleCTI]
	post := func(body map[string]string) {
		t.Helper()
		if code, out := e.postJSON(t, cti, body); code != 200 {
			t.Fatalf("%v: %d %v", body, code, out)
		}
	}
	post(map[string]string{"event": "newCall", "callId": "pbx-1", "from": "13912345678", "to": "12319", "direction": "in", "user": "2001"})
	p := next(hotline.PopRinging)
	if p.Caller != "+8613912345678" || p.LineLabel != "12319 城建服务热线" || len(p.Earlier) != 1 || !strings.Contains(p.Earlier[0].Summary, "路灯") {
		t.Fatalf("ringing pop: %+v", p)
	}
	e.set(t0.Add(5 * time.Second))
	post(map[string]string{"event": "answer", "callId": "pbx-1", "answeringNumber": "2001"})
	next(hotline.PopAnswered)
	e.set(t0.Add(65 * time.Second))
	post(map[string]string{"event": "hangup", "callId": "pbx-1", "cause": "normalClearing"})
	if p := next(hotline.PopEnded); p.Agent != "2001" || p.CallID != "pbx-1" {
		t.Fatalf("ended pop: %+v", p)
	}
	// The hangup again (a PBX retry, a moment later) counts nothing twice.
	e.set(t0.Add(66 * time.Second))
	post(map[string]string{"event": "hangup", "callId": "pbx-1", "cause": "normalClearing"})
	if n := counterValue(t, reg, "yihao_hotline_calls_total"); n != 1 {
		t.Fatalf("calls counted %v times", n)
	}
}

// counterValue is the value of a counter's single series.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no single series %s", name)
	return 0
}

// A caller who has reported more this year than the listing holds still
// pops up with the latest tickets, newest first: the listing keeps the
// latest, not the year's first.
func TestEarlierTicketsOfAFrequentCaller(t *testing.T) {
	for _, st := range bothStores {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			svc := ticketing.NewService(store, triage{})
			ctx := context.Background()
			start := time.Now().Add(-300 * time.Hour)
			var numbers []string
			for i := range 205 {
				tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelPhone, Text: fmt.Sprintf("第%d次反映：楼道灯不亮", i),
					Reporter: ticketing.Contact{Phone: "+8613900000042"}, ReceivedAt: start.Add(time.Duration(i) * time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
				numbers = append(numbers, tk.Number)
			}
			got := hotline.EarlierTickets(ctx, store, "+8613900000042", "86", 5)
			var gotNumbers []string
			for _, e := range got {
				gotNumbers = append(gotNumbers, e.Number)
			}
			want := []string{numbers[204], numbers[203], numbers[202], numbers[201], numbers[200]}
			if strings.Join(gotNumbers, " ") != strings.Join(want, " ") {
				t.Errorf("earlier tickets %v, want the latest five, newest first: %v", gotNumbers, want)
			}
		})
	}
}

// BenchmarkEarlierTickets is the screen pop's lookup on every call: a
// caller's tickets of the last year by any spelling of the number, among
// 2,000 citizens' tickets (3 of them the caller's), 8 goroutines. "batch"
// is the SIP pop relay's: 32 callers' lookups in one query, timed per
// caller.
func BenchmarkEarlierTickets(b *testing.B) {
	for _, st := range bothStores {
		b.Run(st.name, func(b *testing.B) {
			store := st.open(b)
			svc := ticketing.NewService(store, triage{})
			ctx := context.Background()
			for i := range 2000 {
				phone := fmt.Sprintf("139%08d", i%667)
				if _, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, Text: "小区门口路灯不亮",
					Reporter: ticketing.Contact{Phone: phone}}); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("one", func(b *testing.B) {
				b.SetParallelism(4)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if got := hotline.EarlierTickets(ctx, store, "+8613900000042", "86", 5); len(got) != 3 {
							b.Fatalf("%d earlier tickets, want 3", len(got))
						}
					}
				})
			})
			b.Run("batch", func(b *testing.B) {
				callers := make([]string, 32)
				for i := range callers {
					callers[i] = fmt.Sprintf("+86139%08d", 42+i)
				}
				b.ReportAllocs()
				for b.Loop() {
					if got, err := hotline.EarlierOf(ctx, store, callers, "86", 5); err != nil || len(got) != 32 || len(got[callers[0]]) != 3 {
						b.Fatalf("earlier tickets of %d callers (%d of the first), want 32 (3): %v", len(got), len(got[callers[0]]), err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(callers)), "ns/caller")
			})
		})
	}
}
