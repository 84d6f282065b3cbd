package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/pressly/goose/v3"

	"github.com/yihao-city/yihao/ticketing"
)

// hashTrackTokens is migration 17: it replaces each ticket's tracking token
// by its SHA-256 digest (ticketing.HashToken), in Go because SQLite has no
// SHA-256 function. Links already sent keep working: Track compares digests.
var hashTrackTokens = goose.NewGoMigration(17, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, track_hash FROM tickets`)
	if err != nil {
		return err
	}
	type tok struct {
		id  int64
		tok string
	}
	var all []tok
	for rows.Next() {
		var t tok
		if err := rows.Scan(&t.id, &t.tok); err != nil {
			rows.Close()
			return err
		}
		all = append(all, t)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	upd, err := tx.PrepareContext(ctx, `UPDATE tickets SET track_hash = ? WHERE id = ?`)
	if err != nil {
		return err
	}
	for _, t := range all {
		if _, err := upd.ExecContext(ctx, ticketing.HashToken(t.tok), t.id); err != nil {
			return errors.Join(err, upd.Close())
		}
	}
	return upd.Close()
}}, &goose.GoFunc{RunTx: func(context.Context, *sql.Tx) error {
	return nil // a digest cannot be turned back into its token
}})
