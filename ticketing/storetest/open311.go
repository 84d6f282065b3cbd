package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// listingTests returns the conformance tests of the listing queries the
// Open311 door uses (Store.List and Store.EventsBetween).
func listingTests() []storeTest {
	return []storeTest{
		{"List", testList},
		{"ListLimitAndEmpty", testListLimitAndEmpty},
		{"EventsBetween", testEventsBetween},
		{"LatestPublic", testLatestPublic},
		{"LatestByPhone", testLatestByPhone},
	}
}

// listFixture submits five reports received an hour apart: web and
// open311, 井盖 ones routed to 0101 and dispatched, the rest waiting; the
// third is then declined (finished).
func listFixture(t *testing.T, s ticketing.Store) (*ticketing.Service, []*ticketing.Ticket) {
	t.Helper()
	ctx := context.Background()
	svc, _ := newService(s)
	in := []struct {
		ch   ticketing.Channel
		text string
	}{
		{ticketing.ChannelOpen311, "井盖缺失一"},
		{ticketing.ChannelWeb, "井盖缺失二"},
		{ticketing.ChannelOpen311, "路灯不亮三"},
		{ticketing.ChannelOpen311, "井盖缺失四"},
		{ticketing.ChannelWeb, "路灯不亮五"},
	}
	var out []*ticketing.Ticket
	for i, r := range in {
		tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: r.ch, Text: r.text, ReceivedAt: base.Add(time.Duration(i) * time.Hour)})
		if err != nil {
			t.Fatalf("Submit %d: %v", i, err)
		}
		out = append(out, tk)
	}
	declined, err := svc.Act(ctx, out[2].Number, func(tk *ticketing.Ticket, now time.Time) error {
		return tk.Decline(now, "dispatcher", "重复反映")
	})
	if err != nil {
		t.Fatal(err)
	}
	out[2] = declined
	return svc, out
}

func numbers(ts []*ticketing.Ticket) []string {
	out := make([]string, len(ts))
	for i, tk := range ts {
		out[i] = tk.Number
	}
	return out
}

func testList(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	_, tks := listFixture(t, s)
	n := numbers(tks)
	yes, no := true, false
	for _, tc := range []struct {
		name string
		f    ticketing.ListFilter
		want []string
	}{
		{"all", ticketing.ListFilter{}, n},
		{"numbers", ticketing.ListFilter{Numbers: []string{n[3], n[0], "000000000000"}}, []string{n[0], n[3]}},
		{"category", ticketing.ListFilter{Categories: []string{"0101"}}, []string{n[0], n[1], n[3]}},
		{"categories", ticketing.ListFilter{Categories: []string{"0101", ""}}, n},
		{"open", ticketing.ListFilter{Open: &yes}, []string{n[0], n[1], n[3], n[4]}},
		{"finished", ticketing.ListFilter{Open: &no}, []string{n[2]}},
		{"channel", ticketing.ListFilter{Channel: ticketing.ChannelOpen311}, []string{n[0], n[2], n[3]}},
		{"from inclusive", ticketing.ListFilter{From: base.Add(time.Hour)}, n[1:]},
		{"to exclusive", ticketing.ListFilter{To: base.Add(2 * time.Hour)}, n[:2]},
		{"window", ticketing.ListFilter{From: base.Add(30 * time.Minute), To: base.Add(3*time.Hour + time.Minute)}, n[1:4]},
		{"together", ticketing.ListFilter{Channel: ticketing.ChannelOpen311, Categories: []string{"0101"}, Open: &yes, From: base.Add(time.Minute)}, []string{n[3]}},
		{"nothing", ticketing.ListFilter{From: base.Add(24 * time.Hour)}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.List(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if g := numbers(got); !slices.Equal(g, tc.want) {
				t.Errorf("List(%+v) = %v, want %v", tc.f, g, tc.want)
			}
		})
	}
	// A listed ticket is the whole ticket, as ByNumber reads it.
	got, err := s.List(ctx, ticketing.ListFilter{Numbers: []string{n[0]}})
	if err != nil || len(got) != 1 {
		t.Fatalf("List by number: %v, %v", got, err)
	}
	one, err := s.ByNumber(ctx, n[0])
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Status != ticketing.StatusDispatched || got[0].DepartmentName != one.DepartmentName ||
		!got[0].DueAt.Equal(one.DueAt) || !got[0].ReceivedAt.Equal(one.ReceivedAt) || got[0].Text != one.Text {
		t.Errorf("listed ticket %+v differs from ByNumber's %+v", got[0], one)
	}
}

