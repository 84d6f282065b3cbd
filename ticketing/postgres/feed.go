package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// The outbox as a feed (ticketing.ChangeFeed, migration 00029). Each
// message carries its writer's transaction id; a feed reads in (xid, id)
// order and only messages whose xid is below the reading snapshot's xmin,
// the oldest transaction still running. Every transaction below that is
// over, so the set read is final: nothing can later commit behind the
// position. Sequence ids alone would not do — they are taken before commit,
// and a message could commit after a reader had passed its id.
//
// A feed starts after its creating transaction: a transaction that began
// before it is not read. A long write transaction anywhere on the server
// holds every feed back until it ends (the desks then get their events
// late, not never).
//
// xid8 travels as text: pgx has no type for it, and the values fit int64.

// LeaseFeed takes feed for holder if it is free (or holder's already),
// creating it at the outbox's end.
func (s *Store) LeaseFeed(ctx context.Context, feed, holder string, now, until time.Time) (ticketing.FeedPosition, bool, error) {
	var p ticketing.FeedPosition
	err := s.pool.QueryRow(ctx, `
		INSERT INTO feeds AS f (name, xid, message_id, holder, leased_until)
		VALUES ($1, pg_current_xact_id(), 0, $2, $4)
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, leased_until = EXCLUDED.leased_until,
			-- A position past the server's transaction ids came from another
			-- cluster (a dump restored, a logical copy), whose ids the new
			-- one will not reach for a long time: start again from here.
			xid = CASE WHEN f.xid > EXCLUDED.xid THEN EXCLUDED.xid ELSE f.xid END,
			message_id = CASE WHEN f.xid > EXCLUDED.xid THEN 0 ELSE f.message_id END
		WHERE f.holder = EXCLUDED.holder OR f.leased_until <= $3
		RETURNING f.xid::text::bigint, f.message_id`, feed, holder, now, until).Scan(&p.Tx, &p.Message)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return p, false, nil
		}
		return p, false, translate(err)
	}
	return p, true, nil
}

// readFeedSQL walks outbox_feed from the position; ordered by the columns,
// since a bare xid would name the first output column, which is text, and
// sort the whole rest of the outbox for each read.
const readFeedSQL = `
	SELECT o.xid::text::bigint, o.id, o.ticket_id, o.topic, o.payload::text, o.created_at FROM outbox o
	WHERE (o.xid, o.id) > ($1::bigint::text::xid8, $2) AND o.xid < pg_snapshot_xmin(pg_current_snapshot())
	ORDER BY o.xid, o.id
	LIMIT $3`

// ReadFeed reads the messages after pos that no running transaction can
// still precede.
func (s *Store) ReadFeed(ctx context.Context, after ticketing.FeedPosition, limit int) ([]ticketing.FeedMessage, error) {
	rows, err := s.pool.Query(ctx, readFeedSQL, after.Tx, after.Message, limit)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	return sqlq.Collect(rows, translate, func(r sqlq.Scanner) (ticketing.FeedMessage, error) {
		var m ticketing.FeedMessage
		var payload string
		err := r.Scan(&m.Position.Tx, &m.Position.Message, &m.TicketID, &m.Topic, &payload, &m.At)
		m.Payload = []byte(payload)
		return m, translate(err)
	})
}

// AdvanceFeed moves holder's feed to pos and extends its lease.
func (s *Store) AdvanceFeed(ctx context.Context, feed, holder string, pos ticketing.FeedPosition, until time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE feeds SET xid = $3::bigint::text::xid8, message_id = $4, leased_until = $5
		WHERE name = $1 AND holder = $2`, feed, holder, pos.Tx, pos.Message, until)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return ticketing.ErrLeaseLost
	}
	return nil
}
