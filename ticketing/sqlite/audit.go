package sqlite

import (
	"context"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
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
	w := dialect.Where()
	sqlq.AuditConds(w, f)
	limit := w.Param(f.AuditLimit())
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlq.AuditColumns+` FROM audit_log`+w.String()+` ORDER BY id DESC LIMIT `+limit, w.Args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	return sqlq.Collect(rows, translate, func(r sqlq.Scanner) (ticketing.AuditEntry, error) { return sqlq.ScanAudit(dialect, r) })
}
