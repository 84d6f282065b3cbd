package sqlite

import (
	"context"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/row"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// List returns the tickets f selects, oldest received first.
func (s *Store) List(ctx context.Context, f ticketing.ListFilter) ([]*ticketing.Ticket, error) {
	w := dialect.Where()
	if !sqlq.ListConds(w, f) {
		return nil, nil
	}
	limit := w.Param(row.Limit(f.Limit))
	return s.many(ctx, `SELECT `+ticketColumns+` FROM tickets`+w.String()+` ORDER BY received_at, id LIMIT `+limit, w.Args...)
}

// EventsBetween returns the events f selects, oldest first, with their tickets' numbers.
func (s *Store) EventsBetween(ctx context.Context, f ticketing.EventFilter) ([]ticketing.NumberedEvent, error) {
	w := dialect.Where()
	sqlq.EventConds(w, f)
	limit := w.Param(row.Limit(f.Limit))
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlq.EventColumns+`
		FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id`+w.String()+`
		ORDER BY e.at, e.ticket_id, e.seq LIMIT `+limit, w.Args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	return sqlq.Collect(rows, translate, func(r sqlq.Scanner) (ticketing.NumberedEvent, error) { return sqlq.ScanEvent(dialect, r) })
}
