package sqlq

import (
	"context"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// Patrol returns the latest position of each supervisor seen within area
// since since, by name.
func (r Reader[T, N]) Patrol(ctx context.Context, area string, since time.Time) ([]ticketing.Position, error) {
	w := r.D.Where()
	w.AddTime("at >= ?", since)
	inArea(w, area, "")
	return collect(r, ctx, w, `SELECT user_name, at, lat, lon, grid, community, street, district FROM patrol_latest`+w.String()+
		` ORDER BY user_name`, func(s Scanner) (ticketing.Position, error) {
		var p ticketing.Position
		var at T
		if err := s.Scan(&p.User, &at, &p.Lat, &p.Lon, &p.Area.Grid, &p.Area.Community, &p.Area.Street, &p.Area.District); err != nil {
			return p, r.D.Translate(err)
		}
		p.At = r.D.At(at)
		return p, nil
	})
}

// Visited returns the cells of area visited on day, by code.
func (r Reader[T, N]) Visited(ctx context.Context, area, day string) ([]string, error) {
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return nil, ticketing.Invalid("day", "must be a date like 2006-01-02")
	}
	w := r.D.Where()
	w.Add("day = ?", day)
	inArea(w, area, "")
	return collect(r, ctx, w, `SELECT grid FROM patrol_visits`+w.String()+` ORDER BY grid`, func(s Scanner) (string, error) {
		var g string
		return g, r.D.Translate(s.Scan(&g))
	})
}

// PositionArgs checks p and returns the parameters of the latest-position
// upsert and of the visit insert that follows it (PatrolLatest, PatrolVisit).
func PositionArgs[T, N any](d Dialect[T, N], p ticketing.Position, day string) (latest, visit []any, err error) {
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return nil, nil, ticketing.Invalid("day", "must be a date like 2006-01-02")
	}
	a := p.Area
	return []any{p.User, d.Time(p.At), p.Lat, p.Lon, a.Grid, a.Community, a.Street, a.District},
		[]any{day, a.Grid, a.Community, a.Street, a.District, d.Time(p.At)}, nil
}

// The statements of AddPosition: a newer position replaces the user's
// latest; a cell's first visit of the day is kept.
const (
	PatrolLatest = `INSERT INTO patrol_latest (user_name, at, lat, lon, grid, community, street, district)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_name) DO UPDATE SET at = excluded.at, lat = excluded.lat, lon = excluded.lon,
			grid = excluded.grid, community = excluded.community, street = excluded.street, district = excluded.district
		WHERE patrol_latest.at < excluded.at`
	PatrolVisit = `INSERT INTO patrol_visits (day, grid, community, street, district, first_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (day, grid) DO NOTHING`
)
