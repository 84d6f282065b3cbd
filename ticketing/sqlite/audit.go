package sqlite

import (
	"context"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// The audit log (migration 00011): append-only, read newest first.

// AppendAudit validates e, stores it and sets e.ID.
func (s *Store) AppendAudit(ctx context.Context, e *ticketing.AuditEntry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	err := s.w.QueryRowContext(ctx, `INSERT INTO audit_log (at, actor, role, action, ticket, detail, source)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		e.At.UnixMicro(), e.Actor, string(e.Role), e.Action, e.Ticket, e.Detail, e.Source).Scan(&e.ID)
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
		w.add("at >= ?", f.From.UnixMicro())
	}
	if !f.To.IsZero() {
		w.add("at < ?", f.To.UnixMicro())
	}
	if f.BeforeID > 0 {
		w.add("id < ?", f.BeforeID)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, at, actor, role, action, ticket, detail, source FROM audit_log`+
		w.String()+` ORDER BY id DESC LIMIT ?`, append(w.args, f.AuditLimit())...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []ticketing.AuditEntry{}
	for rows.Next() {
		var e ticketing.AuditEntry
		var role string
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &role, &e.Action, &e.Ticket, &e.Detail, &e.Source); err != nil {
			return nil, translate(err)
		}
		e.At, e.Role = time.UnixMicro(at), ticketing.Role(role)
		out = append(out, e)
	}
	return out, translate(rows.Err())
}
