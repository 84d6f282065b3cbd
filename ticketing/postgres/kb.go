package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// kbLock is the advisory lock a knowledge-base write holds for its
// transaction: writes take revisions one after another and commit in that
// order, so an index reading what came after the last revision it saw
// never passes over one still being written. Writes are rare (editors and
// imports), so the wait costs nothing.
const kbLock = 0x6b62 // "kb"

// PutArticles writes the articles in one transaction (sqlq.PutArticles).
func (s *Store) PutArticles(ctx context.Context, as []*ticketing.Article) (int, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return 0, translate(err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // after Commit a no-op
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, kbLock); err != nil {
		return 0, translate(err)
	}
	n, err := sqlq.PutArticles(ctx, txDB{tx}, dialect, as)
	if err != nil {
		return 0, err
	}
	return n, translate(tx.Commit(ctx))
}

// txDB is a transaction as sqlq reads through it.
type txDB struct{ tx pgx.Tx }

func (t txDB) Query(ctx context.Context, query string, args ...any) (sqlq.ResultSet, error) {
	rows, err := t.tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return closer{rows}, nil
}

func (t txDB) QueryRow(ctx context.Context, query string, args ...any) sqlq.Scanner {
	return t.tx.QueryRow(ctx, query, args...)
}
