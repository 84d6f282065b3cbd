package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// Indicators (migrations 00011, 00012, 00030): Create and Update append
// tallies with the events that cause them, those of one moment, keys and
// count in one row listing their metrics (row.Tallies); RollupIndicators
// folds them, a batch a transaction, into the daily and the monthly sums
// that Indicators reads.

// rollupBatch is how many tally rows one rollup transaction folds.
const rollupBatch = 10000

// RollupIndicators folds every tally into the daily and the monthly sums,
// days in loc, in batches of rollupBatch rows.
// Each batch is read, summed, written and deleted in one transaction on
// the single writer, so a tally is counted once even when another process
// rolls up the same file.
func (s *Store) RollupIndicators(ctx context.Context, loc *time.Location) (int, error) {
	if loc == nil {
		return 0, ticketing.Invalid("loc", "missing time zone")
	}
	total := 0
	for {
		n, rows, err := s.rollup(ctx, loc)
		total += n
		if err != nil || rows < rollupBatch {
			return total, err
		}
	}
}

// rollup folds one batch of tally rows, and returns how many tallies and
// rows it folded.
func (s *Store) rollup(ctx context.Context, loc *time.Location) (n, batch int, err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, translate(err)
	}
	defer tx.Rollback() // after Commit this is a no-op
	rows, err := tx.QueryContext(ctx, `SELECT id, at, metrics, department, district, street, community, grid, supervisor, article, category, channel, n
		FROM indicator_tallies ORDER BY id LIMIT ?`, rollupBatch)
	if err != nil {
		return 0, 0, translate(err)
	}
	sums := ticketing.NewSums()
	var last, at int64
	for rows.Next() {
		var x ticketing.Tally
		var metrics, channel string
		if err := rows.Scan(&last, &at, &metrics, &x.Keys.Department, &x.Keys.District, &x.Keys.Street,
			&x.Keys.Community, &x.Keys.Grid, &x.Keys.Supervisor, &x.Keys.Article, &x.Keys.Category, &channel, &x.N); err != nil {
			rows.Close()
			return 0, 0, translate(err)
		}
		x.At, x.Keys.Channel = time.UnixMicro(at), ticketing.Channel(channel)
		for m := range strings.SplitSeq(metrics, ",") {
			x.Metric = ticketing.Metric(m)
			sums.Add(x, loc)
			n++
		}
		batch++
	}
	rows.Close()
	if err := rows.Err(); err != nil || batch == 0 {
		return 0, 0, translate(err)
	}
	if err := addSums(ctx, tx, "indicator_daily", "day", sums.Days); err != nil {
		return 0, 0, err
	}
	if err := addSums(ctx, tx, "indicator_monthly", "month", sums.Months); err != nil {
		return 0, 0, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM indicator_tallies WHERE id <= ?`, last); err != nil {
		return 0, 0, translate(err)
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, translate(err)
	}
	return n, batch, nil
}

// addSums adds sums to table's, whose period column is period.
func addSums(ctx context.Context, tx *sql.Tx, table, period string, sums map[ticketing.SumKey]int64) error {
	add, err := tx.PrepareContext(ctx, `INSERT INTO `+table+` (dim, `+period+`, key, metric, n) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (dim, `+period+`, key, metric) DO UPDATE SET n = n + excluded.n`)
	if err != nil {
		return translate(err)
	}
	defer func() { _ = add.Close() }()
	for _, k := range ticketing.Sorted(sums) {
		if _, err := add.ExecContext(ctx, string(k.Dim), k.Period, k.Key, string(k.Metric), sums[k]); err != nil {
			return translate(err)
		}
	}
	return nil
}
