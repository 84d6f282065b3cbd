package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// The call log (migration 00008). ApplyCallEvent locks the call's row
// (SELECT ... FOR UPDATE) for the transaction; the first event of a call
// inserts it with ON CONFLICT DO NOTHING and, when another transaction won
// that race, locks the row the winner committed.

const callColumns = `c.id, c.call_id, c.line, c.caller, c.agent, c.direction, c.arrived_at, c.answered_at, c.ended_at,
	c.cause, c.called_back_at,
	coalesce((SELECT array_agg(number ORDER BY number) FROM call_tickets WHERE call_pk = c.id), '{}')`

func scanCall(r sqlq.Scanner) (*ticketing.Call, error) {
	var (
		c                         ticketing.Call
		dir, cause                string
		answered, ended, calledAt *time.Time
	)
	if err := r.Scan(&c.ID, &c.CallID, &c.Line, &c.Caller, &c.Agent, &dir, &c.ArrivedAt, &answered, &ended,
		&cause, &calledAt, &c.Tickets); err != nil {
		return nil, translate(err)
	}
	c.Direction, c.Cause = ticketing.Direction(dir), ticketing.CallCause(cause)
	c.AnsweredAt, c.EndedAt, c.CalledBackAt = deref(answered), deref(ended), deref(calledAt)
	if len(c.Tickets) == 0 {
		c.Tickets = nil
	}
	return &c, nil
}

// ApplyCallEvent loads or creates the call, applies ev and saves it in one transaction.
func (s *Store) ApplyCallEvent(ctx context.Context, ev ticketing.CallEvent) (*ticketing.Call, error) {
	return sqlq.One(s.ApplyCallEvents(ctx, []ticketing.CallEvent{ev}))
}

// ApplyCallEvents applies evs in one transaction and a handful of
// statements, whatever their number: the calls are read and locked at
// once (in call id order, so batches over the same calls never deadlock),
// the events applied in memory in order, and the rows written back with
// one INSERT and one UPDATE. If another transaction created one of the
// calls meanwhile, the batch is redone one event at a time.
func (s *Store) ApplyCallEvents(ctx context.Context, evs []ticketing.CallEvent) ([]*ticketing.Call, error) {
	out, err := s.inTx(ctx, func(tx pgx.Tx) ([]*ticketing.Call, error) { return applyCallBatch(ctx, tx, evs) })
	if !errors.Is(err, errCallRaced) {
		return out, err
	}
	order := make([]int, len(evs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(evs[a].CallID, evs[b].CallID) })
	return s.inTx(ctx, func(tx pgx.Tx) ([]*ticketing.Call, error) {
		out := make([]*ticketing.Call, len(evs))
		for _, i := range order {
			if out[i], err = applyCallEvent(ctx, tx, evs[i]); err != nil {
				return nil, err
			}
		}
		return out, nil
	})
}

func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) ([]*ticketing.Call, error)) ([]*ticketing.Call, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, translate(err)
	}
	defer tx.Rollback(ctx) // after Commit this is a no-op
	out, err := fn(tx)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// lockCallsSQL reads and locks the calls of $1 (sorted), one index lookup
// per id, in that order. Not `call_id = ANY($1)`: its plan is cached on
// the first batches, when the table is empty and a sequential scan is
// cheapest, and was kept as the table grew; at 1,300 calls a second each
// batch read every call logged so far (5.9 ms a batch, most of
// PostgreSQL's time). A lookup per id is the cheaper plan at any size.
const lockCallsSQL = `SELECT ` + callColumns + `
	FROM unnest($1::text[]) WITH ORDINALITY AS k(call_id, ord)
	JOIN LATERAL (SELECT * FROM calls c WHERE c.call_id = k.call_id FOR UPDATE) c ON true
	ORDER BY k.ord`

var errCallRaced = errors.New("postgres: a call of the batch was created concurrently")

