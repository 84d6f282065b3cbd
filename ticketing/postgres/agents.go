package postgres

import (
	"context"

	"github.com/yihao-city/yihao/ticketing"
)

// Agents' SIP accounts (migration 00009): one row per extension, skills as
// a jsonb array of strings.

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
