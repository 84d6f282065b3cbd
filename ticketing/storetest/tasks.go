package storetest

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

func taskTests() []storeTest {
	return []storeTest{{"FieldTasks", testFieldTasks}, {"PlacedBySupplement", testPlacedBySupplement},
		{"GridClocks", testGridClocks}, {"SupervisorIndicators", testSupervisorIndicators}}
}

// taskRouter places every report in cell g1 of community c1 (street s1);
// reports mentioning 占道 are confirmed on site before they are filed;
// the city runs 核实 in 2 hours and 核查 in 24.
type taskRouter struct{}

var taskArea = ticketing.Area{Grid: "g1", Community: "c1", Street: "s1", District: "d1"}

func (taskRouter) Route(_ context.Context, r ticketing.Report) (ticketing.Assignment, error) {
	return ticketing.Assignment{Category: "0604", Department: "cgw", Priority: ticketing.PriorityNormal,
		Deadline: r.ReceivedAt.Add(72 * time.Hour), Confidence: 0.9, AutoDispatch: true, Area: taskArea,
		Confirm: strings.Contains(r.Text, "占道")}, nil
}

func (taskRouter) Clocks() ticketing.Clocks {
	return ticketing.Clocks{Confirm: 2 * time.Hour, Inspect: 24 * time.Hour}
}

// A citizen's report to be confirmed waits with a 核实 task; the cell's
// supervisors find it in their area's task list (nearest deadline first),
// others do not; confirmed, it is filed and leaves the list. Reported
// handled, it gets a 核查 task; sent back once, passed the second time.
func testFieldTasks(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	c := &clock{}
	svc := ticketing.NewService(s, taskRouter{}, ticketing.WithClock(c.now), ticketing.WithLocation(time.UTC))
	tasksAt := func(area string, l ticketing.Level) []string {
		t.Helper()
		got, err := s.Queue(ctx, ticketing.QueueFilter{Task: true, Sort: ticketing.SortTask, Area: area, AreaLevel: l})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tk := range got {
			out = append(out, tk.Number+":"+string(tk.Task))
		}
		return out
	}
	tasks := func(area string) []string { return tasksAt(area, "") }
	act := func(number string, f func(*ticketing.Ticket, time.Time) error) *ticketing.Ticket {
		t.Helper()
		tk, err := svc.Act(ctx, number, f)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeChat, ExternalID: "task-1", Text: "小区门口占道经营"})
	if err != nil {
		t.Fatal(err)
	}
	plain, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "task-2", Text: "路灯不亮"})
	if err != nil {
		t.Fatal(err)
	}
	if tk.Status != ticketing.StatusReceived || tk.Task != ticketing.TaskConfirm || tk.TaskDue.IsZero() ||
		plain.Status != ticketing.StatusDispatched || plain.Task != "" {
		t.Fatalf("after intake: %s task %q due %v; plain %s task %q", tk.Status, tk.Task, tk.TaskDue, plain.Status, plain.Task)
	}
	want := tk.Number + ":confirm"
	for _, area := range []string{"", "c1", "s1", "g1"} {
		if got := tasks(area); len(got) != 1 || got[0] != want {
			t.Errorf("tasks of %q = %v, want [%s]", area, got, want)
		}
	}
	// Asked at the area's level (the one column the store's indexes
	// serve), the same; at another level, nothing.
	for area, l := range map[string]ticketing.Level{"d1": ticketing.LevelDistrict, "s1": ticketing.LevelStreet,
		"c1": ticketing.LevelCommunity, "g1": ticketing.LevelCell} {
		if got := tasksAt(area, l); len(got) != 1 || got[0] != want {
			t.Errorf("tasks of %s %q = %v, want [%s]", l, area, got, want)
		}
	}
	if got := tasksAt("c1", ticketing.LevelStreet); len(got) != 0 {
		t.Errorf("community code asked as a street: %v", got)
	}
	if got := tasks("c2"); len(got) != 0 {
		t.Errorf("another community's tasks: %v", got)
	}
	act(tk.Number, func(t *ticketing.Ticket, now time.Time) error { return t.TakeTask(now, "sup.a") })
	if got, _ := svc.Ticket(ctx, tk.Number); got.TaskBy != "sup.a" {
		t.Fatalf("taken by %q", got.TaskBy)
	}
	tk = act(tk.Number, func(t *ticketing.Ticket, now time.Time) error {
		return t.Confirm(now, "sup.a", true, "确有流动摊贩")
	})
	if tk.Status != ticketing.StatusRegistered || tk.Task != "" || len(tasks("")) != 0 {
		t.Fatalf("after 核实: %s task %q, list %v", tk.Status, tk.Task, tasks(""))
	}
	due := c.now().Add(72 * time.Hour)
	act(tk.Number, func(t *ticketing.Ticket, now time.Time) error {
		return t.Dispatch(now, "disp", ticketing.Assignment{Department: "cgw", Deadline: due}, "")
	})
	act(tk.Number, func(t *ticketing.Ticket, now time.Time) error { return t.Accept(now, "li") })
	site := ticketing.Attachment{ID: "2026/12/05/site.jpg", ContentType: "image/jpeg", Size: 10, SHA256: "ab"}
	for round, pass := range []bool{false, true} {
		tk = act(tk.Number, func(t *ticketing.Ticket, now time.Time) error { return t.ReportHandled(now, "li", "摊贩已劝离") })
		if tk.Task != ticketing.TaskInspect || tasks("s1")[0] != tk.Number+":inspect" {
			t.Fatalf("round %d: after the result, task %q list %v", round, tk.Task, tasks("s1"))
		}
		tk = act(tk.Number, func(t *ticketing.Ticket, now time.Time) error {
			return t.Inspect(now, "sup.b", pass, "仍在经营", site)
		})
		if tk.Task != "" || len(tasks("")) != 0 {
			t.Fatalf("round %d: after 核查, task %q list %v", round, tk.Task, tasks(""))
		}
	}
	if tk.Status != ticketing.StatusClosed || tk.ReworkCount != 1 || len(tk.Attachments) != 2 {
		t.Errorf("closed: %s, rework %d, %d photos", tk.Status, tk.ReworkCount, len(tk.Attachments))
	}
}

