package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/yihao-city/yihao/ticketing"
)

// Agents' SIP accounts (migration 00009): one row per extension, skills as
// a jsonb array of strings.

const agentColumns = `ext, name, realm, ha1, skills, created_at, updated_at`

// agentSelect is agentColumns and the session epoch (migration 00016),
// which PutAgent never writes.
const agentSelect = agentColumns + `, session_epoch`

func scanAgent(r pgx.Row) (*ticketing.Agent, error) {
	var (
		a      ticketing.Agent
		skills []byte
	)
	if err := r.Scan(&a.Ext, &a.Name, &a.Realm, &a.HA1, &skills, &a.CreatedAt, &a.UpdatedAt, &a.SessionEpoch); err != nil {
		return nil, translate(err)
	}
	if err := json.Unmarshal(skills, &a.Skills); err != nil {
		return nil, fmt.Errorf("postgres: skills of agent %s: %w", a.Ext, err)
	}
	if len(a.Skills) == 0 {
		a.Skills = nil
	}
	return &a, nil
}

// PutAgent inserts the agent or replaces the one with its extension,
// keeping the stored creation time.
func (s *Store) PutAgent(ctx context.Context, a *ticketing.Agent) error {
	if err := a.Validate(); err != nil {
		return err
	}
	skills := a.Skills
	if skills == nil {
		skills = []string{}
	}
	js, err := json.Marshal(skills)
	if err != nil {
		return err
	}
	created := a.CreatedAt
	if created.IsZero() {
		created = a.UpdatedAt
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO agents (`+agentColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (ext) DO UPDATE SET name = excluded.name, realm = excluded.realm, ha1 = excluded.ha1,
			skills = excluded.skills, updated_at = excluded.updated_at
		RETURNING created_at`,
		a.Ext, a.Name, a.Realm, a.HA1, string(js), created, a.UpdatedAt).Scan(&a.CreatedAt)
	return translate(err)
}

// AgentByExt returns the agent with the extension.
func (s *Store) AgentByExt(ctx context.Context, ext string) (*ticketing.Agent, error) {
	return scanAgent(s.pool.QueryRow(ctx, `SELECT `+agentSelect+` FROM agents WHERE ext = $1`, ext))
}

// Agents returns every agent by extension.
func (s *Store) Agents(ctx context.Context) ([]*ticketing.Agent, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+agentSelect+` FROM agents ORDER BY ext`)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []*ticketing.Agent{}
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, translate(rows.Err())
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
