package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/yihao-city/yihao/ticketing"
)

// Indicators (migrations 00012, 00013): Create and Update append tallies
// with the events that cause them; RollupIndicators moves them, a batch a
// statement, into the daily and the monthly sums that Indicators reads.

// rollupBatch is how many tallies one rollup statement folds.
const rollupBatch = 10000

// dimKey is each breakdown's key as an expression on a tally row m.
var dimKey = map[ticketing.Dim]string{
	ticketing.DimAll:        "''",
	ticketing.DimDepartment: "m.department",
	ticketing.DimDistrict:   "m.district",
	ticketing.DimStreet:     "m.street",
	ticketing.DimCommunity:  "m.community",
	ticketing.DimGrid:       "m.grid",
	ticketing.DimSupervisor: "m.supervisor",
	ticketing.DimArticle:    "m.article",
	ticketing.DimCategory:   "m.category",
	ticketing.DimChannel:    "m.channel",
}

// rollupSQL takes a batch of tallies no concurrent rollup holds (SKIP
// LOCKED), deletes them and adds them to the daily and the monthly sums of
// every breakdown in ticketing.Dims (one of ticketing.SparseDims only when
// the tally's key for it is set: ticketing.TallyKeys.Counts), all in one statement: each tally is
// counted once in each, or not at all if the statement fails. Every rollup
// runs the same statement, so they take the tables in the same order and
// the sums of each in key order: concurrent rollups lock the rows they
// share in the same order and never deadlock. $1 is the time zone, $2 the
// batch size.
var rollupSQL = func() string {
	quoted := make([]string, len(ticketing.SparseDims))
	for i, d := range ticketing.SparseDims {
		quoted[i] = "'" + string(d) + "'"
	}
	sparse := strings.Join(quoted, ", ")
	fan := make([]string, len(ticketing.Dims))
	for i, d := range ticketing.Dims {
		fan[i] = "('" + string(d) + "', " + dimKey[d] + ")"
	}
	sums := func(table, period, bucket string) string {
		return `INSERT INTO ` + table + ` AS s (dim, ` + period + `, key, metric, n)
		SELECT d.dim, ` + bucket + `, d.key, m.metric, sum(m.n)
		FROM moved m CROSS JOIN LATERAL (VALUES ` + strings.Join(fan, ", ") + `) AS d(dim, key)
		WHERE d.key <> '' OR d.dim NOT IN (` + sparse + `)
		GROUP BY 1, 2, 3, 4
		ORDER BY 1, 2, 3, 4
		ON CONFLICT (dim, ` + period + `, key, metric) DO UPDATE SET n = s.n + excluded.n`
	}
	return `WITH moved AS (
		DELETE FROM indicator_tallies WHERE id IN (
			SELECT id FROM indicator_tallies ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING at, metric, department, district, street, community, grid, supervisor, article, category, channel, n
	), daily AS (
		` + sums("indicator_daily", "day", "(m.at AT TIME ZONE $1)::date") + `
	), monthly AS (
		` + sums("indicator_monthly", "month", "date_trunc('month', m.at AT TIME ZONE $1)::date") + `
	)
	SELECT count(*) FROM moved`
}()

// RollupIndicators folds every tally into the daily sums, days in loc, in
// batches of rollupBatch; several instances may run it at once.
func (s *Store) RollupIndicators(ctx context.Context, loc *time.Location) (int, error) {
	tz, err := s.zone(ctx, loc)
	if err != nil {
		return 0, err
	}
	total := 0
	for {
		var n int
		if err := s.pool.QueryRow(ctx, rollupSQL, tz, rollupBatch).Scan(&n); err != nil {
			return total, translate(err)
		}
		total += n
		if n < rollupBatch {
			// The rest, if any, is another rollup's batch, or came meanwhile.
			return total, nil
		}
	}
}

// zone is loc's name, checked against PostgreSQL: the server must know it
// and give it loc's offset now. Go's "Local", or a fixed zone named "CST"
// (China to Go, US Central to PostgreSQL), would otherwise put tallies on
// the wrong days.
func (s *Store) zone(ctx context.Context, loc *time.Location) (string, error) {
	if loc == nil {
		return "", ticketing.Invalid("loc", "missing time zone")
	}
	name := loc.String()
	now := time.Now().Truncate(time.Microsecond)
	var wall time.Time
	err := s.pool.QueryRow(ctx, `SELECT $1::timestamptz AT TIME ZONE $2`, now, name).Scan(&wall)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "22023" { // invalid_parameter_value: time zone not recognized
		return "", ticketing.Invalid("loc", "PostgreSQL does not know the time zone %q; name it as in the IANA database (Asia/Shanghai)", name)
	}
	if err != nil {
		return "", translate(err)
	}
	// PostgreSQL gives the wall clock as a timestamp without zone, which
	// pgx reads as UTC.
	l := now.In(loc)
	if !wall.Equal(time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)) {
		return "", ticketing.Invalid("loc", "the time zone %q means another offset to PostgreSQL; name it as in the IANA database (Asia/Shanghai)", name)
	}
	return name, nil
}
