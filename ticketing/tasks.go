package ticketing

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
)

// TaskKind is a grid supervisor's task on a case: each goes to the
// supervisors of the case's cell (its community or street), any of whom
// may take it, and has its own deadline.
type TaskKind string

const (
	// TaskConfirm (核实): check on site that a citizen's report is real
	// before the centre files it.
	TaskConfirm TaskKind = "confirm"
	// TaskInspect (核查): check on site that the work a department
	// reported was done, before the case is closed.
	TaskInspect TaskKind = "inspect"
)

// Label is the task's Chinese name.
func (k TaskKind) Label() string {
	switch k {
	case TaskConfirm:
		return "核实"
	case TaskInspect:
		return "核查"
	}
	return string(k)
}

// Events of the supervisors' tasks.
const (
	EventTaskOpened EventType = "task_opened" // a 核实 or 核查 task for the cell's supervisors
	EventTaskTaken  EventType = "task_taken"  // a supervisor takes it
	EventConfirmed  EventType = "confirmed"   // 核实: the report is real, and so filed (立案)
)

// AttachmentInspection marks a photo a supervisor took on site for a task.
const AttachmentInspection = "inspection"

// taskDone is a finished task as the indicators count it: on time when
// done at or before its deadline.
type taskDone struct {
	kind    TaskKind
	due, at time.Time
	by      string // the supervisor's user name
}

// finishTask ends the open task, done by the supervisor actor at at.
func (t *Ticket) finishTask(at time.Time, actor string) {
	t.done = append(t.done, taskDone{kind: t.Task, due: t.TaskDue, at: at, by: actor})
	t.Task, t.TaskBy, t.TaskDue = "", "", time.Time{}
}

// openTask gives the case a task of kind, due within d of at (none when d
// is zero), and records it in the log.
func (t *Ticket) openTask(at time.Time, kind TaskKind, d time.Duration) {
	t.Task, t.TaskBy, t.TaskDue = kind, "", time.Time{}
	note := kind.Label() + "任务已派给网格监督员"
	if d > 0 {
		t.TaskDue = at.Add(d)
		t.schedule(t.TaskDue)
	}
	t.record(at, ActorRouter, EventTaskOpened, t.Status, note, "")
}

// SettleTasks opens and closes the supervisors' tasks as the case moved
// from was: a case reported handled in a cell gets a 核查 task when the
// city runs them; a task whose moment has passed (the centre filed or
// declined the case itself, verified the work itself, the case was
// re-dispatched) ends. Service calls it after every change; the history
// generator, which walks tickets without a Service, does too.
func (t *Ticket) SettleTasks(at time.Time, was Status, c Clocks) {
	switch {
	case t.Task == TaskConfirm && t.Status != StatusReceived,
		t.Task == TaskInspect && t.Status != StatusHandled:
		t.Task, t.TaskBy, t.TaskDue = "", "", time.Time{}
	}
	if t.Status == StatusHandled && was != StatusHandled && t.Area.Grid != "" && c.Inspect > 0 {
		t.openTask(at, TaskInspect, c.Inspect)
	}
	if !t.Status.Open() {
		t.AlarmAt = time.Time{} // no clock runs on a case that has ended (a 核实 found nothing)
	}
}

// AwaitConfirm leaves a new report received with a 核实 task for its
// cell's supervisors, due by the clocks c: the centre files it once a
// supervisor has found it real on site.
func (t *Ticket) AwaitConfirm(at time.Time, c Clocks) {
	t.openTask(at, TaskConfirm, c.Confirm)
}

// taskGuard is the condition of a supervisor's step on the task of kind.
func taskGuard(kind TaskKind) func(*Ticket) error {
	return func(t *Ticket) error {
		if t.Task != kind {
			return &Error{Kind: KindConflict, Code: "no_task", Field: "task", Message: "the case has no open " + kind.Label() + " task"}
		}
		return nil
	}
}

func anyTask(t *Ticket) error {
	if t.Task == "" {
		return &Error{Kind: KindConflict, Code: "no_task", Field: "task", Message: "the case has no open task"}
	}
	return nil
}

// TakeTask is a supervisor taking the case's open task, so the others of
// the cell know it is in hand. A task taken by another is not taken again.
func (t *Ticket) TakeTask(at time.Time, actor string) error {
	if err := t.check(ActTakeTask); err != nil {
		return err
	}
	if err := t.mayWork(actor); err != nil {
		return err
	}
	if t.TaskBy == actor {
		return ErrAlreadyApplied
	}
	t.TaskBy = actor
	t.record(at, actor, EventTaskTaken, t.Status, t.Task.Label()+"任务已领取", "")
	return nil
}

// mayWork refuses a task another supervisor has taken.
func (t *Ticket) mayWork(actor string) error {
	if t.TaskBy != "" && t.TaskBy != actor {
		return &Error{Kind: KindConflict, Code: "task_taken", Field: "task", Message: "another supervisor (" + t.TaskBy + ") has taken this task"}
	}
	return nil
}

