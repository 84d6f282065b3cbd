package postgres

import (
	"context"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// Agents' SIP accounts (migration 00009): one row per extension, skills as
// a jsonb array of strings.

// PutAgent inserts the agent or replaces the one with its extension,
// keeping the stored creation time.
func (s *Store) PutAgent(ctx context.Context, a *ticketing.Agent) error {
	args, err := sqlq.AgentArgs(dialect, a)
	if err != nil {
		return err
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO agents (`+sqlq.AgentColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (ext) DO UPDATE SET name = excluded.name, realm = excluded.realm, ha1 = excluded.ha1,
			skills = excluded.skills, updated_at = excluded.updated_at
		RETURNING created_at`, args...).Scan(&a.CreatedAt)
	return translate(err)
}

// EndAgentSessions moves the agent's session epoch on.
func (s *Store) EndAgentSessions(ctx context.Context, ext string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE agents SET session_epoch = session_epoch + 1 WHERE ext = $1`, ext)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return ticketing.ErrNotFound
	}
	return nil
}

// DeleteAgent removes the agent with the extension.
func (s *Store) DeleteAgent(ctx context.Context, ext string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM agents WHERE ext = $1`, ext)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return ticketing.ErrNotFound
	}
	return nil
}
