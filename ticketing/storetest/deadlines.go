package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/yihao-city/yihao/ticketing"
)

// deadlineTests returns the conformance tests of the deadline lights: their
// columns, the alarm scan and Service.Escalate on the store.
func deadlineTests() []storeTest {
	return []storeTest{
		{"LightRoundTrip", testLightRoundTrip},
		{"Alarms", testAlarms},
		{"Escalate", testEscalate},
		{"EscalateConcurrently", func(t *testing.T, s ticketing.Store) { concurrentEscalations(t, s, s) }},
	}
}

// clockedTicket creates a ticket (fullTicket) with the light and alarm given.
func clockedTicket(t *testing.T, s ticketing.Store, light ticketing.Light, alarm time.Time) *ticketing.Ticket {
	t.Helper()
	ctx := context.Background()
	id, err := s.NextID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tk := fullTicket(id)
	tk.Light, tk.AlarmAt = light, alarm
	if _, created, err := s.Create(ctx, tk); err != nil || !created {
		t.Fatalf("Create = %v, %v", created, err)
	}
	return tk
}

// wantLight checks the stored ticket's light and alarm.
func wantLight(t *testing.T, s ticketing.Store, step string, id int64, light ticketing.Light, alarm time.Time) {
	t.Helper()
	got, err := s.ByID(context.Background(), id)
	if err != nil {
		t.Fatalf("%s: ByID: %v", step, err)
	}
	if got.Light != light || !got.AlarmAt.Equal(alarm) {
		t.Errorf("%s: light %q, alarm %v; want %q, %v", step, got.Light, got.AlarmAt, light, alarm)
	}
}

