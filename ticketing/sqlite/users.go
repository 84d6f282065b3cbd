package sqlite

import (
	"context"
	"time"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// Staff users (migration 00010): one row per login name, times in
// microseconds.

// PutUser inserts the user or replaces the one with its name, keeping the
// stored creation time. In the same transaction it deletes the user's API
// tokens when the user is disabled, and those of another role than u's.
func (s *Store) PutUser(ctx context.Context, u *ticketing.User) error {
	args, err := sqlq.UserArgs(dialect, u)
	if err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback() // after Commit this is a no-op
	var stored int64
	err = tx.QueryRowContext(ctx, sqlq.UserUpsert, args...).Scan(&stored)
	if err != nil {
		return translate(err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM api_tokens WHERE user_name = ? AND (? OR role <> ?)`,
		u.Name, u.Disabled, string(u.Role)); err != nil {
		return translate(err)
	}
	if err := tx.Commit(); err != nil {
		return translate(err)
	}
	u.CreatedAt = time.UnixMicro(stored)
	return nil
}

// EndUserSessions moves the user's session epoch on.
func (s *Store) EndUserSessions(ctx context.Context, name string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE users SET session_epoch = session_epoch + 1 WHERE name = ?`, name)
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
