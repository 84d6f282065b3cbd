package ticketing

import "time"

// QueueSort is the order of a work queue, and so the key of its cursor.
type QueueSort int

const (
	// SortDue lists the nearest deadline first (due_at, then id); tickets
	// without a deadline are not in such a queue. Liaison inboxes and the
	// overdue board use it.
	SortDue QueueSort = iota
	// SortReceived lists the oldest report first (received_at, then id).
	// The dispatcher's triage queue uses it.
	SortReceived
)

// Cursor is where the next page of a queue starts: strictly after the
// ticket with this sort key and id (keyset pagination, so a page costs the
// same on the first page and the thousandth, and tickets that change state
// meanwhile are neither skipped twice nor shown twice).
type Cursor struct {
	At time.Time
	ID int64
}

// QueueFilter selects a page of work: a department's inbox, the triage
// queue, the overdue board. Every field that is set must hold.
type QueueFilter struct {
	// Department is the lead department (主办); empty means any. A liaison's
	// desk always sets it to the liaison's own department.
	Department string
	// Assisting widens Department to the tickets it assists (协办) too: a
	// liaison's inbox holds the cases whose part the department reports.
	Assisting bool
	// Statuses to include; empty means every open status (Status.Open).
	Statuses []Status
	Grid     string // unit grid cell code
	// Area keeps the tickets within a district, street or community
	// (Area.Within): a local centre's desk always sets it to its own.
	Area string
	// DueBefore keeps tickets whose deadline is before it (the overdue
	// board: now; the yellow light: a little later). Zero keeps all.
	DueBefore time.Time
	// ExtensionPending keeps only tickets with an extension request waiting
	// for a dispatcher.
	ExtensionPending bool
	Sort             QueueSort
	After            *Cursor // the previous page's last ticket; nil for the first page
	Limit            int     // default DefaultQueueLimit, at most MaxQueueLimit
}

// Queue page sizes.
const (
	DefaultQueueLimit = 50
	MaxQueueLimit     = 500
)

// QueueLimit is the page size f asks for, within bounds.
func (f QueueFilter) QueueLimit() int {
	switch {
	case f.Limit <= 0:
		return DefaultQueueLimit
	case f.Limit > MaxQueueLimit:
		return MaxQueueLimit
	}
	return f.Limit
}

// CursorOf is the cursor after t in a queue sorted by s.
func CursorOf(t *Ticket, s QueueSort) Cursor {
	if s == SortReceived {
		return Cursor{At: t.ReceivedAt, ID: t.ID}
	}
	return Cursor{At: t.DueAt, ID: t.ID}
}

// Light is how near a ticket is to its deadline: the yellow and red lights
// (黄灯, 红灯) of the overdue board.
type Light string

const (
	LightNone   Light = ""       // no deadline running (triage, finished)
	LightGreen  Light = "green"  // in time
	LightYellow Light = "yellow" // most of the time is used
	LightRed    Light = "red"    // overdue
)

// YellowShare is the share of the time from dispatch to the deadline after
// which the light turns yellow.
const YellowShare = 0.8

// LightAt is the ticket's light at now. The time runs from when the ticket
// was last dispatched (start) to DueAt; a ticket that is not open, or has no
// deadline, has no light. Handled tickets wait for verification, not for the
// department, and keep the light they had when handled.
func (t *Ticket) LightAt(start, now time.Time) Light {
	if !t.Status.Open() || t.DueAt.IsZero() {
		return LightNone
	}
	switch t.Status {
	case StatusDispatched, StatusAccepted, StatusHandled:
	default:
		return LightNone
	}
	if !now.Before(t.DueAt) {
		return LightRed
	}
	if start.IsZero() || !start.Before(t.DueAt) {
		start = t.ReceivedAt
	}
	yellow := start.Add(time.Duration(float64(t.DueAt.Sub(start)) * YellowShare))
	if !now.Before(yellow) {
		return LightYellow
	}
	return LightGreen
}
