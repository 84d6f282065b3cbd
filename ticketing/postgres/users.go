package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/yihao-city/yihao/ticketing"
)

// Staff users (migration 00011): one row per login name.

const userColumns = `name, display_name, role, department, password_hash, disabled, created_at, updated_at`

// userSelect is userColumns and the session epoch (migration 00016), which
// PutUser never writes.
const userSelect = userColumns + `, session_epoch`

func scanUser(r pgx.Row) (*ticketing.User, error) {
	var (
		u    ticketing.User
		role string
	)
	if err := r.Scan(&u.Name, &u.DisplayName, &role, &u.Department, &u.PasswordHash, &u.Disabled,
		&u.CreatedAt, &u.UpdatedAt, &u.SessionEpoch); err != nil {
		return nil, translate(err)
	}
	u.Role = ticketing.Role(role)
	return &u, nil
}

// PutUser inserts the user or replaces the one with its name, keeping the
// stored creation time. In the same statement it deletes the user's API
// tokens when the user is disabled, and those of another role than u's.
func (s *Store) PutUser(ctx context.Context, u *ticketing.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	created := u.CreatedAt
	if created.IsZero() {
		created = u.UpdatedAt
	}
	err := s.pool.QueryRow(ctx, `WITH revoked AS (DELETE FROM api_tokens WHERE user_name = $1 AND ($6 OR role <> $3))
		INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (name) DO UPDATE SET display_name = excluded.display_name, role = excluded.role,
			department = excluded.department, password_hash = excluded.password_hash,
			disabled = excluded.disabled, updated_at = excluded.updated_at
		RETURNING created_at`,
		u.Name, u.DisplayName, string(u.Role), u.Department, u.PasswordHash, u.Disabled, created, u.UpdatedAt).
		Scan(&u.CreatedAt)
	return translate(err)
}

// UserByName returns the user with the login name.
func (s *Store) UserByName(ctx context.Context, name string) (*ticketing.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userSelect+` FROM users WHERE name = $1`, name))
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

// Users returns every user by name.
func (s *Store) Users(ctx context.Context) ([]*ticketing.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userSelect+` FROM users ORDER BY name`)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []*ticketing.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, translate(rows.Err())
}
