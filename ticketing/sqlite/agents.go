package sqlite

import (
	"context"

	"github.com/yihao-city/yihao/ticketing"
)

// Agents' SIP accounts (migration 00008): one row per extension, skills as
// a JSON array of strings, times in microseconds.

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
