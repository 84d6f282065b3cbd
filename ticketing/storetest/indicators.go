package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/yihao-city/yihao/ticketing"
)

// indicatorTests returns the conformance tests of the indicator tallies and
// their daily sums.
func indicatorTests() []storeTest {
	return []storeTest{
		{"IndicatorCounts", testIndicatorCounts},
		{"IndicatorConcurrentRollups", func(t *testing.T, s ticketing.Store) { concurrentRollups(t, s, s) }},
		{"IndicatorBadQueries", testIndicatorBadQueries},
		{"IndicatorMonths", testIndicatorMonths},
	}
}

// cityZone is the city's time zone in these tests: days start at 16:00 UTC.
func cityZone(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// handClock is a clock the test sets.
type handClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *handClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *handClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// gridRouter places 井盖 reports on grid g1 and sends them to cgw; every
// other report is placed on g2 and waits for a dispatcher.
type gridRouter struct{}

func (gridRouter) Route(_ context.Context, r ticketing.Report) (ticketing.Assignment, error) {
	if strings.Contains(r.Text, "井盖") {
		return ticketing.Assignment{Category: "0101", Department: "cgw", Priority: ticketing.PriorityUrgent,
			Deadline: r.ReceivedAt.Add(48 * time.Hour), Confidence: 0.9, AutoDispatch: true,
			Area: ticketing.Area{Grid: "g1", Community: "c1", Street: "s1", District: "d1"}}, nil
	}
	return ticketing.Assignment{Category: "0202", Priority: ticketing.PriorityNormal, Deadline: r.ReceivedAt.Add(24 * time.Hour),
		Area: ticketing.Area{Grid: "g2", Community: "c2", Street: "s2", District: "d1"}}, nil
}

func rollup(t *testing.T, s ticketing.Store, loc *time.Location) int {
	t.Helper()
	n, err := s.RollupIndicators(context.Background(), loc)
	if err != nil {
		t.Fatalf("RollupIndicators: %v", err)
	}
	return n
}

// counts reads q's sums as "day key metric" → n (day and key left out
// where empty), and checks their order.
func counts(t *testing.T, s ticketing.Store, q ticketing.IndicatorQuery) map[string]int64 {
	t.Helper()
	cs, err := s.Indicators(context.Background(), q)
	if err != nil {
		t.Fatalf("Indicators(%+v): %v", q, err)
	}
	if !slices.IsSortedFunc(cs, func(a, b ticketing.IndicatorCount) int {
		return strings.Compare(a.Day+"\x00"+a.Key+"\x00"+string(a.Metric), b.Day+"\x00"+b.Key+"\x00"+string(b.Metric))
	}) {
		t.Errorf("Indicators(%+v) not by day, key, metric: %v", q, cs)
	}
	out := map[string]int64{}
	for _, c := range cs {
		if q.ByDay != (c.Day != "") {
			t.Errorf("ByDay %v, but a count has day %q", q.ByDay, c.Day)
		}
		k := strings.Join(slices.DeleteFunc([]string{c.Day, c.Key, string(c.Metric)}, func(s string) bool { return s == "" }), " ")
		if _, dup := out[k]; dup {
			t.Errorf("Indicators(%+v) has %q twice", q, k)
		}
		out[k] = c.N
	}
	return out
}

// Tickets taken through the workflow around midnight in the city: each
// event is counted on the city's day it happened, once, in every breakdown.
func testIndicatorCounts(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	loc := cityZone(t)
	c := &handClock{}
	svc := ticketing.NewService(s, gridRouter{}, ticketing.WithClock(c.now), ticketing.WithLocation(loc))
	at := func(day, hour, minute, sec, ms int) {
		c.set(time.Date(2026, 11, day, hour, minute, sec, ms*int(time.Millisecond), loc))
	}
	submit := func(ch ticketing.Channel, text string) *ticketing.Ticket {
		t.Helper()
		tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ch, ExternalID: text, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	act := func(tk *ticketing.Ticket, f func(*ticketing.Ticket, time.Time) error) *ticketing.Ticket {
		t.Helper()
		tk, err := svc.Act(ctx, tk.Number, f)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	dispatch := func(tk *ticketing.Ticket, dept, note string) {
		t.Helper()
		if _, err := svc.Dispatch(ctx, tk.Number, "dispatcher", ticketing.DispatchOrder{Department: dept, Note: note}); err != nil {
			t.Fatal(err)
		}
	}
	accept := func(t *ticketing.Ticket, now time.Time) error { return t.Accept(now, "liaison") }
	handled := func(t *ticketing.Ticket, now time.Time) error { return t.ReportHandled(now, "liaison", "已处理") }
	verify := func(pass bool) func(*ticketing.Ticket, time.Time) error {
		return func(t *ticketing.Ticket, now time.Time) error { return t.Verify(now, "supervisor", pass, "复核") }
	}

	// 25 November.
	at(25, 12, 0, 0, 0)
	tc := submit(ticketing.ChannelWeb, "咨询公积金 C")
	at(25, 12, 30, 0, 0)
	act(tc, func(t *ticketing.Ticket, now time.Time) error {
		return t.Decline(now, "dispatcher", "不属于受理范围")
	})
	at(25, 13, 0, 0, 0)
	if _, _, err := svc.SubmitResolved(ctx, ticketing.Report{Channel: ticketing.ChannelPhone, ExternalID: "D", Text: "咨询 D"}, "agent:1", "已答复"); err != nil {
		t.Fatal(err)
	}
	at(25, 23, 59, 59, 999)
	ta := submit(ticketing.ChannelWeb, "井盖 A")
	submit(ticketing.ChannelWeb, "井盖 A") // a replay counts nothing
	// 26 November: B comes 2 ms after A, on the next day in the city
	// (the same day in UTC).
	at(26, 0, 0, 0, 1)
	tb := submit(ticketing.ChannelPhone, "路灯 B")
	at(26, 0, 0, 1, 0)
	ta = act(ta, accept)
	at(26, 1, 0, 0, 0)
	ta = act(ta, handled)
	at(26, 2, 0, 0, 0)
	ta = act(ta, verify(true))
	at(26, 3, 0, 0, 0)
	act(ta, func(t *ticketing.Ticket, now time.Time) error {
		return t.Evaluate(now, "citizen", ticketing.Evaluation{Satisfaction: ticketing.Satisfied, Solved: true})
	})
	at(26, 4, 0, 0, 0)
	dispatch(tb, "swj", "")
	at(26, 5, 0, 0, 0)
	act(tb, func(t *ticketing.Ticket, now time.Time) error { return t.Return(now, "liaison", "非本单位职责") })
	at(26, 6, 0, 0, 0)
	dispatch(tb, "jtw", "改派交通委")
	at(26, 7, 0, 0, 0)
	boom := errors.New("boom")
	if _, err := s.Update(ctx, tb.ID, func(t *ticketing.Ticket) error {
		if err := t.Accept(c.now(), "liaison"); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom (rolled back, counting nothing)", err)
	}
	at(26, 10, 0, 0, 0)
	te := submit(ticketing.ChannelWeb, "井盖 E")
	at(26, 11, 0, 0, 0)
	te = act(te, accept)
	at(26, 11, 30, 0, 0)
	te = act(te, func(t *ticketing.Ticket, now time.Time) error {
		return t.RequestExtension(now, "liaison", t.DueAt.Add(72*time.Hour), "需协调施工")
	})
	at(26, 12, 0, 0, 0)
	te = act(te, func(t *ticketing.Ticket, now time.Time) error {
		return t.DecideExtension(now, "dispatcher", true, "同意")
	})
	at(26, 13, 0, 0, 0)
	tf := submit(ticketing.ChannelWeChat, "路灯 F")
	at(26, 13, 30, 0, 0)
	act(tf, func(t *ticketing.Ticket, now time.Time) error { return t.MergeInto(now, "dispatcher", te) })
	// 27 November: B is late (due at 06:00).
	at(27, 7, 0, 0, 0)
	act(tb, accept)
	at(27, 8, 0, 0, 0)
	act(tb, handled)
	at(27, 9, 0, 0, 0)
	act(tb, verify(false))
	at(27, 23, 30, 0, 0)
	act(tb, handled)
	// 28 November.
	at(28, 0, 30, 0, 0)
	act(tb, verify(true))

	if n := rollup(t, s, loc); n != 33 {
		t.Errorf("first rollup folded %d tallies, want 33", n)
	}
	byDay := ticketing.IndicatorQuery{Dim: ticketing.DimAll, From: "2026-11-25", To: "2026-11-29", ByDay: true}
	wantByDay := map[string]int64{
		"2026-11-25 received": 3, "2026-11-25 declined": 1, "2026-11-25 answered": 1,
		"2026-11-25 registered": 1, "2026-11-25 dispatched": 1,

		"2026-11-26 received": 3, "2026-11-26 accepted": 2, "2026-11-26 handled": 1, "2026-11-26 handled_on_time": 1,
		"2026-11-26 closed": 1, "2026-11-26 closed_on_time": 1, "2026-11-26 evaluated": 1, "2026-11-26 satisfied": 1,
		"2026-11-26 solved": 1, "2026-11-26 registered": 2, "2026-11-26 dispatched": 2, "2026-11-26 returned": 1,
		"2026-11-26 redispatched": 1, "2026-11-26 rerouted": 1, "2026-11-26 extended": 1, "2026-11-26 merged": 1,

		"2026-11-27 accepted": 1, "2026-11-27 handled": 2, "2026-11-27 rework": 1,

		"2026-11-28 closed": 1,
	}
	if d := cmp.Diff(wantByDay, counts(t, s, byDay)); d != "" {
		t.Errorf("the city by day (-want +got):\n%s", d)
	}
	byDept := ticketing.IndicatorQuery{Dim: ticketing.DimDepartment, From: "2026-11-01", To: "2026-12-01"}
	wantByDept := map[string]int64{
		"received": 4, "declined": 1, "answered": 1, "merged": 1, // no department yet: triage
		"cgw received": 2, "cgw registered": 2, "cgw dispatched": 2, "cgw accepted": 2, "cgw handled": 1,
		"cgw handled_on_time": 1, "cgw closed": 1, "cgw closed_on_time": 1, "cgw evaluated": 1,
		"cgw satisfied": 1, "cgw solved": 1, "cgw extended": 1,
		"swj registered": 1, "swj dispatched": 1, "swj returned": 1,
		"jtw redispatched": 1, "jtw rerouted": 1, "jtw accepted": 1, "jtw handled": 2, "jtw rework": 1, "jtw closed": 1,
	}
	if d := cmp.Diff(wantByDept, counts(t, s, byDept)); d != "" {
		t.Errorf("by department over November (-want +got):\n%s", d)
	}
	for _, tc := range []struct {
		dim  ticketing.Dim
		want map[string]int64
	}{
		{ticketing.DimChannel, map[string]int64{"web": 3, "phone": 2, "wechat": 1}},
		{ticketing.DimGrid, map[string]int64{"g1": 2, "g2": 4}},
		{ticketing.DimStreet, map[string]int64{"s1": 2, "s2": 4}},
		{ticketing.DimDistrict, map[string]int64{"d1": 6}},
		{ticketing.DimCategory, map[string]int64{"0101": 2, "0202": 4}},
	} {
		got := map[string]int64{}
		for k, n := range counts(t, s, ticketing.IndicatorQuery{Dim: tc.dim, From: "2026-11-25", To: "2026-11-29"}) {
			if key, ok := strings.CutSuffix(k, " received"); ok {
				got[key] = n
			}
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("reports received by %s (-want +got):\n%s", tc.dim, d)
		}
	}

	// A period is [From, To): the 26th alone.
	want26 := map[string]int64{}
	for k, n := range wantByDay {
		if m, ok := strings.CutPrefix(k, "2026-11-26 "); ok {
			want26[m] = n
		}
	}
	if d := cmp.Diff(want26, counts(t, s, ticketing.IndicatorQuery{Dim: ticketing.DimAll, From: "2026-11-26", To: "2026-11-27"})); d != "" {
		t.Errorf("the 26th (-want +got):\n%s", d)
	}
	// Keys select part of a breakdown.
	someDepts := byDept
	someDepts.Keys, someDepts.ByDay = []string{"jtw", ""}, true
	wantSome := map[string]int64{
		"2026-11-25 received": 2, "2026-11-25 declined": 1, "2026-11-25 answered": 1,
		"2026-11-26 received": 2, "2026-11-26 merged": 1, "2026-11-26 jtw redispatched": 1, "2026-11-26 jtw rerouted": 1,
		"2026-11-27 jtw accepted": 1, "2026-11-27 jtw handled": 2, "2026-11-27 jtw rework": 1,
		"2026-11-28 jtw closed": 1,
	}
	if d := cmp.Diff(wantSome, counts(t, s, someDepts)); d != "" {
		t.Errorf("two departments by day (-want +got):\n%s", d)
	}
	if got := counts(t, s, ticketing.IndicatorQuery{Dim: ticketing.DimGrid, From: "2026-12-01", To: "2027-01-01"}); len(got) != 0 {
		t.Errorf("a period with nothing: %v", got)
	}

	// Rolling up again counts nothing twice; new events add to the sums.
	if n := rollup(t, s, loc); n != 0 {
		t.Errorf("second rollup folded %d tallies, want 0", n)
	}
	if d := cmp.Diff(wantByDay, counts(t, s, byDay)); d != "" {
		t.Errorf("after rolling up twice (-want +got):\n%s", d)
	}
	at(28, 9, 0, 0, 0)
	act(te, handled) // on time: E's deadline was extended
	if n := rollup(t, s, loc); n != 2 {
		t.Errorf("rollup after one more event folded %d tallies, want 2", n)
	}
	wantByDay["2026-11-28 handled"], wantByDay["2026-11-28 handled_on_time"] = 1, 1
	if d := cmp.Diff(wantByDay, counts(t, s, byDay)); d != "" {
		t.Errorf("after one more event (-want +got):\n%s", d)
	}
}

// concurrentRollups submits reports through a and b while both roll up
// again and again: every tally is counted exactly once.
// A rollup refused as unavailable (SQLite's busy timeout, when two
// handles on one file keep its lock busy) is tried again, as the server's
// roller does on its next tick; a refused rollup wrote nothing, which the
// final count checks. The rollers pause between rollups, as the server's
// do: rolling up back to back kept one handle's lock so busy that the
// other's waited past the timeout on a loaded machine.
func concurrentRollups(t *testing.T, a, b ticketing.Store) {
	ctx := context.Background()
	const submitters, each = 4, 25
	var folded atomic.Int64
	var done atomic.Bool
	var rollers, wg sync.WaitGroup
	for i, s := range []ticketing.Store{a, b, a, b} {
		rollers.Add(1)
		go func() {
			defer rollers.Done()
			for !done.Load() {
				n, err := s.RollupIndicators(ctx, time.UTC)
				if err != nil && !errors.Is(err, ticketing.ErrUnavailable) {
					t.Errorf("roller %d: %v", i, err)
					return
				}
				folded.Add(int64(n))
				time.Sleep(time.Millisecond)
			}
		}()
	}
	for i := range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc, _ := newService([]ticketing.Store{a, b}[i%2])
			for j := range each {
				if _, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb,
					ExternalID: fmt.Sprint("r", i, "-", j), Text: fmt.Sprint("井盖 ", i, j)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	done.Store(true)
	rollers.Wait()
	folded.Add(int64(rollup(t, a, time.UTC)))
	const tickets = submitters * each
	if folded.Load() != 3*tickets {
		t.Errorf("rollups folded %d tallies in all, want %d (received, registered, dispatched of %d tickets)",
			folded.Load(), 3*tickets, tickets)
	}
	want := map[string]int64{"received": tickets, "registered": tickets, "dispatched": tickets}
	for _, s := range []ticketing.Store{a, b} {
		if d := cmp.Diff(want, counts(t, s, ticketing.IndicatorQuery{Dim: ticketing.DimAll, From: "2026-11-25", To: "2026-11-26"})); d != "" {
			t.Errorf("sums (-want +got):\n%s", d)
		}
	}
	if d := cmp.Diff(map[string]int64{"cgw received": tickets, "cgw registered": tickets, "cgw dispatched": tickets},
		counts(t, a, ticketing.IndicatorQuery{Dim: ticketing.DimDepartment, From: "2026-11-25", To: "2026-11-26"})); d != "" {
		t.Errorf("sums by department (-want +got):\n%s", d)
	}
}

// A query of whole months (which stores may answer from monthly sums)
// counts what the same query by day does, months taken in the city's time
// zone: the last millisecond of a month in the city is in that month, the
// first of the next (the same day in UTC) is not.
func testIndicatorMonths(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	loc := cityZone(t)
	c := &handClock{}
	svc := ticketing.NewService(s, gridRouter{}, ticketing.WithClock(c.now), ticketing.WithLocation(loc))
	for i, r := range []struct {
		at   time.Time
		text string
	}{
		{time.Date(2026, 10, 31, 23, 59, 59, 999_000_000, loc), "井盖"},
		{time.Date(2026, 11, 1, 0, 0, 0, 0, loc), "路灯"},
		{time.Date(2026, 11, 15, 12, 0, 0, 0, loc), "井盖"},
		{time.Date(2026, 11, 30, 23, 59, 59, 999_000_000, loc), "井盖"},
		{time.Date(2026, 12, 1, 0, 0, 0, 1_000_000, loc), "路灯"},
	} {
		c.set(r.at)
		if _, _, err := svc.Submit(ctx, ticketing.Report{Channel: []ticketing.Channel{ticketing.ChannelWeb, ticketing.ChannelPhone}[i%2],
			ExternalID: fmt.Sprint("m", i), Text: fmt.Sprint(r.text, " ", i)}); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			rollup(t, s, loc) // the later ones add to sums that exist
		}
	}
	rollup(t, s, loc)
	for _, q := range []ticketing.IndicatorQuery{
		{From: "2026-11-01", To: "2026-12-01"},
		{From: "2026-10-01", To: "2027-01-01"},
		{From: "2026-12-01", To: "2027-01-01"},
		{From: "2026-11-01", To: "2026-12-01", Keys: []string{"cgw", "s2", "0101", "web"}},
	} {
		for _, d := range ticketing.Dims {
			q.Dim = d
			days := q
			days.ByDay = true
			summed := map[string]int64{}
			for k, n := range counts(t, s, days) {
				_, rest, _ := strings.Cut(k, " ")
				summed[rest] += n
			}
			whole := counts(t, s, q)
			if diff := cmp.Diff(summed, whole); diff != "" {
				t.Errorf("%+v: the whole months (+) differ from the sum of their days (-):\n%s", q, diff)
			}
			// One metric (the map's) is the same rows, whichever table.
			for _, byDay := range []bool{false, true} {
				one := q
				one.ByDay, one.Metrics = byDay, []ticketing.Metric{ticketing.MetricReceived}
				all := whole
				if byDay {
					all = counts(t, s, days)
				}
				want := map[string]int64{}
				for k, n := range all {
					if strings.HasSuffix(k, "received") {
						want[k] = n
					}
				}
				if diff := cmp.Diff(want, counts(t, s, one)); diff != "" {
					t.Errorf("%+v: only received (+) differs from all metrics' received (-):\n%s", one, diff)
				}
			}
		}
	}
	for month, want := range map[string]int64{"2026-10-01": 1, "2026-11-01": 3, "2026-12-01": 1} {
		next, _ := time.Parse(time.DateOnly, month)
		q := ticketing.IndicatorQuery{Dim: ticketing.DimAll, From: month, To: next.AddDate(0, 1, 0).Format(time.DateOnly)}
		if got := counts(t, s, q)["received"]; got != want {
			t.Errorf("received in the month from %s = %d, want %d", month, got, want)
		}
	}
}

func testIndicatorBadQueries(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	ok := ticketing.IndicatorQuery{Dim: ticketing.DimGrid, From: "2026-11-01", To: "2026-12-01"}
	for _, tc := range []struct {
		name  string
		edit  func(*ticketing.IndicatorQuery)
		field string
	}{
		{"no breakdown", func(q *ticketing.IndicatorQuery) { q.Dim = "" }, "dim"},
		{"unknown breakdown", func(q *ticketing.IndicatorQuery) { q.Dim = "ward" }, "dim"},
		{"no start", func(q *ticketing.IndicatorQuery) { q.From = "" }, "from"},
		{"start not a date", func(q *ticketing.IndicatorQuery) { q.From = "2026-13-01" }, "from"},
		{"start with a time", func(q *ticketing.IndicatorQuery) { q.From = "2026-11-01T00:00:00Z" }, "from"},
		{"start without leading zeros", func(q *ticketing.IndicatorQuery) { q.From = "2026-11-1" }, "from"},
		{"end not a date", func(q *ticketing.IndicatorQuery) { q.To = "December" }, "to"},
		{"empty period", func(q *ticketing.IndicatorQuery) { q.To = q.From }, "to"},
		{"end before start", func(q *ticketing.IndicatorQuery) { q.From, q.To = q.To, q.From }, "to"},
		{"unknown metric", func(q *ticketing.IndicatorQuery) { q.Metrics = []ticketing.Metric{"received", "rainfall"} }, "metrics"},
	} {
		q := ok
		tc.edit(&q)
		_, err := s.Indicators(ctx, q)
		var e *ticketing.Error
		if !errors.As(err, &e) || e.Kind != ticketing.KindInvalid || e.Field != tc.field {
			t.Errorf("%s: Indicators(%+v) = %v, want KindInvalid on %s", tc.name, q, err, tc.field)
		}
	}
	if got, err := s.Indicators(ctx, ok); err != nil || len(got) != 0 {
		t.Errorf("a good query on an empty store = %v, %v", got, err)
	}
	if _, err := s.RollupIndicators(ctx, nil); !errors.Is(err, ticketing.ErrInvalid) {
		t.Errorf("RollupIndicators(nil) = %v, want ErrInvalid", err)
	}
}
