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

// DeliveryColumns are a delivery's columns with its message's and
// ticket's, on deliveries d, outbox o and tickets t, in ScanDelivery's
// order; a statement that reads them from elsewhere keeps the order.
const DeliveryColumns = `d.id, d.message_id, d.ticket_id, t.number, d.endpoint, o.topic, o.payload, o.created_at,
	d.attempts, d.last_error, d.dead, d.delivered_at`

// ScanDelivery scans DeliveryColumns.
func ScanDelivery[T, N any](d Dialect[T, N], r Scanner) (ticketing.Delivery, error) {
	var (
		x         ticketing.Delivery
		payload   string
		at        T
		delivered N
	)
	if err := r.Scan(&x.ID, &x.MessageID, &x.TicketID, &x.Number, &x.Endpoint, &x.Topic, &payload, &at,
		&x.Attempt, &x.LastError, &x.Dead, &delivered); err != nil {
		return x, d.Translate(err)
	}
	x.Payload, x.MessageAt, x.DeliveredAt = []byte(payload), d.At(at), d.NullAt(delivered)
	return x, nil
}

// Notes reads rows of (ticket id, note) into out.
func Notes(rows Rows, translate func(error) error, out map[int64]string) error {
	for rows.Next() {
		var id int64
		var note string
		if err := rows.Scan(&id, &note); err != nil {
			return translate(err)
		}
		out[id] = note
	}
	return translate(rows.Err())
}
