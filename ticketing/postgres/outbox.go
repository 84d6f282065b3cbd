package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// Deliveries are created by the outbox_fan_out trigger (migration 00004).
// Claims lock candidate rows with FOR UPDATE SKIP LOCKED and lease them, so
// instances sharing the database never hand out the same delivery; a
// candidate qualifies only when no earlier message of its ticket is pending
// for the endpoint, which keeps each ticket's messages in order.
//
// That test is a lookup per candidate in the (endpoint, ticket, message)
// index, bounded by the candidate's own message; the walk has its own index,
// which the lookup cannot use (migration 00028). Written as NOT EXISTS with
// OFFSET 0, which keeps it a subquery: a bare NOT EXISTS became an anti-join
// that, on statistics older than a burst of intake, read every pending
// delivery per candidate (a claim took 0.8 s with 23,000 pending).

// RegisterEndpoint makes every new outbox message produce a delivery for endpoint.
func (s *Store) RegisterEndpoint(ctx context.Context, endpoint string, now time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO delivery_endpoints (name, created_at) VALUES ($1, $2)
		ON CONFLICT (name) DO NOTHING`, endpoint, now)
	return translate(err)
}

// RemoveEndpoint stops new deliveries to endpoint.
func (s *Store) RemoveEndpoint(ctx context.Context, endpoint string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM delivery_endpoints WHERE name = $1`, endpoint)
	return translate(err)
}

const claimSQL = `
	WITH c AS (
		SELECT d.id FROM deliveries d
		WHERE d.endpoint = $1 AND d.delivered_at IS NULL AND NOT d.dead AND d.ticket_id > 0
		  AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= $2)
		  AND (d.leased_until IS NULL OR d.leased_until <= $2)
		  AND NOT EXISTS (
			SELECT 1 FROM deliveries p
			WHERE p.endpoint = d.endpoint AND p.ticket_id = d.ticket_id AND p.message_id < d.message_id
			  AND p.delivered_at IS NULL AND NOT p.dead
			OFFSET 0)
		ORDER BY d.message_id
		LIMIT $4
		FOR UPDATE OF d SKIP LOCKED
	), u AS (
		UPDATE deliveries d SET attempts = d.attempts + 1, leased_until = $3
		FROM c WHERE d.id = c.id
		RETURNING d.id, d.message_id, d.ticket_id, d.endpoint, d.attempts, d.last_error, d.dead, d.delivered_at
	)
	SELECT u.id, u.message_id, u.ticket_id, t.number, u.endpoint, o.topic, o.payload::text, o.created_at,
	       u.attempts, u.last_error, u.dead, u.delivered_at
	FROM u JOIN outbox o ON o.id = u.message_id JOIN tickets t ON t.id = u.ticket_id
	ORDER BY u.message_id`

// ClaimDeliveries leases up to limit due deliveries of endpoint, at most one per ticket.
func (s *Store) ClaimDeliveries(ctx context.Context, endpoint string, now time.Time, limit int, lease time.Duration) ([]ticketing.Delivery, error) {
	return s.deliveries(ctx, claimSQL, endpoint, now, now.Add(lease), limit)
}

func (s *Store) deliveries(ctx context.Context, query string, args ...any) ([]ticketing.Delivery, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	return sqlq.Collect(rows, translate, func(r sqlq.Scanner) (ticketing.Delivery, error) { return sqlq.ScanDelivery(dialect, r) })
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// MarkDelivered records that the delivery reached its endpoint (or was skipped).
func (s *Store) MarkDelivered(ctx context.Context, id int64, at time.Time, skipped bool) error {
	tag, err := s.pool.Exec(ctx, `UPDATE deliveries SET delivered_at = $2, skipped = $3, dead = false, leased_until = NULL
		WHERE id = $1 AND delivered_at IS NULL`, id, at, skipped)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return s.deliveryExists(ctx, id)
	}
	return nil
}

func (s *Store) deliveryExists(ctx context.Context, id int64) error {
	var one int
	return translate(s.pool.QueryRow(ctx, `SELECT 1 FROM deliveries WHERE id = $1`, id).Scan(&one))
}

// MarkFailed ends an attempt: due again at nextAt, or dead.
func (s *Store) MarkFailed(ctx context.Context, id int64, attempt int, nextAt time.Time, errText string, dead bool) error {
	tag, err := s.pool.Exec(ctx, `UPDATE deliveries SET next_attempt_at = $3, last_error = $4, dead = $5, leased_until = NULL
		WHERE id = $1 AND attempts = $2 AND delivered_at IS NULL AND NOT dead`, id, attempt, nextAt, errText, dead)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return ticketing.ErrLeaseLost
	}
	return nil
}

// Release gives back an unattempted claim.
func (s *Store) Release(ctx context.Context, id int64, attempt int) error {
	tag, err := s.pool.Exec(ctx, `UPDATE deliveries SET attempts = attempts - 1, leased_until = NULL
		WHERE id = $1 AND attempts = $2 AND delivered_at IS NULL AND NOT dead`, id, attempt)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return ticketing.ErrLeaseLost
	}
	return nil
}

