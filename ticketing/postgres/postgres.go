// Package postgres is the ticketing.Store on PostgreSQL through pgx v5.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/row"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a ticketing.Store backed by a pgxpool.
type Store struct {
	// Reader answers the reads both stores make with the same statements.
	sqlq.Reader[time.Time, *time.Time]
	// Writer takes the single-statement writes both stores share.
	sqlq.Writer[time.Time, *time.Time]
	pool    *pgxpool.Pool
	ids     *ticketing.IDBlocks
	commits *groupCommit
}

// reads adapts the pool to the shared reads and writes.
type reads struct{ pool *pgxpool.Pool }

func (r reads) Query(ctx context.Context, query string, args ...any) (sqlq.ResultSet, error) {
	rows, err := r.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return closer{rows}, nil
}

func (r reads) QueryRow(ctx context.Context, query string, args ...any) sqlq.Scanner {
	return r.pool.QueryRow(ctx, query, args...)
}

// latestSQL reads each number's newest tickets (sqlq.Reader.LatestSQL).
// The list is JSON, not an array: the planner cannot count a JSON list, so
// after its first five runs the statement keeps one generic plan, where
// an array it can count kept it planning anew each time for a few
// numbers (0.19 ms a lookup against 0.07, BenchmarkEarlierTickets).
const latestSQL = `SELECT t.* FROM json_array_elements_text($1::json) AS p(phone) CROSS JOIN LATERAL (
	SELECT ` + row.TicketColumns + ` FROM tickets
	WHERE reporter_phone <> '' AND reporter_phone = p.phone AND received_at >= $2
	ORDER BY received_at DESC, id DESC LIMIT $3) t
	ORDER BY t.received_at DESC, t.id DESC`

// closer is pgx's rows with database/sql's Close.
type closer struct{ pgx.Rows }

func (c closer) Close() error { c.Rows.Close(); return nil }

// idBlock must equal the sequence's INCREMENT BY (migration 00002).
const idBlock = 100

// Open connects to url (a postgres:// URL) and applies pending migrations.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{Reader: sqlq.Reader[time.Time, *time.Time]{DB: reads{pool}, D: dialect, CallColumns: callColumns, ScanCall: scanCall, StatsSQL: statsSQL,
		Sums: sqlq.SumsSQL{Date: "?::date", Day: "to_char(day, 'YYYY-MM-DD')", Sum: "sum(n)::bigint", Order: `key COLLATE "C", metric COLLATE "C"`}, LatestSQL: latestSQL},
		Writer: sqlq.Writer[time.Time, *time.Time]{DB: reads{pool}, D: dialect}, pool: pool}
	s.ids = ticketing.NewIDBlocks(idBlock, func(ctx context.Context) (int64, error) {
		var start int64
		err := pool.QueryRow(ctx, `SELECT nextval('ticket_id_seq')`).Scan(&start)
		return start, translate(err)
	})
	if s.commits, err = newGroupCommit(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Migrate applies the embedded migrations. A session advisory lock makes
// instances that start together migrate one at a time.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer func() { _ = db.Close() }()
	return migrate(ctx, db)
}

func migrate(ctx context.Context, db *sql.DB) error {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	return sqlq.Migrate(ctx, db, migrations, goose.DialectPostgres, "postgres", goose.WithSessionLocker(locker))
}

// Close commits the submits already queued and releases the pool.
func (s *Store) Close() {
	s.commits.queue.Close()
	s.commits.pipe.close()
	s.pool.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return translate(s.pool.Ping(ctx))
}

// NextID hands out ids from blocks drawn from a database sequence, so ids
// are unique across instances.
func (s *Store) NextID(ctx context.Context) (int64, error) { return s.ids.Next(ctx) }

const ticketColumns = row.TicketColumns

// dialect is PostgreSQL's way with parameters and times, for the
// mechanics shared with the embedded store (ticketing/internal/sqlq).
var dialect = sqlq.Dialect[time.Time, *time.Time]{Numbered: true, Time: func(t time.Time) any { return t },
	NullTime: func(t time.Time) any { return nullTime(t) },
	At:       func(t time.Time) time.Time { return t }, NullAt: deref, Translate: translate}

