package sqlite

import (
	"context"
	"database/sql"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// MigrateTo applies the migrations up to version to the database file at
// path, for tests that start from an older schema.
func MigrateTo(ctx context.Context, path string, version int64) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		return nil, err
	}
	p, err := provider(db)
	if err != nil {
		return nil, err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return nil, err
	}
	return db, nil
}

// MigrateDownTo rolls db's migrations back to version, for tests of a
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
	return goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithGoMigrations(hashTrackTokens))
}

// NearbySQL is the duplicate search, for TestNearbyPlan.
var NearbySQL = nearbySQL

// CacheSizes reads PRAGMA cache_size on the writer's connection and on a
// reader's.
func CacheSizes(ctx context.Context, s *Store) (writer, reader int, err error) {
	if err = s.w.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&writer); err != nil {
		return 0, 0, err
	}
	err = s.r.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&reader)
	return writer, reader, err
}
