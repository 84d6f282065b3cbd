package ticketing

import (
	"errors"
	"testing"
	"time"
)

var site = Attachment{ID: "site.jpg", ContentType: "image/jpeg"}

// 核实: a supervisor of the cell takes the task; another cannot then
// work it; nothing found declines the case with the reason, something
// found files it.
func TestConfirmOnSite(t *testing.T) {
	tk := &Ticket{Status: StatusReceived, Area: place}
	tk.openTask(at, TaskConfirm, 2*time.Hour)
	if tk.Task != TaskConfirm || !tk.TaskDue.Equal(at.Add(2*time.Hour)) {
		t.Fatalf("task %q due %v", tk.Task, tk.TaskDue)
	}
	if err := tk.TakeTask(at, "sup.a"); err != nil {
		t.Fatal(err)
	}
	if err := tk.TakeTask(at, "sup.a"); !errors.Is(err, ErrAlreadyApplied) {
		t.Errorf("taking one's own task again: %v", err)
	}
	var e *Error
	if err := tk.Confirm(at, "sup.b", true, ""); !errors.As(err, &e) || e.Code != "task_taken" {
		t.Errorf("another supervisor confirming: %v", err)
	}
	if err := tk.Confirm(at, "sup.a", false, " "); KindOf(err) != KindInvalid {
		t.Errorf("nothing found without a note: %v", err)
	}
	declined := *tk
	declined.pending = nil
	if err := declined.Confirm(at, "sup.a", false, "井盖完好", site); err != nil || declined.Status != StatusNotRegistered || declined.Task != "" {
		t.Fatalf("nothing found: %v, %s, task %q", err, declined.Status, declined.Task)
	}
	if err := tk.Confirm(at, "sup.a", true, "", site); err != nil || tk.Status != StatusRegistered || tk.Task != "" || tk.TaskBy != "" {
		t.Fatalf("found: %v, %s, task %q by %q", err, tk.Status, tk.Task, tk.TaskBy)
	}
	if got := tk.photos(AttachmentInspection); len(got) != 1 {
		t.Errorf("site photos %+v", tk.Attachments)
	}
	if err := tk.Confirm(at, "sup.a", true, ""); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("confirming a filed case: %v", err)
	}
}

// 核查: a case reported handled in a cell gets an inspection task when the
// city runs them; the supervisor needs a photo, sends it back once and
// passes it the second time; a centre's own verification ends the task.
func TestInspectOnSite(t *testing.T) {
	clocks := Clocks{Inspect: 24 * time.Hour}
	tk := &Ticket{Status: StatusAccepted, Area: place, DueAt: at.Add(72 * time.Hour)}
	handle := func() {
		t.Helper()
		was := tk.Status
		if err := tk.ReportHandled(at, "li", "已更换井盖"); err != nil {
			t.Fatal(err)
		}
		tk.SettleTasks(at, was, clocks)
	}
	handle()
	if tk.Task != TaskInspect || !tk.TaskDue.Equal(at.Add(24*time.Hour)) {
		t.Fatalf("after the result: task %q due %v", tk.Task, tk.TaskDue)
	}
	if err := tk.Inspect(at, "sup.a", true, ""); KindOf(err) != KindInvalid {
		t.Errorf("an inspection without a photo: %v", err)
	}
	if err := tk.Inspect(at, "sup.a", false, "井盖仍松动", site); err != nil || tk.Status != StatusAccepted || tk.ReworkCount != 1 {
		t.Fatalf("not fixed: %v, %s", err, tk.Status)
	}
	tk.SettleTasks(at, StatusHandled, clocks)
	if tk.Task != "" {
		t.Fatalf("task %q after the rework", tk.Task)
	}
	handle()
	if err := tk.Inspect(at, "sup.b", true, "", site); err != nil || tk.Status != StatusClosed {
		t.Fatalf("fixed: %v, %s", err, tk.Status)
	}

	// The centre verifies itself: the open task ends with it.
	tk2 := &Ticket{Status: StatusAccepted, Area: place, DueAt: at.Add(72 * time.Hour)}
	_ = tk2.ReportHandled(at, "li", "done")
	tk2.SettleTasks(at, StatusAccepted, clocks)
	if err := tk2.Verify(at, "disp", true, ""); err != nil {
		t.Fatal(err)
	}
	tk2.SettleTasks(at, StatusHandled, clocks)
	if tk2.Task != "" {
		t.Errorf("the task outlived the centre's verification: %q", tk2.Task)
	}
	// Without inspections, or outside any cell, no task.
	for _, c := range []struct {
		clocks Clocks
		area   Area
	}{{Clocks{}, place}, {clocks, Area{District: "110101"}}} {
		tk3 := &Ticket{Status: StatusAccepted, Area: c.area, DueAt: at.Add(72 * time.Hour)}
		_ = tk3.ReportHandled(at, "li", "done")
		tk3.SettleTasks(at, StatusAccepted, c.clocks)
		if tk3.Task != "" {
			t.Errorf("a task with clocks %+v in %+v", c.clocks, c.area)
		}
	}
}

