package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

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
