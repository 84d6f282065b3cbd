package sqlite

import (
	"context"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// AddPosition records a supervisor's position and the visit of its cell,
// in one transaction.
func (s *Store) AddPosition(ctx context.Context, p ticketing.Position, day string) error {
	latest, visit, err := sqlq.PositionArgs(dialect, p, day)
	if err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, sqlq.PatrolLatest, latest...); err != nil {
		return translate(err)
	}
	if _, err := tx.ExecContext(ctx, sqlq.PatrolVisit, visit...); err != nil {
		return translate(err)
	}
	return translate(tx.Commit())
}
