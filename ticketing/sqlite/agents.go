package sqlite

import (
	"context"
	"time"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// Agents' SIP accounts (migration 00008): one row per extension, skills as
// a JSON array of strings, times in microseconds.

// PutAgent inserts the agent or replaces the one with its extension,
// keeping the stored creation time.
func (s *Store) PutAgent(ctx context.Context, a *ticketing.Agent) error {
	args, err := sqlq.AgentArgs(dialect, a)
	if err != nil {
		return err
	}
	var stored int64
	err = s.w.QueryRowContext(ctx, `INSERT INTO agents (`+sqlq.AgentColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (ext) DO UPDATE SET name = excluded.name, realm = excluded.realm, ha1 = excluded.ha1,
			skills = excluded.skills, updated_at = excluded.updated_at
		RETURNING created_at`, args...).Scan(&stored)
	if err != nil {
		return translate(err)
	}
	a.CreatedAt = time.UnixMicro(stored)
	return nil
}

// EndAgentSessions moves the agent's session epoch on.
func (s *Store) EndAgentSessions(ctx context.Context, ext string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE agents SET session_epoch = session_epoch + 1 WHERE ext = ?`, ext)
	if err != nil {
		return translate(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return translate(err)
	} else if n == 0 {
		return ticketing.ErrNotFound
	}
	return nil
}

// DeleteAgent removes the agent with the extension.
func (s *Store) DeleteAgent(ctx context.Context, ext string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM agents WHERE ext = ?`, ext)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ticketing.ErrNotFound
	}
	return nil
}
