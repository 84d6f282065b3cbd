package desks

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/yihao-city/yihao/ticketing"
)

// section is one list of the dispatcher's desk.
type section struct {
	Key, ZH, EN string
	Rows        []row
	Next        string // the URL of this list's next page, empty on the last
}

// dispatchSections are the dispatcher's lists: what waits for a decision
// first, then what is running late.
var dispatchSections = []struct {
	key, zh, en string
	filter      func(s *Server) ticketing.QueueFilter
}{
	{"triage", "待派单（受理、立案、退回）", "Triage (received, registered, returned)", func(*Server) ticketing.QueueFilter {
		return ticketing.QueueFilter{Statuses: []ticketing.Status{ticketing.StatusReceived, ticketing.StatusRegistered,
			ticketing.StatusReturned}, Sort: ticketing.SortReceived}
	}},
	{"extensions", "延期申请", "Extension requests", func(*Server) ticketing.QueueFilter {
		return ticketing.QueueFilter{ExtensionPending: true, Sort: ticketing.SortDue}
	}},
	{"verify", "待核查", "Awaiting verification", func(*Server) ticketing.QueueFilter {
		return ticketing.QueueFilter{Statuses: []ticketing.Status{ticketing.StatusHandled}, Sort: ticketing.SortDue}
	}},
	{"overdue", "超期预警", "Overdue and due soon", func(s *Server) ticketing.QueueFilter {
		return ticketing.QueueFilter{Statuses: []ticketing.Status{ticketing.StatusDispatched, ticketing.StatusAccepted},
			DueBefore: s.cfg.Now().Add(s.cfg.DueSoon), Sort: ticketing.SortDue}
	}},
}

// sectionLimit is how many rows each list of the desk shows at once.
const sectionLimit = 30

// getDispatch is the dispatcher's desk (派单台): every list's first page,
// or, with ?s=<list>&after=<cursor>, one list paged on.
func (s *Server) getDispatch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	only := q.Get("s")
	found := only == ""
	var out []section
	for _, d := range dispatchSections {
		if only != "" && d.key != only {
			continue
		}
		found = true
		f := d.filter(s)
		f.Limit = sectionLimit
		s.withinArea(&f, staffFrom(r.Context()).Area)
		if only != "" {
			after, err := ticketing.ParseCursor(q.Get("after"))
			if err != nil {
				s.fail(w, r, err)
				return
			}
			f.After = after
		}
		ts, err := s.store.Queue(r.Context(), f)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		sec := section{Key: d.key, ZH: d.zh, EN: d.en}
		var next string
		sec.Rows, next = s.rows(ts, f)
		if next != "" {
			sec.Next = "/desk/dispatch?" + url.Values{"s": {d.key}, "after": {next}}.Encode()
		}
		out = append(out, sec)
	}
	if !found {
		s.fail(w, r, ticketing.Invalid("s", "must be one of triage, extensions, verify or overdue"))
		return
	}
	s.page(w, r, "dispatch.html", out)
}

// inboxData is the inbox page's.
type inboxData struct {
	queuePage
	DeptName    string
	Departments []Department // the department filter's choices; none for a liaison
	NextURL     string
}

// getInbox is a department's work (待办): a liaison's own department,
// whatever the query says; other roles may pick one with ?department=.
func (s *Server) getInbox(w http.ResponseWriter, r *http.Request) {
	st := staffFrom(r.Context())
	q, err := s.queue(r, st)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := inboxData{queuePage: q}
	d.DeptName, _ = s.departmentName(q.Filter.Department)
	if st.Role != liaison {
		d.Departments = s.cfg.Departments()
	}
	if q.Next != "" {
		p := q.Params
		v := url.Values{"status": {p.Status}, "due": {p.Due}, "grid": {p.Grid}, "sort": {p.Sort}, "after": {q.Next}}
		if st.Role != liaison {
			v.Set("department", p.Department)
		}
		if p.Limit > 0 {
			v.Set("limit", strconv.Itoa(p.Limit))
		}
		d.NextURL = "/desk/inbox?" + v.Encode()
	}
	s.page(w, r, "inbox.html", d)
}

// getSearch finds a ticket by its number: the agent's desk, and every
// desk's search box.
func (s *Server) getSearch(w http.ResponseWriter, r *http.Request) {
	n := strings.Join(strings.Fields(r.URL.Query().Get("number")), "")
	if n == "" {
		s.page(w, r, "search.html", "")
		return
	}
	if !ticketing.ValidNumber(n) {
		s.render(w, r, http.StatusBadRequest, "search.html", n,
			tr(r, "工单号应为14位数字，请核对。", "A ticket number is 14 digits with a check digit; check it."))
		return
	}
	http.Redirect(w, r, "/desk/tickets/"+n, http.StatusSeeOther)
}

// auditData is the audit page's.
type auditData struct {
	Actor, Ticket, Action string
	Entries               []ticketing.AuditEntry
	Next                  string
}

// getAudit is the audit log: who saw or changed what, newest first, paged
// by ?before=<id>.
func (s *Server) getAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := auditData{Actor: strings.TrimSpace(q.Get("actor")), Ticket: strings.TrimSpace(q.Get("ticket")),
		Action: strings.TrimSpace(q.Get("action"))}
	f := ticketing.AuditFilter{Actor: d.Actor, Ticket: d.Ticket, Action: d.Action}
	if b := q.Get("before"); b != "" {
		id, err := strconv.ParseInt(b, 10, 64)
		if err != nil || !ticketing.Decimal(b) || id <= 0 {
			s.fail(w, r, ticketing.Invalid("before", "must be an entry id from the previous page"))
			return
		}
		f.BeforeID = id
	}
	entries, err := s.store.Audit(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Entries = entries
	if len(entries) > 0 && len(entries) == f.AuditLimit() {
		d.Next = "/desk/audit?" + url.Values{"actor": {d.Actor}, "ticket": {d.Ticket}, "action": {d.Action},
			"before": {strconv.FormatInt(entries[len(entries)-1].ID, 10)}}.Encode()
	}
	s.page(w, r, "audit.html", d)
}