func testLightRoundTrip(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	plain := newTicket(t, s, "no-clock")
	wantLight(t, s, "no clock", plain.ID, ticketing.LightNone, time.Time{})

	alarm := base.Add(90*time.Minute + 123*time.Microsecond)
	tk := clockedTicket(t, s, ticketing.LightGreen, alarm)
	wantLight(t, s, "created", tk.ID, ticketing.LightGreen, alarm)
	for _, step := range []struct {
		light ticketing.Light
		alarm time.Time
	}{
		{ticketing.LightYellow, tk.DueAt},
		{ticketing.LightRed, time.Time{}},
		{ticketing.LightNone, time.Time{}},
		{ticketing.LightGreen, alarm.Add(time.Hour)},
	} {
		name := fmt.Sprintf("updated to %q", step.light)
		got, err := s.Update(ctx, tk.ID, func(t *ticketing.Ticket) error {
			t.Light, t.AlarmAt = step.light, step.alarm
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.Light != step.light || !got.AlarmAt.Equal(step.alarm) {
			t.Errorf("%s: Update returned light %q, alarm %v", name, got.Light, got.AlarmAt)
		}
		wantLight(t, s, name, tk.ID, step.light, step.alarm)
	}
}

func testAlarms(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	now := base.Add(time.Hour)
	a := clockedTicket(t, s, ticketing.LightGreen, now).ID
	b := clockedTicket(t, s, ticketing.LightYellow, now.Add(-30*time.Minute)).ID
	c := clockedTicket(t, s, ticketing.LightGreen, now).ID // the same alarm as a, a later id
	d := clockedTicket(t, s, ticketing.LightGreen, now.Add(time.Microsecond)).ID
	clockedTicket(t, s, ticketing.LightNone, time.Time{}) // no clock runs
	cleared := clockedTicket(t, s, ticketing.LightGreen, now.Add(-10*time.Minute)).ID
	if _, err := s.Update(ctx, cleared, func(t *ticketing.Ticket) error {
		t.AlarmAt = time.Time{}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		now   time.Time
		limit int
		want  []int64
	}{
		{now, 0, []int64{b, a, c}},
		{now, 2, []int64{b, a}},
		{now, 1, []int64{b}},
		{now.Add(time.Microsecond), -1, []int64{b, a, c, d}},
		{now.Add(-31 * time.Minute), 0, nil},
	} {
		got, err := s.Alarms(ctx, tc.now, tc.limit)
		if err != nil {
			t.Fatalf("Alarms(%v, %d): %v", tc.now, tc.limit, err)
		}
		if len(got) == 0 {
			got = nil
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("Alarms(%v, %d) (-want +got):\n%s", tc.now, tc.limit, d)
		}
	}
}

// deadlineStart is when the deadline tests submit: gridRouter dispatches
// 井盖 reports at once, due 48 hours later.
var deadlineStart = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// deadlineTimes are when a ticket submitted at start turns yellow and red.
func deadlineTimes(start time.Time) (yellow, due time.Time) {
	due = start.Add(48 * time.Hour)
	return start.Add(time.Duration(float64(due.Sub(start)) * ticketing.YellowShare)), due
}

func submitDispatched(t *testing.T, svc *ticketing.Service, key string) *ticketing.Ticket {
	t.Helper()
	tk, _, err := svc.Submit(context.Background(), ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: key, Text: "井盖 " + key})
	if err != nil {
		t.Fatal(err)
	}
	if tk.Status != ticketing.StatusDispatched {
		t.Fatalf("ticket %s is %s, want dispatched", key, tk.Status)
	}
	return tk
}

// eventCount is how many events of typ the ticket's log has.
func eventCount(t *testing.T, s ticketing.Store, id int64, typ ticketing.EventType) int {
	t.Helper()
	evs, err := s.Events(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// A dispatched ticket turns yellow, then red, each recorded once however
// often the scanner runs; one handled before the red line stays yellow;
// the red light is an overdue in the indicators.
func testEscalate(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	loc := cityZone(t)
	c := &handClock{}
	c.set(deadlineStart)
	svc := ticketing.NewService(s, gridRouter{}, ticketing.WithClock(c.now), ticketing.WithLocation(loc))
	late, handled := submitDispatched(t, svc, "late"), submitDispatched(t, svc, "handled")
	yellow, due := deadlineTimes(deadlineStart)
	if late.Light != ticketing.LightGreen || !late.AlarmAt.Equal(yellow) {
		t.Fatalf("dispatched: light %q, alarm %v; want green, alarm at %v", late.Light, late.AlarmAt, yellow)
	}
	wantLight(t, s, "dispatched", late.ID, ticketing.LightGreen, yellow)

	escalate := func(at time.Time, want int) {
		t.Helper()
		c.set(at)
		n, err := svc.Escalate(ctx, 0)
		if err != nil || n != want {
			t.Errorf("Escalate at %v = %d, %v; want %d", at, n, err, want)
		}
	}
	escalate(yellow.Add(-time.Microsecond), 0)
	escalate(yellow, 2)
	wantLight(t, s, "at the yellow line", late.ID, ticketing.LightYellow, due)
	escalate(yellow.Add(time.Hour), 0)

	c.set(yellow.Add(2 * time.Hour))
	for _, act := range []func(*ticketing.Ticket, time.Time) error{
		func(t *ticketing.Ticket, now time.Time) error { return t.Accept(now, "liaison") },
		func(t *ticketing.Ticket, now time.Time) error { return t.ReportHandled(now, "liaison", "已修复") },
	} {
		if _, err := svc.Act(ctx, handled.Number, act); err != nil {
			t.Fatal(err)
		}
	}
	wantLight(t, s, "handled", handled.ID, ticketing.LightYellow, time.Time{})

	escalate(due.Add(-time.Microsecond), 0)
	escalate(due, 1)
	escalate(due.Add(time.Hour), 0)
	wantLight(t, s, "overdue", late.ID, ticketing.LightRed, time.Time{})
	wantLight(t, s, "handled in time", handled.ID, ticketing.LightYellow, time.Time{})
	for _, tc := range []struct {
		tk          *ticketing.Ticket
		yellow, red int
	}{{late, 1, 1}, {handled, 1, 0}} {
		if y, r := eventCount(t, s, tc.tk.ID, ticketing.EventDeadlineYellow), eventCount(t, s, tc.tk.ID, ticketing.EventDeadlineRed); y != tc.yellow || r != tc.red {
			t.Errorf("ticket %s: %d yellow and %d red events; want %d and %d", tc.tk.ExternalID, y, r, tc.yellow, tc.red)
		}
	}
	msgs, err := s.Outbox(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var escalated []int64
	for _, m := range msgs {
		if m.Topic == "ticket.escalated" {
			escalated = append(escalated, m.TicketID)
		}
	}
	slices.Sort(escalated)
	if want := []int64{late.ID, late.ID, handled.ID}; !slices.Equal(escalated, want) { // late has the lower id
		t.Errorf("ticket.escalated messages for tickets %v, want %v", escalated, want)
	}
	if ids, err := s.Alarms(ctx, due.Add(1000*time.Hour), 0); err != nil || len(ids) != 0 {
		t.Errorf("alarms after both clocks stopped: %v, %v", ids, err)
	}

	rollup(t, s, loc)
	q := ticketing.IndicatorQuery{Dim: ticketing.DimDepartment, From: "2026-11-27", To: "2026-11-28", Keys: []string{"cgw"}}
	if got := counts(t, s, q)["cgw overdue"]; got != 1 {
		t.Errorf("cgw overdue on the 27th = %d, want 1", got)
	}
}

// concurrentEscalations runs the scanner on two services over a and b,
// twice each at once, at the yellow line and at the red line: each light
// is recorded once, and each overdue counted once.
func concurrentEscalations(t *testing.T, a, b ticketing.Store) {
	ctx := context.Background()
	const tickets = 20
	c := &handClock{}
	c.set(deadlineStart)
	var svcs []*ticketing.Service
	for _, s := range []ticketing.Store{a, b} {
		svcs = append(svcs, ticketing.NewService(s, gridRouter{}, ticketing.WithClock(c.now), ticketing.WithLocation(time.UTC)))
	}
	var ids []int64
	for i := range tickets {
		ids = append(ids, submitDispatched(t, svcs[i%2], fmt.Sprint("c", i)).ID)
	}
	yellow, due := deadlineTimes(deadlineStart)
	for _, step := range []struct {
		at  time.Time
		typ ticketing.EventType
	}{{yellow, ticketing.EventDeadlineYellow}, {due, ticketing.EventDeadlineRed}} {
		c.set(step.at)
		var changed atomic.Int64
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := svcs[i%2].Escalate(ctx, 0)
				if err != nil {
					t.Errorf("scanner %d: %v", i, err)
				}
				changed.Add(int64(n))
			}()
		}
		wg.Wait()
		if changed.Load() != tickets {
			t.Errorf("%s: the scanners changed %d tickets, want %d", step.typ, changed.Load(), tickets)
		}
		for _, id := range ids {
			if n := eventCount(t, a, id, step.typ); n != 1 {
				t.Errorf("ticket %d has %d %s events, want 1", id, n, step.typ)
			}
		}
	}
	rollup(t, a, time.UTC)
	q := ticketing.IndicatorQuery{Dim: ticketing.DimAll, From: "2026-11-01", To: "2026-12-01"}
	if got := counts(t, b, q)["overdue"]; got != tickets {
		t.Errorf("overdue in November = %d, want %d", got, tickets)
	}
}
