package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
	"github.com/yihao-city/yihao/ticketing/storetest"
)

// A database from before tracking tokens were hashed keeps its links: the
// migration replaces each plain token by its digest.
func TestTrackTokensMigrated(t *testing.T) {
	ctx := context.Background()
	u := pgtest.SchemaURL(t)
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.MigrateTo(ctx, pool, 16)
	if err != nil {
		pool.Close()
		t.Fatal(err)
	}
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
	db.Close()
	pool.Close()
	storetest.TrackTokenMigrated(t, open(t, u), number, "OLDPLAINTOKEN")
}
