// Package sqlite is the embedded default ticketing.Store: pure-Go SQLite in
// WAL mode, one file under the data directory, no server to run.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/groupcommit"
	"github.com/yihao-city/yihao/ticketing/internal/row"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

//go:embed migrations/*.sql
var migrations embed.FS

// idBlock is how many ticket ids NextID reserves per write. Ids stay unique
// even if two processes open the same file; a restart skips the rest of a block.
const idBlock = 100

// Store is a ticketing.Store on one SQLite file. SQLite allows one writer at
// a time, so writes go through a single connection (no lock contention, no
// SQLITE_BUSY) and reads through a pool that runs beside it under WAL.
type Store struct {
	// Reader answers the reads both stores make with the same statements,
	// on the reader pool.
	sqlq.Reader[int64, sql.NullInt64]
	// Writer takes the single-statement writes both stores share, on the
	// writer.
	sqlq.Writer[int64, sql.NullInt64]
	w, r    *sql.DB
	ids     *ticketing.IDBlocks
	creates *groupcommit.Queue[*pendingCreate]

	// hot are the writer's hot statements, prepared once at Open (the
	// writer's one connection is free then; within a transaction it is
	// not). The driver parses a statement anew on every call otherwise,
	// and parsing the intake's statements was a fifth of the embedded
	// store's CPU at full load. nearby is the reader's hot query,
	// prepared per connection by database/sql.
	hot    map[string]*sql.Stmt
	nearby *sql.Stmt
	rstmts *stmtCache // the readers' other statements
}

// txExec runs query in the writer's transaction tx, prepared if hot.
func (s *Store) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := s.hot[query]; st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// txQueryRow runs query in the writer's transaction tx, prepared if hot.
func (s *Store) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := s.hot[query]; st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// prepare readies the hot statements.
func (s *Store) prepare(ctx context.Context) error {
	s.hot = map[string]*sql.Stmt{}
	for _, q := range []string{insertTicketSQL, insertEventSQL, insertOutboxSQL, insertTallySQL, insertKeySQL,
		selectTicketSQL, lastSeqSQL, updateTicketSQL, callByIDSQL, insertCallSQL, updateCallSQL} {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sqlite: prepare: %w", err)
		}
		s.hot[q] = st
	}
	var err error
	if s.nearby, err = s.r.PrepareContext(ctx, nearbySQL); err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	return nil
}

// The page cache's budget. This SQLite keeps one pool of cached pages for
// all its connections, bounded by the sum of their cache sizes, and any
// connection may fill the pool's unused share; each 4 KiB page takes an
// 8 KiB block of the allocator. A reader loses its cached pages whenever
// a write came in between (WAL), so under load its share only lets the
// writer's cache grow. At the default of 2,000 KiB for every connection
// the pool's bound was ~3,400 pages (~26 MiB resident), and the writer's
// cache was still growing towards it after half an hour of steady load
// (faults/SOAK.md). With these the pool's bound in the hour's soak was
// 2,050 pages (these connections' 1,447, the writer's temporary schema's
// 483 at the default size, the knowledge index's 120), reached by
// minute 19, with resident memory flat from then on.
const (
	writerCache = "cache_size(-2000)"
	readerCache = "cache_size(-1000)"
)

// Open opens (creating if needed) the database file at path and migrates it.
func Open(ctx context.Context, path string) (*Store, error) {
	dsn := func(extra ...string) string {
		q := url.Values{}
		for _, p := range append([]string{"busy_timeout(5000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(FULL)"}, extra...) {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", "immediate")
		return "file:" + path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn(writerCache))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	if err := migrate(ctx, w); err != nil {
		_ = w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn("query_only(1)", readerCache))
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	// As many kept idle: a reader closed after a burst took its prepared
	// statements with it, and reopening and re-preparing them was a tenth
	// of the intake's CPU.
	r.SetMaxIdleConns(4)
	rs := &stmtCache{m: map[string]*sql.Stmt{}}
	s := &Store{Reader: sqlq.Reader[int64, sql.NullInt64]{DB: reads{r, rs}, D: dialect, CallColumns: callColumns, ScanCall: scanCall, StatsSQL: statsSQL,
		Sums: sqlq.SumsSQL{Date: "?", Day: "day", Sum: "sum(n)", Order: "key, metric"}, LatestSQL: latestSQL},
		Writer: sqlq.Writer[int64, sql.NullInt64]{DB: reads{db: w}, D: dialect}, w: w, r: r, rstmts: rs}
	if err := s.prepare(ctx); err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, err
	}
	s.ids = ticketing.NewIDBlocks(idBlock, func(ctx context.Context) (int64, error) {
		var start int64
		err := w.QueryRowContext(ctx, `UPDATE id_blocks SET next = next + ? WHERE name = 'ticket' RETURNING next - ?`,
			idBlock, idBlock).Scan(&start)
		return start, translate(err)
	})
	s.creates = groupcommit.New(1, maxBatch, batchTimeout, s.commitCreates) // one writer connection: one writer
	return s, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	return sqlq.Migrate(ctx, db, migrations, goose.DialectSQLite3, "sqlite", goose.WithGoMigrations(hashTrackTokens))
}

