package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
)

// The bulk loader writes every column, the deadline light included, and
// its sums answer whole-month queries as they answer the days'.
func TestBulkLoad(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.SchemaURL(t))
	id, err := s.ReserveIDs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	tk := &ticketing.Ticket{ID: id, Number: ticketing.FormatNumber(id, at), TrackToken: "tok", Channel: ticketing.ChannelWeb,
		ExternalID: "bulk", Status: ticketing.StatusDispatched, Department: "cgw", Priority: ticketing.PriorityNormal,
		DueAt: at.Add(10 * time.Hour), Light: ticketing.LightYellow, AlarmAt: at.Add(10 * time.Hour),
		ReceivedAt: at, CreatedAt: at, UpdatedAt: at}
	evs := []ticketing.Event{{TicketID: id, Seq: 1, At: at, Actor: "gen", Type: ticketing.EventReceived, To: ticketing.StatusReceived}}
	if err := s.CopyTickets(ctx, []*ticketing.Ticket{tk}, [][]ticketing.Event{evs}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Light != tk.Light || !got.AlarmAt.Equal(tk.AlarmAt) {
		t.Errorf("loaded light %q, alarm %v; want %q, %v", got.Light, got.AlarmAt, tk.Light, tk.AlarmAt)
	}
	if ids, err := s.Alarms(ctx, tk.AlarmAt, 0); err != nil || len(ids) != 1 || ids[0] != id {
		t.Errorf("Alarms = %v, %v; want [%d]", ids, err, id)
	}

	sums := []postgres.IndicatorSum{
		{Day: "2026-11-01", Dim: ticketing.DimAll, Metric: ticketing.MetricReceived, N: 5},
		{Day: "2026-11-30", Dim: ticketing.DimAll, Metric: ticketing.MetricReceived, N: 7},
		{Day: "2026-12-01", Dim: ticketing.DimAll, Metric: ticketing.MetricReceived, N: 11},
	}
	for range 2 { // a second load adds to the first
		if err := s.AddIndicatorSums(ctx, sums); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []ticketing.IndicatorQuery{
		{Dim: ticketing.DimAll, From: "2026-11-01", To: "2026-12-01"},
		{Dim: ticketing.DimAll, From: "2026-11-01", To: "2026-11-30"},
		{Dim: ticketing.DimAll, From: "2026-11-01", To: "2027-01-01"},
	} {
		month, err := s.Indicators(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		q.ByDay = true
		days, err := s.Indicators(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, c := range days {
			n += c.N
		}
		want := []ticketing.IndicatorCount{{Metric: ticketing.MetricReceived, N: n}}
		if d := cmp.Diff(want, month); d != "" {
			t.Errorf("%s to %s (-sum of days +period):\n%s", q.From, q.To, d)
		}
	}
}
