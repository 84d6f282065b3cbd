package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/groupcommit"
	"github.com/yihao-city/yihao/ticketing/internal/row"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// Group commit (ticketing/internal/groupcommit). A new ticket costs
// PostgreSQL little to store and a lot to start storing: each statement
// opens five tables and some forty indexes, and each commit waits for its
// own WAL flush. So new tickets do not go to
// the database one by one: a writer takes whatever submits have queued while
// the previous batch was committing and inserts them all with one statement
// (the rows as column arrays), which is one implicit transaction. Each
// submit is acknowledged only after that commit, so a 201 still means the
// ticket is on disk; a crash before it loses only submits nobody was told
// about, and the single statement leaves nothing half-written.
//
// Nothing waits for a batch to fill: alone, a submit commits at once.
//
// One writer: two made batches half the size, each paying the statement's
// start and a commit, and two backends inserting at the same ends of the
// same indexes; with one, PostgreSQL spent 8% less CPU per ticket of web
// intake at the same rate (BENCHMARKS.md, "An eighth pass"). A batch grows
// with the load, up to maxBatch, so one writer keeps up. It sends the next
// batch while one commits (pipe, below).
const (
	// maxBatch bounds one statement's size (and its arrays' memory).
	maxBatch = 256
	// batchTimeout bounds a batch that the database never answers; its
	// submits are then told the store is unavailable.
	batchTimeout = 30 * time.Second
)

// groupCommit inserts batches of new tickets.
type groupCommit struct {
	queue  *groupcommit.Queue[*pendingCreate]
	pipe   pipe // with the batch statement, built from the tickets table's column types
	tables batchTables
}

// The batch statement's tables, in the order of its parameters.
const (
	ticketsTable = iota // with the near check's columns after the tickets'
	eventsTable
	outboxTable
	tallyTable
	keysTable
	batchTableCount
)

// batchTables is the elements of each table's columns.
type batchTables [batchTableCount]table

// pendingCreate is one submit waiting for its batch, its rows encoded by
// the submitting goroutine so that the writer only concatenates.
type pendingCreate struct {
	t    *ticketing.Ticket
	rows [batchTableCount]encoded

	inserted bool
	near     bool // not inserted: an open ticket lies near it (CreateUnlessNear)
}

// The statement's array parameters are typed as the tickets table's own
// columns (jsonb as text, cast in the SELECT), then as these lists: the
// near check's, then the change tables', each with the ticket's id first.
var (
	// nearColumns follow the tickets columns: the NearCheck of a ticket
	// created unless an open one lies near it, NULL for the others.
	nearColumns = []string{"near_category text", "near_min_lat double precision", "near_max_lat double precision",
		"near_min_lon double precision", "near_max_lon double precision", "near_since timestamptz"}
	eventColumns  = []string{"ticket_id bigint", "seq int", "at timestamptz", "actor text", "type text", "from_status text", "to_status text", "note text", "public text"}
	outboxColumns = []string{"ticket_id bigint", "topic text", "payload text", "created_at timestamptz"}
	tallyColumns  = []string{"ticket_id bigint", "at timestamptz", "metrics text", "department text", "district text", "street text", "community text",
		"grid text", "supervisor text", "article text", "category text", "channel text", "n int"}
	keyColumns = []string{"ticket_id bigint", "key text"}
)

// newGroupCommit reads the tickets table's column types (so a migration that
// adds a column of a type the batch can send needs no second list here)
// and starts the writer.
func newGroupCommit(ctx context.Context, pool *pgxpool.Pool) (*groupCommit, error) {
	rows, err := pool.Query(ctx, `SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = 'tickets'::regclass AND attnum > 0 AND NOT attisdropped`)
	if err != nil {
		return nil, fmt.Errorf("postgres: read the tickets columns: %w", err)
	}
	types := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			rows.Close()
			return nil, err
		}
		types[name] = typ
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var ticketCols []string
	for c := range strings.SplitSeq(ticketColumns, ",") {
		c = strings.TrimSpace(c)
		typ, ok := types[c]
		if !ok {
			return nil, fmt.Errorf("postgres: tickets has no column %q", c)
		}
		ticketCols = append(ticketCols, c+" "+typ)
	}
	tables, err := newBatchTables(slices.Concat(ticketCols, nearColumns), eventColumns, outboxColumns, tallyColumns, keyColumns)
	if err != nil {
		return nil, err
	}
	g := &groupCommit{pipe: pipe{config: pool.Config().ConnConfig, sql: batchSQL(ticketCols), arrays: tables.arrays()}, tables: tables}
	g.queue = groupcommit.NewPipelined(maxBatch, batchTimeout, g.send)
	return g, nil
}

