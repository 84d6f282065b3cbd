package sqlq

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// AgentColumns are what PutAgent writes of an agent (both schemas: skills
// a JSON array of strings); AgentSelect adds the session epoch, which
// PutAgent never writes.
const (
	AgentColumns = `ext, name, realm, ha1, skills, created_at, updated_at`
	AgentSelect  = AgentColumns + `, session_epoch`
)

// ScanAgent scans AgentSelect.
func ScanAgent[T, N any](d Dialect[T, N], r Scanner) (*ticketing.Agent, error) {
	var (
		a                ticketing.Agent
		skills           []byte
		created, updated T
	)
	if err := r.Scan(&a.Ext, &a.Name, &a.Realm, &a.HA1, &skills, &created, &updated, &a.SessionEpoch); err != nil {
		return nil, d.Translate(err)
	}
	if err := json.Unmarshal(skills, &a.Skills); err != nil {
		return nil, fmt.Errorf("skills of agent %s: %w", a.Ext, err)
	}
	if len(a.Skills) == 0 {
		a.Skills = nil
	}
	a.CreatedAt, a.UpdatedAt = d.At(created), d.At(updated)
	return &a, nil
}

// AgentArgs checks a and returns the parameters of AgentColumns, the
// creation time being the update time for a new agent.
func AgentArgs[T, N any](d Dialect[T, N], a *ticketing.Agent) ([]any, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	skills := a.Skills
	if skills == nil {
		skills = []string{}
	}
	js, err := json.Marshal(skills)
	if err != nil {
		return nil, err
	}
	return []any{a.Ext, a.Name, a.Realm, a.HA1, string(js), d.Time(created(a.CreatedAt, a.UpdatedAt)), d.Time(a.UpdatedAt)}, nil
}

// created is a row's creation time: the stored one, or now for a new row.
func created(c, updated time.Time) time.Time {
	if c.IsZero() {
		return updated
	}
	return c
}

// UserColumns are what PutUser writes of a user; UserSelect adds the
// session epoch, which PutUser never writes.
const (
	UserColumns = `name, display_name, role, department, password_hash, disabled, created_at, updated_at, area, cells`
	UserSelect  = UserColumns + `, session_epoch`
)

// UserUpsert inserts a user or replaces the one with its name, keeping
// and returning the stored creation time; its parameters are UserArgs.
const UserUpsert = `INSERT INTO users (` + UserColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET display_name = excluded.display_name, role = excluded.role,
			department = excluded.department, password_hash = excluded.password_hash,
			disabled = excluded.disabled, updated_at = excluded.updated_at, area = excluded.area,
			cells = excluded.cells
		RETURNING created_at`

// ScanUser scans UserSelect.
func ScanUser[T, N any](d Dialect[T, N], r Scanner) (*ticketing.User, error) {
	var (
		u                ticketing.User
		role, cells      string
		created, updated T
	)
	if err := r.Scan(&u.Name, &u.DisplayName, &role, &u.Department, &u.PasswordHash, &u.Disabled,
		&created, &updated, &u.Area, &cells, &u.SessionEpoch); err != nil {
		return nil, d.Translate(err)
	}
	u.Role = ticketing.Role(role)
	if cells != "" {
		u.Cells = strings.Split(cells, ",")
	}
	u.CreatedAt, u.UpdatedAt = d.At(created), d.At(updated)
	return &u, nil
}

// UserArgs checks u and returns the parameters of UserColumns.
func UserArgs[T, N any](d Dialect[T, N], u *ticketing.User) ([]any, error) {
	if err := u.Validate(); err != nil {
		return nil, err
	}
	return []any{u.Name, u.DisplayName, string(u.Role), u.Department, u.PasswordHash, u.Disabled,
		d.Time(created(u.CreatedAt, u.UpdatedAt)), d.Time(u.UpdatedAt), u.Area,
		strings.Join(u.Cells, ",")}, nil
}
