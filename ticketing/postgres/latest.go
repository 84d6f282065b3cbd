package postgres

import (
	"context"

	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// LatestPublic returns each ticket's latest public note.
func (s *Store) LatestPublic(ctx context.Context, ticketIDs []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ticketIDs))
	if len(ticketIDs) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (ticket_id) ticket_id, public FROM ticket_events
		WHERE ticket_id = ANY($1) AND public <> '' ORDER BY ticket_id, seq DESC`, ticketIDs)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	if err := sqlq.Notes(rows, translate, out); err != nil {
		return nil, err
	}
	return out, nil
}