// newBatchTables is each table's columns ("name type").
func newBatchTables(columns ...[]string) (batchTables, error) {
	var tables batchTables
	for i, cols := range columns {
		if len(cols) > maxColumns {
			return tables, fmt.Errorf("postgres: the group commit sends at most %d columns a table, not %d", maxColumns, len(cols))
		}
		for _, c := range cols {
			col, err := columnOf(c)
			if err != nil {
				return tables, err
			}
			tables[i] = append(tables[i], col)
		}
	}
	return tables, nil
}

// arrays is the array types of the batch statement's parameters.
func (tables batchTables) arrays() []uint32 {
	var oids []uint32
	for _, tb := range tables {
		for _, c := range tb {
			oids = append(oids, c.array)
		}
	}
	return oids
}

// batchSQL is the statement that inserts a batch: each table's rows come
// as one array per column, unnested; the rows of a ticket whose key was
// taken already (ON CONFLICT) are left out by the joins on t.
func batchSQL(ticketCols []string) string {
	n := 0
	params := func(cols []string) (unnest, names []string) {
		for _, c := range cols {
			name, typ, _ := strings.Cut(c, " ")
			if typ == "jsonb" {
				typ = "text"
			}
			n++
			unnest = append(unnest, fmt.Sprintf("$%d::%s[]", n, typ))
			names = append(names, name)
		}
		return unnest, names
	}
	var sel []string
	tu, tn := params(ticketCols)
	nu, nn := params(nearColumns)
	for _, c := range ticketCols {
		name, typ, _ := strings.Cut(c, " ")
		if typ == "jsonb" {
			name += "::jsonb"
		}
		sel = append(sel, "x."+name)
	}
	eu, en := params(eventColumns)
	ou, on := params(outboxColumns)
	lu, ln := params(tallyColumns)
	ku, kn := params(keyColumns)
	list := func(prefix string, names []string) string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = prefix + n
		}
		return strings.Join(out, ", ")
	}
	return `WITH x AS (
		SELECT u.*, u.near_category IS NOT NULL AND EXISTS (
			SELECT FROM tickets o WHERE o.category = u.near_category AND o.id <> u.id
			  AND o.lat BETWEEN u.near_min_lat AND u.near_max_lat AND o.lon BETWEEN u.near_min_lon AND u.near_max_lon
			  AND o.received_at >= u.near_since AND o.status IN ` + row.QuotedList(row.StatusNames(true)) + `) AS near
		FROM unnest(` + strings.Join(append(tu, nu...), ", ") + `) AS u(` + strings.Join(append(tn, nn...), ", ") + `)
	),
	t AS (
		INSERT INTO tickets (` + strings.Join(tn, ", ") + `)
		SELECT ` + strings.Join(sel, ", ") + ` FROM x WHERE NOT x.near
		ON CONFLICT (channel, external_id) DO NOTHING
		RETURNING id
	),
	e AS (
		INSERT INTO ticket_events (` + strings.Join(en, ", ") + `)
		SELECT ` + list("e.", en) + ` FROM unnest(` + strings.Join(eu, ", ") + `) AS e(` + strings.Join(en, ", ") + `)
		JOIN t ON t.id = e.ticket_id
	),
	o AS (
		INSERT INTO outbox (` + strings.Join(on, ", ") + `)
		SELECT o.ticket_id, o.topic, o.payload::jsonb, o.created_at
		FROM unnest(` + strings.Join(ou, ", ") + `) WITH ORDINALITY AS o(` + strings.Join(on, ", ") + `, ord)
		JOIN t ON t.id = o.ticket_id ORDER BY o.ord
	),
	l AS ( -- a row's metrics come joined by commas (row.Tallies)
		INSERT INTO indicator_tallies (` + strings.Join(ln[1:], ", ") + `)
		SELECT ` + strings.Replace(list("l.", ln[1:]), "l.metrics", "string_to_array(l.metrics, ',')", 1) + ` FROM unnest(` + strings.Join(lu, ", ") + `) AS l(` + strings.Join(ln, ", ") + `)
		JOIN t ON t.id = l.ticket_id
	),
	k AS (
		INSERT INTO ticket_keys (` + strings.Join(kn, ", ") + `)
		SELECT ` + list("k.", kn) + ` FROM unnest(` + strings.Join(ku, ", ") + `) AS k(` + strings.Join(kn, ", ") + `)
		JOIN t ON t.id = k.ticket_id
		ON CONFLICT (ticket_id, key) DO NOTHING
	)
	SELECT id, false FROM t UNION ALL SELECT id, true FROM x WHERE x.near`
}

