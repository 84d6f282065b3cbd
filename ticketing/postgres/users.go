package postgres

import (
	"context"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// Staff users (migration 00011): one row per login name.

// PutUser inserts the user or replaces the one with its name, keeping the
// stored creation time. In the same statement it deletes the user's API
// tokens when the user is disabled, and those of another role than u's.
func (s *Store) PutUser(ctx context.Context, u *ticketing.User) error {
	args, err := sqlq.UserArgs(dialect, u)
	if err != nil {
		return err
	}
	// The upsert's parameters: $1 the name, $3 the role, $6 disabled.
	err = s.pool.QueryRow(ctx, `WITH revoked AS (DELETE FROM api_tokens WHERE user_name = $1 AND ($6 OR role <> $3)) `+
		dialect.Rebind(sqlq.UserUpsert), args...).Scan(&u.CreatedAt)
	return translate(err)
}

// EndUserSessions moves the user's session epoch on.
func (s *Store) EndUserSessions(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET session_epoch = session_epoch + 1 WHERE name = $1`, name)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return ticketing.ErrNotFound
	}
	return nil
}
