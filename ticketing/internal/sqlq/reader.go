package sqlq

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/row"
)

// DB is a store's connection for reading, as Reader uses it.
type DB interface {
	Query(ctx context.Context, query string, args ...any) (ResultSet, error)
	QueryRow(ctx context.Context, query string, args ...any) Scanner
}

// ResultSet is Rows that must be closed.
type ResultSet interface {
	Rows
	Close() error
}

// Reader is the reads both schemas answer with the same statements: a
// store embeds it, so its methods are the store's. Reads that differ (the
// call log's ticket numbers, the outbox's JSON, the locking reads of a
// write) stay in each store.
type Reader[T, N any] struct {
	DB DB
	D  Dialect[T, N]
	// CallColumns and ScanCall read the call log, whose tickets each
	// schema keeps its own way (an array, a joined list).
	CallColumns string
	ScanCall    func(Scanner) (*ticketing.Call, error)
	// StatsSQL is the schema's hotline figures query: ? the service-level
	// wait in microseconds, %s where the call conditions go; rows of
	// group (0 total, 1 a line, 2 an agent), key, offered, answered,
	// answered in time, abandoned, wait and talk in microseconds.
	StatsSQL string
	// Sums is how the schema writes the indicator sums' query.
	Sums SumsSQL
	// LatestSQL is the schema's query of the newest tickets of each of
	// a JSON list of numbers (parameters: the list, the earliest time, how
	// many a number), in row.TicketColumns, newest first: an index search
	// a number with its own limit, so one frequent caller does not crowd
	// out the others. (The index is on the number alone: a number's
	// tickets are each read and sorted before the limit.)
	LatestSQL string
}

// SumsSQL is what differs between the schemas in reading indicator sums.
type SumsSQL struct {
	Date  string // a date parameter: "?::date", "?"
	Day   string // the day column as YYYY-MM-DD text
	Sum   string // the sum of n as a 64-bit integer
	Order string // keys and metrics in byte order
}

func (r Reader[T, N]) tickets(ctx context.Context, w *Where, query string) ([]*ticketing.Ticket, error) {
	return collect(r, ctx, w, query, func(s Scanner) (*ticketing.Ticket, error) { return ScanTicket(r.D, s) })
}

// collect runs query with w's parameters and scans every row.
func collect[T, N, V any](r Reader[T, N], ctx context.Context, w *Where, query string, scan func(Scanner) (V, error)) ([]V, error) {
	rows, err := r.DB.Query(ctx, query, w.Args...)
	if err != nil {
		return nil, r.D.Translate(err)
	}
	defer func() { _ = rows.Close() }() // read to the end or failed: nothing left to report
	return Collect(rows, r.D.Translate, scan)
}

// ticket reads one ticket by one column.
func (r Reader[T, N]) ticket(ctx context.Context, col string, v any) (*ticketing.Ticket, error) {
	w := r.D.Where()
	w.Add(col+" = ?", v)
	return ScanTicket(r.D, r.DB.QueryRow(ctx, `SELECT `+row.TicketColumns+` FROM tickets`+w.String(), w.Args...))
}

// ByID returns the ticket with id.
func (r Reader[T, N]) ByID(ctx context.Context, id int64) (*ticketing.Ticket, error) {
	return r.ticket(ctx, "id", id)
}

// ByNumber returns the ticket with the public number.
func (r Reader[T, N]) ByNumber(ctx context.Context, number string) (*ticketing.Ticket, error) {
	return r.ticket(ctx, "number", number)
}

// ByExternalID returns the ticket a door's own key made.
func (r Reader[T, N]) ByExternalID(ctx context.Context, ch ticketing.Channel, externalID string) (*ticketing.Ticket, error) {
	w := r.D.Where()
	w.Add("channel = ? AND external_id = ?", string(ch), externalID)
	return ScanTicket(r.D, r.DB.QueryRow(ctx, `SELECT `+row.TicketColumns+` FROM tickets`+w.String(), w.Args...))
}

// Followers returns the tickets merged into master, oldest first.
func (r Reader[T, N]) Followers(ctx context.Context, masterID int64) ([]*ticketing.Ticket, error) {
	w := r.D.Where()
	w.Add("master_id = ?", masterID)
	return r.tickets(ctx, w, `SELECT `+row.TicketColumns+` FROM tickets`+w.String()+` ORDER BY id`)
}

// List returns the tickets f selects, oldest received first (newest first
// with f.Newest).
func (r Reader[T, N]) List(ctx context.Context, f ticketing.ListFilter) ([]*ticketing.Ticket, error) {
	w := r.D.Where()
	if !ListConds(w, f) {
		return nil, nil
	}
	order := "received_at, id"
	if f.Newest {
		order = "received_at DESC, id DESC"
	}
	limit := w.Param(row.Limit(f.Limit))
	return r.tickets(ctx, w, `SELECT `+row.TicketColumns+` FROM tickets`+w.String()+` ORDER BY `+order+` LIMIT `+limit)
}

