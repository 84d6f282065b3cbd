package sqlite

import (
	"context"
	"strings"
	"time"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/row"
)

// where builds a conjunction of conditions with ? parameters.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) in(col string, vals []string) {
	for _, v := range vals {
		w.args = append(w.args, v)
	}
	w.conds = append(w.conds, col+" IN ("+strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",")+")")
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// and is the conditions for appending to a WHERE a query already has.
func (w *where) and() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " AND " + strings.Join(w.conds, " AND ")
}

// List returns the tickets f selects, oldest received first.
func (s *Store) List(ctx context.Context, f ticketing.ListFilter) ([]*ticketing.Ticket, error) {
	var w where
	if f.Numbers != nil {
		if len(f.Numbers) == 0 {
			return nil, nil
		}
		w.in("number", f.Numbers)
	}
	if len(f.Categories) > 0 {
		w.in("category", f.Categories)
	}
	if len(f.Phones) > 0 {
		// The first condition is the predicate of the partial index
		// tickets_reporter_phone, so the planner may use it.
		w.add("reporter_phone <> ''")
		w.in("reporter_phone", f.Phones)
	}
	if f.OpenID != "" {
		w.add("reporter_openid <> ''") // the predicate of tickets_reporter_openid
		w.add("reporter_openid = ?", f.OpenID)
	}
	if f.Open != nil {
		w.in("status", row.StatusNames(*f.Open))
	}
	if f.Channel != "" {
		w.add("channel = ?", string(f.Channel))
	}
	if !f.From.IsZero() {
		w.add("received_at >= ?", f.From.UnixMicro())
	}
	if !f.To.IsZero() {
		w.add("received_at < ?", f.To.UnixMicro())
	}
	return s.many(ctx, `SELECT `+ticketColumns+` FROM tickets`+w.String()+` ORDER BY received_at, id LIMIT ?`,
		append(w.args, row.Limit(f.Limit))...)
}

// EventsBetween returns the events f selects, oldest first, with their tickets' numbers.
func (s *Store) EventsBetween(ctx context.Context, f ticketing.EventFilter) ([]ticketing.NumberedEvent, error) {
	var w where
	w.add("e.at >= ?", f.From.UnixMicro())
	w.add("e.at < ?", f.To.UnixMicro())
	if f.Channel != "" {
		w.add("t.channel = ?", string(f.Channel))
	}
	if f.PublicOnly {
		w.add("e.public <> ''")
	}
	for _, typ := range f.SkipTypes {
		w.add("e.type <> ?", string(typ))
	}
	if f.SkipActorPrefix != "" {
		// substr, not LIKE: an actor may contain % or _.
		w.add("substr(e.actor, 1, ?) <> ?", len(f.SkipActorPrefix), f.SkipActorPrefix)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT t.number, e.ticket_id, e.seq, e.at, e.actor, e.type, e.from_status, e.to_status, e.note, e.public
		FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id`+w.String()+`
		ORDER BY e.at, e.ticket_id, e.seq LIMIT ?`, append(w.args, row.Limit(f.Limit))...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []ticketing.NumberedEvent
	for rows.Next() {
		var e ticketing.NumberedEvent
		var at int64
		var typ, from, to string
		if err := rows.Scan(&e.Number, &e.TicketID, &e.Seq, &at, &e.Actor, &typ, &from, &to, &e.Note, &e.Public); err != nil {
			return nil, translate(err)
		}
		e.At = time.UnixMicro(at)
		e.Type, e.From, e.To = ticketing.EventType(typ), ticketing.Status(from), ticketing.Status(to)
		out = append(out, e)
	}
	return out, translate(rows.Err())
}