// Confirm is a supervisor's 核实 on site: the report is real (found: the
// case is filed, for the centre to dispatch) or it is not (declined, the
// citizen told why). The note is required when nothing was found.
func (t *Ticket) Confirm(at time.Time, actor string, found bool, note string, photos ...Attachment) error {
	if err := t.check(ActConfirm); err != nil {
		return err
	}
	if err := t.mayWork(actor); err != nil {
		return err
	}
	note = strings.TrimSpace(note)
	if !found {
		if err := required("note", note); err != nil {
			return err
		}
	}
	if err := t.onSite(photos); err != nil {
		return err
	}
	t.finishTask(at, actor)
	if !found {
		t.record(at, actor, EventDeclined, StatusNotRegistered, "核实：现场无此问题。"+note, "经网格员现场核实，未发现所反映的问题："+note)
		return nil
	}
	t.record(at, actor, EventConfirmed, StatusRegistered, cmp.Or(note, "现场核实属实"), "经网格员现场核实属实，已立案")
	return nil
}

// Inspect is a supervisor's 核查 on site of the work a department
// reported: done (the case closes) or not (back to the department as
// rework, with the note saying what is wrong). A photo of the site is
// required either way: the check is what the supervisor saw.
func (t *Ticket) Inspect(at time.Time, actor string, pass bool, note string, photos ...Attachment) error {
	if err := t.check(ActInspect); err != nil {
		return err
	}
	if err := t.mayWork(actor); err != nil {
		return err
	}
	if len(photos) == 0 {
		return Invalid("photos", "a 核查 needs a photo of the site")
	}
	note = strings.TrimSpace(note)
	if !pass && note == "" {
		return Invalid("note", "say what is not fixed")
	}
	if err := t.onSite(photos); err != nil {
		return err
	}
	t.finishTask(at, actor)
	if pass {
		note = cmp.Or(note, "现场核查，已处置到位")
	}
	return t.Verify(at, actor, pass, "核查："+note)
}

// SitePhotos are the photos supervisors took on site for their tasks.
func (t *Ticket) SitePhotos() []Attachment { return t.photos(AttachmentInspection) }

// onSite keeps the supervisor's photos of the site on the case.
func (t *Ticket) onSite(photos []Attachment) error {
	if len(photos) > MaxResultPhotos {
		return Invalid("photos", "at most %d photos per check", MaxResultPhotos)
	}
	for _, p := range photos {
		p.Kind = AttachmentInspection
		t.Attachments = append(t.Attachments, p)
	}
	return nil
}

// Works reports whether v may work t's open task: a supervisor whose area
// holds the case's cell (a supervisor with no area works the whole city),
// and one of the cells assigned to them when they have any.
func (v Viewer) Works(t *Ticket) bool {
	return v.Role == RoleSupervisor && t.Task != "" && t.Area.Grid != "" && t.Area.Within(v.Area) &&
		(len(v.Cells) == 0 || slices.Contains(v.Cells, t.Area.Grid))
}

// EventSelfHandled is a supervisor's 自处置: a small problem found on
// patrol and fixed on the spot, reported and closed in one step.
const EventSelfHandled EventType = "self_handled"

// SelfHandle closes a supervisor's own report at once (自处置): the before
// photos are the report's, after are the photos of the fixed site (at
// least one), result says what was done. It is counted apart
// (MetricSelfHandled), not as a dispatched case.
func (t *Ticket) SelfHandle(at time.Time, actor, result string, after ...Attachment) error {
	if err := t.check(ActSelfHandle); err != nil {
		return err
	}
	result = strings.TrimSpace(result)
	if err := required("result", result); err != nil {
		return err
	}
	if len(t.CitizenPhotos()) == 0 {
		return Invalid("photos", "a self-handled case needs a photo from before")
	}
	if len(after) == 0 || len(after) > MaxResultPhotos {
		return Invalid("after", "a self-handled case needs 1 to %d photos from after", MaxResultPhotos)
	}
	for _, p := range after {
		p.Kind = AttachmentResult
		t.Attachments = append(t.Attachments, p)
	}
	t.record(at, actor, EventSelfHandled, StatusClosed, result, "网格员现场自行处置："+result)
	return nil
}

// SubmitSelfHandled stores a supervisor's report already handled on the
// spot (自处置), closed in the same transaction. Idempotent like Submit.
func (s *Service) SubmitSelfHandled(ctx context.Context, r Report, actor, result string, after []Attachment) (*Ticket, bool, error) {
	if err := required("result", strings.TrimSpace(result)); err != nil {
		return nil, false, err
	}
	return s.submit(ctx, r, false, func(t *Ticket, _ Assignment, now time.Time) error {
		return t.SelfHandle(now, actor, result, after...)
	})
}

// TaskLight is the light of the open task at now, as a case's deadline
// light: red once its deadline has passed, yellow once YellowShare of the
// task's time (by the clocks c) is used, green before; none without a
// task or a deadline.
func (t *Ticket) TaskLight(now time.Time, c Clocks) Light {
	if t.Task == "" || t.TaskDue.IsZero() {
		return LightNone
	}
	if !now.Before(t.TaskDue) {
		return LightRed
	}
	d := c.Confirm
	if t.Task == TaskInspect {
		d = c.Inspect
	}
	if d > 0 && t.TaskDue.Sub(now) <= time.Duration(float64(d)*(1-YellowShare)) {
		return LightYellow
	}
	return LightGreen
}
