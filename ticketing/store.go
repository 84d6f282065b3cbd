package ticketing

import (
	"context"
	"time"
)

// Store is everything one database behind Yihao keeps: the union each
// store (ticketing/postgres, ticketing/sqlite) implements, the store suite
// (ticketing/storetest) holds them to, and cmd/yihao wires. Code that uses
// a store names the part it needs instead: Service takes a TicketStore,
// each door declares its own small interface. Implementations translate
// their driver's errors into *Error kinds at their edge (ErrNotFound,
// ErrUnavailable).
type Store interface {
	TicketStore
	ListStore
	CallStore
	AgentStore
	UserStore
	AuditStore
	// Create and Update write TalliesOf their pending events in the same
	// transaction; these fold and read them.
	IndicatorStore
	// The supervisors' positions on patrol.
	PatrolStore
	// The knowledge base.
	ArticleStore
	ArticleMissStore
	// Who asked for no more notices.
	OptOutStore
	// Recurring problems by place.
	HotspotStore
	// Ping reports whether the database answers (the readiness probe).
	Ping(ctx context.Context) error
}

// TicketStore is what Service needs: one ticket at a time, created and
// changed with its events, keys and outbox rows in one transaction, and the
// alarms of its deadline clock. Every method that writes does so in one
// transaction: a ticket never exists without its events, nor an event
// without its ticket.
type TicketStore interface {
	// NextID returns a ticket id never returned before, by any instance.
	NextID(ctx context.Context) (int64, error)

	// Create inserts t with its pending events, messages and keys. When a ticket
	// with the same (channel, external id) exists, nothing is written and
	// that ticket is returned with created == false.
	Create(ctx context.Context, t *Ticket) (stored *Ticket, created bool, err error)
	ByID(ctx context.Context, id int64) (*Ticket, error)
	ByNumber(ctx context.Context, number string) (*Ticket, error)

	// Update loads the ticket, locks it, calls fn and, if fn returns nil,
	// saves the ticket with its pending events and messages, all in one
	// transaction. An error from fn rolls everything back. The keys the
	// change takes (PendingKeys) are recorded in the same transaction; if
	// the ticket has taken one of them already, by this instance or
	// another, everything is rolled back and Update returns
	// ErrAlreadyApplied.
	Update(ctx context.Context, id int64, fn func(*Ticket) error) (*Ticket, error)

	// Events returns the ticket's log in order.
	Events(ctx context.Context, ticketID int64) ([]Event, error)

	// Nearby returns open tickets of a category received since since whose
	// location lies inside the box; callers filter by exact distance.
	Nearby(ctx context.Context, category string, box Box, since time.Time, limit int) ([]*Ticket, error)

	// Followers returns the tickets merged into master, oldest first.
	Followers(ctx context.Context, masterID int64) ([]*Ticket, error)

	// SetTrackHash replaces the digest of a ticket's tracking token
	// (ErrNotFound for an unknown id).
	SetTrackHash(ctx context.Context, id int64, hash string) error

	// Alarms returns the ids of tickets whose AlarmAt is at or before now,
	// earliest alarm first (then by id), at most limit of them (limit <= 0:
	// DefaultAlarmLimit). Tickets without a running clock are never in it.
	Alarms(ctx context.Context, now time.Time, limit int) ([]int64, error)
}

// ListStore reads across tickets: the listings and feeds of the doors and
// desks, the dispatchers' work queue, a door's lookup by its own key, and
// the undelivered outbox.
type ListStore interface {
	ByExternalID(ctx context.Context, ch Channel, externalID string) (*Ticket, error)

	// List returns the tickets f selects, oldest received first.
	List(ctx context.Context, f ListFilter) ([]*Ticket, error)

	// LatestByPhone returns, for each number in phones as stored, its
	// newest n tickets received at or after from, newest first: the
	// earlier tickets of a whole batch of screen pops in one query.
	// Numbers with none are absent.
	LatestByPhone(ctx context.Context, phones []string, from time.Time, n int) (map[string][]*Ticket, error)

	// LatestPublic returns each ticket's latest public note (tickets
	// without one are absent), in one query for a whole listing.
	LatestPublic(ctx context.Context, ticketIDs []int64) (map[int64]string, error)

	// EventsBetween returns the events f selects across tickets, oldest
	// first (then by ticket and seq), each with its ticket's number.
	EventsBetween(ctx context.Context, f EventFilter) ([]NumberedEvent, error)

	// Queue returns a page of work in f.Sort order (see QueueFilter).
	Queue(ctx context.Context, f QueueFilter) ([]*Ticket, error)

	// Outbox returns up to limit undelivered messages, oldest first.
	Outbox(ctx context.Context, limit int) ([]Message, error)
}