// LatestByPhone returns each number's newest n tickets received since
// from, newest first: a batch of screen pops' earlier tickets in one
// statement (LatestSQL).
func (r Reader[T, N]) LatestByPhone(ctx context.Context, phones []string, from time.Time, n int) (map[string][]*ticketing.Ticket, error) {
	out := map[string][]*ticketing.Ticket{}
	if len(phones) == 0 || n <= 0 {
		return out, nil
	}
	list, _ := json.Marshal(slices.Compact(slices.Sorted(slices.Values(phones)))) // strings always encode
	ts, err := collect(r, ctx, &Where{Args: []any{string(list), r.D.Time(from), n}}, r.LatestSQL,
		func(s Scanner) (*ticketing.Ticket, error) { return ScanTicket(r.D, s) })
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		out[t.Reporter.Phone] = append(out[t.Reporter.Phone], t)
	}
	return out, nil
}

// Events returns the ticket's log in order.
func (r Reader[T, N]) Events(ctx context.Context, ticketID int64) ([]ticketing.Event, error) {
	w := r.D.Where()
	w.Add("ticket_id = ?", ticketID)
	return collect(r, ctx, w, `SELECT `+TicketEventColumns+` FROM ticket_events`+w.String()+` ORDER BY seq`,
		func(s Scanner) (ticketing.Event, error) { return ScanTicketEvent(r.D, s) })
}

// EventsBetween returns the events f selects, oldest first, with their tickets' numbers.
func (r Reader[T, N]) EventsBetween(ctx context.Context, f ticketing.EventFilter) ([]ticketing.NumberedEvent, error) {
	w := r.D.Where()
	EventConds(w, f)
	limit := w.Param(row.Limit(f.Limit))
	return collect(r, ctx, w, `SELECT `+EventColumns+` FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id`+
		w.String()+` ORDER BY e.at, e.ticket_id, e.seq LIMIT `+limit,
		func(s Scanner) (ticketing.NumberedEvent, error) { return ScanEvent(r.D, s) })
}

// Alarms returns the ids of tickets whose deadline alarm is due at now,
// earliest first: a range scan of the partial index tickets_alarm that
// stops after limit rows.
func (r Reader[T, N]) Alarms(ctx context.Context, now time.Time, limit int) ([]int64, error) {
	if limit <= 0 {
		limit = ticketing.DefaultAlarmLimit
	}
	w := r.D.Where()
	w.Add("alarm_at IS NOT NULL")
	w.AddTime("alarm_at <= ?", now)
	lim := w.Param(limit)
	return collect(r, ctx, w, `SELECT id FROM tickets`+w.String()+` ORDER BY alarm_at, id LIMIT `+lim,
		func(s Scanner) (int64, error) {
			var id int64
			return id, r.D.Translate(s.Scan(&id))
		})
}

// Audit returns the entries f selects, newest first.
func (r Reader[T, N]) Audit(ctx context.Context, f ticketing.AuditFilter) ([]ticketing.AuditEntry, error) {
	w := r.D.Where()
	AuditConds(w, f)
	limit := w.Param(f.AuditLimit())
	return collect(r, ctx, w, `SELECT `+AuditColumns+` FROM audit_log`+w.String()+` ORDER BY id DESC LIMIT `+limit,
		func(s Scanner) (ticketing.AuditEntry, error) { return ScanAudit(r.D, s) })
}

// UserByName returns the user with the login name.
func (r Reader[T, N]) UserByName(ctx context.Context, name string) (*ticketing.User, error) {
	w := r.D.Where()
	w.Add("name = ?", name)
	return ScanUser(r.D, r.DB.QueryRow(ctx, `SELECT `+UserSelect+` FROM users`+w.String(), w.Args...))
}

// Users returns every user, disabled ones too, by name.
func (r Reader[T, N]) Users(ctx context.Context) ([]*ticketing.User, error) {
	return collect(r, ctx, r.D.Where(), `SELECT `+UserSelect+` FROM users ORDER BY name`,
		func(s Scanner) (*ticketing.User, error) { return ScanUser(r.D, s) })
}

// AgentByExt returns the agent with the extension.
func (r Reader[T, N]) AgentByExt(ctx context.Context, ext string) (*ticketing.Agent, error) {
	w := r.D.Where()
	w.Add("ext = ?", ext)
	return ScanAgent(r.D, r.DB.QueryRow(ctx, `SELECT `+AgentSelect+` FROM agents`+w.String(), w.Args...))
}

