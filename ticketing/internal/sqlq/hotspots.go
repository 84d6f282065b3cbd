package sqlq

import (
	"context"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// PlaceCounts counts the tickets received in [from, to) by category and
// place at level (its column), those of at least min.
func (r Reader[T, N]) PlaceCounts(ctx context.Context, level ticketing.PlaceLevel, from, to time.Time, min int) ([]ticketing.PlaceCount, error) {
	col := ""
	switch level {
	case ticketing.PlaceCell:
		col = "grid"
	case ticketing.PlaceCommunity:
		col = "community"
	default:
		return nil, ticketing.Invalid("level", "%q is not a place level (grid or community)", level)
	}
	rows, err := r.DB.Query(ctx, r.D.Rebind(`SELECT category, `+col+`, count(*) FROM tickets
		WHERE received_at >= ? AND received_at < ? AND category <> '' AND `+col+` <> ''
		GROUP BY category, `+col+` HAVING count(*) >= ?`), r.D.Time(from), r.D.Time(to), min)
	if err != nil {
		return nil, r.D.Translate(err)
	}
	defer func() { _ = rows.Close() }()
	return Collect(rows, r.D.Translate, func(s Scanner) (ticketing.PlaceCount, error) {
		var c ticketing.PlaceCount
		err := s.Scan(&c.Category, &c.Place, &c.N)
		return c, r.D.Translate(err)
	})
}

// FirstReceived is the oldest ticket's reception; zero when none.
func (r Reader[T, N]) FirstReceived(ctx context.Context) (time.Time, error) {
	var at N
	if err := r.DB.QueryRow(ctx, `SELECT min(received_at) FROM tickets`).Scan(&at); err != nil {
		return time.Time{}, r.D.Translate(err)
	}
	return r.D.NullAt(at), nil
}
