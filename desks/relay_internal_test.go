package desks

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/sqlite"
)

// Two instances' relays on one database: the one holding the feed tells the
// desks of each change once; the other stays quiet until the holder's lease
// runs out unrenewed (its instance died), then takes over where the holder
// had got to.
func TestRelayTakesOverALapsedLease(t *testing.T) {
	ctx := context.Background()
	st, bus := relayStore(t), pubsub.NewMemory()
	heard, cancel, err := bus.Subscribe(ctx, TopicAll)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	relay := func() *Relay {
		r := NewRelay(st, bus, nil)
		r.now = func() time.Time { return now }
		if err := r.Register(ctx); err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := relay(), relay()
	if !a.leased || b.leased {
		t.Fatalf("leased: a %v, b %v; want a only", a.leased, b.leased)
	}
	svc := ticketing.NewService(st, triage{}, ticketing.WithClock(func() time.Time { return now }))
	submit := func(key string) string {
		tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: key, Text: "路灯不亮"})
		if err != nil {
			t.Fatal(err)
		}
		return tk.Number
	}
	// step runs one round of both relays and returns the numbers the desks heard.
	step := func() []string {
		t.Helper()
		for _, r := range []*Relay{b, a} {
			if _, err := r.relayOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		for {
			select {
			case m := <-heard:
				got = append(got, string(m))
			default:
				return got
			}
		}
	}
	first := submit("k1")
	if got := step(); len(got) != 1 || !strings.Contains(got[0], first) {
		t.Fatalf("desks heard %q, want %s once", got, first)
	}
	// Within the lease a renews it at half-time; b keeps out.
	now = now.Add(relayLease * 3 / 4)
	second := submit("k2")
	if got := step(); len(got) != 1 || !strings.Contains(got[0], second) {
		t.Fatalf("desks heard %q, want %s once", got, second)
	}
	// a stops; once its renewed lease has run out, b relays what followed.
	third := submit("k3")
	now = now.Add(relayLease + time.Second)
	if _, err := b.relayOnce(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-heard:
		if !strings.Contains(string(m), third) {
			t.Fatalf("after the takeover desks heard %s, want %s", m, third)
		}
	default:
		t.Fatalf("b did not take over the feed (leased %v)", b.leased)
	}
	// a, back, finds the feed taken and publishes nothing.
	submit("k4")
	if _, err := a.relayOnce(ctx); err != nil || a.leased {
		t.Fatalf("a after the takeover: leased %v, err %v", a.leased, err)
	}
	select {
	case m := <-heard:
		t.Fatalf("a published %s without the feed", m)
	default:
	}
}

// triage routes nothing: every report waits for a dispatcher.
type triage struct{}

func (triage) Route(context.Context, ticketing.Report) (ticketing.Assignment, error) {
	return ticketing.Assignment{Priority: ticketing.PriorityNormal}, nil
}

// A report taken by another door reaches the centres of the area it was
// placed in, whose desks listen on their area's topic alone.
func TestRelayTellsTheArea(t *testing.T) {
	ctx := context.Background()
	st, bus := relayStore(t), pubsub.NewMemory()
	r := NewRelay(st, bus, nil)
	if err := r.Register(ctx); err != nil {
		t.Fatal(err)
	}
	var heard []<-chan []byte
	for _, topic := range []string{AreaTopic("110105"), AreaTopic("110105001"), AreaTopic("110105001002")} {
		ch, cancel, err := bus.Subscribe(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		defer cancel()
		heard = append(heard, ch)
	}
	svc := ticketing.NewService(st, placed{})
	tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeChat, ExternalID: "w1", Text: "路灯不亮"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.relayOnce(ctx); err != nil {
		t.Fatal(err)
	}
	for i, ch := range heard {
		select {
		case m := <-ch:
			if !strings.Contains(string(m), tk.Number) {
				t.Errorf("area topic %d heard %s, want %s", i, m, tk.Number)
			}
		default:
			t.Errorf("area topic %d heard nothing of %s", i, tk.Number)
		}
	}
}

// placed puts every report in one community of Chaoyang and routes it no further.
type placed struct{}

func (placed) Route(context.Context, ticketing.Report) (ticketing.Assignment, error) {
	return ticketing.Assignment{Priority: ticketing.PriorityNormal,
		Area: ticketing.Area{District: "110105", Street: "110105001", Community: "110105001002"}}, nil
}

// relayStore is an embedded store of the test's own.
func relayStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "yihao.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
