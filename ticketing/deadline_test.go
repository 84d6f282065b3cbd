package ticketing

import (
	"testing"
	"time"
)

// The light of a ticket dispatched at 10:00 with a 10-hour deadline:
// green until 18:00 (80% used), yellow until 20:00, red after; each change
// recorded once, however often the scanner looks.
func TestEscalate(t *testing.T) {
	tk := &Ticket{ID: 1, Status: StatusRegistered}
	due := at.Add(10 * time.Hour)
	if err := tk.Dispatch(at, "d", Assignment{Department: "x", Deadline: due}, ""); err != nil {
		t.Fatal(err)
	}
	if tk.Light != LightGreen || !tk.AlarmAt.Equal(at.Add(8*time.Hour)) {
		t.Fatalf("after dispatch: light %q alarm %v; want green at 18:00", tk.Light, tk.AlarmAt)
	}
	steps := []struct {
		now     time.Time
		changed bool
		light   Light
		alarm   time.Time
	}{
		{at.Add(7 * time.Hour), false, LightGreen, at.Add(8 * time.Hour)},
		{at.Add(8 * time.Hour), true, LightYellow, due},
		{at.Add(9 * time.Hour), false, LightYellow, due},
		{due, true, LightRed, time.Time{}},
		{due.Add(time.Hour), false, LightRed, time.Time{}},
	}
	for _, s := range steps {
		if got := tk.Escalate(s.now); got != s.changed || tk.Light != s.light || !tk.AlarmAt.Equal(s.alarm) {
			t.Errorf("Escalate(%s) = %v, light %q, alarm %v; want %v, %q, %v", s.now.Format("15:04"), got, tk.Light, tk.AlarmAt, s.changed, s.light, s.alarm)
		}
	}
	evs := tk.PendingEvents()
	if n := len(evs); n != 3 || evs[1].Type != EventDeadlineYellow || evs[2].Type != EventDeadlineRed || evs[2].Actor != ActorDeadline {
		t.Fatalf("events %+v; want dispatched, yellow, red", evs)
	}
	// An approved extension starts a new clock; the result stops it and
	// keeps the light on record.
	if err := tk.Accept(due, "l"); err != nil {
		t.Fatal(err)
	}
	if err := tk.RequestExtension(due, "l", due.Add(10*time.Hour), "parts"); err != nil {
		t.Fatal(err)
	}
	if err := tk.DecideExtension(due, "d", true, ""); err != nil {
		t.Fatal(err)
	}
	if tk.Light != LightGreen || !tk.AlarmAt.Equal(due.Add(8*time.Hour)) {
		t.Errorf("after extension: light %q alarm %v; want green, alarm 80%% into the new time", tk.Light, tk.AlarmAt)
	}
	if err := tk.ReportHandled(due.Add(9*time.Hour), "l", "fixed"); err != nil {
		t.Fatal(err)
	}
	if !tk.AlarmAt.IsZero() || tk.Escalate(due.Add(30*time.Hour)) {
		t.Errorf("after the result the clock must stop: alarm %v", tk.AlarmAt)
	}
	// Rework after the deadline is due at once and turns red.
	late := due.Add(40 * time.Hour)
	if err := tk.Verify(late, "s", false, "still broken"); err != nil {
		t.Fatal(err)
	}
	if !tk.Escalate(late) || tk.Light != LightRed {
		t.Errorf("rework after the deadline: light %q; want red at once", tk.Light)
	}
}

// A ticket that leaves the department (returned, merged, closed) stops its
// clock; one without a deadline never starts one.
func TestClockStops(t *testing.T) {
	tk := &Ticket{ID: 1, Status: StatusRegistered}
	tk.Dispatch(at, "d", Assignment{Department: "x", Deadline: at.Add(time.Hour)}, "")
	if err := tk.Return(at, "l", "not ours"); err != nil {
		t.Fatal(err)
	}
	if !tk.AlarmAt.IsZero() || tk.Light != LightNone || tk.Escalate(at.Add(2*time.Hour)) {
		t.Errorf("returned ticket: light %q alarm %v", tk.Light, tk.AlarmAt)
	}
	// A stale alarm on a ticket in another state is cleared, not escalated.
	tk.AlarmAt = at
	if tk.Escalate(at.Add(time.Hour)) || !tk.AlarmAt.IsZero() {
		t.Errorf("stale alarm escalated or kept: %v", tk.AlarmAt)
	}
}
