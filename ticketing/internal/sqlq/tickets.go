package sqlq

import (
	"context"
	"database/sql"
	"errors"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/groupcommit"
	"github.com/yihao-city/yihao/ticketing/internal/row"
)

// TicketArgs are the parameters of row.TicketColumns for t, stored at version.
func TicketArgs[T, N any](d Dialect[T, N], t *ticketing.Ticket, version int32) ([]any, error) {
	lat, lon := LatLon(t)
	js, err := row.EncodeJSON(t)
	if err != nil {
		return nil, err
	}
	return []any{t.ID, t.Number, t.TrackHash, string(t.Channel), t.ExternalID, t.Fingerprint, t.Line,
		t.Reporter.Name, t.Reporter.Phone, t.Reporter.OpenID, t.Text, lat, lon, t.Address, js.Attachments,
		string(t.Status), t.Category, t.CategoryName, t.Department, t.DepartmentName, string(t.Priority), d.NullTime(t.DueAt),
		t.RoutingRule, t.RoutingReason, t.Confidence, NullID(t.MasterID), t.ReworkCount, t.ExtensionCount,
		js.Extension, js.Evaluation, d.Time(t.ReceivedAt), d.Time(t.CreatedAt), d.Time(t.UpdatedAt), version,
		t.Area.Grid, t.Area.Community, t.Area.Street, t.Area.District, js.Assisting, t.Reporter.Email,
		string(t.Light), d.NullTime(t.AlarmAt), t.Centre, d.NullTime(t.CentreDue), js.Parts,
		string(t.Task), d.NullTime(t.TaskDue), t.TaskBy, t.FoundBy, t.Article}, nil
}

// LatLon is t's point as two parameters, both NULL without one.
func LatLon(t *ticketing.Ticket) (lat, lon any) {
	if t.Location != nil {
		return t.Location.Lat, t.Location.Lon
	}
	return nil, nil
}

// NullID is a ticket id as a parameter, 0 as NULL.
func NullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// ScanTicket scans row.TicketColumns.
func ScanTicket[T, N any](d Dialect[T, N], r Scanner) (*ticketing.Ticket, error) {
	var (
		t                          ticketing.Ticket
		lat, lon                   sql.NullFloat64
		atts, assisting, parts     []byte
		ext, eval                  []byte
		due, alarm, centreDue      N
		taskDue                    N
		task                       string
		master                     sql.NullInt64
		ch, status, prio, light    string
		received, created, updated T
	)
	err := r.Scan(&t.ID, &t.Number, &t.TrackHash, &ch, &t.ExternalID, &t.Fingerprint, &t.Line,
		&t.Reporter.Name, &t.Reporter.Phone, &t.Reporter.OpenID, &t.Text, &lat, &lon, &t.Address, &atts,
		&status, &t.Category, &t.CategoryName, &t.Department, &t.DepartmentName, &prio, &due,
		&t.RoutingRule, &t.RoutingReason, &t.Confidence, &master, &t.ReworkCount, &t.ExtensionCount,
		&ext, &eval, &received, &created, &updated, &t.Version,
		&t.Area.Grid, &t.Area.Community, &t.Area.Street, &t.Area.District, &assisting, &t.Reporter.Email, &light, &alarm,
		&t.Centre, &centreDue, &parts, &task, &taskDue, &t.TaskBy, &t.FoundBy, &t.Article)
	if err != nil {
		return nil, d.Translate(err)
	}
	t.Channel, t.Status, t.Priority, t.Light = ticketing.Channel(ch), ticketing.Status(status), ticketing.Priority(prio), ticketing.Light(light)
	if lat.Valid && lon.Valid {
		t.Location = &ticketing.Point{Lat: lat.Float64, Lon: lon.Float64}
	}
	t.DueAt, t.AlarmAt, t.CentreDue, t.MasterID = d.NullAt(due), d.NullAt(alarm), d.NullAt(centreDue), master.Int64
	t.Task, t.TaskDue = ticketing.TaskKind(task), d.NullAt(taskDue)
	t.ReceivedAt, t.CreatedAt, t.UpdatedAt = d.At(received), d.At(created), d.At(updated)
	if err := row.DecodeJSON(&t, atts, assisting, parts, ext, eval); err != nil {
		return nil, err
	}
	return &t, nil
}

// TicketEventColumns are an event's columns on ticket_events alone, in
// ScanTicketEvent's order.
const TicketEventColumns = `ticket_id, seq, at, actor, type, from_status, to_status, note, public`

// ScanTicketEvent scans TicketEventColumns.
func ScanTicketEvent[T, N any](d Dialect[T, N], r Scanner) (ticketing.Event, error) {
	var (
		e             ticketing.Event
		at            T
		typ, from, to string
	)
	if err := r.Scan(&e.TicketID, &e.Seq, &at, &e.Actor, &typ, &from, &to, &e.Note, &e.Public); err != nil {
		return e, d.Translate(err)
	}
	e.At = d.At(at)
	e.Type, e.From, e.To = ticketing.EventType(typ), ticketing.Status(from), ticketing.Status(to)
	return e, nil
}

