package postgres

import (
	"context"
	"slices"
	"strconv"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/row"
)

// Queue returns a page of work, keyset-paged on (due_at, id) or
// (received_at, id). The states are written into the query as literals,
// in workflow order, so that its WHERE implies the predicates of the
// partial indexes of migration 00012 (the open states, the triage states):
// the planner proves that for constants, never for parameters.
func (s *Store) Queue(ctx context.Context, f ticketing.QueueFilter) ([]*ticketing.Ticket, error) {
	statuses := row.StatusNames(true)
	if len(f.Statuses) > 0 {
		statuses = knownStatuses(f.Statuses)
		if len(statuses) == 0 {
			return nil, nil // no ticket is in a state the workflow does not have
		}
	}
	var w where
	if f.Department != "" {
		w.add("department = ?", f.Department)
	}
	w.add("status IN " + row.QuotedList(statuses))
	key := "due_at" // as ticketing.CursorOf: any sort but SortReceived is SortDue
	if f.Sort == ticketing.SortReceived {
		key = "received_at"
	} else {
		w.add("due_at IS NOT NULL")
	}
	if f.Grid != "" {
		w.add("grid = ?", f.Grid)
	}
	if !f.DueBefore.IsZero() {
		w.add("due_at < ?", f.DueBefore)
	}
	if f.ExtensionPending {
		w.add("extension IS NOT NULL")
	}
	if f.After != nil {
		w.add("row("+key+", id) > row(?, ?)", f.After.At, f.After.ID)
	}
	w.args = append(w.args, f.QueueLimit())
	return s.many(ctx, `SELECT `+ticketColumns+` FROM tickets`+w.String()+
		` ORDER BY `+key+`, id LIMIT $`+strconv.Itoa(len(w.args)), w.args...)
}

// knownStatuses is the states of ss the workflow has, once each, in
// workflow order: safe to write as literals, and one query text for one set.
func knownStatuses(ss []ticketing.Status) []string {
	var out []string
	for _, s := range ticketing.Statuses {
		if slices.Contains(ss, s) {
			out = append(out, string(s))
		}
	}
	return out
}