// The events, outbox rows, indicator tallies and the keys the change takes
// ride in the same statement as the ticket, as arrays, so a submit is one
// round trip and one implicit transaction, however many of them there are.
// The statement returns the ticket's id and how many of the keys were new.
const appendEvents = `
	e AS (
		INSERT INTO ticket_events (ticket_id, seq, at, actor, type, from_status, to_status, note, public)
		SELECT t.id, (SELECT coalesce(max(seq), 0) FROM ticket_events WHERE ticket_id = t.id) + x.ord,
		       x.at, x.actor, x.type, x.from_status, x.to_status, x.note, x.public
		FROM t, unnest($%d::timestamptz[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::text[])
		     WITH ORDINALITY AS x(at, actor, type, from_status, to_status, note, public, ord)
	),
	o AS (
		INSERT INTO outbox (ticket_id, topic, payload, created_at)
		SELECT t.id, y.topic, y.payload::jsonb, y.at
		FROM t, unnest($%d::text[], $%d::text[], $%d::timestamptz[]) AS y(topic, payload, at)
	),
	tl AS (
		INSERT INTO indicator_tallies (at, metrics, department, district, street, community, grid, supervisor, article, category, channel, n)
		SELECT z.at, string_to_array(z.metrics, ','), z.department, z.district, z.street, z.community, z.grid, z.supervisor, z.article, z.category, z.channel, z.n
		FROM t, unnest($%d::timestamptz[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::int[])
		     AS z(at, metrics, department, district, street, community, grid, supervisor, article, category, channel, n)
	),
	k AS (
		INSERT INTO ticket_keys (ticket_id, key)
		SELECT t.id, w.key FROM t, unnest($%d::text[]) AS w(key)
		ON CONFLICT (ticket_id, key) DO NOTHING
		RETURNING 1
	)
	SELECT id, (SELECT count(*) FROM k) FROM t`

func appendSQL(first int) string {
	a := make([]any, 23)
	for i := range a {
		a[i] = first + i
	}
	//lint:ignore SA5009 appendEvents holds one %d per argument of a (23)
	return fmt.Sprintf(appendEvents, a...)
}

var (
	updateSQL = `WITH t AS (
		UPDATE tickets SET status = $1, category = $2, category_name = $3, department = $4,
			department_name = $5, priority = $6, due_at = $7, routing_rule = $8, routing_reason = $9,
			confidence = $10, master_id = $11, rework_count = $12, extension_count = $13,
			extension = $14, evaluation = $15, updated_at = $16, version = version + 1,
			grid = $17, community = $18, street = $19, district = $20, assisting = $21, lat = $22, lon = $23,
			address = $24, attachments = $25, light = $26, alarm_at = $27, centre = $28, centre_due = $29,
			parts = $30, task = $31, task_due = $32, task_by = $33
		WHERE id = $34 AND version = $35
		RETURNING id
	),` + appendSQL(36)
)

func changeArgs(t *ticketing.Ticket) []any {
	evs, msgs := t.PendingEvents(), t.PendingMessages()
	at, actor, typ, from, to, note, public := make([]time.Time, len(evs)), make([]string, len(evs)),
		make([]string, len(evs)), make([]string, len(evs)), make([]string, len(evs)), make([]string, len(evs)), make([]string, len(evs))
	for i, e := range evs {
		at[i], actor[i], typ[i], from[i], to[i], note[i], public[i] = e.At, e.Actor, string(e.Type), string(e.From), string(e.To), e.Note, e.Public
	}
	topic, payload, mat := make([]string, len(msgs)), make([]string, len(msgs)), make([]time.Time, len(msgs))
	for i, m := range msgs {
		topic[i], payload[i], mat[i] = m.Topic, string(m.Payload), m.At
	}
	args := append([]any{at, actor, typ, from, to, note, public, topic, payload, mat}, tallyArgs(ticketing.TalliesOf(t, evs))...)
	return append(args, t.PendingKeys())
}

func tallyArgs(all []ticketing.Tally) []any {
	ts, metrics := row.Tallies(all)
	at, n := make([]time.Time, len(ts)), make([]int32, len(ts))
	col := func() []string { return make([]string, len(ts)) }
	dept, district, street, community, grid, supervisor, article, category, channel := col(), col(), col(), col(), col(), col(), col(), col(), col()
	for i, x := range ts {
		at[i], n[i] = x.At, int32(x.N)
		dept[i], district[i], street[i], community[i], grid[i], supervisor[i], article[i], category[i], channel[i] = x.Keys.Department,
			x.Keys.District, x.Keys.Street, x.Keys.Community, x.Keys.Grid, x.Keys.Supervisor, x.Keys.Article, x.Keys.Category, string(x.Keys.Channel)
	}
	return []any{at, metrics, dept, district, street, community, grid, supervisor, article, category, channel, n}
}

