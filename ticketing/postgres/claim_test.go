package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
)

// The relay's claim walks the pending deliveries by its own index and looks
// up each candidate's ticket in the ticket index, whatever the statistics
// say: on a table too new to have any, with the entries of delivered rows
// still in the indexes, then after ANALYZE, with a plan made for the
// values and with one kept for any. In a fresh database under intake
// (BENCHMARKS.md, "A sixth pass") PostgreSQL once ran that lookup down the
// walk's index instead, reading every delivered entry before the
// candidate's; the walk's index now has a predicate the lookup cannot meet.
func TestClaimPlan(t *testing.T) {
	s, pool := schemaStore(t)
	ctx := context.Background()
	now := time.Now()
	if err := s.RegisterEndpoint(ctx, "desks", now); err != nil {
		t.Fatal(err)
	}
	tk := submitOne(t, s, "c-0")
	// 20,000 more tickets like it, a message each; all but the last 200
	// delivered, as after a burst the relay kept up with.
	if _, err := pool.Exec(ctx, `
		INSERT INTO tickets (id, number, track_hash, channel, external_id, fingerprint, body, status, received_at, created_at, updated_at)
		SELECT $1::bigint + i, number || '-' || i, track_hash || i, channel, external_id || '-' || i, fingerprint, body, status, received_at, created_at, updated_at
		FROM tickets, generate_series(1, 20000) i WHERE id = $1`, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO outbox (ticket_id, topic, payload, created_at)
		SELECT id, 'ticket.changed', '{}', now() FROM tickets WHERE id > $1 ORDER BY id`, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE deliveries SET delivered_at = now()
		WHERE id < (SELECT max(id) - 200 FROM deliveries)`); err != nil {
		t.Fatal(err)
	}
	for _, stats := range []string{"none", "analyzed"} {
		if stats == "analyzed" {
			if _, err := pool.Exec(ctx, "ANALYZE deliveries"); err != nil {
				t.Fatal(err)
			}
		}
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			walk, lookup := claimIndexes(t, pool, mode, now)
			if walk != "deliveries_claim" || lookup != "deliveries_pending_ticket" {
				t.Errorf("statistics %s, %s: the walk uses %q and the per-ticket lookup %q, want deliveries_claim and deliveries_pending_ticket",
					stats, mode, walk, lookup)
			}
		}
	}
}

// claimIndexes explains the claim (EXPLAIN does not run it) and returns the
// index its walk of deliveries uses and the one its subquery uses.
func claimIndexes(t *testing.T, pool *pgxpool.Pool, mode string, now time.Time) (walk, lookup string) {
	t.Helper()
	var visit func(n planNode, inSubPlan bool)
	visit = func(n planNode, inSubPlan bool) {
		inSubPlan = inSubPlan || n.ParentRelationship == "SubPlan"
		if n.Relation == "deliveries" && n.Alias == "p" && inSubPlan {
			lookup = n.Index
		}
		if n.Relation == "deliveries" && n.Alias == "d" {
			walk = n.Index
		}
		for _, c := range n.Plans {
			visit(c, inSubPlan)
		}
	}
	visit(explain(t, pool, mode, postgres.ClaimSQL, "desks", now, now.Add(time.Minute), 100), false)
	return walk, lookup
}

// explain returns the plan of query with args under plan_cache_mode mode
// (a plan made for the values, or one kept for any); EXPLAIN does not run it.
func explain(t *testing.T, pool *pgxpool.Pool, mode, query string, args ...any) planNode {
	t.Helper()
	return explainIn(t, pool, mode, func(ctx context.Context, tx pgx.Tx) ([]byte, error) {
		var out []byte
		err := tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+query, args...).Scan(&out)
		return out, err
	})
}

// explainBinary is explain with the parameters already encoded, in the
// binary format, as the group commit sends them.
func explainBinary(t *testing.T, pool *pgxpool.Pool, mode, query string, params [][]byte) planNode {
	t.Helper()
	return explainIn(t, pool, mode, func(ctx context.Context, tx pgx.Tx) ([]byte, error) {
		res := tx.Conn().PgConn().ExecParams(ctx, "EXPLAIN (FORMAT JSON) "+query, params, nil, []int16{pgx.BinaryFormatCode}, nil).Read()
		if res.Err != nil || len(res.Rows) != 1 {
			return nil, fmt.Errorf("EXPLAIN: %v, %d rows", res.Err, len(res.Rows))
		}
		return res.Rows[0][0], nil
	})
}

// explainIn runs an EXPLAIN (FORMAT JSON) with run, in a transaction under
// plan_cache_mode mode, and returns its plan.
func explainIn(t *testing.T, pool *pgxpool.Pool, mode string, run func(context.Context, pgx.Tx) ([]byte, error)) planNode {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = "+mode); err != nil {
		t.Fatal(err)
	}
	out, err := run(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	var plans []struct{ Plan planNode }
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("EXPLAIN: %v (%s)", err, out)
	}
	return plans[0].Plan
}

// schemaStore is a store in a schema of its own and a pool on that schema
// for what the store does not do, both closed when the test ends.
func schemaStore(t *testing.T) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	u := pgtest.SchemaURL(t)
	s := open(t, u)
	pool, err := pgxpool.New(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return s, pool
}

// submitOne takes one report under key, which oneDept dispatches.
func submitOne(t *testing.T, s *postgres.Store, key string) *ticketing.Ticket {
	t.Helper()
	tk, _, err := ticketing.NewService(s, oneDept{}).Submit(context.Background(),
		ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: key, Text: "井盖丢了"})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

type planNode struct {
	NodeType           string     `json:"Node Type"`
	Relation           string     `json:"Relation Name"`
	Alias              string     `json:"Alias"`
	Index              string     `json:"Index Name"`
	ParentRelationship string     `json:"Parent Relationship"`
	Plans              []planNode `json:"Plans"`
}
