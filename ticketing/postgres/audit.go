package postgres

import (
	"context"

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