// Agents returns every agent by extension.
func (r Reader[T, N]) Agents(ctx context.Context) ([]*ticketing.Agent, error) {
	return collect(r, ctx, r.D.Where(), `SELECT `+AgentSelect+` FROM agents ORDER BY ext`,
		func(s Scanner) (*ticketing.Agent, error) { return ScanAgent(r.D, s) })
}

// TokenByHash finds a token by the digest of its secret.
func (r Reader[T, N]) TokenByHash(ctx context.Context, hash string) (*ticketing.Token, error) {
	w := r.D.Where()
	w.Add("hash = ?", hash)
	return ScanToken(r.D, r.DB.QueryRow(ctx, `SELECT `+TokenColumns+` FROM api_tokens`+w.String(), w.Args...))
}

// Outbox returns up to limit undelivered messages, oldest first.
func (r Reader[T, N]) Outbox(ctx context.Context, limit int) ([]ticketing.Message, error) {
	w := r.D.Where()
	lim := w.Param(limit)
	return collect(r, ctx, w, `SELECT id, ticket_id, topic, payload, created_at FROM outbox
		WHERE delivered_at IS NULL ORDER BY id LIMIT `+lim, func(s Scanner) (ticketing.Message, error) { return ScanMessage(r.D, s) })
}

// Calls lists the calls f selects, latest arrival first.
func (r Reader[T, N]) Calls(ctx context.Context, f ticketing.CallFilter) ([]*ticketing.Call, error) {
	w := r.D.Where()
	CallConds(w, f)
	limit := f.Limit
	if limit <= 0 {
		limit = ticketing.DefaultCallLimit
	}
	lim := w.Param(limit)
	return collect(r, ctx, w, `SELECT `+r.CallColumns+` FROM calls c`+w.String()+` ORDER BY c.arrived_at DESC, c.id DESC LIMIT `+lim, r.ScanCall)
}

// Indicators returns the sums q selects: from the monthly sums when q
// totals whole months, else from the daily ones.
func (r Reader[T, N]) Indicators(ctx context.Context, q ticketing.IndicatorQuery) ([]ticketing.IndicatorCount, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	table, period := row.SumsTable(q)
	w := r.D.Where()
	w.Add("dim = ?", string(q.Dim))
	w.Add(period+" >= "+r.Sums.Date, q.From)
	w.Add(period+" < "+r.Sums.Date, q.To)
	if len(q.Metrics) > 0 {
		w.In("metric", row.MetricNames(q.Metrics))
	}
	if len(q.Keys) > 0 {
		w.In("key", q.Keys)
	}
	day := "''"
	if q.ByDay {
		day = r.Sums.Day
	}
	return collect(r, ctx, w, `SELECT `+day+`, key, metric, `+r.Sums.Sum+` FROM `+table+w.String()+`
		GROUP BY 1, key, metric ORDER BY 1, `+r.Sums.Order, func(s Scanner) (ticketing.IndicatorCount, error) { return ScanIndicator(r.D, s) })
}

// HotlineStats aggregates the figures of f's calls in SQL.
func (r Reader[T, N]) HotlineStats(ctx context.Context, f ticketing.StatsFilter) (ticketing.HotlineStats, error) {
	w := r.D.Where()
	w.Args = []any{ticketing.ServiceLevelWait.Microseconds()} // the first parameter; the filter's follow it
	CallConds(w, ticketing.CallFilter{From: f.From, To: f.To, Line: f.Line, Agent: f.Agent})
	var st ticketing.HotlineStats
	figs, err := collect(r, ctx, w, strings.Replace(r.StatsSQL, "%s", w.And(), 1), func(s Scanner) (groupFigures, error) {
		var (
			g                                  groupFigures
			offered, ans, in15, ab, wait, talk int64
		)
		if err := s.Scan(&g.group, &g.Key, &offered, &ans, &in15, &ab, &wait, &talk); err != nil {
			return g, r.D.Translate(err)
		}
		g.Offered, g.Answered, g.AnsweredIn15s, g.Abandoned = int(offered), int(ans), int(in15), int(ab)
		g.WaitSum, g.TalkSum = time.Duration(wait)*time.Microsecond, time.Duration(talk)*time.Microsecond
		return g, nil
	})
	if err != nil {
		return st, err
	}
	for _, g := range figs {
		switch g.group {
		case 0:
			st.Total = g.CallFigures
		case 1:
			st.Lines = append(st.Lines, g.CallFigures)
		default:
			st.Agents = append(st.Agents, g.CallFigures)
		}
	}
	return st, nil
}

// groupFigures is one row of StatsSQL.
type groupFigures struct {
	group int
	ticketing.CallFigures
}
