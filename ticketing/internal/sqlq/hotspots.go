package sqlq

import (
	"context"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// PlaceCounts counts the tickets received in [from, to) by category and
// place at level (its column), those of at least min; a 督办 case on a
// hotspot is not one of the reports it counts.
func (r Reader[T, N]) PlaceCounts(ctx context.Context, level ticketing.PlaceLevel, from, to time.Time, min int) ([]ticketing.PlaceCount, error) {
	var q string
	switch level {
	case ticketing.PlaceCell, ticketing.PlaceCommunity:
		col := map[ticketing.PlaceLevel]string{ticketing.PlaceCell: "grid", ticketing.PlaceCommunity: "community"}[level]
		q = `SELECT category, ` + col + `, count(*) FROM tickets
		WHERE received_at >= ? AND received_at < ? AND category <> '' AND ` + col + ` <> '' AND channel <> 'hotspot'
		GROUP BY category, ` + col + ` HAVING count(*) >= ?`
	case ticketing.PlaceCity:
		// One place: each category's count across the city.
		q = `SELECT category, 'city', count(*) FROM tickets
		WHERE received_at >= ? AND received_at < ? AND category <> '' AND channel <> 'hotspot'
		GROUP BY category HAVING count(*) >= ?`
	default:
		return nil, ticketing.Invalid("level", "%q is not a place level (grid, community or city)", level)
	}
	rows, err := r.DB.Query(ctx, r.D.Rebind(q), r.D.Time(from), r.D.Time(to), min)
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
