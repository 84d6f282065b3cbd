package ticketing

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Status is a ticket's place in the grid workflow.
type Status string

const (
	StatusReceived          Status = "received"            // 受理
	StatusRegistered        Status = "registered"          // 立案
	StatusNotRegistered     Status = "not_registered"      // 不予立案
	StatusResolvedOnContact Status = "resolved_on_contact" // 直办
	StatusDispatched        Status = "dispatched"          // 派遣
	StatusAccepted          Status = "accepted"            // 签收
	StatusReturned          Status = "returned"            // 退回
	StatusHandled           Status = "handled"             // 处置完毕
	StatusClosed            Status = "closed"              // 结案
	StatusMerged            Status = "merged"              // 并单
)

// Statuses lists every state in workflow order.
var Statuses = []Status{StatusReceived, StatusRegistered, StatusNotRegistered, StatusResolvedOnContact,
	StatusDispatched, StatusAccepted, StatusReturned, StatusHandled, StatusClosed, StatusMerged}

// Label is the Chinese name shown to citizens and staff.
func (s Status) Label() string {
	switch s {
	case StatusReceived:
		return "已受理"
	case StatusRegistered:
		return "已立案"
	case StatusNotRegistered:
		return "不予立案"
	case StatusResolvedOnContact:
		return "已直接答复"
	case StatusDispatched:
		return "已派遣"
	case StatusAccepted:
		return "处置中"
	case StatusReturned:
		return "退回待改派"
	case StatusHandled:
		return "已处置待核查"
	case StatusClosed:
		return "已结案"
	case StatusMerged:
		return "已并单"
	}
	return string(s)
}

// Open reports whether the ticket still needs work from someone.
func (s Status) Open() bool {
	switch s {
	case StatusNotRegistered, StatusResolvedOnContact, StatusClosed, StatusMerged:
		return false
	}
	return true
}

// Priority orders the work; emergencies have hour-scale deadlines.
type Priority string

const (
	PriorityNormal    Priority = "normal"
	PriorityUrgent    Priority = "urgent"
	PriorityEmergency Priority = "emergency"
)

// Assignment is routing's answer for one report: where it goes, how fast, and why.
type Assignment struct {
	Category       string
	CategoryName   string
	Department     string
	DepartmentName string
	Priority       Priority
	Deadline       time.Time // zero when the ticket waits for a dispatcher
	Confidence     float64   // 0..1
	AutoDispatch   bool      // confident enough to register and dispatch without a dispatcher
	Rule           string    // id of the rule that matched
	Reason         string    // human-readable, shown to staff and citizens
	Assisting      []string  // assisting departments (协办), codes
	Area           Area      // where the report was placed on the grid
	// Centre is the centre the catalogue gives the case to, by the level
	// its category is handled at (Area.CentreFor), and CentreDue the end
	// of that centre's clock. Only a new ticket takes them.
	Centre      string
	CentreDue   time.Time
	Suggestions []Suggestion
	// Confirm has a supervisor check the report on site before it is
	// filed (核实): the ticket waits, received, with a task for its cell.
	Confirm bool
	// Location is the point routing placed the report at when the report
	// had none (an address found in the gazetteer); nil otherwise.
	Location *Point
}

// Area is a place in the city's grid hierarchy: unit grid cell (万米单元网格)
// within community, street and district. Codes, not names, are what
// indicators group by.
type Area struct {
	Grid      string `json:"grid,omitempty"`
	Community string `json:"community,omitempty"`
	Street    string `json:"street,omitempty"`
	District  string `json:"district,omitempty"`
}

// Suggestion is one of the classifier's top categories for a report.
type Suggestion struct {
	Category   string  `json:"category"`
	Name       string  `json:"name,omitempty"`
	Confidence float64 `json:"confidence"`
}

// Extension is a department's request for more time (延期申请).
type Extension struct {
	Until       time.Time `json:"until"`
	Reason      string    `json:"reason"`
	RequestedBy string    `json:"requested_by"`
	RequestedAt time.Time `json:"requested_at"`
}

// Satisfaction is the citizen's rating in the return visit (回访).
type Satisfaction string

const (
	Satisfied      Satisfaction = "satisfied"
	BasicSatisfied Satisfaction = "basically_satisfied"
	Unsatisfied    Satisfaction = "unsatisfied"
)

