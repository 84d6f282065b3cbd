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
	query, args, ok := queueQuery(f)
	if !ok {
		return nil, nil // no ticket is in a state the workflow does not have
	}
	return s.many(ctx, query, args...)
}

// queueQuery is Queue's statement; false when f's states are none the
// workflow has.
func queueQuery(f ticketing.QueueFilter) (string, []any, bool) {
	statuses := row.StatusNames(true)
	if len(f.Statuses) > 0 {
		statuses = knownStatuses(f.Statuses)
		if len(statuses) == 0 {
			return "", nil, false
		}
	}
	w := dialect.Where()
	switch {
	case f.Department != "" && f.Assisting:
		// The containment is what the GIN index of migration 00030
		// answers, and the non-empty array its predicate, written here as
		// a literal for the planner to prove; it ORs the index with the
		// department's.
		w.Add("(department = ? OR (assisting @> jsonb_build_array(?::text) AND assisting <> '[]'::jsonb))", f.Department, f.Department)
	case f.Department != "":
		w.Add("department = ?", f.Department)
	}
	w.Add("status IN " + row.QuotedList(statuses))
	key := sqlq.QueueConds(w, f)
	limit := w.Param(f.QueueLimit())
	return `SELECT ` + ticketColumns + ` FROM tickets` + w.String() + ` ORDER BY ` + key + `, id LIMIT ` + limit, w.Args, true
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
