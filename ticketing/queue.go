package ticketing

import (
	"strconv"
	"strings"
	"time"
)

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
	// SortTask lists the supervisors' tasks, nearest deadline first
	// (task_due, then id): a supervisor's task list.
	SortTask
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
	// Cells keeps the tickets in these unit cells (a supervisor's own,
	// User.Cells); empty: no condition.
	Cells []string
	// Area keeps the tickets within a district, street or community
	// (Area.Within): a local centre's desk always sets it to its own.
	Area string
	// AreaLevel is Area's level when the caller knows it from the
	// organisation (a centre's desk, a supervisor's phone): the store then
	// asks the one column of that level, which its per-level indexes
	// serve. Unknown (""), a ticket within Area at any level matches.
	AreaLevel Level
	// Task keeps only the cases with an open supervisors' task (Ticket.Task)
	// that has a deadline.
	Task bool
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

// String is the cursor as it travels: "<sort key in unix microseconds>-
// <ticket id>", both decimal without signs or leading zeros, opaque to
// clients.
func (c Cursor) String() string {
	return strconv.FormatInt(c.At.UnixMicro(), 10) + "-" + strconv.FormatInt(c.ID, 10)
}

// ParseCursor reads a cursor String made, strictly, so a tampered one is
// refused (KindInvalid, field "after") rather than read as something else;
// "" is the first page (nil).
func ParseCursor(s string) (*Cursor, error) {
	if s == "" {
		return nil, nil
	}
	bad := Invalid("after", "is not a cursor from this queue; start again from the first page")
	at, id, ok := strings.Cut(s, "-")
	if !ok || !Decimal(at) || !Decimal(id) {
		return nil, bad
	}
	us, err1 := strconv.ParseInt(at, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if err1 != nil || err2 != nil || n <= 0 {
		return nil, bad
	}
	return &Cursor{At: time.UnixMicro(us), ID: n}, nil
}

// Decimal reports whether s is digits with no leading zero (or just "0"),
// short enough for an int64.
func Decimal(s string) bool {
	if s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// CursorOf is the cursor after t in a queue sorted by s.
func CursorOf(t *Ticket, s QueueSort) Cursor {
	switch s {
	case SortReceived:
		return Cursor{At: t.ReceivedAt, ID: t.ID}
	case SortTask:
		return Cursor{At: t.TaskDue, ID: t.ID}
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