func TestSupervisorWorksItsArea(t *testing.T) {
	tk := &Ticket{Area: place, Task: TaskConfirm}
	for _, tc := range []struct {
		v    Viewer
		want bool
	}{
		{Viewer{Role: RoleSupervisor, Area: place.Community}, true},
		{Viewer{Role: RoleSupervisor, Area: place.Street}, true},
		{Viewer{Role: RoleSupervisor}, true},
		{Viewer{Role: RoleSupervisor, Area: "110101001002"}, false},
		{Viewer{Role: RoleDispatcher, Area: place.Community}, false},
	} {
		if got := tc.v.Works(tk); got != tc.want {
			t.Errorf("%+v works the task: %v", tc.v, got)
		}
	}
	if (Viewer{Role: RoleSupervisor}).Works(&Ticket{Area: place}) {
		t.Error("a case with no task is worked")
	}
}

// The grid's indicators: a supervisor's own filed report is 主动发现, a
// citizen's found real on site is 漏报; finished tasks count, on time when
// done by their deadline.
func TestGridTallies(t *testing.T) {
	metrics := func(tk *Ticket) map[Metric]int {
		out := map[Metric]int{}
		for _, x := range TalliesOf(tk, tk.PendingEvents()) {
			out[x.Metric] += x.N
		}
		tk.ClearPending()
		return out
	}
	found := &Ticket{Channel: ChannelField, Status: StatusReceived, Area: place}
	_ = found.Register(at, ActorRouter, "")
	if m := metrics(found); m[MetricFound] != 1 || m[MetricRegistered] != 1 {
		t.Errorf("a supervisor's report filed: %v", m)
	}
	citizen := &Ticket{Channel: ChannelWeChat, Status: StatusReceived, Area: place}
	citizen.openTask(at, TaskConfirm, time.Hour)
	metrics(citizen)
	_ = citizen.Confirm(at.Add(30*time.Minute), "sup", true, "", site)
	if m := metrics(citizen); m[MetricMissed] != 1 || m[MetricConfirmed] != 1 || m[MetricConfirmedOnTime] != 1 || m[MetricFound] != 0 {
		t.Errorf("a citizen's report confirmed in time: %v", m)
	}
	late := &Ticket{Status: StatusHandled, Area: place}
	late.openTask(at, TaskInspect, time.Hour)
	metrics(late)
	_ = late.Inspect(at.Add(2*time.Hour), "sup", true, "", site)
	if m := metrics(late); m[MetricInspected] != 1 || m[MetricInspectedOnTime] != 0 || m[MetricClosed] != 1 {
		t.Errorf("an inspection late: %v", m)
	}
	if err := (&Ticket{Status: StatusHandled, Task: TaskInspect}).Inspect(at, "sup", false, "", site); KindOf(err) != KindInvalid {
		t.Errorf("not fixed without saying why: %v", err)
	}
}

func TestTaskLight(t *testing.T) {
	c := Clocks{Confirm: 2 * time.Hour}
	tk := &Ticket{Status: StatusReceived, Area: place}
	if l := tk.TaskLight(at, c); l != LightNone {
		t.Errorf("no task: %s", l)
	}
	tk.openTask(at, TaskConfirm, c.Confirm)
	for _, tc := range []struct {
		after time.Duration
		want  Light
	}{{0, LightGreen}, {90 * time.Minute, LightGreen}, {100 * time.Minute, LightYellow}, {2 * time.Hour, LightRed}} {
		if l := tk.TaskLight(at.Add(tc.after), c); l != tc.want {
			t.Errorf("%v after: %s, want %s", tc.after, l, tc.want)
		}
	}
}
