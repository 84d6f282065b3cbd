package sqlite

import (
	"context"
	"database/sql"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// PutArticles writes the articles in one transaction (sqlq.PutArticles)
// on the single writer, which orders the revisions as they commit.
func (s *Store) PutArticles(ctx context.Context, as []*ticketing.Article) (int, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, translate(err)
	}
	defer func() { _ = tx.Rollback() }() // after Commit a no-op
	n, err := sqlq.PutArticles(ctx, txDB{tx}, dialect, as)
	if err != nil {
		return 0, err
	}
	return n, translate(tx.Commit())
}

// txDB is a transaction as sqlq reads through it.
type txDB struct{ tx *sql.Tx }

func (t txDB) Query(ctx context.Context, query string, args ...any) (sqlq.ResultSet, error) {
	return t.tx.QueryContext(ctx, query, args...)
}

func (t txDB) QueryRow(ctx context.Context, query string, args ...any) sqlq.Scanner {
	return t.tx.QueryRowContext(ctx, query, args...)
}
