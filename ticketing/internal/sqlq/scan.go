package sqlq

import "github.com/yihao-city/yihao/ticketing"

// EventColumns are an event's columns with its ticket's number, on
// ticket_events e joined to tickets t, in ScanEvent's order.
const EventColumns = `t.number, e.ticket_id, e.seq, e.at, e.actor, e.type, e.from_status, e.to_status, e.note, e.public`

// ScanEvent scans EventColumns.
func ScanEvent[T, N any](d Dialect[T, N], r Scanner) (ticketing.NumberedEvent, error) {
	var (
		e             ticketing.NumberedEvent
		at            T
		typ, from, to string
	)
	if err := r.Scan(&e.Number, &e.TicketID, &e.Seq, &at, &e.Actor, &typ, &from, &to, &e.Note, &e.Public); err != nil {
		return e, d.Translate(err)
	}
	e.At = d.At(at)
	e.Type, e.From, e.To = ticketing.EventType(typ), ticketing.Status(from), ticketing.Status(to)
	return e, nil
}

// AuditColumns are an audit entry's columns in ScanAudit's order.
const AuditColumns = `id, at, actor, role, action, ticket, detail, source`

// ScanAudit scans AuditColumns.
func ScanAudit[T, N any](d Dialect[T, N], r Scanner) (ticketing.AuditEntry, error) {
	var (
		e    ticketing.AuditEntry
		at   T
		role string
	)
	if err := r.Scan(&e.ID, &at, &e.Actor, &role, &e.Action, &e.Ticket, &e.Detail, &e.Source); err != nil {
		return e, d.Translate(err)
	}
	e.At, e.Role = d.At(at), ticketing.Role(role)
	return e, nil
}

// ScanIndicator scans a row of sums: day (” unless by day), key, metric, n.
func ScanIndicator[T, N any](d Dialect[T, N], r Scanner) (ticketing.IndicatorCount, error) {
	var (
		c      ticketing.IndicatorCount
		metric string
	)
	if err := r.Scan(&c.Day, &c.Key, &metric, &c.N); err != nil {
		return c, d.Translate(err)
	}
	c.Metric = ticketing.Metric(metric)
	return c, nil
}
