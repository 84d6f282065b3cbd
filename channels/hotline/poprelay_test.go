package hotline

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing/sqlite"
)

// A relay stopped with more pops queued than a batch publishes them all,
// and pops whose earlier tickets cannot be read (the store is gone) still
// go out, without them, in the order each call handed them over.
func TestPopRelayDrainsAndGoesWithoutTheStore(t *testing.T) {
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "yihao.db"))
	if err != nil {
		t.Fatal(err)
	}
	store.Close() // every lookup fails
	bus := pubsub.NewMemory()
	agents := []string{"2001", "2002", "2003"}
	got := make([]<-chan []byte, len(agents))
	for i, a := range agents {
		msgs, cancel, err := bus.Subscribe(context.Background(), AgentTopic(a))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cancel)
		got[i] = msgs
	}
	var dropped atomic.Int64
	r := newPopRelay(bus, store, "86", slog.New(slog.DiscardHandler), func() { dropped.Add(1) })
	const calls = 198 // 594 pops: more than two batches; 198 a topic, fewer than a subscriber holds
	states := make([]callEarlier, calls)
	for i := range calls {
		for _, kind := range []string{PopRinging, PopAnswered, PopEnded} {
			r.send(popRequest{Pop: Pop{Kind: kind, CallID: strconv.Itoa(i), Caller: "+8613800138000", Agent: agents[i%3], At: time.Now()},
				earlier: &states[i]})
		}
	}
	r.close()
	r.send(popRequest{Pop: Pop{Kind: PopRinging, CallID: "late", Agent: "2001"}}) // after the end: dropped, no panic

	kinds := map[string]string{}
	for i, msgs := range got {
		for range calls {
			select {
			case m := <-msgs:
				var p Pop
				if err := json.Unmarshal(m, &p); err != nil {
					t.Fatal(err)
				}
				if p.Agent != agents[i] || len(p.Earlier) != 0 {
					t.Errorf("pop %+v on %s's topic", p, agents[i])
				}
				kinds[p.CallID] += p.Kind[:1]
			case <-time.After(5 * time.Second):
				t.Fatalf("agent %s: %d pops in all, want %d", agents[i], len(kinds), calls*3)
			}
		}
	}
	if len(kinds) != calls {
		t.Errorf("pops of %d calls, want %d", len(kinds), calls)
	}
	for id, k := range kinds {
		if k != "rae" {
			t.Errorf("call %s popped %q, want ringing, answered, ended", id, k)
		}
	}
	if dropped.Load() != 0 {
		t.Errorf("%d pops dropped", dropped.Load())
	}
}