// CallStore keeps the hotline's call log.
type CallStore interface {
	// ApplyCallEvent loads the call ev names (creating it on its first
	// event), applies ev (Call.Apply) and saves it, in one transaction;
	// events for one call from several requests or instances serialize.
	ApplyCallEvent(ctx context.Context, ev CallEvent) (*Call, error)

	// ApplyCallEvents applies several events in one transaction (one
	// commit for a busy switch's worth of events), in order per call;
	// calls[i] is the call after evs[i]. All or nothing.
	ApplyCallEvents(ctx context.Context, evs []CallEvent) ([]*Call, error)

	// Calls returns the calls f selects, latest arrival first.
	Calls(ctx context.Context, f CallFilter) ([]*Call, error)

	// MarkCalledBack records when a missed call was called back (ErrNotFound
	// for an unknown call id).
	MarkCalledBack(ctx context.Context, callID string, at time.Time) error

	// LinkTicket records that the ticket number was logged from the call;
	// linking twice is a no-op (ErrNotFound for an unknown call id).
	LinkTicket(ctx context.Context, callID, number string) error

	// HotlineStats aggregates the figures of f's calls (see CallFigures).
	HotlineStats(ctx context.Context, f StatsFilter) (HotlineStats, error)
}

// AgentStore keeps the call-centre agents (extensions) and their sessions.
type AgentStore interface {
	// PutAgent validates a (Agent.Validate) and inserts it or replaces the
	// agent with its Ext. An update keeps the stored CreatedAt and sets
	// a.CreatedAt to it.
	PutAgent(ctx context.Context, a *Agent) error

	// AgentByExt returns the agent with the extension (ErrNotFound if none).
	AgentByExt(ctx context.Context, ext string) (*Agent, error)

	// Agents returns every agent by Ext ascending (byte order).
	Agents(ctx context.Context) ([]*Agent, error)

	// DeleteAgent removes the agent with the extension (ErrNotFound if none).
	DeleteAgent(ctx context.Context, ext string) error

	// EndAgentSessions moves the agent's SessionEpoch on, ending every
	// agent-page session it has (ErrNotFound if no such agent).
	EndAgentSessions(ctx context.Context, ext string) error
}

// UserStore keeps staff accounts, their sessions and API tokens.
type UserStore interface {
	// PutUser validates u (User.Validate) and inserts it or replaces the
	// user with its Name. An update keeps the stored CreatedAt and sets
	// u.CreatedAt to it. In the same transaction it deletes the API tokens
	// acting for the user (Token.User) when u is disabled, and those whose
	// role is no longer u's: a token never outlives the rights it was made with.
	PutUser(ctx context.Context, u *User) error

	// UserByName returns the user with the login name (ErrNotFound if none).
	UserByName(ctx context.Context, name string) (*User, error)

	// Users returns every user, disabled ones too, by Name ascending.
	Users(ctx context.Context) ([]*User, error)

	// EndUserSessions moves the user's SessionEpoch on, ending every desk
	// session the user has (ErrNotFound if no such user).
	EndUserSessions(ctx context.Context, name string) error
	CreateToken(ctx context.Context, tok *Token) error
	TokenByHash(ctx context.Context, hash string) (*Token, error)
	// DeleteUserTokens deletes the tokens acting for user whose name
	// starts with prefix, all but the one with id keep (a phone's new
	// sign-in ends its earlier ones), and says how many went.
	DeleteUserTokens(ctx context.Context, user, prefix string, keep int64) (int64, error)
}

// AuditStore keeps the audit log of who saw and did what.
type AuditStore interface {
	// AppendAudit validates e (AuditEntry.Validate), stores it and sets e.ID.
	AppendAudit(ctx context.Context, e *AuditEntry) error

	// Audit returns the entries f selects, newest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}