// Create inserts the ticket, its events, outbox rows, indicator tallies
// and keys, in one statement with the other submits of its batch (see
// groupcommit.go), and returns once that statement has committed.
func (s *Store) Create(ctx context.Context, t *ticketing.Ticket) (*ticketing.Ticket, bool, error) {
	stored, created, _, err := s.createBatched(ctx, t, nil)
	return stored, created, err
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) one(ctx context.Context, q querier, query string, args ...any) (*ticketing.Ticket, error) {
	t, err := scanTicket(q.QueryRow(ctx, query, args...))
	if err != nil {
		return nil, translate(err)
	}
	return t, nil
}

func scanTicket(r sqlq.Scanner) (*ticketing.Ticket, error) { return sqlq.ScanTicket(dialect, r) }

// Update runs fn on the locked ticket and saves the result, its events,
// outbox rows, indicator tallies and keys in one transaction (one statement
// after the locking read). A key the ticket has taken already rolls it all
// back: ErrAlreadyApplied.
func (s *Store) Update(ctx context.Context, id int64, fn func(*ticketing.Ticket) error) (*ticketing.Ticket, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, translate(err)
	}
	defer tx.Rollback(ctx) // after Commit this is a no-op
	t, err := s.one(ctx, tx, `SELECT `+ticketColumns+` FROM tickets WHERE id = $1 FOR UPDATE`, id)
	if err != nil {
		return nil, err
	}
	if err := fn(t); err != nil {
		return nil, err
	}
	args, err := sqlq.ChangeArgs(dialect, t)
	if err != nil {
		return nil, err
	}
	args = append(args, t.ID, t.Version)
	args = append(args, changeArgs(t)...)
	var got, taken int64
	if err := tx.QueryRow(ctx, updateSQL, args...).Scan(&got, &taken); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, &ticketing.Error{Kind: ticketing.KindConflict, Code: "stale", Message: "the ticket changed meanwhile; try again"}
		}
		return nil, translate(err)
	}
	if taken < int64(len(t.PendingKeys())) {
		return nil, ticketing.ErrAlreadyApplied
	}
	return sqlq.Saved(t, tx.Commit(ctx), translate)
}

// translate maps pgx errors to ticketing kinds at the store's edge.
func translate(err error) error {
	if e, ok := sqlq.Common(err, pgx.ErrNoRows); ok {
		return e
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "22": // data exception: a value PostgreSQL cannot store
			return &ticketing.Error{Kind: ticketing.KindInvalid, Message: "a value cannot be stored", Err: err}
		case "23": // integrity constraint violation
			return &ticketing.Error{Kind: ticketing.KindConflict, Message: "conflicting write", Err: err}
		case "08", "53", "57": // connection, resources, operator intervention (shutdown, failover)
			return ticketing.Unavailable(err)
		}
		return err
	}
	// No server answer at all: connection refused, reset, pool closed.
	return ticketing.Unavailable(err)
}

// Nearby returns open tickets of category inside box received since since.
func (s *Store) Nearby(ctx context.Context, category string, box ticketing.Box, since time.Time, limit int) ([]*ticketing.Ticket, error) {
	return s.many(ctx, nearbySQL, category, since, box.MinLat, box.MaxLat, box.MinLon, box.MaxLon, limit)
}

// nearbySQL is the duplicate search. The open states are literals, so that
// the planner proves the predicate of the index of migration 00031.
var nearbySQL = `SELECT ` + ticketColumns + ` FROM tickets
		WHERE category = $1 AND lat BETWEEN $3 AND $4 AND lon BETWEEN $5 AND $6 AND received_at >= $2
		  AND status IN ` + row.QuotedList(row.StatusNames(true)) + ` ORDER BY received_at DESC LIMIT $7`

func (s *Store) many(ctx context.Context, query string, args ...any) ([]*ticketing.Ticket, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	return sqlq.Collect(rows, translate, scanTicket)
}

// SetTrackHash replaces the digest of a ticket's tracking token.
func (s *Store) SetTrackHash(ctx context.Context, id int64, hash string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE tickets SET track_hash = $1 WHERE id = $2`, hash, id)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return ticketing.ErrNotFound
	}
	return nil
}
