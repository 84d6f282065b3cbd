package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/yihao-city/yihao/ticketing"
)

// The rollup buckets days in Go, in the city's zone: a zone PostgreSQL
// would read otherwise ("CST" is US Central to it) or not at all counts
// a report on the city's day.
func TestRollupZones(t *testing.T) {
	ctx := context.Background()
	for i, loc := range []*time.Location{
		time.FixedZone("CST", 8*3600),
		time.FixedZone("Nowhere/Land", 8*3600),
	} {
		s := newStore(t)
		at := time.Date(2026, 11, 5, 17, 30, 0, 0, time.UTC) // 01:30 on the 6th in the city
		svc := ticketing.NewService(s, oneDept{}, ticketing.WithClock(func() time.Time { return at }), ticketing.WithLocation(loc))
		if _, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "zone", Text: "路灯不亮"}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.RollupIndicators(ctx, loc); err != nil || n == 0 {
			t.Fatalf("%d: RollupIndicators(%s) = %d, %v", i, loc, n, err)
		}
		cs, err := s.Indicators(ctx, ticketing.IndicatorQuery{Dim: ticketing.DimAll, From: "2026-11-05", To: "2026-11-07",
			Metrics: []ticketing.Metric{ticketing.MetricReceived}, ByDay: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 1 || cs[0].Day != "2026-11-06" || cs[0].N != 1 {
			t.Errorf("%s: received by day %+v, want one on 2026-11-06", loc, cs)
		}
	}
}

// The rollup takes its batch as a range of ids: a tally whose transaction
// commits after a later id was taken (ids are handed out before commit)
// is not skipped, but folded by the next rollup.
func TestRollupFoldsLateCommits(t *testing.T) {
	ctx := context.Background()
	s, pool := schemaStore(t)
	at := time.Date(2026, 11, 5, 9, 0, 0, 0, time.UTC)
	insert := `INSERT INTO indicator_tallies (at, metrics, department, n) VALUES ($1, '{received}', $2, 1)`
	early, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Rollback(ctx) //nolint:errcheck // committed below
	if _, err := early.Exec(ctx, insert, at, "early"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, insert, at, "late"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RollupIndicators(ctx, time.UTC); err != nil || n != 1 {
		t.Fatalf("first rollup = %d, %v; want the one committed tally", n, err)
	}
	if err := early.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RollupIndicators(ctx, time.UTC); err != nil || n != 1 {
		t.Fatalf("second rollup = %d, %v; want the tally committed since", n, err)
	}
	cs, err := s.Indicators(ctx, ticketing.IndicatorQuery{Dim: ticketing.DimDepartment, From: "2026-11-05", To: "2026-11-06",
		Metrics: []ticketing.Metric{ticketing.MetricReceived}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, c := range cs {
		got[c.Key] += c.N
	}
	if len(got) != 2 || got["early"] != 1 || got["late"] != 1 {
		t.Errorf("received by department = %v, want early 1 and late 1", got)
	}
}

// A rollup that finds another one under way (its lock held) folds nothing
// and returns at once, rather than waiting behind the other's batch; the
// tallies are there for the next one.
func TestRollupLeavesTalliesToTheOneUnderWay(t *testing.T) {
	ctx := context.Background()
	s, pool := schemaStore(t)
	at := time.Date(2026, 11, 5, 9, 0, 0, 0, time.UTC)
	if _, err := pool.Exec(ctx, `INSERT INTO indicator_tallies (at, metrics, department, n) VALUES ($1, '{received}', 'a', 1)`, at); err != nil {
		t.Fatal(err)
	}
	other, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(ctx) //nolint:errcheck // rolled back below
	var locked bool
	if err := other.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(x'726f6c6c'::int)`).Scan(&locked); err != nil || !locked {
		t.Fatalf("taking the rollup's lock: %v, %v", locked, err)
	}
	done := make(chan error, 1)
	var n int
	go func() {
		var err error
		n, err = s.RollupIndicators(ctx, time.UTC)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil || n != 0 {
			t.Fatalf("rollup while another holds the lock = %d, %v; want 0, nil", n, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the rollup waited for the other one's lock")
	}
	if err := other.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RollupIndicators(ctx, time.UTC); err != nil || n != 1 {
		t.Fatalf("rollup after the other ended = %d, %v; want 1", n, err)
	}
}

// The tallies of one moment share a row (migration 00032): a new ticket
// costs the writer one tally row, not three, a later step one more, and
// the rollup counts every metric of each.
func TestTalliesShareARow(t *testing.T) {
	ctx := context.Background()
	s, pool := schemaStore(t)
	tk := submitOne(t, s, "share")
	svc := ticketing.NewService(s, oneDept{})
	if _, err := svc.Act(ctx, tk.Number, func(t *ticketing.Ticket, now time.Time) error { return t.Accept(now, "swj-1") }); err != nil {
		t.Fatal(err)
	}
	r, err := pool.Query(ctx, `SELECT metrics FROM indicator_tallies ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := pgx.CollectRows(r, pgx.RowTo[[]string])
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"received", "registered", "dispatched"}, {"accepted"}}
	if d := cmp.Diff(want, rows); d != "" {
		t.Errorf("tally rows (-want +got):\n%s", d)
	}
	if n, err := s.RollupIndicators(ctx, time.UTC); err != nil || n != 4 {
		t.Fatalf("RollupIndicators = %d, %v; want the 4 tallies", n, err)
	}
	day := tk.ReceivedAt.UTC().Format(time.DateOnly)
	cs, err := s.Indicators(ctx, ticketing.IndicatorQuery{Dim: ticketing.DimDepartment, From: day,
		To: tk.ReceivedAt.UTC().AddDate(0, 0, 1).Format(time.DateOnly)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, c := range cs {
		got[c.Key+" "+string(c.Metric)] += c.N
	}
	if d := cmp.Diff(map[string]int64{"swj received": 1, "swj registered": 1, "swj dispatched": 1, "swj accepted": 1}, got); d != "" {
		t.Errorf("sums by department (-want +got):\n%s", d)
	}
}
