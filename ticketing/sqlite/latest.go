package sqlite

import (
	"context"
	"strings"
)

// LatestPublic returns each ticket's latest public note.
func (s *Store) LatestPublic(ctx context.Context, ticketIDs []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ticketIDs))
	for len(ticketIDs) > 0 {
		// SQLite limits the number of parameters; a listing is at most 1,000.
		chunk := ticketIDs[:min(len(ticketIDs), 500)]
		ticketIDs = ticketIDs[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.r.QueryContext(ctx, `SELECT e.ticket_id, e.public FROM ticket_events e
			WHERE e.ticket_id IN (?`+strings.Repeat(",?", len(chunk)-1)+`) AND e.public <> ''
			  AND e.seq = (SELECT max(seq) FROM ticket_events WHERE ticket_id = e.ticket_id AND public <> '')`, args...)
		if err != nil {
			return nil, translate(err)
		}
		for rows.Next() {
			var id int64
			var public string
			if err := rows.Scan(&id, &public); err != nil {
				rows.Close()
				return nil, translate(err)
			}
			out[id] = public
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, translate(err)
		}
	}
	return out, nil
}
