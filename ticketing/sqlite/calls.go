package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// The call log (migration 00007). ApplyCallEvent runs in an IMMEDIATE
// transaction on the single writer, so events for one call serialize.

const callColumns = `c.id, c.call_id, c.line, c.caller, c.agent, c.direction, c.arrived_at, c.answered_at, c.ended_at,
	c.cause, c.called_back_at,
	coalesce((SELECT group_concat(number, ',') FROM (SELECT number FROM call_tickets WHERE call_pk = c.id ORDER BY number)), '')`

func scanCall(r sqlq.Scanner) (*ticketing.Call, error) {
	var (
		c                      ticketing.Call
		dir, cause, tickets    string
		arrived                int64
		answered, ended, calls sql.NullInt64
	)
	if err := r.Scan(&c.ID, &c.CallID, &c.Line, &c.Caller, &c.Agent, &dir, &arrived, &answered, &ended,
		&cause, &calls, &tickets); err != nil {
		return nil, translate(err)
	}
	c.Direction, c.Cause = ticketing.Direction(dir), ticketing.CallCause(cause)
	c.ArrivedAt, c.AnsweredAt, c.EndedAt, c.CalledBackAt = time.UnixMicro(arrived), fromMicros(answered), fromMicros(ended), fromMicros(calls)
	if tickets != "" {
		c.Tickets = strings.Split(tickets, ",")
	}
	return &c, nil
}

// ApplyCallEvent loads or creates the call, applies ev and saves it in one transaction.
func (s *Store) ApplyCallEvent(ctx context.Context, ev ticketing.CallEvent) (*ticketing.Call, error) {
	return sqlq.One(s.ApplyCallEvents(ctx, []ticketing.CallEvent{ev}))
}

// ApplyCallEvents applies evs in order in one transaction.
func (s *Store) ApplyCallEvents(ctx context.Context, evs []ticketing.CallEvent) ([]*ticketing.Call, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, translate(err)
	}
	defer tx.Rollback() // after Commit this is a no-op
	out := make([]*ticketing.Call, len(evs))
	for i, ev := range evs {
		if out[i], err = s.applyCallEvent(ctx, tx, ev); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// The call log's statements, among the writer's hot ones: three a call.
const (
	callByIDSQL   = `SELECT ` + callColumns + ` FROM calls c WHERE c.call_id = ?`
	insertCallSQL = `INSERT INTO calls (line, caller, agent, direction, arrived_at, answered_at, ended_at, cause, call_id)
			VALUES (?,?,?,?,?,?,?,?,?) RETURNING id`
	updateCallSQL = `UPDATE calls SET line = ?, caller = ?, agent = ?, direction = ?, arrived_at = ?,
			answered_at = ?, ended_at = ?, cause = ? WHERE id = ?`
)

func (s *Store) applyCallEvent(ctx context.Context, tx *sql.Tx, ev ticketing.CallEvent) (*ticketing.Call, error) {
	c, err := scanCall(s.txQueryRow(ctx, tx, callByIDSQL, ev.CallID))
	switch {
	case errors.Is(err, ticketing.ErrNotFound):
		c = &ticketing.Call{}
	case err != nil:
		return nil, err
	}
	next := c.Apply(ev)
	args := []any{next.Line, next.Caller, next.Agent, string(next.Direction), next.ArrivedAt.UnixMicro(),
		micros(next.AnsweredAt), micros(next.EndedAt), string(next.Cause)}
	if c.ID == 0 {
		err = s.txQueryRow(ctx, tx, insertCallSQL, append(args, next.CallID)...).Scan(&next.ID)
	} else {
		_, err = s.txExec(ctx, tx, updateCallSQL, append(args, next.ID)...)
	}
	if err != nil {
		return nil, translate(err)
	}
	return &next, nil
}

// MarkCalledBack records the callback of a missed call.
func (s *Store) MarkCalledBack(ctx context.Context, callID string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE calls SET called_back_at = ? WHERE call_id = ?`, at.UnixMicro(), callID)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ticketing.ErrNotFound
	}
	return nil
}

// LinkTicket links a ticket number to the call.
func (s *Store) LinkTicket(ctx context.Context, callID, number string) error {
	res, err := s.w.ExecContext(ctx, `INSERT INTO call_tickets (call_pk, number)
		SELECT id, ? FROM calls WHERE call_id = ? ON CONFLICT DO NOTHING`, number, callID)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		if err := s.w.QueryRowContext(ctx, `SELECT 1 FROM calls WHERE call_id = ?`, callID).Scan(&one); err != nil {
			return translate(err)
		}
	}
	return nil
}

// statsSQL aggregates ended inbound calls in total (0), per line (1) and
// per agent (2). Times are microseconds.
const statsSQL = `WITH f AS (
	SELECT line, agent,
	       CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END AS ans,
	       CASE WHEN answered_at IS NOT NULL AND answered_at - arrived_at <= ? THEN 1 ELSE 0 END AS in15,
	       CASE WHEN cause = 'abandoned' THEN 1 ELSE 0 END AS ab,
	       coalesce(answered_at, ended_at) - arrived_at AS wait,
	       CASE WHEN answered_at IS NOT NULL THEN ended_at - answered_at ELSE 0 END AS talk
	FROM calls c WHERE c.direction = 'in' AND c.ended_at IS NOT NULL%s
)
SELECT 0, '', count(*), coalesce(sum(ans), 0), coalesce(sum(in15), 0), coalesce(sum(ab), 0), coalesce(sum(wait), 0), coalesce(sum(talk), 0) FROM f
UNION ALL
SELECT 1, line, count(*), sum(ans), sum(in15), sum(ab), sum(wait), sum(talk) FROM f GROUP BY line
UNION ALL
SELECT 2, agent, count(*), sum(ans), sum(in15), sum(ab), sum(wait), sum(talk) FROM f WHERE agent <> '' GROUP BY agent
ORDER BY 1, 2`