// placingRouter places a report in cell g1 only when it has a location, as
// the grid does; street vending (占道) is confirmed on site before filing,
// and is the street's case (属地).
type placingRouter struct{ taskRouter }

func (placingRouter) Route(_ context.Context, r ticketing.Report) (ticketing.Assignment, error) {
	a := ticketing.Assignment{Category: "0604", Priority: ticketing.PriorityNormal, Confidence: 0.9}
	if r.Location != nil {
		a.Area, a.Centre, a.CentreDue = taskArea, taskArea.Street, r.ReceivedAt.Add(8*time.Hour)
		a.Confirm = strings.Contains(r.Text, "占道")
	}
	return a, nil
}

// A WeChat citizen who writes first and sends where second: the location
// places the waiting report on its cell and, for a type checked on site,
// gives the cell's supervisors their 核实 task. A second location, or one
// for a report already filed, moves nothing.
func testPlacedBySupplement(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	c := &clock{}
	svc := ticketing.NewService(s, placingRouter{}, ticketing.WithClock(c.now), ticketing.WithLocation(time.UTC))
	tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeChat, ExternalID: "wx-1", Text: "胡同口有人占道经营"})
	if err != nil {
		t.Fatal(err)
	}
	if tk.Area.Grid != "" || tk.Task != "" || tk.Centre != "" {
		t.Fatalf("unplaced report: area %+v task %q centre %q", tk.Area, tk.Task, tk.Centre)
	}
	here := &ticketing.Point{Lat: 39.95, Lon: 116.37}
	tk, err = svc.Supplement(ctx, tk.Number, ticketing.ActorCitizen, ticketing.Supplement{Location: here, Key: "wx:2"})
	if err != nil {
		t.Fatal(err)
	}
	if tk.Area != taskArea || tk.Centre != taskArea.Street || tk.Task != ticketing.TaskConfirm || tk.TaskDue.IsZero() ||
		tk.Status != ticketing.StatusReceived {
		t.Fatalf("placed by its location: area %+v centre %q task %q due %v %s", tk.Area, tk.Centre, tk.Task, tk.TaskDue, tk.Status)
	}
	stored, err := s.Queue(ctx, ticketing.QueueFilter{Task: true, Sort: ticketing.SortTask, Area: "c1", AreaLevel: ticketing.LevelCommunity})
	if err != nil || len(stored) != 1 || stored[0].Number != tk.Number {
		t.Fatalf("the community's tasks after the location: %v %v", stored, err)
	}

	// Another citizen's report of a light, placed and filed, then a location:
	// nothing moves.
	other, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeChat, ExternalID: "wx-3", Text: "路灯不亮"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Act(ctx, other.Number, func(t *ticketing.Ticket, now time.Time) error { return t.Register(now, "dispatcher", "") }); err != nil {
		t.Fatal(err)
	}
	other, err = svc.Supplement(ctx, other.Number, ticketing.ActorCitizen, ticketing.Supplement{Location: here, Key: "wx:4"})
	if err != nil {
		t.Fatal(err)
	}
	if other.Area.Grid != "" || other.Task != "" || other.Location == nil {
		t.Errorf("a filed report's location: area %+v task %q location %v", other.Area, other.Task, other.Location)
	}
}

