package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// The outbox as a feed (ticketing.ChangeFeed, migration 00028). SQLite
// writes one transaction at a time, so a message's id is its place in
// commit order: a reader sees a prefix of the outbox, and the position is
// the last id read (Tx stays 0).

// LeaseFeed takes feed for holder if it is free (or holder's already),
// creating it at the outbox's end.
func (s *Store) LeaseFeed(ctx context.Context, feed, holder string, now, until time.Time) (ticketing.FeedPosition, bool, error) {
	var p ticketing.FeedPosition
	err := s.w.QueryRowContext(ctx, `
		INSERT INTO feeds AS f (name, message_id, holder, leased_until)
		VALUES (?1, (SELECT coalesce(max(id), 0) FROM outbox), ?2, ?4)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, leased_until = excluded.leased_until
		WHERE f.holder = excluded.holder OR f.leased_until <= ?3
		RETURNING message_id`, feed, holder, now.UnixMicro(), until.UnixMicro()).Scan(&p.Message)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return p, false, nil
		}
		return p, false, translate(err)
	}
	return p, true, nil
}

// ReadFeed reads the messages after pos.
func (s *Store) ReadFeed(ctx context.Context, after ticketing.FeedPosition, limit int) ([]ticketing.FeedMessage, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, ticket_id, topic, payload, created_at FROM outbox
		WHERE id > ? ORDER BY id LIMIT ?`, after.Message, limit)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	return sqlq.Collect(rows, translate, func(r sqlq.Scanner) (ticketing.FeedMessage, error) {
		var m ticketing.FeedMessage
		var payload string
		var at int64
		err := r.Scan(&m.Position.Message, &m.TicketID, &m.Topic, &payload, &at)
		m.Payload, m.At = []byte(payload), time.UnixMicro(at)
		return m, translate(err)
	})
}

// AdvanceFeed moves holder's feed to pos and extends its lease.
func (s *Store) AdvanceFeed(ctx context.Context, feed, holder string, pos ticketing.FeedPosition, until time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE feeds SET message_id = ?, leased_until = ? WHERE name = ? AND holder = ?`,
		pos.Message, until.UnixMicro(), feed, holder)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ticketing.ErrLeaseLost
	}
	return nil
}
