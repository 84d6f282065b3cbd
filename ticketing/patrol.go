package ticketing

import (
	"context"
	"time"
)

// Position is where a supervisor on duty was (巡查): the phone sends one
// every so often, placed on the grid by the door. The centres' map shows
// who is where now and which cells nobody visited today.
type Position struct {
	User string // the supervisor's login name
	At   time.Time
	Lat  float64
	Lon  float64
	Area Area // the cell the position lies in, and its community, street and district
}

// Validate checks a position before a store keeps it.
func (p Position) Validate() error {
	if !ValidUserName(p.User) {
		return Invalid("user", "must be a supervisor's login name")
	}
	if err := (&Point{Lat: p.Lat, Lon: p.Lon}).Validate(); err != nil {
		return err
	}
	if p.Area.Grid == "" {
		return Invalid("lat", "the position lies in no grid cell")
	}
	if p.At.IsZero() {
		return Invalid("at", "missing time")
	}
	return nil
}

// PatrolStore keeps the supervisors' positions: the latest of each, and
// the cells visited each day (in the city's time zone, Visit.Day).
type PatrolStore interface {
	// AddPosition records p as its user's latest (an older one than the
	// stored never replaces it) and its cell as visited on day.
	AddPosition(ctx context.Context, p Position, day string) error
	// Patrol returns the latest position of every supervisor seen within
	// area ("" the city) since since, by name.
	Patrol(ctx context.Context, area string, since time.Time) ([]Position, error)
	// Visited returns the cells of area visited on day ("2006-01-02").
	Visited(ctx context.Context, area, day string) ([]string, error)
}
