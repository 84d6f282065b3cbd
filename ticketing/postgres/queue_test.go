package postgres_test

import (
	"context"
	"slices"
	"testing"

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