// Close commits the submits already queued and closes both pools.
func (s *Store) Close() error {
	s.creates.Close()
	s.rstmts.close()
	return errors.Join(s.r.Close(), s.w.Close())
}

// Ping checks that the file can be read.
func (s *Store) Ping(ctx context.Context) error {
	return translate(s.r.PingContext(ctx))
}

// NextID hands out ids from blocks reserved in the database.
func (s *Store) NextID(ctx context.Context) (int64, error) { return s.ids.Next(ctx) }

const ticketColumns = row.TicketColumns

// reads adapts a pool (the reader, or the writer) to the shared reads and writes.
// With stmts, each statement is prepared once and kept (the readers);
// without, run as it comes (the writer, whose one connection may be held
// by a transaction when a statement is first seen).
type reads struct {
	db    *sql.DB
	stmts *stmtCache
}

func (r reads) Query(ctx context.Context, query string, args ...any) (sqlq.ResultSet, error) {
	var rows *sql.Rows
	var err error
	if st := r.stmts.get(ctx, r.db, query); st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = r.db.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (r reads) QueryRow(ctx context.Context, query string, args ...any) sqlq.Scanner {
	if st := r.stmts.get(ctx, r.db, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return r.db.QueryRowContext(ctx, query, args...)
}

// latestSQL reads each number's newest tickets (sqlq.Reader.LatestSQL):
// per number of the list, a search of its index entries with its own
// limit, the tickets then read by rowid.
const latestSQL = `SELECT ` + row.TicketColumns + ` FROM (SELECT value AS phone FROM json_each(?)) AS p JOIN tickets ON tickets.id IN (
	SELECT id FROM tickets WHERE reporter_phone <> '' AND reporter_phone = p.phone AND received_at >= ?
	ORDER BY received_at DESC, id DESC LIMIT ?)
	ORDER BY tickets.received_at DESC, tickets.id DESC`

// stmtCache keeps the readers' statements prepared. The driver parses and
// plans every unprepared statement anew, and under the SIP proxy's load
// that was a quarter of the process's CPU (the screen pop's earlier
// tickets, the agents' and calls' reads). database/sql prepares a kept
// statement once on each connection that runs it.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// maxStmts bounds the cache. The store's statements are a fixed set but
// for the desks' filters, whose combinations are many; statements with a
// list of placeholders (IN (?,?,…)), whose text varies with the length of
// a batch, are never kept. (A filter's IN list is one JSON parameter.)
const maxStmts = 256

func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string) *sql.Stmt {
	if c == nil || strings.Contains(query, " IN (?") {
		return nil
	}
	c.mu.Lock()
	st, ok := c.m[query]
	full := len(c.m) >= maxStmts
	c.mu.Unlock()
	if ok || full {
		return st
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil // the query itself reports the error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if kept, ok := c.m[query]; ok { // prepared meanwhile by another reader
		_ = st.Close()
		return kept
	}
	c.m[query] = st
	return st
}

// close closes the kept statements.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		_ = st.Close()
	}
	clear(c.m)
}

// dialect is SQLite's way with parameters and times (microseconds since
// the epoch), for the mechanics shared with the PostgreSQL store
// (ticketing/internal/sqlq).
var dialect = sqlq.Dialect[int64, sql.NullInt64]{Time: func(t time.Time) any { return t.UnixMicro() }, NullTime: micros,
	At: time.UnixMicro, NullAt: fromMicros, Translate: translate}

// The hot statements (see Store.hot).
const (
	insertTicketSQL = `INSERT INTO tickets (` + ticketColumns + `)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (channel, external_id) DO NOTHING`
	insertEventSQL = `INSERT INTO ticket_events (ticket_id, seq, at, actor, type, from_status, to_status, note, public)
			VALUES (?,?,?,?,?,?,?,?,?)`
	insertOutboxSQL = `INSERT INTO outbox (ticket_id, topic, payload, created_at) VALUES (?,?,?,?)`
	insertTallySQL  = `INSERT INTO indicator_tallies (at, metrics, department, district, street, community, grid, supervisor, article, category, channel, n)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`
	insertKeySQL = `INSERT INTO ticket_keys (ticket_id, key) VALUES (?,?)
			ON CONFLICT (ticket_id, key) DO NOTHING`
	selectTicketSQL = `SELECT ` + ticketColumns + ` FROM tickets WHERE id = ?`
	lastSeqSQL      = `SELECT coalesce(max(seq), 0) FROM ticket_events WHERE ticket_id = ?`
	updateTicketSQL = `UPDATE tickets SET status = ?, category = ?, category_name = ?, department = ?,
		department_name = ?, priority = ?, due_at = ?, routing_rule = ?, routing_reason = ?, confidence = ?,
		master_id = ?, rework_count = ?, extension_count = ?, extension = ?, evaluation = ?, updated_at = ?,
		version = version + 1, grid = ?, community = ?, street = ?, district = ?, assisting = ?, lat = ?, lon = ?,
		address = ?, attachments = ?, light = ?, alarm_at = ?, centre = ?, centre_due = ?, parts = ?,
		task = ?, task_due = ?, task_by = ?
		WHERE id = ?`
)

