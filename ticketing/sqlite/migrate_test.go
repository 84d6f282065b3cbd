package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/sqlite"
	"github.com/yihao-city/yihao/ticketing/storetest"
)

// A database from before tracking tokens were hashed keeps its links: the
// migration replaces each plain token by its digest.
func TestTrackTokensMigrated(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "yihao.db")
	db, err := sqlite.MigrateTo(ctx, path, 15)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	number := ticketing.FormatNumber(7, at)
	if _, err := db.ExecContext(ctx, `INSERT INTO tickets (id, number, track_token, channel, external_id, fingerprint, body,
		status, received_at, created_at, updated_at) VALUES (7, ?, 'OLDPLAINTOKEN', 'web', 'old-1', 'fp', '井盖', 'received', ?, ?, ?)`,
		number, at.UnixMicro(), at.UnixMicro(), at.UnixMicro()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO ticket_events (ticket_id, seq, at, actor, type, from_status, to_status, public)
		VALUES (7, 1, ?, 'citizen', 'received', '', 'received', '已受理')`, at.UnixMicro()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	storetest.TrackTokenMigrated(t, open(t, path), number, "OLDPLAINTOKEN")
}

// Migration 00030 keeps each tally row as a list of one metric, and its
// way down splits lists of several back into a row a metric: nothing
// counted twice or lost either way. Up, the rollup folds every metric.
func TestTallyMetricsMigrated(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "yihao.db")
	db, err := sqlite.MigrateTo(ctx, path, 29)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2026, 11, 5, 9, 0, 0, 0, time.UTC).UnixMicro()
	if _, err := db.ExecContext(ctx, `INSERT INTO indicator_tallies (at, metric, department, n)
		VALUES (?, 'received', 'a', 1), (?, 'registered', 'a', 2)`, at, at); err != nil {
		t.Fatal(err)
	}
	up, err := sqlite.MigrateTo(ctx, path, 30)
	if err != nil {
		t.Fatal(err)
	}
	up.Close()
	rows := func(query string) []string {
		t.Helper()
		r, err := db.QueryContext(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var out []string
		for r.Next() {
			var s string
			if err := r.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if d := cmp.Diff([]string{"received a 1", "registered a 2"},
		rows(`SELECT metrics || ' ' || department || ' ' || n FROM indicator_tallies ORDER BY id`)); d != "" {
		t.Errorf("after 00030 (-want +got):\n%s", d)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO indicator_tallies (at, metrics, department, n)
		VALUES (?, 'received,registered,dispatched', 'b', 1)`, at); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.MigrateDownTo(ctx, db, 29); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"a 1 received", "a 2 registered", "b 1 dispatched", "b 1 received", "b 1 registered"},
		rows(`SELECT department || ' ' || n || ' ' || metric FROM indicator_tallies ORDER BY department, metric`)); d != "" {
		t.Errorf("after 00030's way down (-want +got):\n%s", d)
	}
	up, err = sqlite.MigrateTo(ctx, path, 30)
	if err != nil {
		t.Fatal(err)
	}
	up.Close()
	s := open(t, path)
	if n, err := s.RollupIndicators(ctx, time.UTC); err != nil || n != 5 {
		t.Fatalf("RollupIndicators = %d, %v; want the 5 tallies", n, err)
	}
	cs, err := s.Indicators(ctx, ticketing.IndicatorQuery{Dim: ticketing.DimDepartment, From: "2026-11-05", To: "2026-11-06"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, c := range cs {
		got[c.Key+" "+string(c.Metric)] += c.N
	}
	if d := cmp.Diff(map[string]int64{"a received": 1, "a registered": 2, "b received": 1, "b registered": 1, "b dispatched": 1}, got); d != "" {
		t.Errorf("sums by department (-want +got):\n%s", d)
	}
}