// Evaluation is the citizen's verdict on a finished ticket (评价).
type Evaluation struct {
	Satisfaction Satisfaction `json:"satisfaction"`
	Solved       bool         `json:"solved"`
	// Score is the citizen's 1–5 rating where the door asks for one
	// (WeChat); 0 when not given.
	Score   int       `json:"score,omitempty"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// EvaluationFromScore maps a 1–5 rating onto the three levels the
// indicators count (满意率): 4–5 satisfied, 3 basically, 1–2 unsatisfied;
// a rating of 3 or more counts the problem as solved.
func EvaluationFromScore(score int) (Evaluation, error) {
	e := Evaluation{Score: score, Solved: score >= 3}
	switch {
	case score >= 4 && score <= 5:
		e.Satisfaction = Satisfied
	case score == 3:
		e.Satisfaction = BasicSatisfied
	case score >= 1 && score <= 2:
		e.Satisfaction = Unsatisfied
	default:
		return Evaluation{}, Invalid("score", "must be 1 to 5")
	}
	return e, nil
}

// Ticket is one citizen request (工单) and its place in the workflow.
// Change it only through its methods: each checks the transition and
// appends the event that the store writes in the same transaction.
type Ticket struct {
	ID     int64
	Number string // public, digits only
	// TrackHash is the SHA-256 digest (HashToken) of the secret in the
	// citizen's tracking link: all the stores keep. TrackToken is the
	// secret itself, set only on the ticket Submit has just created (or
	// ReissueTrackToken), never stored or read back.
	TrackHash   string
	TrackToken  string
	Channel     Channel
	ExternalID  string
	Fingerprint string
	Line        string
	Reporter    Contact
	// FoundBy is the user name of the supervisor who reported a field
	// case (主动发现); empty for a citizen's. Their indicators count it.
	FoundBy string
	// Article is the knowledge-base article the report was answered with
	// (直办) or, when a ticket was asked for anyway, had been shown; 0: none.
	Article     int64
	Text        string
	Location    *Point
	Address     string
	Attachments []Attachment

	Status         Status
	Category       string
	CategoryName   string
	Department     string
	DepartmentName string
	Priority       Priority
	Assisting      []string // assisting departments (协办)
	Parts          []Part   // their parts of the case, set at each dispatch
	Area           Area     // grid cell, community, street, district
	// Centre is the code of the area whose centre holds the case (属地管理:
	// a district, street or community; "" is the city): it registers,
	// dispatches and follows the case, and raises what it cannot solve.
	// CentreDue ends that centre's own clock (Clocks); zero: none runs.
	Centre    string
	CentreDue time.Time
	// Task is the supervisors' open task on the case, if any: confirm the
	// report on site (核实) or inspect the reported work (核查); due at
	// TaskDue, taken by TaskBy ("" while any supervisor of the cell may).
	Task           TaskKind
	TaskDue        time.Time
	TaskBy         string
	DueAt          time.Time // 处置时限; zero until dispatched
	RoutingRule    string
	RoutingReason  string
	Confidence     float64
	MasterID       int64 // set when merged
	ReworkCount    int
	ExtensionCount int
	Extension      *Extension // pending request, if any
	Evaluation     *Evaluation
	// Light is the deadline light last recorded (黄灯, 红灯 escalations) and
	// AlarmAt when it is next due to change; zero AlarmAt: no clock runs.
	// The deadline scanner (Service.Escalate) finds tickets by AlarmAt.
	Light   Light
	AlarmAt time.Time

	ReceivedAt time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Version    int

	pending []Event
	outbox  []Message
	keys    []string
	done    []taskDone // the supervisors' tasks the pending changes finished
}

// EventType names what happened.
type EventType string

const (
	EventReceived           EventType = "received"
	EventRegistered         EventType = "registered"
	EventDeclined           EventType = "declined"
	EventResolvedOnContact  EventType = "resolved_on_contact"
	EventDispatched         EventType = "dispatched"
	EventAccepted           EventType = "accepted"
	EventReturned           EventType = "returned"
	EventReturnRefused      EventType = "return_refused"
	EventHandled            EventType = "handled"
	EventClosed             EventType = "closed"
	EventRework             EventType = "rework"
	EventExtensionRequested EventType = "extension_requested"
	EventExtensionApproved  EventType = "extension_approved"
	EventExtensionRefused   EventType = "extension_refused"
	EventEvaluated          EventType = "evaluated"
	EventReopened           EventType = "reopened"
	EventMerged             EventType = "merged"
	EventForwarded          EventType = "forwarded"       // delivered to an external platform
	EventExternalUpdate     EventType = "external_update" // a status reported back by one
	EventNote               EventType = "note"
	EventRerouted           EventType = "rerouted"        // a dispatcher changed the category or department routing gave (改派)
	EventDeadlineYellow     EventType = "deadline_yellow" // most of the time is used (黄灯预警)
	EventDeadlineRed        EventType = "deadline_red"    // overdue (红灯, 超期)
	EventCentreOverdue      EventType = "centre_overdue"  // the holding centre's own time ran out (中心超时)
	EventTaskOverdue        EventType = "task_overdue"    // a supervisor's 核实 or 核查 ran out (任务超时)
)

// Event is one entry in a ticket's append-only log: who, when, from → to.
type Event struct {
	TicketID int64
	Seq      int // 1-based position in the ticket's log
	At       time.Time
	Actor    string
	Type     EventType
	From     Status
	To       Status
	Note     string // internal: staff only
	Public   string // shown on the citizen's tracking page; empty hides the note
}

// Message is an outbox row: work for forwarders and notifiers, written in
// the same transaction as the change that caused it.
type Message struct {
	ID       int64
	TicketID int64
	Topic    string // "ticket.dispatched", ...
	Payload  []byte // JSON
	At       time.Time
}

// PendingEvents are the events added since the ticket was loaded; the store
// appends them when it saves the ticket.
func (t *Ticket) PendingEvents() []Event { return t.pending }

// PendingMessages are the outbox rows to write with the ticket.
func (t *Ticket) PendingMessages() []Message { return t.outbox }

// PendingKeys are the idempotency keys the pending change takes
// (Supplement.Key). The store records them with the ticket, in the same
// transaction; a key the ticket has taken already makes the whole change
// ErrAlreadyApplied.
func (t *Ticket) PendingKeys() []string { return t.keys }

// ClearPending is called by a store after a successful commit.
func (t *Ticket) ClearPending() { t.pending, t.outbox, t.keys, t.done = nil, nil, nil, nil }

// take adds key to the keys the pending change takes; "" takes none.
func (t *Ticket) take(key string) {
	if key != "" && !slices.Contains(t.keys, key) {
		t.keys = append(t.keys, key)
	}
}

func (t *Ticket) record(at time.Time, actor string, typ EventType, to Status, note, public string) {
	e := Event{TicketID: t.ID, At: at, Actor: actor, Type: typ, From: t.Status, To: to, Note: note, Public: public}
	t.Status = to
	t.UpdatedAt = at
	t.pending = append(t.pending, e)
}

// Enqueue adds an outbox message to be written with the ticket.
func (t *Ticket) Enqueue(topic string, payload []byte, at time.Time) {
	t.outbox = append(t.outbox, Message{TicketID: t.ID, Topic: topic, Payload: payload, At: at})
}

func required(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return Invalid(field, "is required")
	}
	return nil
}

// AddNote appends an event that does not change the state: a delivery to
// an external platform, a status it reported back, a staff note. typ must
// be one of EventForwarded, EventExternalUpdate or EventNote.
func (t *Ticket) AddNote(at time.Time, actor string, typ EventType, note, public string) error {
	switch typ {
	case EventForwarded, EventExternalUpdate, EventNote, EventNotified:
	default:
		return Invalid("type", "%q is not a note event", typ)
	}
	if err := t.check(ActNote); err != nil {
		return err
	}
	if err := required("note", note+public); err != nil {
		return err
	}
	t.record(at, actor, typ, t.Status, note, public)
	return nil
}

// Register accepts the report as a case (立案).
func (t *Ticket) Register(at time.Time, actor, note string) error {
	if err := t.check(ActRegister); err != nil {
		return err
	}
	t.record(at, actor, EventRegistered, StatusRegistered, note, "已立案")
	return nil
}

// Decline refuses to register the report (不予立案); the reason is told to the citizen.
func (t *Ticket) Decline(at time.Time, actor, reason string) error {
	if err := t.check(ActDecline); err != nil {
		return err
	}
	if err := required("reason", reason); err != nil {
		return err
	}
	t.record(at, actor, EventDeclined, StatusNotRegistered, reason, "不予立案："+reason)
	return nil
}

// ResolveOnContact closes a consultation the agent answered on the call (直办).
func (t *Ticket) ResolveOnContact(at time.Time, actor, answer string) error {
	if err := t.check(ActResolveOnContact); err != nil {
		return err
	}
	if err := required("answer", answer); err != nil {
		return err
	}
	t.record(at, actor, EventResolvedOnContact, StatusResolvedOnContact, answer, "已直接答复："+answer)
	return nil
}

// Dispatch sends the ticket to a department with a deadline (派遣); from
// returned or dispatched it is a re-dispatch (改派), which needs a note
// saying why. A note is added to the routing reason the citizen sees.
func (t *Ticket) Dispatch(at time.Time, actor string, a Assignment, note string) error {
	if err := t.check(ActDispatch); err != nil {
		return err
	}
	note = strings.TrimSpace(note)
	if Redispatch(t.Status) {
		if err := required("note", note); err != nil {
			return err
		}
	}
	if note != "" {
		a.Reason = strings.TrimPrefix(a.Reason+"；"+note, "；")
	}
	if err := required("department", a.Department); err != nil {
		return err
	}
	if a.Deadline.IsZero() || !a.Deadline.After(at) {
		return Invalid("deadline", "must be in the future")
	}
	category, department := t.Category, t.Department
	t.applyAssignment(a)
	if actor != ActorRouter && ((category != "" && t.Category != category) || (department != "" && t.Department != department)) {
		// A person changed what routing (or an earlier dispatch) decided:
		// the figure the city's own training should bring down (改派率),
		// and the label it learns from.
		t.record(at, actor, EventRerouted, t.Status, "分类 "+category+" → "+t.Category+"；部门 "+cmp.Or(department, "—")+" → "+t.Department, "")
	}
	t.DueAt = a.Deadline
	t.Parts = partsFor(t.Assisting, at, a.Deadline)
	t.Extension = nil
	t.startClock(at)
	name := a.DepartmentName
	if name == "" {
		name = a.Department
	}
	public := "已派遣至" + name
	if a.Reason != "" {
		public += "（" + a.Reason + "）"
	}
	t.record(at, actor, EventDispatched, StatusDispatched, a.Reason, public)
	return nil
}

func (t *Ticket) applyAssignment(a Assignment) {
	if a.Category != "" {
		t.Category, t.CategoryName = a.Category, a.CategoryName
	}
	t.Department, t.DepartmentName = a.Department, a.DepartmentName
	if a.Priority != "" {
		t.Priority = a.Priority
	}
	t.Assisting = a.Assisting
	if a.Area != (Area{}) {
		t.Area = a.Area
	}
	if t.Location == nil && a.Location != nil {
		t.Location = a.Location
	}
	t.RoutingRule, t.RoutingReason, t.Confidence = a.Rule, a.Reason, a.Confidence
}

// Accept is the department taking the ticket (签收).
func (t *Ticket) Accept(at time.Time, actor string) error {
	if err := t.check(ActAccept); err != nil {
		return err
	}
	t.record(at, actor, EventAccepted, StatusAccepted, "", t.DepartmentName+"已签收")
	return nil
}

// Return is the department refusing the ticket (退回), for a dispatcher to re-dispatch.
func (t *Ticket) Return(at time.Time, actor, reason string) error {
	if err := t.check(ActReturn); err != nil {
		return err
	}
	if err := required("reason", reason); err != nil {
		return err
	}
	t.stopClock(false)
	t.record(at, actor, EventReturned, StatusReturned, reason, "")
	return nil
}

// RefuseReturn sends a returned ticket back to the same department.
func (t *Ticket) RefuseReturn(at time.Time, actor, note string) error {
	if err := t.check(ActRefuseReturn); err != nil {
		return err
	}
	if err := required("note", note); err != nil {
		return err
	}
	t.startClock(at)
	t.record(at, actor, EventReturnRefused, StatusDispatched, note, "")
	return nil
}

// ReportHandled records the department's result (办结反馈), with at most
// MaxResultPhotos photos of the work done, kept as AttachmentResult.
func (t *Ticket) ReportHandled(at time.Time, actor, result string, photos ...Attachment) error {
	if err := t.check(ActReportHandled); err != nil {
		return err
	}
	if err := required("result", result); err != nil {
		return err
	}
	if len(photos) > MaxResultPhotos {
		return Invalid("photos", "at most %d photos per result", MaxResultPhotos)
	}
	for _, p := range photos {
		p.Kind = AttachmentResult
		t.Attachments = append(t.Attachments, p)
	}
	note := result
	if n := len(photos); n > 0 {
		note += "（附照片 " + itoa(n) + " 张）"
	}
	t.stopClock(true)
	t.record(at, actor, EventHandled, StatusHandled, note, "处置结果："+result)
	return nil
}

// CitizenPhotos are the photos the citizen sent.
func (t *Ticket) CitizenPhotos() []Attachment { return t.photos("") }

// ResultPhotos are the photos departments sent with their results.
func (t *Ticket) ResultPhotos() []Attachment { return t.photos(AttachmentResult) }

func (t *Ticket) photos(kind string) []Attachment {
	var out []Attachment
	for _, a := range t.Attachments {
		if a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

// Verify is the supervisor's check (核查): pass closes the ticket (结案),
// fail sends it back to the department as rework (返工).
func (t *Ticket) Verify(at time.Time, actor string, pass bool, note string) error {
	if err := t.check(ActVerify); err != nil {
		return err
	}
	if pass {
		t.Extension = nil
		t.stopClock(false)
		t.record(at, actor, EventClosed, StatusClosed, note, "已结案")
		return nil
	}
	if err := required("note", note); err != nil {
		return err
	}
	t.ReworkCount++
	t.startClock(at)
	t.record(at, actor, EventRework, StatusAccepted, note, "核查未通过，已返回处置")
	return nil
}

// RequestExtension asks for a later deadline (延期申请).
func (t *Ticket) RequestExtension(at time.Time, actor string, until time.Time, reason string) error {
	if err := t.check(ActRequestExtension); err != nil {
		return err
	}
	if err := required("reason", reason); err != nil {
		return err
	}
	if !until.After(t.DueAt) {
		return Invalid("until", "must be later than the current deadline")
	}
	t.Extension = &Extension{Until: until, Reason: reason, RequestedBy: actor, RequestedAt: at}
	t.record(at, actor, EventExtensionRequested, t.Status, reason, "")
	return nil
}

// DecideExtension approves or refuses the pending extension request.
func (t *Ticket) DecideExtension(at time.Time, actor string, approve bool, note string) error {
	if err := t.check(ActDecideExtension); err != nil {
		return err
	}
	until := t.Extension.Until
	t.Extension = nil
	if approve {
		t.DueAt = until
		t.ExtensionCount++
		t.startClock(at)
		t.record(at, actor, EventExtensionApproved, t.Status, note, "办理时限已延长至"+until.Format("2006-01-02 15:04"))
		return nil
	}
	t.record(at, actor, EventExtensionRefused, t.Status, note, "")
	return nil
}

// Evaluate records the citizen's rating of a finished ticket (评价).
func (t *Ticket) Evaluate(at time.Time, actor string, e Evaluation) error {
	if err := t.check(ActEvaluate); err != nil {
		return err
	}
	switch e.Satisfaction {
	case Satisfied, BasicSatisfied, Unsatisfied:
	default:
		return Invalid("satisfaction", "must be satisfied, basically_satisfied or unsatisfied")
	}
	e.At = at
	t.Evaluation = &e
	t.record(at, actor, EventEvaluated, t.Status, e.Comment, "已评价")
	return nil
}

// Reopen brings a closed ticket the citizen was unsatisfied with back to registered.
func (t *Ticket) Reopen(at time.Time, actor, reason string) error {
	if err := t.check(ActReopen); err != nil {
		return err
	}
	if err := required("reason", reason); err != nil {
		return err
	}
	t.Evaluation = nil
	t.record(at, actor, EventReopened, StatusRegistered, reason, "已重新立案办理")
	return nil
}

// MergeInto folds a duplicate into master (并单); the citizen follows the master.
func (t *Ticket) MergeInto(at time.Time, actor string, master *Ticket) error {
	if err := t.check(ActMerge); err != nil {
		return err
	}
	if master == nil || master.ID == t.ID {
		return Invalid("master", "must be another ticket")
	}
	if !master.Status.Open() {
		return &Error{Kind: KindConflict, Code: "master_not_open", Field: "master", Message: "the master ticket " + master.Number + " is " + string(master.Status)}
	}
	t.MasterID = master.ID
	t.stopClock(false)
	t.record(at, actor, EventMerged, StatusMerged, "", "已与工单"+master.Number+"合并办理")
	return nil
}

// startClock (re)starts the department's deadline clock at at: green until
// YellowShare of the time to DueAt is used. A clock started late (rework
// after the deadline) is due at once, and the scanner turns it red.
func (t *Ticket) startClock(at time.Time) {
	if t.DueAt.IsZero() {
		t.stopClock(false)
		return
	}
	t.Light = LightGreen
	t.AlarmAt = at.Add(time.Duration(float64(t.DueAt.Sub(at)) * YellowShare))
	if !t.AlarmAt.After(at) {
		t.AlarmAt = at
	}
}

// stopClock stops the clock: the result is in (keep says whether the light
// it had stays on record) or the ticket left the department.
func (t *Ticket) stopClock(keep bool) {
	t.AlarmAt = time.Time{}
	if !keep {
		t.Light = LightNone
	}
}

// Escalate turns the light yellow or red when the department's clock says
// so at now, recording the warning (黄灯预警) or the overdue (红灯) as an
// event, and records once each the centre's clock and the supervisors'
// task running out (EventCentreOverdue, EventTaskOverdue); it reports
// whether anything changed and sets AlarmAt to the next moment one of the
// clocks is due. Run under the store's lock, so of several instances
// scanning at once only the first changes the ticket.
func (t *Ticket) Escalate(now time.Time) bool {
	if t.AlarmAt.IsZero() || now.Before(t.AlarmAt) {
		return false
	}
	// AlarmAt is always the earliest clock still to run out (schedule), so
	// a centre's or task's deadline before the alarm that fired has been
	// recorded already, or stopped.
	fired := t.AlarmAt
	changed := t.escalateDepartment(now)
	if slices.Contains(atCentre, t.Status) && !t.CentreDue.IsZero() && !t.CentreDue.Before(fired) && !now.Before(t.CentreDue) {
		t.record(now, ActorDeadline, EventCentreOverdue, t.Status,
			t.centreName(t.Centre)+"办理时限已过："+t.CentreDue.Format("2006-01-02 15:04"), "")
		changed = true
	}
	if t.Task != "" && !t.TaskDue.IsZero() && !t.TaskDue.Before(fired) && !now.Before(t.TaskDue) {
		t.record(now, ActorDeadline, EventTaskOverdue, t.Status,
			t.Task.Label()+"任务已超时："+t.TaskDue.Format("2006-01-02 15:04"), "")
		changed = true
	}
	if slices.Contains(atCentre, t.Status) && t.CentreDue.After(now) {
		t.schedule(t.CentreDue)
	}
	if t.Task != "" && t.TaskDue.After(now) {
		t.schedule(t.TaskDue)
	}
	return changed
}

// escalateDepartment is the department's clock at an alarm: yellow, then
// red, then no alarm of its own; stopped once the case has left the
// department.
func (t *Ticket) escalateDepartment(now time.Time) bool {
	switch t.Status {
	case StatusDispatched, StatusAccepted:
	default:
		t.stopClock(true)
		return false
	}
	if t.DueAt.IsZero() {
		t.AlarmAt = time.Time{}
		return false
	}
	if !now.Before(t.DueAt) {
		t.AlarmAt = time.Time{}
		if t.Light == LightRed {
			return false
		}
		t.Light = LightRed
		t.record(now, ActorDeadline, EventDeadlineRed, t.Status, "已超过办理时限"+t.DueAt.Format("2006-01-02 15:04"), "")
		return true
	}
	t.AlarmAt = t.DueAt
	if t.Light == LightYellow {
		return false
	}
	t.Light = LightYellow
	t.record(now, ActorDeadline, EventDeadlineYellow, t.Status, "办理时限将至："+t.DueAt.Format("2006-01-02 15:04"), "")
	return true
}

// schedule brings the alarm forward to at when no clock is due sooner: a
// centre's or a task's deadline joining the department's.
func (t *Ticket) schedule(at time.Time) {
	if !at.IsZero() && (t.AlarmAt.IsZero() || at.Before(t.AlarmAt)) {
		t.AlarmAt = at
	}
}
