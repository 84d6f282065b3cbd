package postgres

import (
	"context"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// addPositionSQL is the position's upsert and its cell's visit in one
// statement, so a position is one round trip and one commit.
var addPositionSQL = dialect.Rebind(`WITH l AS (` + sqlq.PatrolLatest + `) ` + sqlq.PatrolVisit)

// AddPosition records a supervisor's position and the visit of its cell.
func (s *Store) AddPosition(ctx context.Context, p ticketing.Position, day string) error {
	latest, visit, err := sqlq.PositionArgs(dialect, p, day)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, addPositionSQL, append(latest, visit...)...)
	return translate(err)
}
