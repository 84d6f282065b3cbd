package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/yihao-city/yihao/ticketing"
)

// Indicators (migrations 00012, 00013, 00032): Create and Update append
// tallies with the events that cause them; RollupIndicators moves them, a
// batch a transaction, into the daily and the monthly sums that Indicators
// reads. A tally row lists the metrics of the tallies that share its
// moment, keys and count (row.Tallies).

// rollupBatch is how many tally rows one rollup transaction folds.
const rollupBatch = 50000

// rollupLock is the advisory lock a rollup holds for its transaction:
// rollups run one at a time, so each can take its batch as a plain range
// of ids. Taking it row by row (FOR UPDATE SKIP LOCKED, so that rollups
// could run side by side) wrote a lock on every tally before deleting it:
// twice the WAL, and 4.5 times the time of the range (BENCHMARKS.md, "A
// tenth pass"). A rollup that finds the lock taken does nothing: the one
// holding it is folding the same tallies, and a desk's page that asked
// for a rollup is not kept waiting behind another instance's batch.
const rollupLock = 0x726f6c6c // "roll"

// rollupBegin takes the lock if it is free, and gives the transaction the
// memory to sort a whole batch's RETURNING rows without a temporary file
// (4 MB, PostgreSQL's default, spilled 4.9 MB to disk for 50,000).
const rollupBegin = `SELECT pg_try_advisory_xact_lock($1), set_config('work_mem', '16MB', true)`

// rollupTake deletes the oldest batch of tally rows and returns them;
// RollupIndicators folds them in Go and adds the sums in the same
// transaction, so each tally is counted once, or not at all if the
// transaction fails. A tally committed later with a lower id is not
// visible yet and waits for the next batch. $1 is the batch size.
const rollupTake = `DELETE FROM indicator_tallies WHERE id <= (
		SELECT max(id) FROM (SELECT id FROM indicator_tallies ORDER BY id LIMIT $1) AS b)
	RETURNING at, metrics, department, district, street, community, grid, supervisor, article, category, channel, n`

// RollupIndicators folds every tally into the daily and the monthly sums,
// days in loc, in batches of rollupBatch rows. Several instances may call it at
// once: one folds, the others return 0 at once.
func (s *Store) RollupIndicators(ctx context.Context, loc *time.Location) (int, error) {
	if loc == nil {
		return 0, ticketing.Invalid("loc", "missing time zone")
	}
	total := 0
	for {
		n, rows, err := s.rollup(ctx, loc)
		total += n
		if err != nil || rows < rollupBatch {
			// The rest, if any, came meanwhile, or is another rollup's.
			return total, err
		}
	}
}

// rollup moves one batch of tally rows into the sums, and returns how
// many tallies and rows it moved.
func (s *Store) rollup(ctx context.Context, loc *time.Location) (n, batch int, err error) {
	// Read committed, whatever the server's default: the DELETE then reads
	// in a snapshot of its own, taken after the lock. Under repeatable read
	// it would share the lock statement's, which may predate the previous
	// rollup's commit, and fail on the tallies that rollup deleted.
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		var locked bool
		var mem string
		if err := tx.QueryRow(ctx, rollupBegin, rollupLock).Scan(&locked, &mem); err != nil || !locked {
			return err
		}
		rows, err := tx.Query(ctx, rollupTake, rollupBatch)
		if err != nil {
			return err
		}
		sums := ticketing.NewSums()
		var x ticketing.Tally
		var metrics []string
		var channel string
		_, err = pgx.ForEachRow(rows, []any{&x.At, &metrics, &x.Keys.Department, &x.Keys.District, &x.Keys.Street,
			&x.Keys.Community, &x.Keys.Grid, &x.Keys.Supervisor, &x.Keys.Article, &x.Keys.Category, &channel, &x.N}, func() error {
			x.Keys.Channel = ticketing.Channel(channel)
			for _, m := range metrics {
				x.Metric = ticketing.Metric(m)
				sums.Add(x, loc)
			}
			n += len(metrics)
			batch++
			return nil
		})
		if err != nil || batch == 0 {
			return err
		}
		if err := addSums(ctx, tx, "indicator_daily", "day", sums.Days); err != nil {
			return err
		}
		return addSums(ctx, tx, "indicator_monthly", "month", sums.Months)
	})
	if err != nil {
		return 0, 0, translate(err)
	}
	return n, batch, nil
}

// addSums adds sums to table's (whose period column is period) in one
// statement, in ticketing.Sorted's order.
func addSums(ctx context.Context, tx pgx.Tx, table, period string, sums map[ticketing.SumKey]int64) error {
	keys := ticketing.Sorted(sums)
	dims, periods, ks, metrics, ns := make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys)), make([]int64, len(keys))
	for i, k := range keys {
		dims[i], periods[i], ks[i], metrics[i], ns[i] = string(k.Dim), k.Period, k.Key, string(k.Metric), sums[k]
	}
	_, err := tx.Exec(ctx, `INSERT INTO `+table+` AS s (dim, `+period+`, key, metric, n)
		SELECT dim, p::date, key, metric, n FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
			WITH ORDINALITY AS u(dim, p, key, metric, n, i)
		ORDER BY i
		ON CONFLICT (dim, `+period+`, key, metric) DO UPDATE SET n = s.n + excluded.n`, dims, periods, ks, metrics, ns)
	return err
}
