package postgres

import (
	"context"
	"database/sql"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/yihao-city/yihao/ticketing"
)

// MigrateTo applies the migrations up to version, for tests that start
// from an older schema; the caller closes the pool.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, version int64) (*sql.DB, error) {
	db := stdlib.OpenDBFromPool(pool)
	p, err := provider(db)
	if err != nil {
		return nil, err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return nil, err
	}
	return db, nil
}

// MigrateDownTo rolls the migrations back to version, for tests of a
// migration's way down.
func MigrateDownTo(ctx context.Context, db *sql.DB, version int64) error {
	p, err := provider(db)
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}

func provider(db *sql.DB) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, sub)
}

// ClaimSQL is the relay's claim, for TestClaimPlan.
const ClaimSQL = claimSQL

// ReadFeedSQL is the feed's read, for TestFeedPlan.
const ReadFeedSQL = readFeedSQL

// QueueQuery is Queue's statement, for TestAssistingPlan.
func QueueQuery(f ticketing.QueueFilter) (string, []any, bool) { return queueQuery(f) }

// NearbySQL is the duplicate search, for TestNearbyPlan.
var NearbySQL = nearbySQL

// CommitterPID is the backend of the group commit's connection, 0 before
// its first batch. Read it only while no submit is under way.
func (s *Store) CommitterPID() uint32 {
	if s.commits.pipe.conn == nil {
		return 0
	}
	return s.commits.pipe.conn.PgConn().PID()
}

// BatchStatement is the group commit's statement, for plan tests.
func BatchStatement(s *Store) string { return s.commits.pipe.sql }

// BatchParams are the parameters of a batch of t alone, as the group
// commit sends them (binary), near-checked when check is not nil.
func BatchParams(s *Store, t *ticketing.Ticket, check *ticketing.NearCheck) ([][]byte, error) {
	p, err := s.commits.pending(t, check)
	if err != nil {
		return nil, err
	}
	_, params := s.commits.appendParams(nil, nil, []*pendingCreate{p})
	return params, nil
}