// ScanMessage scans an outbox row: id, ticket_id, topic, payload (as
// text), created_at.
func ScanMessage[T, N any](d Dialect[T, N], r Scanner) (ticketing.Message, error) {
	var (
		m       ticketing.Message
		payload string
		at      T
	)
	if err := r.Scan(&m.ID, &m.TicketID, &m.Topic, &payload, &at); err != nil {
		return m, d.Translate(err)
	}
	m.Payload, m.At = []byte(payload), d.At(at)
	return m, nil
}

// TokenColumns are an API token's columns as ScanToken reads them.
const TokenColumns = `id, name, role, hash, created_at, COALESCE(user_name, ''), department`

// ScanToken scans TokenColumns.
func ScanToken[T, N any](d Dialect[T, N], r Scanner) (*ticketing.Token, error) {
	var (
		tok  ticketing.Token
		role string
		at   T
	)
	if err := r.Scan(&tok.ID, &tok.Name, &role, &tok.Hash, &at, &tok.User, &tok.Department); err != nil {
		return nil, d.Translate(err)
	}
	tok.Role, tok.CreatedAt = ticketing.Role(role), d.At(at)
	return &tok, nil
}

// TokenArgs checks tok and returns the parameters of the insert: name,
// role, hash, created_at, user_name (NULLIF it is ”), department.
func TokenArgs[T, N any](d Dialect[T, N], tok *ticketing.Token) ([]any, error) {
	if err := tok.Validate(); err != nil {
		return nil, err
	}
	return []any{tok.Name, string(tok.Role), tok.Hash, d.Time(tok.CreatedAt), tok.User, tok.Department}, nil
}

// Saved is t once its change is committed (commit is the commit's error):
// one version on, nothing pending.
func Saved(t *ticketing.Ticket, commit error, translate func(error) error) (*ticketing.Ticket, error) {
	if commit != nil {
		return nil, translate(commit)
	}
	t.Version++
	t.ClearPending()
	return t, nil
}

// Committed is Create's answer once a new ticket's group commit is over
// (inserted: its row went in; err: the commit's or the wait's error): the
// stored copy; or the ticket that took its key first (a replay); or, found
// under its own id, the ticket itself, when a batch whose answer was lost
// after its commit was tried again.
func Committed(ctx context.Context, t *ticketing.Ticket, inserted bool, err error,
	byKey func(context.Context, ticketing.Channel, string) (*ticketing.Ticket, error)) (*ticketing.Ticket, bool, error) {
	if errors.Is(err, groupcommit.ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// Closing, or the wait ran out: the ticket may still commit, and a
		// retry with its key finds it.
		return nil, false, ticketing.Unavailable(err)
	}
	if err != nil {
		return nil, false, err
	}
	if inserted {
		return Created(t)
	}
	existing, err := byKey(ctx, t.Channel, t.ExternalID)
	if err != nil {
		return nil, false, err
	}
	if existing.ID == t.ID {
		return Created(t)
	}
	return existing, false, nil
}

// Created is the stored copy of a ticket just inserted: version 1, nothing pending.
func Created(t *ticketing.Ticket) (*ticketing.Ticket, bool, error) {
	stored := *t
	stored.Version = 1
	stored.ClearPending()
	return &stored, true, nil
}

// ChangeArgs are the parameters of the columns a change may touch, in
// this order: status, category, category_name, department,
// department_name, priority, due_at, routing_rule, routing_reason,
// confidence, master_id, rework_count, extension_count, extension,
// evaluation, updated_at, grid, community, street, district, assisting,
// lat, lon, address, attachments, light, alarm_at.
func ChangeArgs[T, N any](d Dialect[T, N], t *ticketing.Ticket) ([]any, error) {
	js, err := row.EncodeJSON(t)
	if err != nil {
		return nil, err
	}
	lat, lon := LatLon(t)
	return []any{string(t.Status), t.Category, t.CategoryName, t.Department, t.DepartmentName, string(t.Priority),
		d.NullTime(t.DueAt), t.RoutingRule, t.RoutingReason, t.Confidence, NullID(t.MasterID), t.ReworkCount,
		t.ExtensionCount, js.Extension, js.Evaluation, d.Time(t.UpdatedAt),
		t.Area.Grid, t.Area.Community, t.Area.Street, t.Area.District, js.Assisting, lat, lon, t.Address, js.Attachments,
		string(t.Light), d.NullTime(t.AlarmAt), t.Centre, d.NullTime(t.CentreDue), js.Parts,
		string(t.Task), d.NullTime(t.TaskDue), t.TaskBy}, nil
}