// rowsOf is t's rows of each of the batch's tables, with the near check
// to run first when check is not nil.
func rowsOf(t *ticketing.Ticket, check *ticketing.NearCheck) ([batchTableCount][][]any, error) {
	var rows [batchTableCount][][]any
	args, err := ticketValues(t, 1)
	if err != nil {
		return rows, err
	}
	if check != nil {
		b := check.Box
		args = append(args, check.Category, b.MinLat, b.MaxLat, b.MinLon, b.MaxLon, check.Since)
	} else {
		args = append(args, nil, nil, nil, nil, nil, nil)
	}
	rows[ticketsTable] = [][]any{args}
	evs := t.PendingEvents()
	for i, e := range evs {
		rows[eventsTable] = append(rows[eventsTable], []any{t.ID, int32(i + 1), e.At, e.Actor, string(e.Type), string(e.From), string(e.To), e.Note, e.Public})
	}
	for _, m := range t.PendingMessages() {
		rows[outboxTable] = append(rows[outboxTable], []any{t.ID, m.Topic, string(m.Payload), m.At})
	}
	tallies, metrics := row.Tallies(ticketing.TalliesOf(t, evs))
	for i, x := range tallies {
		rows[tallyTable] = append(rows[tallyTable], []any{t.ID, x.At, metrics[i], x.Keys.Department, x.Keys.District, x.Keys.Street,
			x.Keys.Community, x.Keys.Grid, x.Keys.Supervisor, x.Keys.Article, x.Keys.Category, string(x.Keys.Channel), int32(x.N)})
	}
	for _, k := range t.PendingKeys() {
		rows[keysTable] = append(rows[keysTable], []any{t.ID, k})
	}
	return rows, nil
}

