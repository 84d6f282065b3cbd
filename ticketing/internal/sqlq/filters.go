package sqlq

import (
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/row"
)

// The place levels a listing may be kept to.
const (
	PlaceCellLevel      = ticketing.PlaceCell
	PlaceCommunityLevel = ticketing.PlaceCommunity
)

// ListConds adds the conditions of a ticket listing (Store.List); false
// when f selects nothing at all (an empty, not absent, list of numbers).
func ListConds(w *Where, f ticketing.ListFilter) bool {
	if f.Numbers != nil {
		if len(f.Numbers) == 0 {
			return false
		}
		w.In("number", f.Numbers)
	}
	if len(f.Categories) > 0 {
		w.In("category", f.Categories)
	}
	if len(f.Phones) > 0 {
		// The first condition is the predicate of the partial index
		// tickets_reporter_phone, so the planner may use it.
		w.Add("reporter_phone <> ''")
		w.In("reporter_phone", f.Phones)
	}
	if f.OpenID != "" {
		w.Add("reporter_openid <> ''") // the predicate of tickets_reporter_openid
		w.Add("reporter_openid = ?", f.OpenID)
	}
	if f.Open != nil {
		w.In("status", row.StatusNames(*f.Open))
	}
	if f.Channel != "" {
		w.Add("channel = ?", string(f.Channel))
	}
	switch f.Level {
	case PlaceCellLevel:
		w.Add("grid = ?", f.Place)
	case PlaceCommunityLevel:
		w.Add("community = ?", f.Place)
	}
	if !f.From.IsZero() {
		w.AddTime("received_at >= ?", f.From)
	}
	if !f.To.IsZero() {
		w.AddTime("received_at < ?", f.To)
	}
	return true
}

// EventConds adds the conditions of an events listing across tickets
// (Store.EventsBetween), on ticket_events e joined to tickets t.
func EventConds(w *Where, f ticketing.EventFilter) {
	w.AddTime("e.at >= ?", f.From)
	w.AddTime("e.at < ?", f.To)
	if f.Channel != "" {
		w.Add("t.channel = ?", string(f.Channel))
	}
	if f.PublicOnly {
		w.Add("e.public <> ''")
	}
	for _, typ := range f.SkipTypes {
		w.Add("e.type <> ?", string(typ))
	}
	if f.SkipActorPrefix != "" {
		// substr, not LIKE: an actor may contain % or _.
		w.Add("substr(e.actor, 1, ?) <> ?", len(f.SkipActorPrefix), f.SkipActorPrefix)
	}
}

// CallConds adds the conditions of a call listing, on calls c.
func CallConds(w *Where, f ticketing.CallFilter) {
	if !f.From.IsZero() {
		w.AddTime("c.arrived_at >= ?", f.From)
	}
	if !f.To.IsZero() {
		w.AddTime("c.arrived_at < ?", f.To)
	}
	if f.Line != "" {
		w.Add("c.line = ?", f.Line)
	}
	if f.Agent != "" {
		w.Add("c.agent = ?", f.Agent)
	}
	if f.Cause != "" {
		w.Add("c.cause = ?", string(f.Cause))
	}
	if f.CallbackOnly {
		w.Add("c.direction = 'in' AND c.cause NOT IN ('', 'answered') AND c.caller <> '' AND c.called_back_at IS NULL")
	}
}

// AuditConds adds the conditions of an audit listing.
func AuditConds(w *Where, f ticketing.AuditFilter) {
	if f.Actor != "" {
		w.Add("actor = ?", f.Actor)
	}
	if f.Ticket != "" {
		w.Add("ticket = ?", f.Ticket)
	}
	if f.Action != "" {
		w.Add("action = ?", f.Action)
	}
	if !f.From.IsZero() {
		w.AddTime("at >= ?", f.From)
	}
	if !f.To.IsZero() {
		w.AddTime("at < ?", f.To)
	}
	if f.BeforeID > 0 {
		w.Add("id < ?", f.BeforeID)
	}
}

// inArea adds the condition of rows within area (a district, street,
// community or cell; "" is the city: no condition), as
// ticketing.Area.Within: the one column of level l when it is known, any
// of them when not.
func inArea(w *Where, area string, l ticketing.Level) {
	if area == "" {
		return
	}
	switch l {
	case ticketing.LevelDistrict:
		w.Add("district = ?", area)
	case ticketing.LevelStreet:
		w.Add("street = ?", area)
	case ticketing.LevelCommunity:
		w.Add("community = ?", area)
	case ticketing.LevelCell:
		w.Add("grid = ?", area)
	default:
		w.Add("(district = ? OR street = ? OR community = ? OR grid = ?)", area, area, area, area)
	}
}

// QueueConds adds the conditions of a page of work after its department
// and states, which each store writes its own way for its partial
// indexes, and returns the column the page is sorted and keyset-paged on.
func QueueConds(w *Where, f ticketing.QueueFilter) (key string) {
	switch f.Sort { // as ticketing.CursorOf: any other sort is SortDue
	case ticketing.SortReceived:
		key = "received_at"
	case ticketing.SortTask:
		key = "task_due"
		w.Add("task_due IS NOT NULL")
	default:
		key = "due_at"
		w.Add("due_at IS NOT NULL")
	}
	if f.Task {
		w.Add("task <> ''") // the predicate of the partial index tickets_tasks
	}
	if f.Grid != "" {
		w.Add("grid = ?", f.Grid)
	}
	if len(f.Cells) > 0 {
		w.In("grid", f.Cells)
	}
	inArea(w, f.Area, f.AreaLevel)
	if !f.DueBefore.IsZero() {
		w.AddTime("due_at < ?", f.DueBefore)
	}
	if f.ExtensionPending {
		w.Add("extension IS NOT NULL")
	}
	if f.After != nil {
		w.Add("("+key+", id) > (?, ?)", w.time(f.After.At), f.After.ID)
	}
	return key
}