func testListLimitAndEmpty(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	_, tks := listFixture(t, s)
	got, err := s.List(ctx, ticketing.ListFilter{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if g := numbers(got); !slices.Equal(g, numbers(tks[:2])) {
		t.Errorf("List(limit 2) = %v, want the two oldest", g)
	}
	// An empty (non-nil) number list selects nothing rather than everything.
	got, err = s.List(ctx, ticketing.ListFilter{Numbers: []string{}})
	if err != nil || len(got) != 0 {
		t.Errorf("List(no numbers) = %v, %v; want none", numbers(got), err)
	}
}

func testEventsBetween(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	svc, tks := listFixture(t, s)
	if err := svc.Note(ctx, tks[1].Number, "staff", ticketing.EventNote, "内部备注", ""); err != nil {
		t.Fatal(err)
	}
	all, err := s.EventsBetween(ctx, ticketing.EventFilter{From: base.Add(-time.Hour), To: base.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// Every event of every ticket, in time order, each with its ticket's number.
	var want int
	byID := map[int64]string{}
	for _, tk := range tks {
		evs, err := s.Events(ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		want += len(evs)
		byID[tk.ID] = tk.Number
	}
	if len(all) != want {
		t.Fatalf("EventsBetween returned %d events, want %d", len(all), want)
	}
	for i, e := range all {
		if e.Number != byID[e.TicketID] || e.Seq < 1 || e.Type == "" || e.At.IsZero() {
			t.Errorf("event %d = %+v: wrong number or empty fields", i, e)
		}
		if i > 0 && e.At.Before(all[i-1].At) {
			t.Errorf("event %d at %v is before event %d at %v", i, e.At, i-1, all[i-1].At)
		}
	}
	last := all[len(all)-1]
	if last.Type != ticketing.EventNote || last.Note != "内部备注" || last.Actor != "staff" || last.Number != tks[1].Number {
		t.Errorf("last event = %+v, want the staff note on %s", last, tks[1].Number)
	}

	public, err := s.EventsBetween(ctx, ticketing.EventFilter{From: base.Add(-time.Hour), To: base.Add(time.Hour), PublicOnly: true, Channel: ticketing.ChannelOpen311})
	if err != nil {
		t.Fatal(err)
	}
	if len(public) == 0 {
		t.Fatal("no public open311 events")
	}
	for _, e := range public {
		if e.Public == "" || (e.Number != tks[0].Number && e.Number != tks[2].Number && e.Number != tks[3].Number) {
			t.Errorf("public open311 filter let through %+v", e)
		}
	}

	// The window is [From, To) and Limit keeps the oldest.
	mid := all[len(all)/2].At
	before, err := s.EventsBetween(ctx, ticketing.EventFilter{From: base.Add(-time.Hour), To: mid})
	if err != nil {
		t.Fatal(err)
	}
	after, err := s.EventsBetween(ctx, ticketing.EventFilter{From: mid, To: base.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(before)+len(after) != len(all) {
		t.Errorf("[from, mid) has %d and [mid, to) %d events; together they should be all %d", len(before), len(after), len(all))
	}
	two, err := s.EventsBetween(ctx, ticketing.EventFilter{From: base.Add(-time.Hour), To: base.Add(time.Hour), Limit: 2})
	if err != nil || len(two) != 2 || two[0].Seq != all[0].Seq || two[1].Number != all[1].Number {
		t.Errorf("EventsBetween(limit 2) = %+v, %v; want the first two", two, err)
	}
	// Skipped events do not use up the limit.
	var wantSkipped []ticketing.NumberedEvent
	for _, e := range all {
		if e.Type != ticketing.EventReceived && !strings.HasPrefix(e.Actor, "router") {
			wantSkipped = append(wantSkipped, e)
		}
	}
	if len(wantSkipped) == 0 || len(wantSkipped) == len(all) {
		t.Fatalf("the fixture needs events both kept and skipped; kept %d of %d", len(wantSkipped), len(all))
	}
	skipped, err := s.EventsBetween(ctx, ticketing.EventFilter{From: base.Add(-time.Hour), To: base.Add(time.Hour),
		SkipTypes: []ticketing.EventType{ticketing.EventReceived}, SkipActorPrefix: "router", Limit: len(wantSkipped)})
	if err != nil || len(skipped) != len(wantSkipped) {
		t.Fatalf("EventsBetween(skipping received and router) = %d events, %v; want %d", len(skipped), err, len(wantSkipped))
	}
	for i := range skipped {
		if skipped[i].Type == ticketing.EventReceived || strings.HasPrefix(skipped[i].Actor, "router") || skipped[i].Seq != wantSkipped[i].Seq {
			t.Errorf("skipped[%d] = %+v", i, skipped[i])
		}
	}
}

func testLatestPublic(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	svc, _ := newService(s)
	a, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "lp-a", Text: "井盖"})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "lp-b", Text: "路灯"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Note(ctx, a.Number, "x", ticketing.EventNote, "internal only", ""); err != nil {
		t.Fatal(err)
	}
	if err := svc.Note(ctx, b.Number, "x", ticketing.EventNote, "n", "市民补充：还没修"); err != nil {
		t.Fatal(err)
	}
	got, err := s.LatestPublic(ctx, []int64{a.ID, b.ID, 999999})
	if err != nil {
		t.Fatal(err)
	}
	if got[a.ID] != "已派遣至城管委（关键词“井盖”）" || got[b.ID] != "市民补充：还没修" || len(got) != 2 {
		t.Errorf("LatestPublic = %v", got)
	}
	if empty, err := s.LatestPublic(ctx, nil); err != nil || len(empty) != 0 {
		t.Errorf("LatestPublic(nil) = %v, %v", empty, err)
	}
}

// A batch of screen pops reads each number's newest tickets since a
// moment in one call: a frequent caller's latest n, not the year's first;
// nothing of another number, of before the moment, or of no number.
func testLatestByPhone(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	svc, _ := newService(s)
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	submit := func(phone string, i int) *ticketing.Ticket {
		t.Helper()
		tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelPhone, Text: "楼道灯不亮",
			Reporter: ticketing.Contact{Phone: phone}, ReceivedAt: start.Add(time.Duration(i) * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	var frequent []string
	for i := range 7 {
		frequent = append(frequent, submit("+8613900000001", i).Number)
	}
	other := submit("+8613900000002", 3).Number
	submit("+8613900000003", -48) // before the moment asked for
	submit("", 4)

	got, err := s.LatestByPhone(ctx, []string{"+8613900000001", "+8613900000002", "+8613900000003", "+8613900000009"}, start.Add(-time.Hour), 5)
	if err != nil {
		t.Fatal(err)
	}
	numbers := func(ts []*ticketing.Ticket) []string {
		var out []string
		for _, tk := range ts {
			out = append(out, tk.Number)
		}
		return out
	}
	want := []string{frequent[6], frequent[5], frequent[4], frequent[3], frequent[2]}
	if g := numbers(got["+8613900000001"]); !slices.Equal(g, want) {
		t.Errorf("frequent caller: %v, want the newest five, newest first: %v", g, want)
	}
	if g := numbers(got["+8613900000002"]); !slices.Equal(g, []string{other}) {
		t.Errorf("another caller: %v, want %v", g, other)
	}
	if len(got) != 2 {
		t.Errorf("LatestByPhone = %d numbers, want 2 (none before the moment, none unknown): %v", len(got), got)
	}
	if empty, err := s.LatestByPhone(ctx, nil, start, 5); err != nil || len(empty) != 0 {
		t.Errorf("LatestByPhone(nil) = %v, %v", empty, err)
	}
}
