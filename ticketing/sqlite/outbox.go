package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// Deliveries are created by the outbox_fan_out trigger (migration 00003).
// Claims run in an IMMEDIATE transaction on the writer, which SQLite
// serializes across connections and processes; the lease column keeps a
// claimed delivery from being handed out again until it runs out.

// RegisterEndpoint makes every new outbox message produce a delivery for endpoint.
func (s *Store) RegisterEndpoint(ctx context.Context, endpoint string, now time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO delivery_endpoints (name, created_at) VALUES (?, ?)
		ON CONFLICT (name) DO NOTHING`, endpoint, now.UnixMicro())
	return translate(err)
}

// RemoveEndpoint stops new deliveries to endpoint.
func (s *Store) RemoveEndpoint(ctx context.Context, endpoint string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM delivery_endpoints WHERE name = ?`, endpoint)
	return translate(err)
}

const deliveryFrom = ` FROM deliveries d JOIN outbox o ON o.id = d.message_id JOIN tickets t ON t.id = d.ticket_id `

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func deliveries(ctx context.Context, q queryer, query string, args ...any) ([]ticketing.Delivery, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	return sqlq.Collect(rows, translate, func(r sqlq.Scanner) (ticketing.Delivery, error) { return sqlq.ScanDelivery(dialect, r) })
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64)
}

// ClaimDeliveries leases up to limit due deliveries of endpoint, at most one per ticket.
func (s *Store) ClaimDeliveries(ctx context.Context, endpoint string, now time.Time, limit int, lease time.Duration) ([]ticketing.Delivery, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, translate(err)
	}
	defer tx.Rollback() // after Commit this is a no-op
	ds, err := deliveries(ctx, tx, `SELECT `+sqlq.DeliveryColumns+deliveryFrom+`
		WHERE d.endpoint = ?1 AND d.delivered_at IS NULL AND d.dead = 0
		  AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?2)
		  AND (d.leased_until IS NULL OR d.leased_until <= ?2)
		  AND NOT EXISTS (
			SELECT 1 FROM deliveries p
			WHERE p.endpoint = d.endpoint AND p.ticket_id = d.ticket_id AND p.message_id < d.message_id
			  AND p.delivered_at IS NULL AND p.dead = 0)
		ORDER BY d.message_id LIMIT ?3`, endpoint, now.UnixMicro(), limit)
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	ids := make([]any, 0, len(ds)+1)
	ids = append(ids, now.Add(lease).UnixMicro())
	for i := range ds {
		ds[i].Attempt++
		ids = append(ids, ds[i].ID)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET attempts = attempts + 1, leased_until = ?
		WHERE id IN (?`+strings.Repeat(",?", len(ds)-1)+`)`, ids...); err != nil {
		return nil, translate(err)
	}
	if err := tx.Commit(); err != nil {
		return nil, translate(err)
	}
	return ds, nil
}

// MarkDelivered records that the delivery reached its endpoint (or was skipped).
func (s *Store) MarkDelivered(ctx context.Context, id int64, at time.Time, skipped bool) error {
	res, err := s.w.ExecContext(ctx, `UPDATE deliveries SET delivered_at = ?, skipped = ?, dead = 0, leased_until = NULL
		WHERE id = ? AND delivered_at IS NULL`, at.UnixMicro(), skipped, id)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		return translate(s.w.QueryRowContext(ctx, `SELECT 1 FROM deliveries WHERE id = ?`, id).Scan(&one))
	}
	return nil
}

// MarkFailed ends an attempt: due again at nextAt, or dead.
func (s *Store) MarkFailed(ctx context.Context, id int64, attempt int, nextAt time.Time, errText string, dead bool) error {
	res, err := s.w.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = ?, last_error = ?, dead = ?, leased_until = NULL
		WHERE id = ? AND attempts = ? AND delivered_at IS NULL AND dead = 0`, nextAt.UnixMicro(), errText, dead, id, attempt)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ticketing.ErrLeaseLost
	}
	return nil
}

// Release gives back an unattempted claim.
func (s *Store) Release(ctx context.Context, id int64, attempt int) error {
	res, err := s.w.ExecContext(ctx, `UPDATE deliveries SET attempts = attempts - 1, leased_until = NULL
		WHERE id = ? AND attempts = ? AND delivered_at IS NULL AND dead = 0`, id, attempt)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ticketing.ErrLeaseLost
	}
	return nil
}

// DeadLetters lists endpoint's dead deliveries, oldest first.
func (s *Store) DeadLetters(ctx context.Context, endpoint string, limit int) ([]ticketing.Delivery, error) {
	return deliveries(ctx, s.r, `SELECT `+sqlq.DeliveryColumns+deliveryFrom+`
		WHERE d.endpoint = ? AND d.dead = 1 ORDER BY d.id LIMIT ?`, endpoint, limit)
}

