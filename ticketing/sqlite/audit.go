package sqlite

import (
	"context"

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
