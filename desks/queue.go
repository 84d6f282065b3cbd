package desks

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/yihao-city/yihao/ticketing"
)

// queueParams are the filters of the inbox page and the queue API.
type queueParams struct {
	Status     string // one state, or "" for every open one
	Due        string // "", "all", "overdue" or "yellow"
	Grid       string
	Department string
	Sort       string // "due" (default) or "received"
	After      string
	Limit      int
}

// inboxStatuses are the states a department's work is in.
var inboxStatuses = []ticketing.Status{ticketing.StatusDispatched, ticketing.StatusAccepted,
	ticketing.StatusReturned, ticketing.StatusHandled}

// readQueueParams reads and checks the filters; the error names the
// parameter at fault.
func readQueueParams(q url.Values) (queueParams, error) {
	p := queueParams{Status: q.Get("status"), Due: q.Get("due"), Grid: strings.TrimSpace(q.Get("grid")),
		Department: strings.TrimSpace(q.Get("department")), Sort: q.Get("sort"), After: q.Get("after")}
	if p.Status != "" && p.Status != "open" {
		ok := false
		for _, s := range ticketing.Statuses {
			ok = ok || string(s) == p.Status
		}
		if !ok {
			return p, ticketing.Invalid("status", "must be a ticket state such as dispatched, accepted, returned or handled")
		}
	}
	if p.Status == "open" {
		p.Status = ""
	}
	switch p.Due {
	case "", "all", "overdue", "yellow":
	default:
		return p, ticketing.Invalid("due", "must be all, overdue or yellow")
	}
	switch p.Sort {
	case "", "due", "received":
	default:
		return p, ticketing.Invalid("sort", "must be due or received")
	}
	if !code(p.Grid) {
		return p, ticketing.Invalid("grid", "must be a grid code")
	}
	if !code(p.Department) {
		return p, ticketing.Invalid("department", "must be a department code")
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || !ticketing.Decimal(l) || n < 1 || n > ticketing.MaxQueueLimit {
			return p, ticketing.Invalid("limit", "must be a whole number from 1 to %d", ticketing.MaxQueueLimit)
		}
		p.Limit = n
	}
	if _, err := ticketing.ParseCursor(p.After); err != nil {
		return p, err
	}
	return p, nil
}

// code reports whether s may be a grid or department code.
func code(s string) bool {
	return len(s) <= ticketing.MaxDepartmentCodeLen && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || !unicode.IsPrint(r)
	})
}

// filter turns the parameters into the store's filter for st: a liaison's
// department is always the liaison's own, a local centre's area its own.
func (s *Server) filter(st *staff, p queueParams) ticketing.QueueFilter {
	f := ticketing.QueueFilter{Department: p.Department, Grid: p.Grid, Limit: p.Limit}
	s.withinArea(&f, st.Area)
	if st.Role == liaison {
		f.Department, f.Assisting = st.Department, true // the cases it leads and those it assists
	}
	if p.Status != "" {
		f.Statuses = []ticketing.Status{ticketing.Status(p.Status)}
	} else if f.Department != "" {
		f.Statuses = inboxStatuses
	}
	switch now := s.cfg.Now(); p.Due {
	case "overdue":
		f.DueBefore = now
	case "yellow":
		f.DueBefore = now.Add(s.cfg.DueSoon)
	}
	if p.Sort == "received" {
		f.Sort = ticketing.SortReceived
	}
	f.After, _ = ticketing.ParseCursor(p.After)
	return f
}

// queuePage is a page of work as the query of r selects it for st.
type queuePage struct {
	Params queueParams
	Filter ticketing.QueueFilter
	Rows   []row
	Next   string // the next page's cursor; empty on the last page
}

func (s *Server) queue(r *http.Request, st *staff) (queuePage, error) {
	p, err := readQueueParams(r.URL.Query())
	if err != nil {
		return queuePage{}, err
	}
	f := s.filter(st, p)
	ts, err := s.store.Queue(r.Context(), f)
	if err != nil {
		return queuePage{}, err
	}
	q := queuePage{Params: p, Filter: f}
	q.Rows, q.Next = s.rows(ts, f)
	return q, nil
}

// row is one ticket of a list, with its light.
type row struct {
	T     *ticketing.Ticket
	Light ticketing.Light
}

// rows lights the tickets of a queue page (the time runs from when the
// ticket was received: a list does not read each ticket's log) and gives
// the cursor of the next page, empty when this one is the last.
func (s *Server) rows(ts []*ticketing.Ticket, f ticketing.QueueFilter) ([]row, string) {
	now := s.cfg.Now()
	out := make([]row, len(ts))
	for i, t := range ts {
		out[i] = row{T: t, Light: t.LightAt(time.Time{}, now)}
	}
	next := ""
	if len(ts) > 0 && len(ts) == f.QueueLimit() {
		next = ticketing.CursorOf(ts[len(ts)-1], f.Sort).String()
	}
	return out, next
}
