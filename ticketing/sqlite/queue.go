package sqlite

import (
	"context"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/row"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// Queue returns a page of work, keyset-paged on (due_at, id) or
// (received_at, id). Every open state is written as the predicates of the
// partial indexes of migration 00011 are, so that SQLite can use them.
func (s *Store) Queue(ctx context.Context, f ticketing.QueueFilter) ([]*ticketing.Ticket, error) {
	w := dialect.Where()
	switch {
	case f.Department != "" && f.Assisting:
		w.Add("(department = ? OR EXISTS (SELECT 1 FROM json_each(assisting) WHERE value = ?))", f.Department, f.Department)
	case f.Department != "":
		w.Add("department = ?", f.Department)
	}
	if len(f.Statuses) == 0 {
		w.Add("status IN " + row.QuotedList(row.StatusNames(true)))
	} else {
		names := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			names[i] = string(st)
		}
		w.In("status", names)
	}
	key := sqlq.QueueConds(w, f)
	limit := w.Param(f.QueueLimit())
	return s.many(ctx, `SELECT `+ticketColumns+` FROM tickets`+w.String()+` ORDER BY `+key+`, id LIMIT `+limit, w.Args...)
}
