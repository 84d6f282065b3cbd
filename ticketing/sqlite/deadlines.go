package sqlite

import (
	"context"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// Alarms returns the ids of tickets whose deadline alarm is due at now,
// earliest first, from the partial index tickets_alarm (migration 00012).
func (s *Store) Alarms(ctx context.Context, now time.Time, limit int) ([]int64, error) {
	if limit <= 0 {
		limit = ticketing.DefaultAlarmLimit
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM tickets
		WHERE alarm_at IS NOT NULL AND alarm_at <= ? ORDER BY alarm_at, id LIMIT ?`, now.UnixMicro(), limit)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, translate(err)
		}
		ids = append(ids, id)
	}
	return ids, translate(rows.Err())
}
