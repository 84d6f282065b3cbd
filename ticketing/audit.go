package ticketing

import "time"

// AuditEntry records who looked at a citizen's personal data or changed a
// ticket, from which desk or API, and when. The ticket's event log already
// says who changed what; the audit log adds every view of personal data
// (a revealed phone number, a staff view with contact details) and every
// action tried through a desk, so one query answers "who saw or touched
// this ticket".
type AuditEntry struct {
	ID     int64
	At     time.Time
	Actor  string // the user's login name, or "token:<name>" for an integration
	Role   Role
	Action string // "view", "reveal_phone", "dispatch", "accept", ...
	Ticket string // the ticket's public number; empty for actions on no ticket
	Detail string // what else matters (never the personal data itself)
	Source string // the client's address
}

// AuditFilter selects audit entries, newest first. Every field that is set
// must hold.
type AuditFilter struct {
	Actor    string
	Ticket   string
	Action   string
	From, To time.Time // at in [From, To)
	BeforeID int64     // keyset: only entries with a smaller ID (the next page)
	Limit    int       // 0 means 100; at most 1000
}

// Limit bounds for audit pages.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// AuditLimit is the page size f asks for, within bounds.
func (f AuditFilter) AuditLimit() int {
	switch {
	case f.Limit <= 0:
		return DefaultAuditLimit
	case f.Limit > MaxAuditLimit:
		return MaxAuditLimit
	}
	return f.Limit
}

// Validate checks an entry before it is stored.
func (e *AuditEntry) Validate() error {
	if e.At.IsZero() {
		return Invalid("at", "missing time")
	}
	if err := required("actor", e.Actor); err != nil {
		return err
	}
	return required("action", e.Action)
}
