package ticketing_test

import (
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

func TestLightAt(t *testing.T) {
	received := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	dispatched := received.Add(2 * time.Hour)
	deadline := dispatched.Add(10 * time.Hour) // yellow from dispatched + 8 h
	tests := []struct {
		name   string
		status ticketing.Status
		due    time.Time
		start  time.Time
		now    time.Time
		want   ticketing.Light
	}{
		{"just dispatched", ticketing.StatusDispatched, deadline, dispatched, dispatched, ticketing.LightGreen},
		{"before four fifths of the time", ticketing.StatusAccepted, deadline, dispatched, dispatched.Add(8*time.Hour - time.Second), ticketing.LightGreen},
		{"at four fifths", ticketing.StatusAccepted, deadline, dispatched, dispatched.Add(8 * time.Hour), ticketing.LightYellow},
		{"just before the deadline", ticketing.StatusDispatched, deadline, dispatched, deadline.Add(-time.Second), ticketing.LightYellow},
		{"at the deadline", ticketing.StatusAccepted, deadline, dispatched, deadline, ticketing.LightRed},
		{"overdue", ticketing.StatusDispatched, deadline, dispatched, deadline.Add(72 * time.Hour), ticketing.LightRed},
		{"handled, waiting for verification", ticketing.StatusHandled, deadline, dispatched, dispatched.Add(9 * time.Hour), ticketing.LightYellow},
		// Without a dispatch time the clock runs from receipt: four fifths
		// of 12 h is 9 h 36 m after receipt.
		{"no start: from receipt, green", ticketing.StatusAccepted, deadline, time.Time{}, received.Add(9*time.Hour + 35*time.Minute), ticketing.LightGreen},
		{"no start: from receipt, yellow", ticketing.StatusAccepted, deadline, time.Time{}, received.Add(9*time.Hour + 36*time.Minute), ticketing.LightYellow},
		{"start after the deadline: from receipt", ticketing.StatusAccepted, deadline, deadline.Add(time.Hour), received.Add(time.Hour), ticketing.LightGreen},
		{"no deadline", ticketing.StatusDispatched, time.Time{}, dispatched, dispatched, ticketing.LightNone},
		{"triage", ticketing.StatusReceived, deadline, dispatched, deadline.Add(time.Hour), ticketing.LightNone},
		{"registered", ticketing.StatusRegistered, deadline, dispatched, deadline.Add(time.Hour), ticketing.LightNone},
		{"returned: the dispatcher's turn", ticketing.StatusReturned, deadline, dispatched, deadline.Add(time.Hour), ticketing.LightNone},
		{"closed", ticketing.StatusClosed, deadline, dispatched, deadline.Add(time.Hour), ticketing.LightNone},
		{"merged", ticketing.StatusMerged, deadline, dispatched, deadline.Add(time.Hour), ticketing.LightNone},
		{"declined", ticketing.StatusNotRegistered, deadline, dispatched, deadline.Add(time.Hour), ticketing.LightNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk := &ticketing.Ticket{Status: tc.status, DueAt: tc.due, ReceivedAt: received}
			if got := tk.LightAt(tc.start, tc.now); got != tc.want {
				t.Errorf("LightAt = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestQueueLimit(t *testing.T) {
	for _, tc := range []struct{ limit, want int }{
		{0, ticketing.DefaultQueueLimit},
		{-1, ticketing.DefaultQueueLimit},
		{1, 1},
		{ticketing.DefaultQueueLimit + 1, ticketing.DefaultQueueLimit + 1},
		{ticketing.MaxQueueLimit, ticketing.MaxQueueLimit},
		{ticketing.MaxQueueLimit + 1, ticketing.MaxQueueLimit},
		{1 << 40, ticketing.MaxQueueLimit},
	} {
		if got := (ticketing.QueueFilter{Limit: tc.limit}).QueueLimit(); got != tc.want {
			t.Errorf("QueueLimit(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
}

func TestCursorOf(t *testing.T) {
	tk := &ticketing.Ticket{ID: 42, ReceivedAt: time.Unix(100, 0), DueAt: time.Unix(200, 0)}
	if c := ticketing.CursorOf(tk, ticketing.SortDue); c.ID != 42 || !c.At.Equal(tk.DueAt) {
		t.Errorf("SortDue cursor = %+v", c)
	}
	if c := ticketing.CursorOf(tk, ticketing.SortReceived); c.ID != 42 || !c.At.Equal(tk.ReceivedAt) {
		t.Errorf("SortReceived cursor = %+v", c)
	}
}
