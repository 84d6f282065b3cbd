package postgres_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
	"github.com/yihao-city/yihao/ticketing/storetest"
)

// schemaAt is a schema of the test's own, migrated up to version, with a
// pool and a database handle on it that close when the test ends.
func schemaAt(t *testing.T, version int64) (string, *pgxpool.Pool, *sql.DB) {
	t.Helper()
	u := pgtest.SchemaURL(t)
	pool, err := pgxpool.New(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	db, err := postgres.MigrateTo(context.Background(), pool, version)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return u, pool, db
}

// A database from before tracking tokens were hashed keeps its links: the
// migration replaces each plain token by its digest.
func TestTrackTokensMigrated(t *testing.T) {
	ctx := context.Background()
	u, _, db := schemaAt(t, 16)
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	number := ticketing.FormatNumber(7, at)
	if _, err := db.ExecContext(ctx, `INSERT INTO tickets (id, number, track_token, channel, external_id, fingerprint, body,
		status, received_at, created_at, updated_at) VALUES (7, $1, 'OLDPLAINTOKEN', 'web', 'old-1', 'fp', '井盖', 'received', $2, $2, $2)`,
		number, at); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO ticket_events (ticket_id, seq, at, actor, type, from_status, to_status, public)
		VALUES (7, 1, $1, 'citizen', 'received', '', 'received', '已受理')`, at); err != nil {
		t.Fatal(err)
	}
	storetest.TrackTokenMigrated(t, open(t, u), number, "OLDPLAINTOKEN")
}

// Migration 00032 turns each tally row into a list of one metric, and
// its way down splits the lists back into a row a metric: nothing counted
// twice or lost either way.
func TestTallyMetricsMigrated(t *testing.T) {
	ctx := context.Background()
	_, pool, db := schemaAt(t, 31)
	at := time.Date(2026, 11, 5, 9, 0, 0, 0, time.UTC)
	if _, err := db.ExecContext(ctx, `INSERT INTO indicator_tallies (at, metric, department, n)
		VALUES ($1, 'received', 'a', 1), ($1, 'registered', 'a', 2)`, at); err != nil {
		t.Fatal(err)
	}
	up, err := postgres.MigrateTo(ctx, pool, 32)
	if err != nil {
		t.Fatal(err)
	}
	up.Close()
	metrics := func(query string) []string {
		t.Helper()
		r, err := pool.Query(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(r, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if d := cmp.Diff([]string{"{received} a 1", "{registered} a 2"},
		metrics(`SELECT format('%s %s %s', metrics, department, n) FROM indicator_tallies ORDER BY id`)); d != "" {
		t.Errorf("after 00032 (-want +got):\n%s", d)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO indicator_tallies (at, metrics, department, n)
		VALUES ($1, '{received,registered,dispatched}', 'b', 1)`, at); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO indicator_tallies (at, metrics, department, n) VALUES ($1, '{}', 'c', 1)`, at); err == nil {
		t.Error("a tally row with no metric was stored")
	}
	if err := postgres.MigrateDownTo(ctx, db, 31); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"a 1 received", "a 2 registered", "b 1 dispatched", "b 1 received", "b 1 registered"},
		metrics(`SELECT format('%s %s %s', department, n, metric) FROM indicator_tallies ORDER BY department, metric`)); d != "" {
		t.Errorf("after 00032's way down (-want +got):\n%s", d)
	}
}
