package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/groupcommit"
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
const (
	// commitWriters is how many batches may be committing at once. One:
	// two writers made batches half the size, each paying the statement's
	// start and a commit, and two backends inserting at the same ends of
	// the same indexes. With one, PostgreSQL spent 8% less CPU per ticket
	// of web intake at the same rate, and WeChat pushes ran faster
	// in every pair measured (BENCHMARKS.md, "An eighth pass"). A batch
	// grows with the load, up to maxBatch, so one writer still keeps up.
	commitWriters = 1
	// maxBatch bounds one statement's size (and its arrays' memory).
	maxBatch = 256
	// batchTimeout bounds a batch that the database never answers; its
	// submits are then told the store is unavailable.
	batchTimeout = 30 * time.Second
)

// groupCommit inserts batches of new tickets.
type groupCommit struct {
	pool   *pgxpool.Pool
	insert string // the batch statement, built from the tickets table's column types
	queue  *groupcommit.Queue[*pendingCreate]
}

// pendingCreate is one submit waiting for its batch, its rows encoded by
// the submitting goroutine so that the writer only concatenates.
type pendingCreate struct {
	t      *ticketing.Ticket
	ticket [][]any // the tickets row (one), in row.TicketColumns order
	events [][]any
	outbox [][]any
	tally  [][]any
	keys   []string

	inserted bool
}

// batchColumns is how each of the statement's array parameters is typed:
// the tickets table's own column types (jsonb as text, cast in the SELECT),
// then the change tables' arrays, each with the ticket's id first.
var (
	eventColumns  = []string{"ticket_id bigint", "seq int", "at timestamptz", "actor text", "type text", "from_status text", "to_status text", "note text", "public text"}
	outboxColumns = []string{"ticket_id bigint", "topic text", "payload text", "created_at timestamptz"}
	tallyColumns  = []string{"ticket_id bigint", "at timestamptz", "metric text", "department text", "district text", "street text", "community text",
		"grid text", "supervisor text", "article text", "category text", "channel text", "n int"}
	keyColumns = []string{"ticket_id bigint", "key text"}
)

// newGroupCommit reads the tickets table's column types (so a migration that
// adds a column needs no second list here) and starts the writer.
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
	g := &groupCommit{pool: pool, insert: batchSQL(ticketCols)}
	g.queue = groupcommit.New(commitWriters, maxBatch, batchTimeout, g.commit)
	return g, nil
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
	return `WITH t AS (
		INSERT INTO tickets (` + strings.Join(tn, ", ") + `)
		SELECT ` + strings.Join(sel, ", ") + `
		FROM unnest(` + strings.Join(tu, ", ") + `) AS x(` + strings.Join(tn, ", ") + `)
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
	l AS (
		INSERT INTO indicator_tallies (` + strings.Join(ln[1:], ", ") + `)
		SELECT ` + list("l.", ln[1:]) + ` FROM unnest(` + strings.Join(lu, ", ") + `) AS l(` + strings.Join(ln, ", ") + `)
		JOIN t ON t.id = l.ticket_id
	),
	k AS (
		INSERT INTO ticket_keys (` + strings.Join(kn, ", ") + `)
		SELECT ` + list("k.", kn) + ` FROM unnest(` + strings.Join(ku, ", ") + `) AS k(` + strings.Join(kn, ", ") + `)
		JOIN t ON t.id = k.ticket_id
		ON CONFLICT (ticket_id, key) DO NOTHING
	)
	SELECT id FROM t`
}

// pending encodes t's rows for a batch.
func pending(t *ticketing.Ticket) (*pendingCreate, error) {
	args, err := ticketValues(t, 1)
	if err != nil {
		return nil, err
	}
	p := &pendingCreate{t: t, ticket: [][]any{args}, keys: t.PendingKeys()}
	evs := t.PendingEvents()
	for i, e := range evs {
		p.events = append(p.events, []any{t.ID, int32(i + 1), e.At, e.Actor, string(e.Type), string(e.From), string(e.To), e.Note, e.Public})
	}
	for _, m := range t.PendingMessages() {
		p.outbox = append(p.outbox, []any{t.ID, m.Topic, string(m.Payload), m.At})
	}
	for _, x := range ticketing.TalliesOf(t, evs) {
		p.tally = append(p.tally, []any{t.ID, x.At, string(x.Metric), x.Keys.Department, x.Keys.District, x.Keys.Street,
			x.Keys.Community, x.Keys.Grid, x.Keys.Supervisor, x.Keys.Article, x.Keys.Category, string(x.Keys.Channel), int32(x.N)})
	}
	return p, nil
}

// commit inserts batch in one statement (groupcommit retries a refused
// batch one submit at a time).
func (g *groupCommit) commit(ctx context.Context, batch []*groupcommit.Call[*pendingCreate]) error {
	ids, err := g.exec(ctx, batch)
	for _, c := range batch {
		c.Item.inserted = ids[c.Item.t.ID]
	}
	return translate(err)
}

// exec runs the batch statement and returns the ids it inserted.
func (g *groupCommit) exec(ctx context.Context, batch []*groupcommit.Call[*pendingCreate]) (map[int64]bool, error) {
	args := make([]any, 0, 128)
	args = appendColumns(args, batch, func(p *pendingCreate) [][]any { return p.ticket }, len(batch[0].Item.ticket[0]))
	args = appendColumns(args, batch, func(p *pendingCreate) [][]any { return p.events }, len(eventColumns))
	args = appendColumns(args, batch, func(p *pendingCreate) [][]any { return p.outbox }, len(outboxColumns))
	args = appendColumns(args, batch, func(p *pendingCreate) [][]any { return p.tally }, len(tallyColumns))
	var keyIDs []int64
	var keys []string
	for _, c := range batch {
		for _, k := range c.Item.keys {
			keyIDs, keys = append(keyIDs, c.Item.t.ID), append(keys, k)
		}
	}
	args = append(args, keyIDs, keys)
	rows, err := g.pool.Query(ctx, g.insert, args...)
	if err != nil {
		return nil, err
	}
	ids := make(map[int64]bool, len(batch))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids[id] = true
	}
	rows.Close()
	// Err reports the commit too: the statement's implicit transaction
	// ends before the server says it is ready again.
	return ids, rows.Err()
}

// appendColumns turns the batch's rows of one table into one array per
// column (pgx encodes []any into the statement's typed arrays).
func appendColumns(args []any, batch []*groupcommit.Call[*pendingCreate], rowsOf func(*pendingCreate) [][]any, width int) []any {
	// Sized once: the writer builds every batch alone, and growing them
	// cost it 33 allocations a ticket.
	n := 0
	for _, c := range batch {
		n += len(rowsOf(c.Item))
	}
	cols := make([][]any, width)
	for i := range cols {
		cols[i] = make([]any, 0, n)
	}
	for _, c := range batch {
		for _, r := range rowsOf(c.Item) {
			for i, v := range r {
				cols[i] = append(cols[i], v)
			}
		}
	}
	for _, c := range cols {
		args = append(args, c)
	}
	return args
}

// createBatched is Create through the group commit.
func (s *Store) createBatched(ctx context.Context, t *ticketing.Ticket) (*ticketing.Ticket, bool, error) {
	p, err := pending(t)
	if err != nil {
		return nil, false, err
	}
	c, err := s.commits.queue.Do(ctx, p)
	inserted := false
	if err == nil {
		err, inserted = c.Err, c.Item.inserted // read only once its batch is over
	}
	return sqlq.Committed(ctx, t, inserted, err, s.ByExternalID)
}
