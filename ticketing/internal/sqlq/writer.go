package sqlq

import (
	"context"
	"unicode/utf8"

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

// DeleteUserTokens deletes the tokens acting for user whose name starts
// with prefix, all but the one with id keep, and says how many went.
func (w Writer[T, N]) DeleteUserTokens(ctx context.Context, user, prefix string, keep int64) (int64, error) {
	// substr, not LIKE: a name may contain % or _.
	rows, err := w.DB.Query(ctx, w.D.Rebind(`DELETE FROM api_tokens WHERE user_name = ? AND substr(name, 1, ?) = ? AND id <> ?
		RETURNING id`), user, utf8.RuneCountInString(prefix), prefix, keep)
	if err != nil {
		return 0, w.D.Translate(err)
	}
	defer func() { _ = rows.Close() }() // read to the end or failed: nothing left to report
	var n int64
	for rows.Next() {
		n++
	}
	return n, w.D.Translate(rows.Err())
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
