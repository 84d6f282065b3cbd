package sqlq

import (
	"context"

	"github.com/yihao-city/yihao/ticketing"
)

// Writer is the writes both schemas take with the same statement, each a
// single statement on the store's writing connection: a store embeds it.
type Writer[T, N any] struct {
	DB DB
	D  Dialect[T, N]
}

// CreateToken stores an API token's digest and sets its id.
func (w Writer[T, N]) CreateToken(ctx context.Context, tok *ticketing.Token) error {
	args, err := TokenArgs(w.D, tok)
	if err != nil {
		return err
	}
	return w.D.Translate(w.DB.QueryRow(ctx, w.D.Rebind(`INSERT INTO api_tokens (name, role, hash, created_at, user_name, department)
		VALUES (?, ?, ?, ?, NULLIF(?, ''), ?) RETURNING id`), args...).Scan(&tok.ID))
}

// AppendAudit validates e, stores it and sets e.ID.
func (w Writer[T, N]) AppendAudit(ctx context.Context, e *ticketing.AuditEntry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	return w.D.Translate(w.DB.QueryRow(ctx, w.D.Rebind(`INSERT INTO audit_log (at, actor, role, action, ticket, detail, source)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		w.D.Time(e.At), e.Actor, string(e.Role), e.Action, e.Ticket, e.Detail, e.Source).Scan(&e.ID))
}

// PutAgent inserts the agent or replaces the one with its extension,
// keeping the stored creation time, which it sets on a.
func (w Writer[T, N]) PutAgent(ctx context.Context, a *ticketing.Agent) error {
	args, err := AgentArgs(w.D, a)
	if err != nil {
		return err
	}
	var stored T
	err = w.DB.QueryRow(ctx, w.D.Rebind(`INSERT INTO agents (`+AgentColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (ext) DO UPDATE SET name = excluded.name, realm = excluded.realm, ha1 = excluded.ha1,
			skills = excluded.skills, updated_at = excluded.updated_at
		RETURNING created_at`), args...).Scan(&stored)
	if err != nil {
		return w.D.Translate(err)
	}
	a.CreatedAt = w.D.At(stored)
	return nil
}
