package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/yihao-city/yihao/ticketing"
)

// callTests returns the conformance tests of the call log.
func callTests() []storeTest {
	return []storeTest{
		{"CallLifecycle", testCallLifecycle},
		{"CallConcurrentEvents", testCallConcurrentEvents},
		{"CallEventBatches", testCallEventBatches},
		{"CallFilters", testCallFilters},
		{"CallbackAndLinks", testCallbackAndLinks},
		{"HotlineStats", testHotlineStats},
	}
}

var callOpts = cmp.Options{cmpopts.EquateApproxTime(0), cmpopts.EquateEmpty()}

func apply(t *testing.T, s ticketing.Store, evs ...ticketing.CallEvent) *ticketing.Call {
	t.Helper()
	var c *ticketing.Call
	for _, ev := range evs {
		var err error
		if c, err = s.ApplyCallEvent(context.Background(), ev); err != nil {
			t.Fatalf("ApplyCallEvent(%s %s): %v", ev.Type, ev.CallID, err)
		}
	}
	return c
}

func callByID(t *testing.T, s ticketing.Store, callID string) *ticketing.Call {
	t.Helper()
	cs, err := s.Calls(context.Background(), ticketing.CallFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var found *ticketing.Call
	for _, c := range cs {
		if c.CallID == callID {
			if found != nil {
				t.Fatalf("call %s is in the log twice", callID)
			}
			found = c
		}
	}
	if found == nil {
		t.Fatalf("call %s is not in the log", callID)
	}
	return found
}

func testCallLifecycle(t *testing.T, s ticketing.Store) {
	in := func(typ ticketing.CallEventType, at time.Duration) ticketing.CallEvent {
		return ticketing.CallEvent{CallID: "c1", Type: typ, From: "+8613800138000", To: "12345", Direction: ticketing.DirectionIn,
			User: "王芳", AnsweringNumber: "2001", Cause: "normalClearing", At: base.Add(at)}
	}
	got := apply(t, s, in(ticketing.CallNew, 0), in(ticketing.CallAnswer, 12*time.Second), in(ticketing.CallHangup, 3*time.Minute))
	want := &ticketing.Call{ID: got.ID, CallID: "c1", Line: "12345", Caller: "+8613800138000", Agent: "王芳",
		Direction: ticketing.DirectionIn, ArrivedAt: base, AnsweredAt: base.Add(12 * time.Second), EndedAt: base.Add(3 * time.Minute),
		Cause: ticketing.CauseAnswered}
	if got.ID == 0 {
		t.Error("returned call has no ID")
	}
	if d := cmp.Diff(want, got, callOpts); d != "" {
		t.Errorf("returned call (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want, callByID(t, s, "c1"), callOpts); d != "" {
		t.Errorf("stored call (-want +got):\n%s", d)
	}
	// Repeats and a late answer change nothing.
	again := apply(t, s, in(ticketing.CallHangup, 5*time.Minute), in(ticketing.CallAnswer, 6*time.Minute), in(ticketing.CallNew, time.Minute))
	if d := cmp.Diff(want, again, callOpts); d != "" {
		t.Errorf("after repeats (-want +got):\n%s", d)
	}
	if got.Wait() != 12*time.Second || got.Talk() != 168*time.Second {
		t.Errorf("wait %v talk %v", got.Wait(), got.Talk())
	}
}

// Sixteen clients send the whole sequence of one call at once, and sixteen
// others a call each: one record per call, with the right outcome.
func testCallConcurrentEvents(t *testing.T, s ticketing.Store) {
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for i := range n {
		wg.Go(func() {
			for _, id := range []string{"shared", fmt.Sprint("own-", i)} {
				for _, ev := range []ticketing.CallEvent{
					{CallID: id, Type: ticketing.CallNew, From: "+8613800138000", To: "12345", Direction: ticketing.DirectionIn, At: base},
					{CallID: id, Type: ticketing.CallAnswer, User: "2001", Direction: ticketing.DirectionIn, At: base.Add(5 * time.Second)},
					{CallID: id, Type: ticketing.CallHangup, Cause: "normalClearing", Direction: ticketing.DirectionIn, At: base.Add(65 * time.Second)},
				} {
					if _, err := s.ApplyCallEvent(context.Background(), ev); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent ApplyCallEvent: %v", err)
	}
	cs, err := s.Calls(context.Background(), ticketing.CallFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != n+1 {
		t.Fatalf("%d calls in the log, want %d", len(cs), n+1)
	}
	for _, c := range cs {
		if c.Cause != ticketing.CauseAnswered || c.Wait() != 5*time.Second || c.Talk() != time.Minute || c.Agent != "2001" {
			t.Errorf("call %s: cause %s wait %v talk %v agent %q", c.CallID, c.Cause, c.Wait(), c.Talk(), c.Agent)
		}
	}
	// Links from concurrent agents are all kept.
	var lw sync.WaitGroup
	for i := range n {
		lw.Go(func() {
			if err := s.LinkTicket(context.Background(), "shared", fmt.Sprintf("T%02d", i)); err != nil {
				t.Errorf("LinkTicket: %v", err)
			}
		})
	}
	lw.Wait()
	if got := callByID(t, s, "shared").Tickets; len(got) != n {
		t.Errorf("tickets %v, want %d", got, n)
	}
}

func testCallFilters(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	for _, ev := range HotlineFixture() {
		apply(t, s, ev)
	}
	ids := func(f ticketing.CallFilter) []string {
		t.Helper()
		cs, err := s.Calls(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, c := range cs {
			out = append(out, c.CallID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    ticketing.CallFilter
		want []string
	}{
		{"all, newest first", ticketing.CallFilter{}, []string{"f6", "f7", "f5", "f4", "f3", "f2", "f1"}},
		{"line", ticketing.CallFilter{Line: "12319"}, []string{"f4", "f3"}},
		{"agent", ticketing.CallFilter{Agent: "2001"}, []string{"f7", "f1"}},
		{"cause", ticketing.CallFilter{Cause: ticketing.CauseAbandoned}, []string{"f3"}},
		{"range", ticketing.CallFilter{From: base.Add(time.Minute), To: base.Add(3 * time.Minute)}, []string{"f3", "f2"}},
		{"limit", ticketing.CallFilter{Limit: 2}, []string{"f6", "f7"}},
		{"callback list", ticketing.CallFilter{CallbackOnly: true}, []string{"f4", "f3"}},
		{"nothing", ticketing.CallFilter{Line: "96310"}, []string{}},
	} {
		if d := cmp.Diff(tc.want, ids(tc.f)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
}

func testCallbackAndLinks(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	for _, ev := range HotlineFixture() {
		apply(t, s, ev)
	}
	at := base.Add(time.Hour)
	if err := s.MarkCalledBack(ctx, "f3", at); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Calls(ctx, ticketing.CallFilter{CallbackOnly: true})
	if err != nil || len(cs) != 1 || cs[0].CallID != "f4" {
		t.Fatalf("callback list after calling f3 back: %v %v", cs, err)
	}
	if c := callByID(t, s, "f3"); !c.CalledBackAt.Equal(at) {
		t.Errorf("called back at %v, want %v", c.CalledBackAt, at)
	}
	for range 2 {
		if err := s.LinkTicket(ctx, "f1", "20261125000101"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.LinkTicket(ctx, "f1", "20261125000102"); err != nil {
		t.Fatal(err)
	}
	if got := callByID(t, s, "f1").Tickets; !cmp.Equal(got, []string{"20261125000101", "20261125000102"}) {
		t.Errorf("tickets %v", got)
	}
	if err := s.MarkCalledBack(ctx, "nope", at); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("MarkCalledBack(unknown) = %v, want not found", err)
	}
	if err := s.LinkTicket(ctx, "nope", "x"); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("LinkTicket(unknown) = %v, want not found", err)
	}
}

func testHotlineStats(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	for _, ev := range HotlineFixture() {
		apply(t, s, ev)
	}
	got, err := s.HotlineStats(ctx, ticketing.StatsFilter{From: base.Add(-time.Hour), To: base.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(HotlineFixtureStats(), got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("stats (-want +got):\n%s", d)
	}
	want := HotlineFixtureStats()
	if f := got.Total; f.AnswerRate() != 0.6 || f.ServiceLevel() != 0.4 || f.AbandonRate() != 0.2 ||
		f.AvgWait() != 23*time.Second || f.AvgTalk() != 70*time.Second {
		t.Errorf("figures: 接通率 %v, 15s %v, 放弃率 %v, wait %v, talk %v", f.AnswerRate(), f.ServiceLevel(), f.AbandonRate(), f.AvgWait(), f.AvgTalk())
	}
	line, err := s.HotlineStats(ctx, ticketing.StatsFilter{Line: "12345"})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want.Lines[1], ticketing.CallFigures{Key: "12345", Offered: line.Total.Offered, Answered: line.Total.Answered,
		AnsweredIn15s: line.Total.AnsweredIn15s, Abandoned: line.Total.Abandoned, WaitSum: line.Total.WaitSum, TalkSum: line.Total.TalkSum}); d != "" {
		t.Errorf("line 12345 total (-want +got):\n%s", d)
	}
	empty, err := s.HotlineStats(ctx, ticketing.StatsFilter{From: base.Add(24 * time.Hour)})
	if err != nil || empty.Total != (ticketing.CallFigures{}) || len(empty.Lines)+len(empty.Agents) != 0 {
		t.Errorf("empty range: %+v %v", empty, err)
	}
}

// HotlineFixture is a morning of seven calls at the storetest base time
// (2026-11-25 09:30 UTC), with figures worked out by hand in
// HotlineFixtureStats:
//
//	f1 12345 arrives 0:00, answered by 2001 after 10 s, talks 120 s
//	f2 12345 arrives 1:00, answered by 2002 after 20 s, talks 60 s
//	f3 12319 arrives 2:00, caller hangs up after 30 s (cancel): abandoned
//	f4 12319 arrives 3:00, nobody answers in 40 s (noAnswer): no_agent
//	f5 12345 arrives 3:30, an outbound callback (not in the figures)
//	f6 12345 arrives 5:00, still ringing (not in the figures)
//	f7 12345 arrives 4:00, answered by 2001 after exactly 15 s, talks 30 s
func HotlineFixture() []ticketing.CallEvent {
	var evs []ticketing.CallEvent
	in := func(id, line, caller string, arrive time.Duration, agent string, answerAfter, endAfter time.Duration, cause string) {
		at := base.Add(arrive)
		evs = append(evs, ticketing.CallEvent{CallID: id, Type: ticketing.CallNew, From: caller, To: line, Direction: ticketing.DirectionIn, At: at})
		if agent != "" {
			evs = append(evs, ticketing.CallEvent{CallID: id, Type: ticketing.CallAnswer, From: caller, To: line, Direction: ticketing.DirectionIn,
				User: agent, At: at.Add(answerAfter)})
		}
		if endAfter > 0 {
			evs = append(evs, ticketing.CallEvent{CallID: id, Type: ticketing.CallHangup, From: caller, To: line, Direction: ticketing.DirectionIn,
				Cause: cause, At: at.Add(endAfter)})
		}
	}
	in("f1", "12345", "+8613800138001", 0, "2001", 10*time.Second, 130*time.Second, "normalClearing")
	in("f2", "12345", "+8613800138002", time.Minute, "2002", 20*time.Second, 80*time.Second, "normalClearing")
	in("f3", "12319", "+8613800138003", 2*time.Minute, "", 0, 30*time.Second, "cancel")
	in("f4", "12319", "+861065123456", 3*time.Minute, "", 0, 40*time.Second, "noAnswer")
	out := base.Add(3*time.Minute + 30*time.Second)
	evs = append(evs,
		ticketing.CallEvent{CallID: "f5", Type: ticketing.CallNew, From: "12345", To: "+8613800138003", Direction: ticketing.DirectionOut, At: out},
		ticketing.CallEvent{CallID: "f5", Type: ticketing.CallHangup, Direction: ticketing.DirectionOut, Cause: "noAnswer", At: out.Add(20 * time.Second)})
	in("f6", "12345", "+8613800138006", 5*time.Minute, "", 0, 0, "")
	in("f7", "12345", "+8613800138007", 4*time.Minute, "2001", 15*time.Second, 45*time.Second, "normalClearing")
	return evs
}

// HotlineFixtureStats are HotlineFixture's figures over its whole range.
func HotlineFixtureStats() ticketing.HotlineStats {
	s := time.Second
	return ticketing.HotlineStats{
		Total: ticketing.CallFigures{Offered: 5, Answered: 3, AnsweredIn15s: 2, Abandoned: 1, WaitSum: 115 * s, TalkSum: 210 * s},
		Lines: []ticketing.CallFigures{
			{Key: "12319", Offered: 2, Answered: 0, AnsweredIn15s: 0, Abandoned: 1, WaitSum: 70 * s},
			{Key: "12345", Offered: 3, Answered: 3, AnsweredIn15s: 2, WaitSum: 45 * s, TalkSum: 210 * s},
		},
		Agents: []ticketing.CallFigures{
			{Key: "2001", Offered: 2, Answered: 2, AnsweredIn15s: 2, WaitSum: 25 * s, TalkSum: 150 * s},
			{Key: "2002", Offered: 1, Answered: 1, WaitSum: 20 * s, TalkSum: 60 * s},
		},
	}
}

// A batch applies events in order per call, in one transaction; each
// result is the call after its event; concurrent batches over the same
// calls (in different orders) neither deadlock nor lose an event.
func testCallEventBatches(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	ev := func(id string, typ ticketing.CallEventType, sec int) ticketing.CallEvent {
		return ticketing.CallEvent{CallID: id, Type: typ, From: "+8613800138000", To: "12345", Direction: ticketing.DirectionIn,
			User: "2001", Cause: "normalClearing", At: at.Add(time.Duration(sec) * time.Second)}
	}
	cs, err := s.ApplyCallEvents(ctx, []ticketing.CallEvent{
		ev("b-1", ticketing.CallNew, 0), ev("a-1", ticketing.CallNew, 1), ev("b-1", ticketing.CallAnswer, 2),
		ev("a-1", ticketing.CallHangup, 3), ev("b-1", ticketing.CallHangup, 9),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 5 || cs[0].Answered() || !cs[2].Answered() || cs[2].Ended() || cs[4].Cause != ticketing.CauseAnswered ||
		cs[3].Cause != ticketing.CauseAbandoned || cs[4].Talk() != 7*time.Second {
		t.Fatalf("batch results out of order: %+v", cs)
	}
	if got := callByID(t, s, "b-1"); got.Cause != ticketing.CauseAnswered || got.Agent != "2001" {
		t.Fatalf("stored call after the batch: %+v", got)
	}

	// Two batches in opposite orders over 20 calls, many times over.
	var ids []string
	for i := range 20 {
		ids = append(ids, fmt.Sprintf("c-%02d", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Go(func() {
			for round := range 5 {
				batch := make([]ticketing.CallEvent, 0, len(ids))
				for i := range ids {
					id := ids[i]
					if w == 1 {
						id = ids[len(ids)-1-i]
					}
					typ := ticketing.CallNew
					if round == 4 {
						typ = ticketing.CallHangup
					}
					batch = append(batch, ev(id, typ, round))
				}
				if _, err := s.ApplyCallEvents(ctx, batch); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent batches: %v", err)
	}
	for _, id := range ids {
		if c := callByID(t, s, id); !c.Ended() || !c.ArrivedAt.Equal(at) {
			t.Fatalf("call %s after concurrent batches: %+v", id, c)
		}
	}
}
