package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// Agents' SIP accounts (migration 00008): one row per extension, skills as
// a JSON array of strings, times in microseconds.

const agentColumns = `ext, name, realm, ha1, skills, created_at, updated_at`

// agentSelect is agentColumns and the session epoch (migration 00015),
// which PutAgent never writes.
const agentSelect = agentColumns + `, session_epoch`

func scanAgent(r interface{ Scan(...any) error }) (*ticketing.Agent, error) {
	var (
		a                ticketing.Agent
		skills           string
		created, updated int64
	)
	if err := r.Scan(&a.Ext, &a.Name, &a.Realm, &a.HA1, &skills, &created, &updated, &a.SessionEpoch); err != nil {
		return nil, translate(err)
	}
	if err := json.Unmarshal([]byte(skills), &a.Skills); err != nil {
		return nil, fmt.Errorf("sqlite: skills of agent %s: %w", a.Ext, err)
	}
	if len(a.Skills) == 0 {
		a.Skills = nil
	}
	a.CreatedAt, a.UpdatedAt = time.UnixMicro(created), time.UnixMicro(updated)
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
	var stored int64
	err = s.w.QueryRowContext(ctx, `INSERT INTO agents (`+agentColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (ext) DO UPDATE SET name = excluded.name, realm = excluded.realm, ha1 = excluded.ha1,
			skills = excluded.skills, updated_at = excluded.updated_at
		RETURNING created_at`,
		a.Ext, a.Name, a.Realm, a.HA1, string(js), created.UnixMicro(), a.UpdatedAt.UnixMicro()).Scan(&stored)
	if err != nil {
		return translate(err)
	}
	a.CreatedAt = time.UnixMicro(stored)
	return nil
}

// AgentByExt returns the agent with the extension.
func (s *Store) AgentByExt(ctx context.Context, ext string) (*ticketing.Agent, error) {
	return scanAgent(s.r.QueryRowContext(ctx, `SELECT `+agentSelect+` FROM agents WHERE ext = ?`, ext))
}

// Agents returns every agent by extension.
func (s *Store) Agents(ctx context.Context) ([]*ticketing.Agent, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+agentSelect+` FROM agents ORDER BY ext`)
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
