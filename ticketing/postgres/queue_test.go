package postgres_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
)

// A liaison's inbox finds the cases its department assists by the GIN
// index of assisting departments, which holds only the open cases that
// have one: the query must imply the index's predicate (non-empty array),
// or the planner reads every open case of the inbox's states instead.
func TestAssistingPlan(t *testing.T) {
	s, pool := schemaStore(t)
	ctx := context.Background()
	tk := submitOne(t, s, "a-0")
	// 20,000 dispatched cases of other departments, one in a hundred
	// assisted by jdb.
	if _, err := pool.Exec(ctx, `
		INSERT INTO tickets (id, number, track_hash, channel, external_id, fingerprint, body, status, department, assisting, due_at, received_at, created_at, updated_at)
		SELECT $1::bigint + i, number || '-' || i, track_hash || i, channel, external_id || '-' || i, fingerprint, body, 'dispatched',
			'd' || (i % 50), CASE WHEN i % 100 = 0 THEN '["jdb"]'::jsonb ELSE '[]'::jsonb END, now() + i * interval '1 minute', received_at, created_at, updated_at
		FROM tickets, generate_series(1, 20000) i WHERE id = $1`, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE tickets"); err != nil {
		t.Fatal(err)
	}
	f := ticketing.QueueFilter{Department: "jdb", Assisting: true, Statuses: []ticketing.Status{ticketing.StatusDispatched,
		ticketing.StatusAccepted, ticketing.StatusReturned, ticketing.StatusHandled}}
	query, args, ok := postgres.QueueQuery(f)
	if !ok {
		t.Fatal("no query for the inbox's states")
	}
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		if nodes := planNodes(t, pool, mode, query, args...); !slices.Contains(nodes, "Bitmap Index Scan tickets_assisting") {
			t.Errorf("%s: the inbox runs %v, want a bitmap scan of tickets_assisting", mode, nodes)
		}
	}
	// And it finds them: the 200 assisted, none of the others.
	got, err := s.Queue(ctx, ticketing.QueueFilter{Department: f.Department, Assisting: true, Statuses: f.Statuses, Limit: ticketing.MaxQueueLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != min(200, ticketing.MaxQueueLimit) {
		t.Errorf("the inbox holds %d cases, want %d", len(got), min(200, ticketing.MaxQueueLimit))
	}
	for _, x := range got {
		if !slices.Contains(x.Assisting, "jdb") {
			t.Errorf("%s is in jdb's inbox without jdb assisting (%v)", x.Number, x.Assisting)
		}
	}
}

// An operator who built the assisting index beforehand, concurrently, on
// a large deployment keeps it: migration 00030 neither fails nor builds it
// again, and the old index goes.
func TestAssistingIndexBuiltBeforehand(t *testing.T) {
	ctx := context.Background()
	u, pool, _ := schemaAt(t, 29)
	// Built plainly here: how it was built does not matter to the migration.
	if _, err := pool.Exec(ctx, `CREATE INDEX tickets_assisting ON tickets USING gin (assisting jsonb_path_ops)
		WHERE status IN ('dispatched', 'accepted', 'returned', 'handled') AND assisting <> '[]'::jsonb`); err != nil {
		t.Fatal(err)
	}
	var before uint32
	if err := pool.QueryRow(ctx, `SELECT 'tickets_assisting'::regclass::oid`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	open(t, u) // migrates to the latest
	var after uint32
	var old bool
	if err := pool.QueryRow(ctx, `SELECT 'tickets_assisting'::regclass::oid, to_regclass('tickets_assisting_open') IS NOT NULL`).Scan(&after, &old); err != nil {
		t.Fatal(err)
	}
	if after != before || old {
		t.Errorf("after the migration: tickets_assisting %d (built beforehand: %d), tickets_assisting_open still there: %v", after, before, old)
	}
}

// The duplicate search reads only the open cases in its box, by the index
// of migration 00031, however many cases the window holds: with the old
// index PostgreSQL intersected the latitude band with every open case of
// the window, 19 ms a report on a hotline's scale.
func TestNearbyPlan(t *testing.T) {
	s, pool := schemaStore(t)
	ctx := context.Background()
	tk := submitOne(t, s, "n-0")
	// 20,000 open cases of the last three days and 20,000 closed older ones,
	// over a city of 50 km by 50 km, a third of them in one category.
	if _, err := pool.Exec(ctx, `
		INSERT INTO tickets (id, number, track_hash, channel, external_id, fingerprint, body, status, category, lat, lon, received_at, created_at, updated_at)
		SELECT $1::bigint + i, number || '-' || i, track_hash || i, channel, external_id || '-' || i, fingerprint, body,
			CASE WHEN i % 2 = 0 THEN 'dispatched' ELSE 'closed' END, CASE WHEN i % 3 = 0 THEN '0210' ELSE '02' || (i % 10) END,
			39.7 + (i::bigint * 7919 % 10007) * 0.000045, 116.2 + (i::bigint * 104729 % 10009) * 0.000045,
			now() - CASE WHEN i % 2 = 0 THEN (i % 4320) * interval '1 minute' ELSE (i % 700) * interval '1 day' END, created_at, updated_at
		FROM tickets, generate_series(1, 40000) i WHERE id = $1`, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE tickets"); err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-72 * time.Hour)
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		nodes := planNodes(t, pool, mode, postgres.NearbySQL, "0210", since, 39.9, 39.9009, 116.4, 116.4012, 50)
		used := slices.ContainsFunc(nodes, func(n string) bool { return strings.HasSuffix(n, " tickets_open_category_place") })
		if !used || slices.ContainsFunc(nodes, func(n string) bool { return strings.HasSuffix(n, " tickets_open_received_all") }) {
			t.Errorf("%s: the duplicate search runs %v, want tickets_open_category_place alone", mode, nodes)
		}
	}
	// The same check inside the group commit's statement, for a report
	// created unless an open ticket lies near it.
	fresh := *tk
	fresh.ID, fresh.Number, fresh.ExternalID = tk.ID+50000, tk.Number+"-near", "n-near"
	params, err := postgres.BatchParams(s, &fresh, &ticketing.NearCheck{Category: "0210",
		Box: ticketing.Box{MinLat: 39.9, MaxLat: 39.9009, MinLon: 116.4, MaxLon: 116.4012}, Since: since})
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		nodes := nodesOf(explainBinary(t, pool, mode, postgres.BatchStatement(s), params))
		if !slices.ContainsFunc(nodes, func(n string) bool { return strings.HasSuffix(n, " tickets_open_category_place") }) ||
			slices.ContainsFunc(nodes, func(n string) bool { return n == "Seq Scan" || strings.HasSuffix(n, " tickets_open_received_all") }) {
			t.Errorf("%s: the batch's near check runs %v, want tickets_open_category_place", mode, nodes)
		}
	}
}
