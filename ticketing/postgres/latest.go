package postgres

import "context"

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
	for rows.Next() {
		var id int64
		var public string
		if err := rows.Scan(&id, &public); err != nil {
			return nil, translate(err)
		}
		out[id] = public
	}
	return out, translate(rows.Err())
}
