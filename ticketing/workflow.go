package ticketing

import "slices"

// Action is one step of the grid workflow taken on a ticket. The workflow
// table below says, for each, the states it may be taken from; the
// Ticket's methods, the desks' buttons, Open311's reopening and the tests
// all read that one table, so a rule changes in one place.
type Action string

const (
	ActRegister         Action = "register"           // 立案
	ActDecline          Action = "decline"            // 不予立案
	ActResolveOnContact Action = "resolve_on_contact" // 直办
	ActDispatch         Action = "dispatch"           // 派遣, 改派
	ActAccept           Action = "accept"             // 签收
	ActReturn           Action = "return"             // 退回
	ActRefuseReturn     Action = "refuse_return"      // 退回不予认可
	ActReportHandled    Action = "report_handled"     // 办结反馈
	ActVerify           Action = "verify"             // 核查
	ActRequestExtension Action = "request_extension"  // 延期申请
	ActDecideExtension  Action = "decide_extension"   // 延期审批
	ActEvaluate         Action = "evaluate"           // 评价
	ActReopen           Action = "reopen"             // 重新办理
	ActMerge            Action = "merge"              // 并单
	ActSupplement       Action = "supplement"         // 市民补充
	ActRaise            Action = "raise"              // 上报 to the level above
	ActHandDown         Action = "hand_down"          // 下派 to a centre below
	ActTakeOver         Action = "take_over"          // 提级 by a centre above
	ActNote             Action = "note"               // 备注, deliveries, external updates
	ActReportPart       Action = "report_part"        // 协办反馈
	ActWaivePart        Action = "waive_part"         // 协办免报
	ActTakeTask         Action = "take_task"          // 领取核实、核查任务
	ActConfirm          Action = "confirm"            // 核实
	ActInspect          Action = "inspect"            // 核查 on site
	ActSelfHandle       Action = "self_handle"        // 自处置
)

// transition is one row of the workflow table.
type transition struct {
	action Action
	verb   string   // as errors say it: "cannot <verb> a ticket that is closed"
	from   []Status // the states the action may be taken from
	// guard, when set, is a further condition on the ticket itself (not on
	// the action's arguments), checked once the state allows the action.
	guard func(*Ticket) error
}

var openStatuses = slices.DeleteFunc(slices.Clone(Statuses), func(s Status) bool { return !s.Open() })

// atCentre are the states in which a case is on a centre's desk rather
// than a department's: the centres may pass it between their levels.
var atCentre = []Status{StatusReceived, StatusRegistered, StatusReturned}

// workflow is the transition table of DESIGN.md's grid workflow, in the
// order a ticket page offers the actions. It is read-only.
var workflow = []transition{
	{ActAccept, "accept", []Status{StatusDispatched}, nil},
	{ActReportHandled, "report the result of", []Status{StatusAccepted}, partsIn},
	{ActReportPart, "report a part of", []Status{StatusDispatched, StatusAccepted}, aPartOpen},
	{ActWaivePart, "waive a part of", []Status{StatusDispatched, StatusAccepted}, aPartOpen},
	{ActRequestExtension, "request an extension for", []Status{StatusDispatched, StatusAccepted}, noExtensionPending},
	{ActReturn, "return", []Status{StatusDispatched, StatusAccepted}, nil},
	{ActDispatch, "dispatch", []Status{StatusRegistered, StatusReturned, StatusDispatched}, nil},
	{ActRegister, "register", []Status{StatusReceived}, nil},
	{ActResolveOnContact, "resolve on contact", []Status{StatusReceived}, nil},
	{ActVerify, "verify", []Status{StatusHandled}, nil},
	{ActDecideExtension, "decide an extension for", []Status{StatusDispatched, StatusAccepted}, extensionPending},
	{ActRefuseReturn, "refuse the return of", []Status{StatusReturned}, nil},
	{ActDecline, "decline", []Status{StatusReceived, StatusRegistered}, nil},
	{ActMerge, "merge", []Status{StatusReceived, StatusRegistered, StatusDispatched, StatusReturned}, nil},
	{ActEvaluate, "evaluate", []Status{StatusClosed, StatusResolvedOnContact}, notEvaluated},
	{ActReopen, "reopen", []Status{StatusClosed}, evaluatedBadly},
	{ActRaise, "raise", atCentre, nil},
	{ActHandDown, "hand down", atCentre, nil},
	{ActTakeOver, "take over", atCentre, nil},
	{ActTakeTask, "take the task of", []Status{StatusReceived, StatusHandled}, anyTask},
	{ActConfirm, "confirm", []Status{StatusReceived}, taskGuard(TaskConfirm)},
	{ActInspect, "inspect", []Status{StatusHandled}, taskGuard(TaskInspect)},
	{ActSelfHandle, "self-handle", []Status{StatusReceived}, nil},
	{ActSupplement, "supplement", openStatuses, nil},
	{ActNote, "note", Statuses, nil},
}

