package ticketing_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/yihao-city/yihao/ticketing"
)

var due = time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)

// routed is a ticket of cgw on grid g1, due at due.
func routed(st ticketing.Status) *ticketing.Ticket {
	return &ticketing.Ticket{ID: 7, Status: st, Channel: ticketing.ChannelWeChat, Category: "0101", Department: "cgw",
		Area: ticketing.Area{Grid: "g1", Community: "c1", Street: "s1", District: "d1"}, DueAt: due}
}

func TestTalliesOf(t *testing.T) {
	before, after := due.Add(-time.Hour), due.Add(time.Second)
	ev := func(typ ticketing.EventType, from, to ticketing.Status, at time.Time) ticketing.Event {
		return ticketing.Event{Type: typ, From: from, To: to, At: at}
	}
	evaluated := func(s ticketing.Satisfaction, solved bool) *ticketing.Ticket {
		tk := routed(ticketing.StatusClosed)
		tk.Evaluation = &ticketing.Evaluation{Satisfaction: s, Solved: solved, At: before}
		return tk
	}
	undue := routed(ticketing.StatusHandled)
	undue.DueAt = time.Time{}
	tests := []struct {
		name string
		tk   *ticketing.Ticket // after the event
		ev   ticketing.Event
		want []ticketing.Metric
	}{
		{"received", routed(ticketing.StatusReceived), ev(ticketing.EventReceived, "", ticketing.StatusReceived, before), []ticketing.Metric{ticketing.MetricReceived}},
		{"registered", routed(ticketing.StatusRegistered), ev(ticketing.EventRegistered, ticketing.StatusReceived, ticketing.StatusRegistered, before), []ticketing.Metric{ticketing.MetricRegistered}},
		{"declined", routed(ticketing.StatusNotRegistered), ev(ticketing.EventDeclined, ticketing.StatusReceived, ticketing.StatusNotRegistered, before), []ticketing.Metric{ticketing.MetricDeclined}},
		{"answered on contact", routed(ticketing.StatusResolvedOnContact), ev(ticketing.EventResolvedOnContact, ticketing.StatusReceived, ticketing.StatusResolvedOnContact, before), []ticketing.Metric{ticketing.MetricAnswered}},
		{"first dispatch", routed(ticketing.StatusDispatched), ev(ticketing.EventDispatched, ticketing.StatusRegistered, ticketing.StatusDispatched, before), []ticketing.Metric{ticketing.MetricDispatched}},
		{"first dispatch straight from received", routed(ticketing.StatusDispatched), ev(ticketing.EventDispatched, ticketing.StatusReceived, ticketing.StatusDispatched, before), []ticketing.Metric{ticketing.MetricDispatched}},
		{"re-dispatch after a return", routed(ticketing.StatusDispatched), ev(ticketing.EventDispatched, ticketing.StatusReturned, ticketing.StatusDispatched, before), []ticketing.Metric{ticketing.MetricRedispatched}},
		{"re-dispatch of a dispatched ticket", routed(ticketing.StatusDispatched), ev(ticketing.EventDispatched, ticketing.StatusDispatched, ticketing.StatusDispatched, before), []ticketing.Metric{ticketing.MetricRedispatched}},
		{"accepted", routed(ticketing.StatusAccepted), ev(ticketing.EventAccepted, ticketing.StatusDispatched, ticketing.StatusAccepted, before), []ticketing.Metric{ticketing.MetricAccepted}},
		{"returned", routed(ticketing.StatusReturned), ev(ticketing.EventReturned, ticketing.StatusAccepted, ticketing.StatusReturned, before), []ticketing.Metric{ticketing.MetricReturned}},
		{"handled in time", routed(ticketing.StatusHandled), ev(ticketing.EventHandled, ticketing.StatusAccepted, ticketing.StatusHandled, before), []ticketing.Metric{ticketing.MetricHandled, ticketing.MetricHandledOnTime}},
		{"handled at the deadline", routed(ticketing.StatusHandled), ev(ticketing.EventHandled, ticketing.StatusAccepted, ticketing.StatusHandled, due), []ticketing.Metric{ticketing.MetricHandled, ticketing.MetricHandledOnTime}},
		{"handled late", routed(ticketing.StatusHandled), ev(ticketing.EventHandled, ticketing.StatusAccepted, ticketing.StatusHandled, after), []ticketing.Metric{ticketing.MetricHandled}},
		{"handled without a deadline", undue, ev(ticketing.EventHandled, ticketing.StatusAccepted, ticketing.StatusHandled, before), []ticketing.Metric{ticketing.MetricHandled}},
		{"closed in time", routed(ticketing.StatusClosed), ev(ticketing.EventClosed, ticketing.StatusHandled, ticketing.StatusClosed, before), []ticketing.Metric{ticketing.MetricClosed, ticketing.MetricClosedOnTime}},
		{"closed late", routed(ticketing.StatusClosed), ev(ticketing.EventClosed, ticketing.StatusHandled, ticketing.StatusClosed, after), []ticketing.Metric{ticketing.MetricClosed}},
		{"rework", routed(ticketing.StatusAccepted), ev(ticketing.EventRework, ticketing.StatusHandled, ticketing.StatusAccepted, before), []ticketing.Metric{ticketing.MetricRework}},
		{"extension approved", routed(ticketing.StatusAccepted), ev(ticketing.EventExtensionApproved, ticketing.StatusAccepted, ticketing.StatusAccepted, before), []ticketing.Metric{ticketing.MetricExtended}},
		{"satisfied and solved", evaluated(ticketing.Satisfied, true), ev(ticketing.EventEvaluated, ticketing.StatusClosed, ticketing.StatusClosed, after), []ticketing.Metric{ticketing.MetricEvaluated, ticketing.MetricSatisfied, ticketing.MetricSolved}},
		{"basically satisfied, unsolved", evaluated(ticketing.BasicSatisfied, false), ev(ticketing.EventEvaluated, ticketing.StatusClosed, ticketing.StatusClosed, after), []ticketing.Metric{ticketing.MetricEvaluated, ticketing.MetricSatisfied}},
		{"unsatisfied but solved", evaluated(ticketing.Unsatisfied, true), ev(ticketing.EventEvaluated, ticketing.StatusClosed, ticketing.StatusClosed, after), []ticketing.Metric{ticketing.MetricEvaluated, ticketing.MetricSolved}},
		{"unsatisfied, unsolved", evaluated(ticketing.Unsatisfied, false), ev(ticketing.EventEvaluated, ticketing.StatusClosed, ticketing.StatusClosed, after), []ticketing.Metric{ticketing.MetricEvaluated}},
		{"merged", routed(ticketing.StatusMerged), ev(ticketing.EventMerged, ticketing.StatusReceived, ticketing.StatusMerged, before), []ticketing.Metric{ticketing.MetricMerged}},
		{"reopened", routed(ticketing.StatusRegistered), ev(ticketing.EventReopened, ticketing.StatusClosed, ticketing.StatusRegistered, before), []ticketing.Metric{ticketing.MetricReopened}},
		{"overdue", routed(ticketing.StatusAccepted), ev(ticketing.EventDeadlineRed, ticketing.StatusAccepted, ticketing.StatusAccepted, after), []ticketing.Metric{ticketing.MetricOverdue}},
		{"yellow light", routed(ticketing.StatusAccepted), ev(ticketing.EventDeadlineYellow, ticketing.StatusAccepted, ticketing.StatusAccepted, before), nil},
		{"return refused", routed(ticketing.StatusDispatched), ev(ticketing.EventReturnRefused, ticketing.StatusReturned, ticketing.StatusDispatched, before), nil},
		{"extension requested", routed(ticketing.StatusAccepted), ev(ticketing.EventExtensionRequested, ticketing.StatusAccepted, ticketing.StatusAccepted, before), nil},
		{"extension refused", routed(ticketing.StatusAccepted), ev(ticketing.EventExtensionRefused, ticketing.StatusAccepted, ticketing.StatusAccepted, before), nil},
		{"note", routed(ticketing.StatusAccepted), ev(ticketing.EventNote, ticketing.StatusAccepted, ticketing.StatusAccepted, before), nil},
		{"forwarded", routed(ticketing.StatusDispatched), ev(ticketing.EventForwarded, ticketing.StatusDispatched, ticketing.StatusDispatched, before), nil},
		{"external update", routed(ticketing.StatusDispatched), ev(ticketing.EventExternalUpdate, ticketing.StatusDispatched, ticketing.StatusDispatched, before), nil},
		{"supplemented", routed(ticketing.StatusDispatched), ev(ticketing.EventSupplemented, ticketing.StatusDispatched, ticketing.StatusDispatched, before), nil},
	}
	keys := ticketing.TallyKeys{Department: "cgw", District: "d1", Street: "s1", Community: "c1", Grid: "g1", Category: "0101", Channel: ticketing.ChannelWeChat}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want []ticketing.Tally
			for _, m := range tc.want {
				want = append(want, ticketing.Tally{At: tc.ev.At, Metric: m, Keys: keys, N: 1})
			}
			if d := cmp.Diff(want, ticketing.TalliesOf(tc.tk, []ticketing.Event{tc.ev})); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// Every event of one save is counted at its own time, with the keys the
// ticket has after the save.
func TestTalliesOfASave(t *testing.T) {
	received := due.Add(-48 * time.Hour)
	tk := &ticketing.Ticket{ID: 1, Status: ticketing.StatusReceived, Channel: ticketing.ChannelPhone}
	if err := tk.Register(received.Add(time.Minute), "dispatcher", ""); err != nil {
		t.Fatal(err)
	}
	if err := tk.Dispatch(received.Add(2*time.Minute), "dispatcher", ticketing.Assignment{Department: "swj", Category: "0202",
		Deadline: due, Area: ticketing.Area{Grid: "g9", Street: "s9", District: "d9"}}, ""); err != nil {
		t.Fatal(err)
	}
	keys := ticketing.TallyKeys{Department: "swj", District: "d9", Street: "s9", Grid: "g9", Category: "0202", Channel: ticketing.ChannelPhone}
	want := []ticketing.Tally{
		{At: received.Add(time.Minute), Metric: ticketing.MetricRegistered, Keys: keys, N: 1},
		{At: received.Add(2 * time.Minute), Metric: ticketing.MetricDispatched, Keys: keys, N: 1},
	}
	if d := cmp.Diff(want, ticketing.TalliesOf(tk, tk.PendingEvents())); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if got := ticketing.TalliesOf(tk, nil); len(got) != 0 {
		t.Errorf("no events, tallies %v", got)
	}
}

func TestTallyKeys(t *testing.T) {
	k := ticketing.TallyKeys{Department: "cgw", District: "d", Street: "s", Community: "m", Grid: "g", Category: "c",
		Channel: ticketing.ChannelWeb, Supervisor: "sup", Article: "7"}
	want := map[ticketing.Dim]string{ticketing.DimAll: "", ticketing.DimDepartment: "cgw", ticketing.DimDistrict: "d",
		ticketing.DimStreet: "s", ticketing.DimCommunity: "m", ticketing.DimGrid: "g", ticketing.DimSupervisor: "sup",
		ticketing.DimArticle: "7", ticketing.DimCategory: "c", ticketing.DimChannel: "web"}
	if len(want) != len(ticketing.Dims) {
		t.Fatalf("the test knows %d breakdowns, Dims has %d", len(want), len(ticketing.Dims))
	}
	for _, d := range ticketing.Dims {
		if got := k.Key(d); got != want[d] {
			t.Errorf("Key(%s) = %q, want %q", d, got, want[d])
		}
		if !k.Counts(d) {
			t.Errorf("Counts(%s) = false with every key set", d)
		}
	}
	// A count of no supervisor and no article goes into every breakdown
	// but theirs.
	k.Supervisor, k.Article = "", ""
	for _, d := range ticketing.Dims {
		if got := k.Counts(d); got != (d != ticketing.DimSupervisor && d != ticketing.DimArticle) {
			t.Errorf("without a supervisor or an article, Counts(%s) = %v", d, got)
		}
	}
}

func TestRates(t *testing.T) {
	f := ticketing.Figures{
		ticketing.MetricReceived: 200, ticketing.MetricRegistered: 150, ticketing.MetricDispatched: 120,
		ticketing.MetricRedispatched: 30, ticketing.MetricAccepted: 135, ticketing.MetricHandled: 100,
		ticketing.MetricHandledOnTime: 90, ticketing.MetricClosed: 96, ticketing.MetricClosedOnTime: 84,
		ticketing.MetricRework: 6, ticketing.MetricExtended: 12, ticketing.MetricEvaluated: 80,
		ticketing.MetricSatisfied: 72, ticketing.MetricSolved: 60, ticketing.MetricOverdue: 18,
		ticketing.MetricFound: 45, ticketing.MetricMissed: 15, ticketing.MetricConfirmed: 20, ticketing.MetricConfirmedOnTime: 19,
		ticketing.MetricInspected: 50, ticketing.MetricInspectedOnTime: 40, ticketing.MetricReported: 60,
		ticketing.MetricSelfHandled: 9, ticketing.MetricAnswered: 40, ticketing.MetricKBAnswered: 30,
		ticketing.MetricRerouted: 12,
	}
	want := []struct {
		code     string
		num, den int64
		value    float64
	}{
		{"registration_rate", 150, 200, 0.75},
		{"dispatch_rate", 120, 150, 0.8},
		{"on_time_handling_rate", 90, 100, 0.9},
		{"closure_rate", 96, 120, 0.8},
		{"on_time_closure_rate", 84, 120, 0.7},
		{"rework_rate", 6, 120, 0.05},
		{"extension_rate", 12, 120, 0.1},
		{"response_rate", 135, 150, 0.9},
		{"solution_rate", 60, 80, 0.75},
		{"satisfaction_rate", 72, 80, 0.9},
		{"overdue_rate", 18, 120, 0.15},
		{"found_rate", 45, 150, 0.3},
		{"missed_rate", 15, 150, 0.1},
		{"on_time_confirm_rate", 19, 20, 0.95},
		{"on_time_inspect_rate", 40, 50, 0.8},
		{"valid_report_rate", 54, 60, 0.9},
		{"direct_rate", 40, 200, 0.2},
		{"kb_answer_rate", 30, 40, 0.75},
		{"reroute_rate", 12, 120, 0.1},
	}
	rates := f.Rates()
	if len(rates) != len(want) {
		t.Fatalf("%d rates, want %d", len(rates), len(want))
	}
	for i, w := range want {
		r := rates[i]
		if r.Code != w.code || r.Num != w.num || r.Den != w.den || r.Label == "" {
			t.Errorf("rate %d = %+v, want %s %d/%d", i, r, w.code, w.num, w.den)
		}
		if v := r.Value(); v < w.value-1e-9 || v > w.value+1e-9 {
			t.Errorf("%s = %v, want %v", r.Code, v, w.value)
		}
	}
	// Nothing counted: every rate is 0, not NaN.
	for _, r := range (ticketing.Figures{}).Rates() {
		if r.Value() != 0 || r.Den != 0 {
			t.Errorf("%s of nothing = %v (%d/%d)", r.Code, r.Value(), r.Num, r.Den)
		}
	}
	// A short period can pass 100%: closed this month, dispatched last.
	over := ticketing.Figures{ticketing.MetricClosed: 3, ticketing.MetricDispatched: 2}.Rates()
	if i := slices.IndexFunc(over, func(r ticketing.Rate) bool { return r.Code == "closure_rate" }); over[i].Value() != 1.5 {
		t.Errorf("closure rate = %v, want 1.5", over[i].Value())
	}
}

func TestIndicatorQueryValidate(t *testing.T) {
	ok := ticketing.IndicatorQuery{Dim: ticketing.DimDepartment, From: "2026-11-01", To: "2026-11-02"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("one day: %v", err)
	}
	for _, tc := range []struct {
		name  string
		q     ticketing.IndicatorQuery
		field string
	}{
		{"unknown dim", ticketing.IndicatorQuery{Dim: "ward", From: ok.From, To: ok.To}, "dim"},
		{"bad from", ticketing.IndicatorQuery{Dim: ok.Dim, From: "11/01/2026", To: ok.To}, "from"},
		{"bad to", ticketing.IndicatorQuery{Dim: ok.Dim, From: ok.From, To: "2026-11-31"}, "to"},
		{"empty period", ticketing.IndicatorQuery{Dim: ok.Dim, From: ok.From, To: ok.From}, "to"},
	} {
		err := tc.q.Validate()
		var e *ticketing.Error
		if !errors.As(err, &e) || e.Kind != ticketing.KindInvalid || e.Field != tc.field {
			t.Errorf("%s: %v, want invalid %s", tc.name, err, tc.field)
		}
	}
}

// 改派: a person's dispatch that changes the category routing gave, or a
// re-dispatch to another department, is counted; routing's own dispatch,
// a dispatcher confirming routing's category, and a return sent back to
// the same department are not.
func TestRerouted(t *testing.T) {
	at := due.Add(-48 * time.Hour)
	a := func(category, dept string) ticketing.Assignment {
		return ticketing.Assignment{Category: category, Department: dept, Deadline: due}
	}
	count := func(tk *ticketing.Ticket) int {
		n := 0
		for _, tl := range ticketing.TalliesOf(tk, tk.PendingEvents()) {
			if tl.Metric == ticketing.MetricRerouted {
				n += tl.N
			}
		}
		return n
	}
	for name, c := range map[string]struct {
		actor, category string
		want            int
	}{
		"routing's own dispatch":     {ticketing.ActorRouter, "0101", 0},
		"the dispatcher agrees":      {"dispatcher", "0103", 0},
		"the dispatcher corrects it": {"dispatcher", "0101", 1},
	} {
		tk := &ticketing.Ticket{ID: 1, Status: ticketing.StatusRegistered, Category: "0103"} // routing's guess, not yet sent
		if err := tk.Dispatch(at, c.actor, a(c.category, "cgw"), ""); err != nil {
			t.Fatal(err)
		}
		if got := count(tk); got != c.want {
			t.Errorf("%s: %d rerouted, want %d", name, got, c.want)
		}
	}
	tk := routed(ticketing.StatusReturned)
	tk.ClearPending()
	if err := tk.Dispatch(at, "dispatcher", a("0101", "cgw"), "退回后重派"); err != nil || count(tk) != 0 {
		t.Errorf("re-dispatched to the same department: %v, %d rerouted", err, count(tk))
	}
	tk = routed(ticketing.StatusReturned)
	if err := tk.Dispatch(at, "dispatcher", a("0101", "swj"), "应由水务局办理"); err != nil || count(tk) != 1 {
		t.Errorf("re-dispatched to another department: %v, %d rerouted", err, count(tk))
	}
}
