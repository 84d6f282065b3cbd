package desks

import (
	"net/http"
	"time"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/ticketing"
)

// ticketJSON is the staff view of a ticket in the API: the reporter's
// phone and e-mail masked (POST .../reveal for the number, audited).
type ticketJSON struct {
	Number         string                `json:"number"`
	Status         ticketing.Status      `json:"status"`
	Channel        ticketing.Channel     `json:"channel"`
	Line           string                `json:"line,omitempty"`
	Text           string                `json:"text"`
	Address        string                `json:"address,omitempty"`
	Location       *ticketing.Point      `json:"location,omitempty"`
	Category       string                `json:"category,omitempty"`
	CategoryName   string                `json:"category_name,omitempty"`
	Department     string                `json:"department,omitempty"`
	DepartmentName string                `json:"department_name,omitempty"`
	Priority       ticketing.Priority    `json:"priority,omitempty"`
	Area           ticketing.Area        `json:"area,omitzero"`
	Centre         string                `json:"centre"` // the area code of the centre holding it; "" is the city
	CentreDue      time.Time             `json:"centre_due,omitzero"`
	Assisting      []string              `json:"assisting,omitempty"`
	Parts          []ticketing.Part      `json:"parts,omitempty"`
	Task           ticketing.TaskKind    `json:"task,omitempty"` // the supervisors' open task: confirm (核实) or inspect (核查)
	TaskDue        time.Time             `json:"task_due,omitzero"`
	TaskBy         string                `json:"task_by,omitempty"`
	DueAt          time.Time             `json:"due_at,omitzero"`
	Light          ticketing.Light       `json:"light,omitempty"`
	RoutingReason  string                `json:"routing_reason,omitempty"`
	ReworkCount    int                   `json:"rework_count"`
	ExtensionCount int                   `json:"extension_count"`
	Extension      *ticketing.Extension  `json:"extension,omitempty"`
	Evaluation     *ticketing.Evaluation `json:"evaluation,omitempty"`
	Reporter       contactJSON           `json:"reporter,omitzero"`
	ReceivedAt     time.Time             `json:"received_at"`
	UpdatedAt      time.Time             `json:"updated_at"`
	Events         []eventJSON           `json:"events,omitempty"`
}

type contactJSON struct {
	Name   string `json:"name,omitempty"`
	Phone  string `json:"phone,omitempty"` // masked
	Email  string `json:"email,omitempty"` // masked
	WeChat bool   `json:"wechat,omitempty"`
}

type eventJSON struct {
	Seq    int                 `json:"seq"`
	At     time.Time           `json:"at"`
	Actor  string              `json:"actor"`
	Type   ticketing.EventType `json:"type"`
	From   ticketing.Status    `json:"from,omitempty"`
	To     ticketing.Status    `json:"to,omitempty"`
	Note   string              `json:"note,omitempty"`
	Public string              `json:"public,omitempty"`
}

// ticketJSON is t for the API; with contact false (queue rows) the
// reporter is left out altogether.
func (s *Server) ticketJSON(t *ticketing.Ticket, evs []ticketing.Event, contact bool) ticketJSON {
	j := ticketJSON{Number: t.Number, Status: t.Status, Channel: t.Channel, Line: t.Line, Text: t.Text,
		Address: t.Address, Location: t.Location, Category: t.Category, CategoryName: t.CategoryName,
		Department: t.Department, DepartmentName: t.DepartmentName, Priority: t.Priority, Area: t.Area,
		Centre: t.Centre, CentreDue: t.CentreDue, Assisting: t.Assisting, Parts: t.Parts, DueAt: t.DueAt,
		Task: t.Task, TaskDue: t.TaskDue, TaskBy: t.TaskBy, Light: t.LightAt(lastDispatch(evs), s.cfg.Now()), RoutingReason: t.RoutingReason,
		ReworkCount: t.ReworkCount, ExtensionCount: t.ExtensionCount, Extension: t.Extension,
		Evaluation: t.Evaluation, ReceivedAt: t.ReceivedAt, UpdatedAt: t.UpdatedAt}
	if contact {
		j.Reporter = contactJSON{Name: t.Reporter.Name, Phone: ticketing.MaskPhone(t.Reporter.Phone),
			Email: ticketing.MaskEmail(t.Reporter.Email), WeChat: t.Reporter.OpenID != ""}
	}
	for _, e := range evs {
		j.Events = append(j.Events, eventJSON{Seq: e.Seq, At: e.At, Actor: e.Actor, Type: e.Type, From: e.From,
			To: e.To, Note: e.Note, Public: e.Public})
	}
	return j
}

// apiQueue is GET /api/v1/desk/queue: a page of work, nearest deadline
// first (sort=received: oldest report first), with the next page's cursor.
// A liaison's queue is the liaison's own department; asking for another
// is answered as not found.
func (s *Server) apiQueue(w http.ResponseWriter, r *http.Request) {
	st := staffFrom(r.Context())
	if d := r.URL.Query().Get("department"); st.Role == liaison && d != "" && d != st.Department {
		s.fail(w, r, ticketing.Errorf(ticketing.KindNotFound, "department", "no queue for this department"))
		return
	}
	q, err := s.queue(r, st)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := struct {
		Tickets []ticketJSON `json:"tickets"`
		Next    string       `json:"next,omitempty"`
	}{Tickets: make([]ticketJSON, len(q.Rows)), Next: q.Next}
	for i, rw := range q.Rows {
		out.Tickets[i] = s.ticketJSON(rw.T, nil, false)
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

// apiTicket is GET /api/v1/desk/tickets/{number}: the staff view with the
// log; audited as a view, since it shows the reporter's contact.
func (s *Server) apiTicket(w http.ResponseWriter, r *http.Request) {
	t, evs, err := s.openTicket(r, staffFrom(r.Context()), r.PathValue("number"), "desk-api")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, s.ticketJSON(t, evs, true))
}