// pending encodes t's rows for a batch (rowsOf).
func (g *groupCommit) pending(t *ticketing.Ticket, check *ticketing.NearCheck) (*pendingCreate, error) {
	rows, err := rowsOf(t, check)
	if err != nil {
		return nil, err
	}
	p := &pendingCreate{t: t}
	for i, tb := range g.tables {
		if p.rows[i], err = tb.encode(rows[i]); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// appendParams appends the batch statement's parameters for items to
// buf, and each one, a slice of buf, to params.
func (g *groupCommit) appendParams(buf []byte, params [][]byte, items []*pendingCreate) ([]byte, [][]byte) {
	parts := make([]*encoded, len(items))
	for i, tb := range g.tables {
		for j, p := range items {
			parts[j] = &p.rows[i]
		}
		buf, params = tb.appendArrays(buf, params, parts)
	}
	return buf, params
}

// send sends batch's statement down the pipe; the wait marks the
// tickets it inserted and those it left for an open ticket near them
// (groupcommit retries a refused batch one submit at a time).
func (g *groupCommit) send(ctx context.Context, batch []*groupcommit.Call[*pendingCreate]) func() error {
	items := make([]*pendingCreate, len(batch))
	for i, c := range batch {
		items[i] = c.Item
	}
	wait := g.pipe.send(ctx, func(buf []byte, params [][]byte) ([]byte, [][]byte) {
		return g.appendParams(buf, params, items)
	})
	return func() error {
		ids, err := wait()
		for _, c := range batch {
			near, ok := ids[c.Item.t.ID]
			c.Item.inserted, c.Item.near = ok && !near, ok && near
		}
		return translate(err)
	}
}

// createBatched is Create through the group commit, after the near check
// when check is not nil.
func (s *Store) createBatched(ctx context.Context, t *ticketing.Ticket, check *ticketing.NearCheck) (*ticketing.Ticket, bool, bool, error) {
	p, err := s.commits.pending(t, check)
	if err != nil {
		return nil, false, false, err
	}
	c, err := s.commits.queue.Do(ctx, p)
	inserted := false
	if err == nil {
		err, inserted = c.Err, c.Item.inserted // read only once its batch is over
		if err == nil && c.Item.near {
			return nil, false, true, nil
		}
	}
	stored, created, err := sqlq.Committed(ctx, t, inserted, err, s.ByExternalID)
	return stored, created, false, err
}

// CreateUnlessNear is Create with the near check in the same statement:
// a ticket with an open one near it is not inserted, and its submit
// searches and scores as without the check.
func (s *Store) CreateUnlessNear(ctx context.Context, t *ticketing.Ticket, check ticketing.NearCheck) (*ticketing.Ticket, bool, bool, error) {
	return s.createBatched(ctx, t, &check)
}

// pipe is the group commit's own connection, in pipeline mode: each batch
// is its statement and a Sync, so it commits alone (an implicit
// transaction), and the next batch can be sent while it runs. PostgreSQL
// then starts the next batch as soon as one has committed, without a round
// trip and the writer's wake-up between them: with a request sent only
// after the answer to the previous one, the writer's backend waited for
// the writer a fifth of the time during intake at c=32 (BENCHMARKS.md, "An
// eleventh pass").
//
// The connection is its own, outside the pool, so that a pool of one (say)
// still has its connection for everything else.
type pipe struct {
	config *pgx.ConnConfig
	sql    string
	arrays []uint32 // the array type of each parameter, as the writer encodes them

	conn     *pgx.Conn // nil until the first batch and after a failure
	pl       *pgconn.Pipeline
	pctx     context.Context
	end      context.CancelFunc // ends the pipeline: a batch's deadline passed
	sd       *pgconn.StatementDescription
	inflight int       // batches sent and not yet read
	used     time.Time // when the last batch was read

	// The parameters of the batch being sent: pgx copies them into its
	// own buffer as it sends, so each batch reuses them.
	buf    []byte
	params [][]byte
}

// binaryFormat is the format of every parameter and result column of the batch.
var binaryFormat = []int16{pgx.BinaryFormatCode}

// pingAfter is how long the connection may sit idle before a batch checks
// it first, as pgxpool does for its connections: a connection a restart,
// a failover or a proxy closed would otherwise fail the batch, and a
// report sent alone would be answered "try again".
const pingAfter = time.Second

// batchStatement names the batch statement on the pipe's connection.
const batchStatement = "yihao_create_batch"

func (p *pipe) open(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, p.config)
	if err != nil {
		return err
	}
	sd, err := conn.Prepare(ctx, batchStatement, p.sql)
	if err == nil && !slices.Equal(sd.ParamOIDs, p.arrays) {
		err = fmt.Errorf("postgres: the batch statement takes parameters of types %v, the writer encodes %v", sd.ParamOIDs, p.arrays)
	}
	if err != nil {
		_ = conn.Close(context.Background())
		return err
	}
	pctx, end := context.WithCancel(context.Background())
	p.conn, p.sd, p.pctx, p.end = conn, sd, pctx, end
	p.pl = conn.PgConn().StartPipeline(pctx)
	return nil
}

// check pings a connection that sat idle (the pipeline ended for it and
// started again), and drops it if it does not answer.
func (p *pipe) check(ctx context.Context) {
	if p.conn == nil || p.inflight > 0 || time.Since(p.used) < pingAfter {
		return
	}
	pl := p.pl
	if pl.Close() == nil && p.pctx.Err() == nil && p.conn.Ping(ctx) == nil {
		p.pl = p.conn.PgConn().StartPipeline(p.pctx)
		return
	}
	p.drop(pl)
}

// drop gives up the connection after a failure; the next batch opens another.
func (p *pipe) drop(pl *pgconn.Pipeline) {
	if p.pl != pl || p.conn == nil {
		return // already replaced
	}
	p.end()
	_ = pl.Close()
	_ = p.conn.Close(context.Background())
	p.conn, p.pl, p.inflight = nil, nil, 0
}

// close ends the pipeline and closes the connection, once nothing is in flight.
func (p *pipe) close() {
	if p.conn != nil {
		_ = p.pl.Close()
		p.end()
		_ = p.conn.Close(context.Background())
		p.conn, p.pl = nil, nil
	}
}

// send sends one batch statement with the parameters that params appends
// (each a slice of buf); wait returns the ids it answered, each true when
// left for the near check, and the outcome of its commit.
func (p *pipe) send(ctx context.Context, params func(buf []byte, params [][]byte) ([]byte, [][]byte)) (wait func() (map[int64]bool, error)) {
	fail := func(err error) func() (map[int64]bool, error) {
		return func() (map[int64]bool, error) { return nil, err }
	}
	p.check(ctx)
	if p.conn == nil {
		if err := p.open(ctx); err != nil {
			return fail(err)
		}
	}
	p.buf, p.params = params(p.buf[:0], p.params[:0])
	pl := p.pl
	pl.SendQueryPrepared(p.sd.Name, p.params, binaryFormat, binaryFormat)
	pl.SendPipelineSync()
	// From here the batch may outlast its deadline only by ending the
	// pipeline: a write the network holds up, or an answer that never comes.
	stop := context.AfterFunc(ctx, p.end)
	if err := pl.Flush(); err != nil {
		stop()
		p.drop(pl)
		return fail(err)
	}
	p.inflight++
	return func() (map[int64]bool, error) {
		ids, err := p.receive(pl)
		var pgErr *pgconn.PgError
		switch {
		case !stop():
			// The deadline ended the pipeline, whatever was read: the
			// connection cannot carry another batch.
			p.drop(pl)
		case err != nil && !errors.As(err, &pgErr):
			p.drop(pl)
		case p.pl == pl:
			p.inflight--
			p.used = time.Now()
		}
		return ids, err
	}
}

// receive reads one batch's answer: its rows (id, left for the near
// check), then its Sync.
func (p *pipe) receive(pl *pgconn.Pipeline) (map[int64]bool, error) {
	res, err := pl.GetResults()
	if err == nil {
		rr, ok := res.(*pgconn.ResultReader)
		if !ok {
			return nil, fmt.Errorf("postgres: pipeline answered %T for a batch", res)
		}
		ids := map[int64]bool{}
		for rr.NextRow() {
			if v := rr.Values(); len(v) == 2 && len(v[0]) == 8 && len(v[1]) == 1 {
				ids[int64(binary.BigEndian.Uint64(v[0]))] = v[1][0] == 1
			}
		}
		if _, err = rr.Close(); err == nil {
			if err = p.sync(pl); err != nil {
				return nil, err
			}
			return ids, nil
		}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// The statement failed and its transaction with it; the Sync
		// that ended it is still to be read.
		if serr := p.sync(pl); serr != nil {
			return nil, serr
		}
	}
	return nil, err
}

// sync reads the ReadyForQuery that follows a batch: its commit is over.
// A commit that fails answers an error first, and the ReadyForQuery still
// follows it.
func (p *pipe) sync(pl *pgconn.Pipeline) error {
	res, err := pl.GetResults()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		res, err = pl.GetResults()
		if err == nil {
			err = pgErr
		}
	}
	if err != nil {
		return err
	}
	if _, ok := res.(*pgconn.PipelineSync); !ok {
		return fmt.Errorf("postgres: pipeline answered %T for a batch's sync", res)
	}
	return nil
}