// Requeue brings a dead delivery back, due at now.
func (s *Store) Requeue(ctx context.Context, id int64, now time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE deliveries SET dead = 0, attempts = 0, next_attempt_at = ?, leased_until = NULL
		WHERE id = ? AND dead = 1`, now.UnixMicro(), id)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &ticketing.Error{Kind: ticketing.KindNotFound, Field: "delivery", Message: "no dead delivery has this id"}
	}
	return nil
}

// DeliveryStats counts endpoint's pending and dead deliveries.
func (s *Store) DeliveryStats(ctx context.Context, endpoint string) (ticketing.DeliveryStats, error) {
	var st ticketing.DeliveryStats
	var oldest sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM deliveries WHERE endpoint = ?1 AND delivered_at IS NULL AND dead = 0),
		(SELECT count(*) FROM deliveries WHERE endpoint = ?1 AND dead = 1),
		(SELECT o.created_at FROM deliveries d JOIN outbox o ON o.id = d.message_id
		 WHERE d.endpoint = ?1 AND d.delivered_at IS NULL AND d.dead = 0 ORDER BY d.message_id LIMIT 1)`,
		endpoint).Scan(&st.Pending, &st.Dead, &oldest)
	st.OldestPending = fromMicros(oldest)
	return st, translate(err)
}

const refColumns = `r.endpoint, r.ticket_id, t.number, r.remote_id, r.token, r.requested_at, r.forwarded_at,
	r.status, r.status_notes, r.next_poll_at, r.updated_at`

func refs(ctx context.Context, q queryer, query string, args ...any) ([]ticketing.ExternalRef, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []ticketing.ExternalRef
	for rows.Next() {
		var ref ticketing.ExternalRef
		var requested, forwarded, poll sql.NullInt64
		var updated int64
		if err := rows.Scan(&ref.Endpoint, &ref.TicketID, &ref.Number, &ref.RemoteID, &ref.Token, &requested, &forwarded,
			&ref.Status, &ref.StatusNotes, &poll, &updated); err != nil {
			return nil, translate(err)
		}
		ref.RequestedAt, ref.ForwardedAt, ref.NextPollAt = fromMicros(requested), fromMicros(forwarded), fromMicros(poll)
		ref.UpdatedAt = time.UnixMicro(updated)
		out = append(out, ref)
	}
	return out, translate(rows.Err())
}

// ExternalRef returns the ticket's reference on endpoint.
func (s *Store) ExternalRef(ctx context.Context, endpoint string, ticketID int64) (*ticketing.ExternalRef, error) {
	rs, err := refs(ctx, s.r, `SELECT `+refColumns+` FROM external_refs r JOIN tickets t ON t.id = r.ticket_id
		WHERE r.endpoint = ? AND r.ticket_id = ?`, endpoint, ticketID)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, ticketing.ErrNotFound
	}
	return &rs[0], nil
}

// SaveExternalRef creates or replaces a reference.
func (s *Store) SaveExternalRef(ctx context.Context, ref *ticketing.ExternalRef) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO external_refs (endpoint, ticket_id, remote_id, token, requested_at,
			forwarded_at, status, status_notes, next_poll_at, updated_at)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
		ON CONFLICT (endpoint, ticket_id) DO UPDATE SET remote_id = ?3, token = ?4, requested_at = ?5,
			forwarded_at = ?6, status = ?7, status_notes = ?8, next_poll_at = ?9, updated_at = ?10`,
		ref.Endpoint, ref.TicketID, ref.RemoteID, ref.Token, micros(ref.RequestedAt), micros(ref.ForwardedAt),
		ref.Status, ref.StatusNotes, micros(ref.NextPollAt), ref.UpdatedAt.UnixMicro())
	return translate(err)
}

// ClaimPolls leases up to limit references due for polling.
func (s *Store) ClaimPolls(ctx context.Context, endpoint string, now time.Time, limit int, lease time.Duration) ([]ticketing.ExternalRef, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, translate(err)
	}
	defer tx.Rollback() // after Commit this is a no-op
	rs, err := refs(ctx, tx, `SELECT `+refColumns+` FROM external_refs r JOIN tickets t ON t.id = r.ticket_id
		WHERE r.endpoint = ? AND r.next_poll_at <= ? ORDER BY r.next_poll_at, r.ticket_id LIMIT ?`, endpoint, now.UnixMicro(), limit)
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	until := now.Add(lease)
	for i := range rs {
		rs[i].NextPollAt = until
		if _, err := tx.ExecContext(ctx, `UPDATE external_refs SET next_poll_at = ? WHERE endpoint = ? AND ticket_id = ?`,
			until.UnixMicro(), endpoint, rs[i].TicketID); err != nil {
			return nil, translate(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, translate(err)
	}
	return rs, nil
}
