package sqlite

import (
	"context"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/row"
)

// Queue returns a page of work, keyset-paged on (due_at, id) or
// (received_at, id). Every open state is written as the predicates of the
// partial indexes of migration 00011 are, so that SQLite can use them.
func (s *Store) Queue(ctx context.Context, f ticketing.QueueFilter) ([]*ticketing.Ticket, error) {
	var w where
	if f.Department != "" {
		w.add("department = ?", f.Department)
	}
	if len(f.Statuses) == 0 {
		w.add("status IN " + row.QuotedList(row.StatusNames(true)))
	} else {
		names := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			names[i] = string(st)
		}
		w.in("status", names)
	}
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
		w.add("due_at < ?", f.DueBefore.UnixMicro())
	}
	if f.ExtensionPending {
		w.add("extension IS NOT NULL")
	}
	if f.After != nil {
		w.add("("+key+", id) > (?, ?)", f.After.At.UnixMicro(), f.After.ID)
	}
	return s.many(ctx, `SELECT `+ticketColumns+` FROM tickets`+w.String()+` ORDER BY `+key+`, id LIMIT ?`,
		append(w.args, f.QueueLimit())...)
}
