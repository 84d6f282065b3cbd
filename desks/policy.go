package desks

import (
	"slices"

	"github.com/yihao-city/yihao/ticketing"
)

// action is something a member of staff may be allowed to do: see a page,
// or take a workflow step on a ticket.
type action string

const (
	actView         action = "view"          // ticket pages, the inbox, the queue API, live events
	actDispatchDesk action = "dispatch_desk" // the dispatcher's desk
	actAudit        action = "audit"         // the audit log
	actIndicators   action = "indicators"    // the indicator pages
	actKnowledge    action = "knowledge"     // the knowledge base's search

	actRegister        action = "register"         // 立案
	actDecline         action = "decline"          // 不予立案
	actDispatch        action = "dispatch"         // 派遣, 改派
	actAccept          action = "accept"           // 签收
	actReturn          action = "return"           // 退回
	actRefuseReturn    action = "refuse_return"    // 退回不予认可, back to the department
	actHandle          action = "handle"           // 办结反馈
	actExtend          action = "extend"           // 延期申请
	actDecideExtension action = "decide_extension" // 延期审批
	actVerify          action = "verify"           // 核查
	actMerge           action = "merge"            // 并单
	actNote            action = "note"             // 备注
	actRaise           action = "raise"            // 上报 to the level above
	actHandDown        action = "hand_down"        // 下派 to a centre below
	actTakeOver        action = "take_over"        // 提级 by a centre above
	actReportPart      action = "report_part"      // 协办反馈
	actWaivePart       action = "waive_part"       // 协办免报
)

const (
	admin      = ticketing.RoleAdmin
	agent      = ticketing.RoleAgent
	dispatcher = ticketing.RoleDispatcher
	liaison    = ticketing.RoleLiaison
)

// policy is who may do what, the one table. Approvals (dispatch, decline,
// verify, decide extensions, refuse returns, merge) are the supervision
// centre's; taking, returning and finishing the work is the department's;
// agents look tickets up for callers and add notes. A liaison, besides, sees
// and acts only on tickets of the liaison's own department (sees).
var policy = map[action][]ticketing.Role{
	actView:         {admin, dispatcher, liaison, agent},
	actIndicators:   {admin, dispatcher, liaison, agent},
	actKnowledge:    {admin, dispatcher, liaison, agent},
	actDispatchDesk: {admin, dispatcher},
	actAudit:        {admin, dispatcher},

	actRegister:        {admin, dispatcher},
	actDecline:         {admin, dispatcher},
	actDispatch:        {admin, dispatcher},
	actRefuseReturn:    {admin, dispatcher},
	actDecideExtension: {admin, dispatcher},
	actVerify:          {admin, dispatcher},
	actMerge:           {admin, dispatcher},
	actAccept:          {liaison},
	actReturn:          {liaison},
	actExtend:          {liaison},
	actHandle:          {liaison},
	actNote:            {admin, dispatcher, liaison, agent},
	// Moving a case between the levels' centres is the centres' own work.
	actRaise:    {dispatcher},
	actHandDown: {dispatcher},
	actTakeOver: {dispatcher},
	// Linkage (联动): an assisting department reports its part; a
	// dispatcher may waive one, with a reason.
	actReportPart: {liaison},
	actWaivePart:  {admin, dispatcher},
}

// workflow lists the ticket actions in the order the ticket page offers
// them, each with the ticketing actions that make it possible: the states
// and conditions are ticketing's one transition table (Ticket.Can). The
// desk's dispatch also serves a received ticket, which Service.Dispatch
// registers and dispatches in one step.
var workflow = []step{
	{actAccept, []ticketing.Action{ticketing.ActAccept}},
	{actHandle, []ticketing.Action{ticketing.ActReportHandled}},
	{actReportPart, []ticketing.Action{ticketing.ActReportPart}},
	{actExtend, []ticketing.Action{ticketing.ActRequestExtension}},
	{actReturn, []ticketing.Action{ticketing.ActReturn}},
	{actDispatch, []ticketing.Action{ticketing.ActDispatch, ticketing.ActRegister}},
	{actRegister, []ticketing.Action{ticketing.ActRegister}},
	{actVerify, []ticketing.Action{ticketing.ActVerify}},
	{actDecideExtension, []ticketing.Action{ticketing.ActDecideExtension}},
	{actWaivePart, []ticketing.Action{ticketing.ActWaivePart}},
	{actRefuseReturn, []ticketing.Action{ticketing.ActRefuseReturn}},
	{actDecline, []ticketing.Action{ticketing.ActDecline}},
	{actMerge, []ticketing.Action{ticketing.ActMerge}},
	{actRaise, []ticketing.Action{ticketing.ActRaise}},
	{actHandDown, []ticketing.Action{ticketing.ActHandDown}},
	{actTakeOver, []ticketing.Action{ticketing.ActTakeOver}},
	{actNote, []ticketing.Action{ticketing.ActNote}},
}

// step is a desk action and the ticketing actions any of which allows it.
type step struct {
	act  action
	when []ticketing.Action
}

// isTicketAction reports whether a is a workflow action of the ticket routes.
func isTicketAction(a action) bool {
	return slices.ContainsFunc(workflow, func(w step) bool { return w.act == a })
}

// can reports whether st's role may do a. Ticket actions also need
// sees(st, t) for the ticket. The audit log spans the city's tickets, so
// a district or street centre does not read it.
func can(st *staff, a action) bool {
	if st != nil && a == actAudit && st.viewer().Local() {
		return false
	}
	return st != nil && slices.Contains(policy[a], st.Role)
}

// sees reports whether st may see t at all: the one ticket policy
// (ticketing.Viewer.Sees). A liaison sees the tickets of the liaison's own
// department, as lead or assisting department, and a liaison without a
// department sees none. A ticket st does not see is answered as not found,
// so numbers cannot be probed.
func sees(st *staff, t *ticketing.Ticket) bool {
	return st != nil && st.viewer().Sees(t)
}

// works reports whether st may take action a on t, besides the role's
// right to a (can): a liaison works only the tickets the liaison's
// department leads (an assisting department adds notes and reports its
// own part); a dispatcher
// the cases of the centre holding them or of a centre below it
// (ticketing.Viewer.Oversees), raises only what its own centre holds, and
// takes over only from a centre below.
func works(st *staff, a action, t *ticketing.Ticket) bool {
	if !sees(st, t) {
		return false
	}
	if a == actNote {
		return true
	}
	v := st.viewer()
	switch {
	case st.Role == liaison && a == actReportPart:
		return v.Assists(t) && slices.Contains(t.Pending(), v.Department)
	case st.Role == liaison:
		return v.Leads(t)
	case a == actRaise:
		return v.Holds(t)
	case a == actTakeOver:
		return v.Above(t)
	case st.Role == dispatcher:
		return v.Oversees(t)
	}
	return true
}

// offered lists the actions st may take on t in its current state, in the
// page's order.
func offered(st *staff, t *ticketing.Ticket) []action {
	var out []action
	for _, w := range workflow {
		if can(st, w.act) && works(st, w.act, t) && slices.ContainsFunc(w.when, t.Can) {
			out = append(out, w.act)
		}
	}
	return out
}

// viewer is st for the ticket policy.
func (st *staff) viewer() ticketing.Viewer {
	return ticketing.Viewer{Role: st.Role, Department: st.Department, Area: st.Area}
}
