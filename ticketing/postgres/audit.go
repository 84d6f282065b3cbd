package postgres

import (
	"context"
	"strconv"

	"github.com/yihao-city/yihao/ticketing"
)

// The audit log (migration 00012): append-only, read newest first.

// AppendAudit validates e, stores it and sets e.ID.
func (s *Store) AppendAudit(ctx context.Context, e *ticketing.AuditEntry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO audit_log (at, actor, role, action, ticket, detail, source)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		e.At, e.Actor, string(e.Role), e.Action, e.Ticket, e.Detail, e.Source).Scan(&e.ID)
	return translate(err)
}

// Audit returns the entries f selects, newest first.
func (s *Store) Audit(ctx context.Context, f ticketing.AuditFilter) ([]ticketing.AuditEntry, error) {
	var w where
	if f.Actor != "" {
		w.add("actor = ?", f.Actor)
	}
	if f.Ticket != "" {
		w.add("ticket = ?", f.Ticket)
	}
	if f.Action != "" {
		w.add("action = ?", f.Action)
	}
	if !f.From.IsZero() {
		w.add("at >= ?", f.From)
	}
	if !f.To.IsZero() {
		w.add("at < ?", f.To)
	}
	if f.BeforeID > 0 {
		w.add("id < ?", f.BeforeID)
	}
	w.args = append(w.args, f.AuditLimit())
	rows, err := s.pool.Query(ctx, `SELECT id, at, actor, role, action, ticket, detail, source FROM audit_log`+
		w.String()+` ORDER BY id DESC LIMIT $`+strconv.Itoa(len(w.args)), w.args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []ticketing.AuditEntry{}
	for rows.Next() {
		var e ticketing.AuditEntry
		var role string
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &role, &e.Action, &e.Ticket, &e.Detail, &e.Source); err != nil {
			return nil, translate(err)
		}
		e.Role = ticketing.Role(role)
		out = append(out, e)
	}
	return out, translate(rows.Err())
}
