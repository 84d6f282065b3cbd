package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/yihao-city/yihao/ticketing"
)

// Indicators (migrations 00012, 00013): Create and Update append tallies
// with the events that cause them; RollupIndicators moves them, a batch a
// transaction, into the daily and the monthly sums that Indicators reads.

// rollupBatch is how many tallies one rollup transaction folds.
const rollupBatch = 50000

// rollupLock is the advisory lock a rollup holds for its transaction:
// rollups run one at a time, so each can take its batch as a plain range
// of ids. Taking it row by row (FOR UPDATE SKIP LOCKED, so that rollups
// could run side by side) wrote a lock on every tally before deleting it:
// twice the WAL, and 4.5 times the time of the range (BENCHMARKS.md, "A
// tenth pass").
const rollupLock = 0x726f6c6c // "roll"

// rollupTake deletes the oldest batch of tallies and returns them;
// RollupIndicators folds them in Go and adds the sums in the same
// transaction, so each tally is counted once, or not at all if the
// transaction fails. A tally committed later with a lower id is not
// visible yet and waits for the next batch. $1 is the batch size.
const rollupTake = `DELETE FROM indicator_tallies WHERE id <= (
		SELECT max(id) FROM (SELECT id FROM indicator_tallies ORDER BY id LIMIT $1) AS b)
	RETURNING at, metric, department, district, street, community, grid, supervisor, article, category, channel, n`

// RollupIndicators folds every tally into the daily and the monthly sums,
// days in loc, in batches of rollupBatch; several instances may run it at
// once (one waits for the other).
func (s *Store) RollupIndicators(ctx context.Context, loc *time.Location) (int, error) {
	if loc == nil {
		return 0, ticketing.Invalid("loc", "missing time zone")
	}
	total := 0
	for {
		n, err := s.rollup(ctx, loc)
		total += n
		if err != nil || n < rollupBatch {
			// The rest, if any, is another rollup's batch, or came meanwhile.
			return total, err
		}
	}
}

// rollup moves one batch of tallies into the sums.
func (s *Store) rollup(ctx context.Context, loc *time.Location) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A rollup that waited here reads after the other one's commit
		// (each statement takes a new snapshot), so it finds only what
		// the other left.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, rollupLock); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, rollupTake, rollupBatch)
		if err != nil {
			return err
		}
		sums := ticketing.NewSums()
		var x ticketing.Tally
		var metric, channel string
		_, err = pgx.ForEachRow(rows, []any{&x.At, &metric, &x.Keys.Department, &x.Keys.District, &x.Keys.Street,
			&x.Keys.Community, &x.Keys.Grid, &x.Keys.Supervisor, &x.Keys.Article, &x.Keys.Category, &channel, &x.N}, func() error {
			x.Metric, x.Keys.Channel = ticketing.Metric(metric), ticketing.Channel(channel)
			sums.Add(x, loc)
			n++
			return nil
		})
		if err != nil || n == 0 {
			return err
		}
		if err := addSums(ctx, tx, "indicator_daily", "day", sums.Days); err != nil {
			return err
		}
		return addSums(ctx, tx, "indicator_monthly", "month", sums.Months)
	})
	if err != nil {
		return 0, translate(err)
	}
	return n, nil
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
