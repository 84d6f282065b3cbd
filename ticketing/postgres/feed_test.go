package postgres_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/yihao-city/yihao/ticketing/postgres"
)

// A feed reader that moves on to the last message it read misses nothing,
// however the writers' transactions interleave: a message that took its id
// first but commits last (a), a transaction that began first but writes
// last (c). A reader following sequence ids would pass a for good once it
// had read b.
func TestFeedCommitOrder(t *testing.T) {
	s, pool := schemaStore(t)
	ctx := context.Background()
	tk := submitOne(t, s, "f-0")
	pos, ok, err := s.LeaseFeed(ctx, "desks", "r", time.Now(), time.Now().Add(time.Minute))
	if err != nil || !ok {
		t.Fatalf("LeaseFeed = %v, %v", ok, err)
	}
	const insert = `INSERT INTO outbox (ticket_id, topic, payload, created_at) VALUES ($1, $2, '{}', now())`

	var read []string
	readOnce := func() {
		t.Helper()
		ms, err := s.ReadFeed(ctx, pos, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			read = append(read, m.Topic)
			pos = m.Position
		}
	}

	a, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Rollback(ctx)
	if _, err := a.Exec(ctx, insert, tk.ID, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, insert, tk.ID, "b"); err != nil {
		t.Fatal(err)
	}
	readOnce()
	if slices.Contains(read, "b") {
		t.Fatalf("the feed read b while a, which took its id first, was still open: %v", read)
	}

	c, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Rollback(ctx)
	if _, err := c.Exec(ctx, "SELECT pg_current_xact_id()"); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, insert, tk.ID, "d"); err != nil {
		t.Fatal(err)
	}
	readOnce()
	if slices.Contains(read, "d") {
		t.Fatalf("the feed read d while c, which began first, was still open: %v", read)
	}
	if _, err := c.Exec(ctx, insert, tk.ID, "c"); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	// Other tests' transactions on the server may hold the rest back a while.
	deadline := time.Now().Add(30 * time.Second)
	for len(read) < 4 && time.Now().Before(deadline) {
		readOnce()
		time.Sleep(10 * time.Millisecond)
	}
	readOnce()
	got := slices.Clone(read)
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("the feed read %v, want a, b, c and d once each", read)
	}
}

// The feed's read walks outbox_feed from the position and stops at the
// limit, with no sort of what follows, on a table without statistics and
// after ANALYZE, with a plan made for the values and one kept for any.
func TestFeedPlan(t *testing.T) {
	s, pool := schemaStore(t)
	ctx := context.Background()
	tk := submitOne(t, s, "p-0")
	if _, err := pool.Exec(ctx, `INSERT INTO outbox (ticket_id, topic, payload, created_at)
		SELECT $1, 'ticket.changed', '{}', now() FROM generate_series(1, 20000)`, tk.ID); err != nil {
		t.Fatal(err)
	}
	for _, stats := range []string{"none", "analyzed"} {
		if stats == "analyzed" {
			if _, err := pool.Exec(ctx, "ANALYZE outbox"); err != nil {
				t.Fatal(err)
			}
		}
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			if nodes := feedPlan(t, pool, mode); !slices.Contains(nodes, "Index Scan outbox_feed") || slices.Contains(nodes, "Sort") {
				t.Errorf("statistics %s, %s: the read runs %v, want an index scan of outbox_feed and no sort", stats, mode, nodes)
			}
		}
	}
}

// feedPlan explains the feed's read and returns its nodes.
func feedPlan(t *testing.T, pool *pgxpool.Pool, mode string) []string {
	t.Helper()
	return planNodes(t, pool, mode, postgres.ReadFeedSQL, 0, 0, 100)
}

// planNodes explains query and returns its nodes, each with the index it
// scans.
func planNodes(t *testing.T, pool *pgxpool.Pool, mode, query string, args ...any) []string {
	t.Helper()
	return nodesOf(explain(t, pool, mode, query, args...))
}

// nodesOf is plan's nodes, depth first, each as its type and index.
func nodesOf(plan planNode) []string {
	var nodes []string
	var visit func(n planNode)
	visit = func(n planNode) {
		nodes = append(nodes, strings.TrimSpace(n.NodeType+" "+n.Index))
		for _, c := range n.Plans {
			visit(c)
		}
	}
	visit(plan)
	return nodes
}

// A feed moved to another cluster (a dump restored, a logical copy) keeps a
// position past the new server's transaction ids, which it would not reach
// for a long time; the next lease starts the feed again from there.
func TestFeedStartsAgainOnAnotherCluster(t *testing.T) {
	s, pool := schemaStore(t)
	ctx := context.Background()
	now := time.Now()
	if _, ok, err := s.LeaseFeed(ctx, "desks", "r", now, now.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("LeaseFeed = %v, %v", ok, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE feeds SET xid = (pg_current_xact_id()::text::bigint + 1000000000)::text::xid8, message_id = 77`); err != nil {
		t.Fatal(err)
	}
	pos, ok, err := s.LeaseFeed(ctx, "desks", "r", now, now.Add(time.Minute))
	if err != nil || !ok || pos.Message != 0 {
		t.Fatalf("LeaseFeed after the move = %+v, %v, %v; want the feed started again", pos, ok, err)
	}
	tk := submitOne(t, s, "m-0")
	deadline := time.Now().Add(30 * time.Second)
	for {
		ms, err := s.ReadFeed(ctx, pos, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 1 && ms[0].TicketID == tk.ID {
			return
		}
		if len(ms) > 1 || time.Now().After(deadline) {
			t.Fatalf("after the move the feed read %+v, want the one new message", ms)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
