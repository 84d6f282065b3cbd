package sqlite

import (
	"context"
	"strings"

	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
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
		err = sqlq.Notes(rows, translate, out)
		_ = rows.Close() // read to the end or failed: nothing left to report
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