// nearbySQL is the duplicate search's query, on the reader. Its states are
// written as migration 00029's index writes them, which lets SQLite use it.
var nearbySQL = `SELECT ` + ticketColumns + ` FROM tickets
		WHERE category = ? AND lat BETWEEN ? AND ? AND lon BETWEEN ? AND ? AND received_at >= ?
		  AND status IN ` + row.QuotedList(row.StatusNames(true)) + ` ORDER BY received_at DESC LIMIT ?`

func (s *Store) appendChanges(ctx context.Context, tx *sql.Tx, t *ticketing.Ticket, lastSeq int) error {
	for i, e := range t.PendingEvents() {
		if _, err := s.txExec(ctx, tx, insertEventSQL, t.ID, lastSeq+i+1, e.At.UnixMicro(), e.Actor, string(e.Type), string(e.From), string(e.To), e.Note, e.Public); err != nil {
			return translate(err)
		}
	}
	for _, m := range t.PendingMessages() {
		if _, err := s.txExec(ctx, tx, insertOutboxSQL,
			t.ID, m.Topic, string(m.Payload), m.At.UnixMicro()); err != nil {
			return translate(err)
		}
	}
	tallies, metrics := row.Tallies(ticketing.TalliesOf(t, t.PendingEvents()))
	for i, x := range tallies {
		if _, err := s.txExec(ctx, tx, insertTallySQL, x.At.UnixMicro(), metrics[i], x.Keys.Department, x.Keys.District, x.Keys.Street,
			x.Keys.Community, x.Keys.Grid, x.Keys.Supervisor, x.Keys.Article, x.Keys.Category, string(x.Keys.Channel), x.N); err != nil {
			return translate(err)
		}
	}
	for _, key := range t.PendingKeys() {
		res, err := s.txExec(ctx, tx, insertKeySQL, t.ID, key)
		if err != nil {
			return translate(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return translate(err)
		}
		if n == 0 {
			return ticketing.ErrAlreadyApplied // the caller's rollback undoes the rest
		}
	}
	return nil
}

func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func one(r sqlq.Scanner) (*ticketing.Ticket, error) { return sqlq.ScanTicket(dialect, r) }

// Update runs fn on the ticket inside the writer's transaction and saves
// the result, its events, outbox rows, indicator tallies and keys. A key
// the ticket has taken already rolls it all back: ErrAlreadyApplied.
func (s *Store) Update(ctx context.Context, id int64, fn func(*ticketing.Ticket) error) (*ticketing.Ticket, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, translate(err)
	}
	defer tx.Rollback() // after Commit this is a no-op
	t, err := one(s.txQueryRow(ctx, tx, selectTicketSQL, id))
	if err != nil {
		return nil, err
	}
	var lastSeq int
	if err := s.txQueryRow(ctx, tx, lastSeqSQL, id).Scan(&lastSeq); err != nil {
		return nil, translate(err)
	}
	if err := fn(t); err != nil {
		return nil, err
	}
	args, err := sqlq.ChangeArgs(dialect, t)
	if err != nil {
		return nil, err
	}
	_, err = s.txExec(ctx, tx, updateTicketSQL, append(args, t.ID)...)
	if err != nil {
		return nil, translate(err)
	}
	if err := s.appendChanges(ctx, tx, t, lastSeq); err != nil {
		return nil, err
	}
	return sqlq.Saved(t, tx.Commit(), translate)
}

// translate maps driver errors to ticketing kinds at the store's edge.
func translate(err error) error {
	if e, ok := sqlq.Common(err, sql.ErrNoRows); ok {
		return e
	}
	var se *sqlitedrv.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CONSTRAINT:
			return &ticketing.Error{Kind: ticketing.KindConflict, Message: "conflicting write", Err: err}
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR:
			return ticketing.Unavailable(err)
		}
	}
	if strings.Contains(err.Error(), "database is closed") {
		return ticketing.Unavailable(err)
	}
	return err
}

// Nearby returns open tickets of category inside box received since since.
func (s *Store) Nearby(ctx context.Context, category string, box ticketing.Box, since time.Time, limit int) ([]*ticketing.Ticket, error) {
	rows, err := s.nearby.QueryContext(ctx, category, box.MinLat, box.MaxLat, box.MinLon, box.MaxLon, since.UnixMicro(), limit)
	if err != nil {
		return nil, translate(err)
	}
	return scanMany(rows)
}

func (s *Store) many(ctx context.Context, query string, args ...any) ([]*ticketing.Ticket, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, translate(err)
	}
	return scanMany(rows)
}

func scanMany(rows *sql.Rows) ([]*ticketing.Ticket, error) {
	defer rows.Close()
	return sqlq.Collect(rows, translate, one)
}

// SetTrackHash replaces the digest of a ticket's tracking token.
func (s *Store) SetTrackHash(ctx context.Context, id int64, hash string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE tickets SET track_hash = ? WHERE id = ?`, hash, id)
	if err != nil {
		return translate(err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ticketing.ErrNotFound
	}
	return nil
}