// setClock is a clock the test moves.
type setClock struct{ at atomic.Int64 }

func (c *setClock) now() time.Time  { return time.UnixMicro(c.at.Load()).UTC() }
func (c *setClock) set(t time.Time) { c.at.Store(t.UnixMicro()) }

// The deadline scanner keeps the grid's clocks too: a 核实 not done in its
// two hours and a street centre that has not acted in its eight are each
// recorded once, as events and in the indicators, and the scanner wakes
// for each at its deadline, not before.
func testGridClocks(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	c := &setClock{}
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	c.set(t0)
	svc := ticketing.NewService(s, placingRouter{}, ticketing.WithClock(c.now), ticketing.WithLocation(time.UTC))
	tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "clock-1", Text: "胡同口占道经营",
		Location: &ticketing.Point{Lat: 39.95, Lon: 116.37}, ReceivedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if tk.Task != ticketing.TaskConfirm || !tk.TaskDue.Equal(t0.Add(2*time.Hour)) || !tk.CentreDue.Equal(t0.Add(8*time.Hour)) ||
		!tk.AlarmAt.Equal(tk.TaskDue) {
		t.Fatalf("at intake: task %q due %v, centre due %v, alarm %v", tk.Task, tk.TaskDue, tk.CentreDue, tk.AlarmAt)
	}
	for _, step := range []struct {
		at           time.Time
		changed      int
		task, centre int
	}{
		{t0.Add(time.Hour), 0, 0, 0},
		{t0.Add(2*time.Hour + time.Minute), 1, 1, 0},
		{t0.Add(3 * time.Hour), 0, 1, 0},
		{t0.Add(8*time.Hour + time.Minute), 1, 1, 1},
		{t0.Add(20 * time.Hour), 0, 1, 1},
	} {
		c.set(step.at)
		n, err := svc.Escalate(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		task, centre := eventCount(t, s, tk.ID, ticketing.EventTaskOverdue), eventCount(t, s, tk.ID, ticketing.EventCentreOverdue)
		if n != step.changed || task != step.task || centre != step.centre {
			t.Errorf("at +%v: %d changed, %d task and %d centre overdue; want %d, %d, %d",
				step.at.Sub(t0), n, task, centre, step.changed, step.task, step.centre)
		}
	}
	if _, err := s.RollupIndicators(ctx, time.UTC); err != nil {
		t.Fatal(err)
	}
	counts, err := s.Indicators(ctx, ticketing.IndicatorQuery{Dim: ticketing.DimAll, From: "2026-11-25", To: "2026-11-26",
		Metrics: []ticketing.Metric{ticketing.MetricTaskOverdue, ticketing.MetricCentreOverdue}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[ticketing.Metric]int64{}
	for _, c := range counts {
		got[c.Metric] += c.N
	}
	if got[ticketing.MetricTaskOverdue] != 1 || got[ticketing.MetricCentreOverdue] != 1 {
		t.Errorf("indicators: %v, want one task and one centre overdue", got)
	}

	// A report the 核实 finds nothing of ends with no clock left to wake for.
	other, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "clock-2", Text: "楼下占道经营",
		Location: &ticketing.Point{Lat: 39.95, Lon: 116.37}})
	if err != nil {
		t.Fatal(err)
	}
	other, err = svc.Act(ctx, other.Number, func(t *ticketing.Ticket, now time.Time) error {
		return t.Confirm(now, "sup.li", false, "现场未见摊贩")
	})
	if err != nil {
		t.Fatal(err)
	}
	if other.Status != ticketing.StatusNotRegistered || !other.AlarmAt.IsZero() {
		t.Errorf("declined after 核实: %s, alarm %v; want no alarm", other.Status, other.AlarmAt)
	}
}

// The indicators of the grid's people and its smallest area: a
// supervisor's reports (filed or fixed on the spot) count as theirs, with
// the finder kept on the case; a 核实 or 核查 counts for the supervisor
// who did it; a citizen's case counts for no supervisor; the community
// counts everything in it.
func testSupervisorIndicators(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	c := &clock{}
	svc := ticketing.NewService(s, taskRouter{}, ticketing.WithClock(c.now), ticketing.WithLocation(time.UTC))
	photo := func(name string) ticketing.Attachment {
		return ticketing.Attachment{ID: "2026/11/25/" + name + ".jpg", ContentType: "image/jpeg", Size: 10, SHA256: "ab"}
	}
	field := func(id, text string) ticketing.Report {
		return ticketing.Report{Channel: ticketing.ChannelField, ExternalID: id, Text: text,
			By: ticketing.SupervisorActor("sup.a"), Attachments: []ticketing.Attachment{photo(id)}}
	}
	found, _, err := svc.Submit(ctx, field("sup-1", "井盖破损"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.SubmitSelfHandled(ctx, field("sup-2", "小广告"), ticketing.SupervisorActor("sup.a"), "已清除", []ticketing.Attachment{photo("sup-2-after")}); err != nil {
		t.Fatal(err)
	}
	citizen, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeChat, ExternalID: "sup-3", Text: "门口占道经营"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := svc.Ticket(ctx, found.Number); err != nil || got.FoundBy != "sup.a" {
		t.Fatalf("the finder of a field report: %q, %v", got.FoundBy, err)
	}
	if got, _ := svc.Ticket(ctx, citizen.Number); got.FoundBy != "" {
		t.Fatalf("a citizen's report has a finder: %q", got.FoundBy)
	}
	if _, err := svc.Act(ctx, citizen.Number, func(tk *ticketing.Ticket, now time.Time) error {
		return tk.Confirm(now, "sup.b", true, "属实", photo("site-1"))
	}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func(*ticketing.Ticket, time.Time) error{
		func(tk *ticketing.Ticket, now time.Time) error { return tk.Accept(now, "li") },
		func(tk *ticketing.Ticket, now time.Time) error { return tk.ReportHandled(now, "li", "已更换") },
		func(tk *ticketing.Ticket, now time.Time) error {
			return tk.Inspect(now, "sup.b", true, "", photo("site-2"))
		},
	} {
		if _, err := svc.Act(ctx, found.Number, f); err != nil {
			t.Fatal(err)
		}
	}
	rollup(t, s, time.UTC)
	q := ticketing.IndicatorQuery{Dim: ticketing.DimSupervisor, From: "2026-11-25", To: "2026-11-26"}
	got := counts(t, s, q)
	for k, n := range map[string]int64{"sup.a reported": 2, "sup.a received": 2, "sup.a found": 1, "sup.a self_handled": 1,
		"sup.a closed": 1, "sup.b confirmed": 1, "sup.b confirmed_on_time": 1, "sup.b inspected": 1, "sup.b inspected_on_time": 1} {
		if got[k] != n {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
	for k := range got {
		if !strings.HasPrefix(k, "sup.a ") && !strings.HasPrefix(k, "sup.b ") {
			t.Errorf("a count of no supervisor in their breakdown: %s", k)
		}
	}
	if n := got["sup.b received"] + got["sup.a missed"] + got["sup.b missed"]; n != 0 {
		t.Errorf("the citizen's report counted for a supervisor: %v", got)
	}
	q.Dim = ticketing.DimCommunity
	com := counts(t, s, q)
	if com["c1 received"] != 3 || com["c1 reported"] != 2 || com["c1 missed"] != 1 || com["c1 confirmed"] != 1 {
		t.Errorf("community c1: %v", com)
	}
	f := ticketing.Figures{}
	for k, n := range got {
		if m, ok := strings.CutPrefix(k, "sup.a "); ok {
			f[ticketing.Metric(m)] = n
		}
	}
	for _, r := range f.Rates() {
		if r.Code == "valid_report_rate" && (r.Num != 2 || r.Den != 2) {
			t.Errorf("sup.a valid reports %d/%d, want 2/2", r.Num, r.Den)
		}
	}
}