func applyCallBatch(ctx context.Context, tx pgx.Tx, evs []ticketing.CallEvent) ([]*ticketing.Call, error) {
	ids := make([]string, 0, len(evs))
	for _, ev := range evs {
		ids = append(ids, ev.CallID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	rows, err := tx.Query(ctx, lockCallsSQL, ids)
	if err != nil {
		return nil, translate(err)
	}
	cur := make(map[string]*ticketing.Call, len(ids))
	for rows.Next() {
		c, err := scanCall(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		cur[c.CallID] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	existed := make(map[string]bool, len(cur))
	for id := range cur {
		existed[id] = true
	}
	out := make([]*ticketing.Call, len(evs))
	for i, ev := range evs {
		c := cur[ev.CallID]
		if c == nil {
			c = &ticketing.Call{}
		}
		next := c.Apply(ev)
		cur[ev.CallID] = &next
		out[i] = &next
	}

	type cols struct {
		ids                      []int64
		callIDs, lines, callers  []string
		agents, dirs, causes     []string
		arrived, answered, ended []*time.Time
	}
	var ins, upd cols
	for _, id := range ids {
		c := cur[id]
		t := &upd
		if !existed[id] {
			t = &ins
		}
		t.ids = append(t.ids, c.ID)
		t.callIDs = append(t.callIDs, c.CallID)
		t.lines = append(t.lines, c.Line)
		t.callers = append(t.callers, c.Caller)
		t.agents = append(t.agents, c.Agent)
		t.dirs = append(t.dirs, string(c.Direction))
		t.causes = append(t.causes, string(c.Cause))
		arrived := c.ArrivedAt
		t.arrived = append(t.arrived, &arrived)
		t.answered = append(t.answered, nullTime(c.AnsweredAt))
		t.ended = append(t.ended, nullTime(c.EndedAt))
	}
	newIDs := map[string]int64{}
	if len(ins.callIDs) > 0 {
		rows, err := tx.Query(ctx, `INSERT INTO calls (call_id, line, caller, agent, direction, arrived_at, answered_at, ended_at, cause)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::text[])
			ON CONFLICT (call_id) DO NOTHING RETURNING call_id, id`,
			ins.callIDs, ins.lines, ins.callers, ins.agents, ins.dirs, ins.arrived, ins.answered, ins.ended, ins.causes)
		if err != nil {
			return nil, translate(err)
		}
		for rows.Next() {
			var cid string
			var id int64
			if err := rows.Scan(&cid, &id); err != nil {
				rows.Close()
				return nil, translate(err)
			}
			newIDs[cid] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, translate(err)
		}
		if len(newIDs) != len(ins.callIDs) {
			return nil, errCallRaced
		}
	}
	if len(upd.ids) > 0 {
		// Planned with this batch's arrays each time (an unnamed statement),
		// not once and kept: the kept plan, made while the table was empty,
		// joined by reading the whole table (see lockCallsSQL).
		_, err := tx.Exec(ctx, `UPDATE calls SET line = u.line, caller = u.caller, agent = u.agent, direction = u.direction,
				arrived_at = u.arrived_at, answered_at = u.answered_at, ended_at = u.ended_at, cause = u.cause
			FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::text[])
				AS u(id, line, caller, agent, direction, arrived_at, answered_at, ended_at, cause)
			WHERE calls.id = u.id`, pgx.QueryExecModeExec,
			upd.ids, upd.lines, upd.callers, upd.agents, upd.dirs, upd.arrived, upd.answered, upd.ended, upd.causes)
		if err != nil {
			return nil, translate(err)
		}
	}
	for _, c := range out {
		if c.ID == 0 {
			c.ID = newIDs[c.CallID]
		}
	}
	return out, nil
}

func applyCallEvent(ctx context.Context, tx pgx.Tx, ev ticketing.CallEvent) (*ticketing.Call, error) {
	var next ticketing.Call
	for attempt := 0; ; attempt++ {
		c, err := scanCall(tx.QueryRow(ctx, `SELECT `+callColumns+` FROM calls c WHERE c.call_id = $1 FOR UPDATE OF c`, ev.CallID))
		if err == nil {
			next = c.Apply(ev)
			_, err = tx.Exec(ctx, `UPDATE calls SET line = $2, caller = $3, agent = $4, direction = $5, arrived_at = $6,
				answered_at = $7, ended_at = $8, cause = $9 WHERE id = $1`, next.ID, next.Line, next.Caller, next.Agent,
				string(next.Direction), next.ArrivedAt, nullTime(next.AnsweredAt), nullTime(next.EndedAt), string(next.Cause))
			if err != nil {
				return nil, translate(err)
			}
			return &next, nil
		}
		if !errors.Is(err, ticketing.ErrNotFound) {
			return nil, err
		}
		if attempt > 0 {
			return nil, fmt.Errorf("postgres: call %q neither found nor inserted", ev.CallID)
		}
		next = ticketing.Call{}.Apply(ev)
		err = tx.QueryRow(ctx, `INSERT INTO calls (call_id, line, caller, agent, direction, arrived_at, answered_at, ended_at, cause)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (call_id) DO NOTHING RETURNING id`,
			next.CallID, next.Line, next.Caller, next.Agent, string(next.Direction), next.ArrivedAt,
			nullTime(next.AnsweredAt), nullTime(next.EndedAt), string(next.Cause)).Scan(&next.ID)
		if err == nil {
			return &next, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, translate(err)
		}
		// Another transaction created the call first: lock and apply to its row.
	}
}

// MarkCalledBack records the callback of a missed call.
func (s *Store) MarkCalledBack(ctx context.Context, callID string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE calls SET called_back_at = $2 WHERE call_id = $1`, callID, at)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return ticketing.ErrNotFound
	}
	return nil
}

// LinkTicket links a ticket number to the call.
func (s *Store) LinkTicket(ctx context.Context, callID, number string) error {
	var found bool
	err := s.pool.QueryRow(ctx, `WITH c AS (SELECT id FROM calls WHERE call_id = $1),
		i AS (INSERT INTO call_tickets (call_pk, number) SELECT id, $2 FROM c ON CONFLICT DO NOTHING)
		SELECT EXISTS (SELECT 1 FROM c)`, callID, number).Scan(&found)
	if err != nil {
		return translate(err)
	}
	if !found {
		return ticketing.ErrNotFound
	}
	return nil
}

// statsSQL aggregates ended inbound calls in total (0), per line (1) and
// per agent (2). Durations are summed in microseconds.
const statsSQL = `WITH f AS (
	SELECT line, agent,
	       (answered_at IS NOT NULL)::int AS ans,
	       (answered_at IS NOT NULL AND answered_at - arrived_at <= $1 * interval '1 microsecond')::int AS in15,
	       (cause = 'abandoned')::int AS ab,
	       (extract(epoch FROM coalesce(answered_at, ended_at) - arrived_at) * 1000000)::bigint AS wait,
	       coalesce((extract(epoch FROM ended_at - answered_at) * 1000000)::bigint, 0) AS talk
	FROM calls c WHERE c.direction = 'in' AND c.ended_at IS NOT NULL%s
)
SELECT 0 AS g, '' AS k, count(*), coalesce(sum(ans), 0), coalesce(sum(in15), 0), coalesce(sum(ab), 0),
       coalesce(sum(wait), 0)::bigint, coalesce(sum(talk), 0)::bigint FROM f
UNION ALL
SELECT 1, line, count(*), sum(ans), sum(in15), sum(ab), sum(wait)::bigint, sum(talk)::bigint FROM f GROUP BY line
UNION ALL
SELECT 2, agent, count(*), sum(ans), sum(in15), sum(ab), sum(wait)::bigint, sum(talk)::bigint FROM f WHERE agent <> '' GROUP BY agent
ORDER BY 1, 2`
