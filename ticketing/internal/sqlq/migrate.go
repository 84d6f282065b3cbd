package sqlq

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// Migrate applies the pending migrations under migrations/ in fsys to db,
// in dialect d; store names the store in errors.
func Migrate(ctx context.Context, db *sql.DB, fsys fs.FS, d goose.Dialect, store string, opts ...goose.ProviderOption) error {
	sub, err := fs.Sub(fsys, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(d, db, sub, opts...)
	if err != nil {
		return fmt.Errorf("%s: migrations: %w", store, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("%s: migrate: %w", store, err)
	}
	return nil
}
