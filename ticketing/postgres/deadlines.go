package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/yihao-city/yihao/ticketing"
)

// Alarms returns the ids of tickets whose deadline alarm is due at now,
// earliest first: a range scan of the partial index tickets_alarm
// (migration 00013) that stops after limit rows.
func (s *Store) Alarms(ctx context.Context, now time.Time, limit int) ([]int64, error) {
	if limit <= 0 {
		limit = ticketing.DefaultAlarmLimit
	}
	rows, err := s.pool.Query(ctx, `SELECT id FROM tickets
		WHERE alarm_at IS NOT NULL AND alarm_at <= $1 ORDER BY alarm_at, id LIMIT $2`, now, limit)
	if err != nil {
		return nil, translate(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return ids, translate(err)
}
