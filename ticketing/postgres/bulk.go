package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// The bulk loader fills a database with generated history (`yihao gen`)
// for measuring the desks on tens of millions of tickets. It writes with
// COPY, bypassing Create's checks and idempotency: only for a database no
// server is writing to.

// IndicatorSum is one daily sum for AddIndicatorSums.
type IndicatorSum struct {
	Day    string // 2006-01-02
	Dim    ticketing.Dim
	Key    string
	Metric ticketing.Metric
	N      int64
}

// ReserveIDs reserves n consecutive ticket ids and returns the first. It
// draws whole blocks from the sequence (see ticketing.IDBlocks) and fails if
// another writer drew some in between.
func (s *Store) ReserveIDs(ctx context.Context, n int) (int64, error) {
	blocks := (n + idBlock - 1) / idBlock
	rows, err := s.pool.Query(ctx, `SELECT nextval('ticket_id_seq') FROM generate_series(1, $1)`, blocks)
	if err != nil {
		return 0, translate(err)
	}
	starts, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, translate(err)
	}
	for i := 1; i < len(starts); i++ {
		if starts[i] != starts[i-1]+idBlock {
			return 0, fmt.Errorf("postgres: reserve ids: another writer drew ids meanwhile; load into an idle database")
		}
	}
	return starts[0], nil
}

var ticketColumnList = func() []string {
	cols := strings.Split(ticketColumns, ",")
	for i := range cols {
		cols[i] = strings.TrimSpace(cols[i])
	}
	return cols
}()

// CopyTickets writes tickets and their events (evs[i] for ts[i], complete
// logs with Seq set) in one transaction. Pending events and messages of the
// tickets are ignored, and no tallies are written: the loader adds the sums
// itself (AddIndicatorSums).
func (s *Store) CopyTickets(ctx context.Context, ts []*ticketing.Ticket, evs [][]ticketing.Event) error {
	if len(evs) != len(ts) {
		return fmt.Errorf("postgres: copy tickets: %d tickets but %d event logs", len(ts), len(evs))
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback(ctx)
	var rowErr error
	src := pgx.CopyFromSlice(len(ts), func(i int) ([]any, error) {
		vals, err := ticketValues(ts[i], int32(max(ts[i].Version, 1)))
		if err != nil {
			rowErr = err
		}
		return vals, err
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"tickets"}, ticketColumnList, src); err != nil {
		if rowErr != nil {
			return rowErr
		}
		return translate(err)
	}
	var events [][]any
	for _, log := range evs {
		for _, e := range log {
			events = append(events, []any{e.TicketID, int32(e.Seq), e.At, e.Actor, string(e.Type), string(e.From), string(e.To), e.Note, e.Public})
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ticket_events"},
		[]string{"ticket_id", "seq", "at", "actor", "type", "from_status", "to_status", "note", "public"}, pgx.CopyFromRows(events)); err != nil {
		return translate(err)
	}
	return translate(tx.Commit(ctx))
}

// ticketValues are t's columns in ticketColumns order, with the version given.
func ticketValues(t *ticketing.Ticket, version int32) ([]any, error) {
	return sqlq.TicketArgs(dialect, t, version)
}

// AddIndicatorSums adds daily sums to those already stored, and each to
// its month's sum, through a staging table so a sum that exists is added
// to rather than refused.
func (s *Store) AddIndicatorSums(ctx context.Context, sums []IndicatorSum) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE indicator_load (day date, dim text, key text, metric text, n bigint) ON COMMIT DROP`); err != nil {
		return translate(err)
	}
	src := pgx.CopyFromSlice(len(sums), func(i int) ([]any, error) {
		x := sums[i]
		day, err := time.Parse(time.DateOnly, x.Day)
		return []any{day, string(x.Dim), x.Key, string(x.Metric), x.N}, err
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"indicator_load"}, []string{"day", "dim", "key", "metric", "n"}, src); err != nil {
		return translate(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO indicator_daily AS s (dim, day, key, metric, n)
		SELECT dim, day, key, metric, sum(n) FROM indicator_load GROUP BY 1, 2, 3, 4
		ORDER BY dim COLLATE "C", day, key COLLATE "C", metric COLLATE "C"
		ON CONFLICT (dim, day, key, metric) DO UPDATE SET n = s.n + excluded.n`); err != nil {
		return translate(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO indicator_monthly AS s (dim, month, key, metric, n)
		SELECT dim, date_trunc('month', day::timestamp)::date, key, metric, sum(n) FROM indicator_load
		GROUP BY 1, 2, 3, 4 ORDER BY dim COLLATE "C", 2, key COLLATE "C", metric COLLATE "C"
		ON CONFLICT (dim, month, key, metric) DO UPDATE SET n = s.n + excluded.n`); err != nil {
		return translate(err)
	}
	return translate(tx.Commit(ctx))
}