// Actions lists every workflow action in the order a ticket page offers them.
func Actions() []Action {
	out := make([]Action, len(workflow))
	for i, tr := range workflow {
		out[i] = tr.action
	}
	return out
}

// From lists the states a may be taken from; nil for an unknown action.
func (a Action) From() []Status {
	if tr, ok := rule(a); ok {
		return slices.Clone(tr.from)
	}
	return nil
}

// Redispatch reports whether dispatching from st sends the ticket
// somewhere it has already been sent (改派), which needs a note saying why.
func Redispatch(st Status) bool {
	return st == StatusReturned || st == StatusDispatched
}

// Can reports whether a may be taken on t now: its state allows it and
// the ticket's own conditions hold (an extension pending for a decision,
// none for a new request; a closed ticket evaluated badly for reopening;
// not yet evaluated for an evaluation). The action's arguments are
// checked when it is taken.
func (t *Ticket) Can(a Action) bool { return t.check(a) == nil }

// check is Can with the reason: a *TransitionError when the state does not
// allow a, the guard's conflict when the ticket's conditions do not hold.
func (t *Ticket) check(a Action) error {
	tr, ok := rule(a)
	if !ok {
		return Invalid("action", "%q is not a workflow action", a)
	}
	if !slices.Contains(tr.from, t.Status) {
		return &TransitionError{Action: tr.verb, From: t.Status}
	}
	if tr.guard != nil {
		return tr.guard(t)
	}
	return nil
}

func rule(a Action) (transition, bool) {
	i := slices.IndexFunc(workflow, func(tr transition) bool { return tr.action == a })
	if i < 0 {
		return transition{}, false
	}
	return workflow[i], true
}

func noExtensionPending(t *Ticket) error {
	if t.Extension != nil {
		return &Error{Kind: KindConflict, Code: "extension_pending", Field: "extension", Message: "an extension request is already pending"}
	}
	return nil
}

func extensionPending(t *Ticket) error {
	if t.Extension == nil {
		return &Error{Kind: KindConflict, Code: "no_extension_pending", Field: "extension", Message: "no extension request is pending"}
	}
	return nil
}

func notEvaluated(t *Ticket) error {
	if t.Evaluation != nil {
		return &Error{Kind: KindConflict, Code: "already_evaluated", Field: "evaluation", Message: "the ticket is already evaluated"}
	}
	return nil
}

// evaluatedBadly is reopening's condition: the citizen was unsatisfied or
// said the problem is not solved.
func evaluatedBadly(t *Ticket) error {
	if t.Evaluation == nil || (t.Evaluation.Satisfaction != Unsatisfied && t.Evaluation.Solved) {
		return &Error{Kind: KindConflict, Code: "not_reopenable", Field: "evaluation", Message: "only a ticket evaluated as unsatisfied or unsolved can be reopened"}
	}
	return nil
}
