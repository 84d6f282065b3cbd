package postgres

import (
	"context"
	"slices"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/row"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
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
	w := dialect.Where()
	switch {
	case f.Department != "" && f.Assisting:
		// The containment is the predicate the GIN index of migration
		// 00019 answers; the planner ORs it with the department's index.
		w.Add("(department = ? OR assisting @> jsonb_build_array(?::text))", f.Department, f.Department)
	case f.Department != "":
		w.Add("department = ?", f.Department)
	}
	w.Add("status IN " + row.QuotedList(statuses))
	key := sqlq.QueueConds(w, f)
	limit := w.Param(f.QueueLimit())
	return s.many(ctx, `SELECT `+ticketColumns+` FROM tickets`+w.String()+` ORDER BY `+key+`, id LIMIT `+limit, w.Args...)
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