// DeadLetters lists endpoint's dead deliveries, oldest first.
func (s *Store) DeadLetters(ctx context.Context, endpoint string, limit int) ([]ticketing.Delivery, error) {
	return s.deliveries(ctx, `SELECT d.id, d.message_id, d.ticket_id, t.number, d.endpoint, o.topic, o.payload::text,
		o.created_at, d.attempts, d.last_error, d.dead, d.delivered_at
		FROM deliveries d JOIN outbox o ON o.id = d.message_id JOIN tickets t ON t.id = d.ticket_id
		WHERE d.endpoint = $1 AND d.dead ORDER BY d.id LIMIT $2`, endpoint, limit)
}

// Requeue brings a dead delivery back, due at now.
func (s *Store) Requeue(ctx context.Context, id int64, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE deliveries SET dead = false, attempts = 0, next_attempt_at = $2, leased_until = NULL
		WHERE id = $1 AND dead`, id, now)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return &ticketing.Error{Kind: ticketing.KindNotFound, Field: "delivery", Message: "no dead delivery has this id"}
	}
	return nil
}

// DeliveryStats counts endpoint's pending and dead deliveries.
func (s *Store) DeliveryStats(ctx context.Context, endpoint string) (ticketing.DeliveryStats, error) {
	var st ticketing.DeliveryStats
	var oldest *time.Time
	err := s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM deliveries WHERE endpoint = $1 AND delivered_at IS NULL AND NOT dead),
		(SELECT count(*) FROM deliveries WHERE endpoint = $1 AND dead),
		(SELECT o.created_at FROM deliveries d JOIN outbox o ON o.id = d.message_id
		 WHERE d.endpoint = $1 AND d.delivered_at IS NULL AND NOT d.dead ORDER BY d.message_id LIMIT 1)`,
		endpoint).Scan(&st.Pending, &st.Dead, &oldest)
	st.OldestPending = deref(oldest)
	return st, translate(err)
}

const refColumns = `r.endpoint, r.ticket_id, t.number, r.remote_id, r.token, r.requested_at, r.forwarded_at,
	r.status, r.status_notes, r.next_poll_at, r.updated_at`

func scanRef(r pgx.Row) (ticketing.ExternalRef, error) {
	var ref ticketing.ExternalRef
	var requested, forwarded, poll *time.Time
	err := r.Scan(&ref.Endpoint, &ref.TicketID, &ref.Number, &ref.RemoteID, &ref.Token, &requested, &forwarded,
		&ref.Status, &ref.StatusNotes, &poll, &ref.UpdatedAt)
	ref.RequestedAt, ref.ForwardedAt, ref.NextPollAt = deref(requested), deref(forwarded), deref(poll)
	return ref, err
}

// ExternalRef returns the ticket's reference on endpoint.
func (s *Store) ExternalRef(ctx context.Context, endpoint string, ticketID int64) (*ticketing.ExternalRef, error) {
	ref, err := scanRef(s.pool.QueryRow(ctx, `SELECT `+refColumns+`
		FROM external_refs r JOIN tickets t ON t.id = r.ticket_id WHERE r.endpoint = $1 AND r.ticket_id = $2`, endpoint, ticketID))
	if err != nil {
		return nil, translate(err)
	}
	return &ref, nil
}

// SaveExternalRef creates or replaces a reference.
func (s *Store) SaveExternalRef(ctx context.Context, ref *ticketing.ExternalRef) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO external_refs (endpoint, ticket_id, remote_id, token, requested_at,
			forwarded_at, status, status_notes, next_poll_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (endpoint, ticket_id) DO UPDATE SET remote_id = $3, token = $4, requested_at = $5,
			forwarded_at = $6, status = $7, status_notes = $8, next_poll_at = $9, updated_at = $10`,
		ref.Endpoint, ref.TicketID, ref.RemoteID, ref.Token, nullTime(ref.RequestedAt), nullTime(ref.ForwardedAt),
		ref.Status, ref.StatusNotes, nullTime(ref.NextPollAt), ref.UpdatedAt)
	return translate(err)
}

// ClaimPolls leases up to limit references due for polling.
func (s *Store) ClaimPolls(ctx context.Context, endpoint string, now time.Time, limit int, lease time.Duration) ([]ticketing.ExternalRef, error) {
	rows, err := s.pool.Query(ctx, `
		WITH c AS (
			SELECT endpoint, ticket_id, next_poll_at AS due FROM external_refs
			WHERE endpoint = $1 AND next_poll_at <= $2
			ORDER BY next_poll_at LIMIT $4
			FOR UPDATE SKIP LOCKED
		), r AS (
			UPDATE external_refs x SET next_poll_at = $3 FROM c
			WHERE x.endpoint = c.endpoint AND x.ticket_id = c.ticket_id
			RETURNING x.*, c.due
		)
		SELECT `+refColumns+` FROM r JOIN tickets t ON t.id = r.ticket_id ORDER BY r.due, r.ticket_id`,
		endpoint, now, now.Add(lease), limit)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var refs []ticketing.ExternalRef
	for rows.Next() {
		ref, err := scanRef(rows)
		if err != nil {
			return nil, translate(err)
		}
		refs = append(refs, ref)
	}
	return refs, translate(rows.Err())
}
