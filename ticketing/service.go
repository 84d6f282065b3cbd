package ticketing

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"
)

// Store keeps tickets, their event logs and outbox rows. Every method that
// writes does so in one transaction: a ticket never exists without its
// events, nor an event without its ticket. Implementations translate their
// driver's errors into *Error kinds at their edge (ErrNotFound, ErrUnavailable).
type Store interface {
	// NextID returns a ticket id never returned before, by any instance.
	NextID(ctx context.Context) (int64, error)
	// Create inserts t with its pending events, messages and keys. When a ticket
	// with the same (channel, external id) exists, nothing is written and
	// that ticket is returned with created == false.
	Create(ctx context.Context, t *Ticket) (stored *Ticket, created bool, err error)
	ByID(ctx context.Context, id int64) (*Ticket, error)
	ByNumber(ctx context.Context, number string) (*Ticket, error)
	ByExternalID(ctx context.Context, ch Channel, externalID string) (*Ticket, error)
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
	// Outbox returns up to limit undelivered messages, oldest first.
	Outbox(ctx context.Context, limit int) ([]Message, error)
	// Nearby returns open tickets of a category received since since whose
	// location lies inside the box; callers filter by exact distance.
	Nearby(ctx context.Context, category string, box Box, since time.Time, limit int) ([]*Ticket, error)
	// Followers returns the tickets merged into master, oldest first.
	Followers(ctx context.Context, masterID int64) ([]*Ticket, error)
	// List returns the tickets f selects, oldest received first.
	List(ctx context.Context, f ListFilter) ([]*Ticket, error)
	// LatestPublic returns each ticket's latest public note (tickets
	// without one are absent), in one query for a whole listing.
	LatestPublic(ctx context.Context, ticketIDs []int64) (map[int64]string, error)
	// EventsBetween returns the events f selects across tickets, oldest
	// first (then by ticket and seq), each with its ticket's number.
	EventsBetween(ctx context.Context, f EventFilter) ([]NumberedEvent, error)
	// SetTrackHash replaces the digest of a ticket's tracking token
	// (ErrNotFound for an unknown id).
	SetTrackHash(ctx context.Context, id int64, hash string) error
	CreateToken(ctx context.Context, tok *Token) error
	TokenByHash(ctx context.Context, hash string) (*Token, error)

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
	Ping(ctx context.Context) error

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

	// Queue returns a page of work in f.Sort order (see QueueFilter).
	Queue(ctx context.Context, f QueueFilter) ([]*Ticket, error)
	// Alarms returns the ids of tickets whose AlarmAt is at or before now,
	// earliest alarm first (then by id), at most limit of them (limit <= 0:
	// DefaultAlarmLimit). Tickets without a running clock are never in it.
	Alarms(ctx context.Context, now time.Time, limit int) ([]int64, error)
	// AppendAudit validates e (AuditEntry.Validate), stores it and sets e.ID.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// Audit returns the entries f selects, newest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
	// Create and Update write TalliesOf their pending events in the same
	// transaction; these fold and read them.
	IndicatorStore
}

// Router decides where a report goes. Unknown categories and other bad
// hints are *Error of KindInvalid; any other error means routing is down and
// the ticket waits for a dispatcher instead of being lost.
type Router interface {
	Route(ctx context.Context, r Report) (Assignment, error)
}

// Service is the one door every channel submits through.
type Service struct {
	store  Store
	router Router
	now    func() time.Time
	loc    *time.Location
	log    *slog.Logger
	dups   DuplicatePolicy
	cc     string // default country code of reporters' phones
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock (tests use a fixed one).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLocation sets the city's time zone, used for the date in ticket numbers.
func WithLocation(loc *time.Location) Option { return func(s *Service) { s.loc = loc } }

// WithDefaultCountry sets the country code of phone numbers given
// without one (default 86).
func WithDefaultCountry(cc string) Option { return func(s *Service) { s.cc = cc } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// NewService wires a Service.
func NewService(store Store, router Router, opts ...Option) *Service {
	s := &Service{store: store, router: router, now: time.Now, loc: time.Local, log: slog.New(slog.DiscardHandler), cc: "86"}
	for _, o := range opts {
		o(s)
	}
	// Stores keep microseconds; truncating here makes what Submit returns
	// equal to what a later read returns.
	clock := s.now
	s.now = func() time.Time { return clock().Truncate(time.Microsecond) }
	return s
}

// Actors that are not people.
const (
	ActorCitizen  = "citizen"
	ActorRouter   = "router"
	ActorDeadline = "deadline" // the deadline scanner
)

// Submit turns a report into a ticket, routes it and, when routing is
// confident, registers and dispatches it, all in one transaction. It is
// idempotent on (channel, external id): the same report again returns the
// same ticket with created == false. The same key with different content is
// a conflict, so a guessed or reused key never reveals another citizen's ticket.
func (s *Service) Submit(ctx context.Context, r Report) (t *Ticket, created bool, err error) {
	return s.submit(ctx, r, true, s.autoDispatch)
}

// SubmitResolved stores a report that an agent answered on the call
// itself (直办): the ticket is created already resolved on contact, with
// the answer, in the same transaction, so it never reaches a dispatcher.
// Idempotent like Submit.
func (s *Service) SubmitResolved(ctx context.Context, r Report, actor, answer string) (*Ticket, bool, error) {
	answer = strings.TrimSpace(answer)
	if err := required("answer", answer); err != nil {
		return nil, false, err
	}
	// Not folded into a duplicate: the citizen has their answer already.
	return s.submit(ctx, r, false, func(t *Ticket, _ Assignment, now time.Time) error {
		return t.ResolveOnContact(now, actor, answer)
	})
}

// autoDispatch registers and dispatches a ticket routing is confident
// about; otherwise it waits for a dispatcher.
func (s *Service) autoDispatch(t *Ticket, a Assignment, now time.Time) error {
	if !a.AutoDispatch {
		return nil
	}
	// An assignment the workflow refuses (a deadline already past, say)
	// leaves the report for a dispatcher rather than refusing it.
	routed := *t
	routed.pending = append([]Event(nil), t.pending...)
	if err := routed.Register(now, ActorRouter, a.Reason); err == nil {
		if err := routed.Dispatch(now, ActorRouter, a, ""); err == nil {
			*t = routed
		} else {
			s.log.Warn("routing result not applicable; ticket goes to triage", "rule", a.Rule, "err", err)
		}
	}
	return nil
}

func (s *Service) submit(ctx context.Context, r Report, fold bool, decide func(t *Ticket, a Assignment, now time.Time) error) (t *Ticket, created bool, err error) {
	r.Normalize()
	now := s.now()
	if r.ReceivedAt.IsZero() {
		r.ReceivedAt = now
	}
	if r.ExternalID == "" {
		r.ExternalID = rand.Text()
	}
	if err := r.Validate(); err != nil {
		return nil, false, err
	}
	// One spelling per number (E.164), whatever the door: the phone door
	// finds a caller's earlier tickets by it.
	if p := NormalizePhone(r.Reporter.Phone, s.cc); p != "" {
		r.Reporter.Phone = p
	}
	fp := r.Fingerprint()

	a, rerr := s.router.Route(ctx, r)
	if rerr != nil {
		if KindOf(rerr) == KindInvalid {
			return nil, false, rerr
		}
		// Routing down must not lose the report: it waits for a dispatcher.
		s.log.Warn("routing failed; ticket goes to triage", "channel", r.Channel, "err", rerr)
		a = Assignment{Priority: PriorityNormal, Reason: "自动分拨暂不可用，待人工派单"}
	}

	id, err := s.store.NextID(ctx)
	if err != nil {
		return nil, false, err
	}
	track := rand.Text()
	t = &Ticket{
		ID: id, Number: FormatNumber(id, r.ReceivedAt.In(s.loc)), TrackToken: track, TrackHash: HashToken(track),
		Channel: r.Channel, ExternalID: r.ExternalID, Fingerprint: fp, Line: r.Line,
		Reporter: r.Reporter, Text: r.Text, Location: r.Location, Address: r.Address,
		Attachments: r.Attachments, Priority: PriorityNormal,
		ReceivedAt: r.ReceivedAt, CreatedAt: now, UpdatedAt: now,
	}
	t.record(now, ActorCitizen, EventReceived, StatusReceived, "", "已受理，工单号"+t.Number)
	t.applyAssignment(a)
	merged := false
	if fold {
		if merged, err = s.foldDuplicates(ctx, t, now); err != nil {
			// Finding duplicates is a convenience; the report matters more.
			s.log.Warn("duplicate check failed", "err", err)
		}
	}
	if !merged {
		if err := decide(t, a, now); err != nil {
			return nil, false, err
		}
	}
	if t.Status != StatusDispatched {
		t.Department, t.DepartmentName = "", "" // a suggestion only, until a dispatcher decides
	}
	t.Enqueue("ticket.created", messagePayload(t), now)

	stored, created, err := s.store.Create(ctx, t)
	if err != nil {
		return nil, false, err
	}
	if !created && stored.Fingerprint != fp {
		return nil, false, &Error{Kind: KindConflict, Code: "idempotency_key_reused", Field: "Idempotency-Key",
			Message: "this key was already used for a different report"}
	}
	if created {
		stored.TrackToken = track // the one time the secret is at hand
		s.log.Info("ticket created", "number", stored.Number, "channel", stored.Channel, "status", stored.Status,
			"category", stored.Category, "department", stored.Department)
	}
	return stored, created, nil
}

func messagePayload(t *Ticket) []byte {
	var due *time.Time
	if !t.DueAt.IsZero() {
		due = &t.DueAt
	}
	b, _ := json.Marshal(struct {
		Number     string     `json:"number"`
		Status     Status     `json:"status"`
		Category   string     `json:"category,omitempty"`
		Department string     `json:"department,omitempty"`
		DueAt      *time.Time `json:"due_at,omitempty"`
	}{t.Number, t.Status, t.Category, t.Department, due})
	return b
}

// Ticket returns the staff view of a ticket by its public number.
func (s *Service) Ticket(ctx context.Context, number string) (*Ticket, error) {
	if !ValidNumber(number) {
		return nil, &Error{Kind: KindNotFound, Field: "number", Message: "no ticket has this number (check the digits)"}
	}
	return s.store.ByNumber(ctx, number)
}

// Events returns a ticket's full log (staff view).
func (s *Service) Events(ctx context.Context, t *Ticket) ([]Event, error) {
	return s.store.Events(ctx, t.ID)
}

// Track is the citizen's view: the ticket and the public part of its log,
// only with the token from the tracking link. A wrong token looks exactly
// like a wrong number, so numbers cannot be probed.
func (s *Service) Track(ctx context.Context, number, token string) (*Ticket, []Event, error) {
	notFound := &Error{Kind: KindNotFound, Field: "number", Message: "no ticket matches this number and tracking code"}
	t, err := s.Ticket(ctx, number)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, nil, notFound
		}
		return nil, nil, err
	}
	if token == "" || subtle.ConstantTimeCompare([]byte(HashToken(token)), []byte(t.TrackHash)) != 1 {
		return nil, nil, notFound
	}
	evs, err := s.store.Events(ctx, t.ID)
	if err != nil {
		return nil, nil, err
	}
	public := publicEvents(evs, "")
	if t.Status == StatusMerged && t.MasterID != 0 {
		// A merged report's citizen follows the master ticket's progress.
		if master, err := s.store.ByID(ctx, t.MasterID); err == nil {
			mevs, err := s.store.Events(ctx, master.ID)
			if err != nil {
				return nil, nil, err
			}
			// Only the master's changes of state: its free-text notes (another
			// citizen's additions, platforms' remarks) are not this citizen's.
			for _, e := range publicEvents(mevs, "合并工单"+master.Number+"：") {
				if e.From != e.To && !e.At.Before(public[len(public)-1].At) {
					public = append(public, e)
				}
			}
		}
	}
	return t, public, nil
}

// ReissueTrackToken gives t a new tracking token and returns it; the old
// one stops working. Only its digest is stored, so a door that must answer
// a replayed report with a tracking link (the reporter lost the first
// answer) issues a new one.
func (s *Service) ReissueTrackToken(ctx context.Context, t *Ticket) (string, error) {
	track := rand.Text()
	if err := s.store.SetTrackHash(ctx, t.ID, HashToken(track)); err != nil {
		return "", err
	}
	t.TrackToken, t.TrackHash = track, HashToken(track)
	return track, nil
}

// publicEvents keeps what a citizen may see of a log: when, what, and the public note.
func publicEvents(evs []Event, prefix string) []Event {
	out := make([]Event, 0, len(evs))
	for _, e := range evs {
		if e.Public != "" {
			out = append(out, Event{Seq: e.Seq, At: e.At, Type: e.Type, From: e.From, To: e.To, Public: prefix + e.Public})
		}
	}
	return out
}

// Act applies one workflow action to a ticket in one transaction and
// queues an outbox message describing the change.
func (s *Service) Act(ctx context.Context, number string, act func(t *Ticket, now time.Time) error) (*Ticket, error) {
	t, err := s.Ticket(ctx, number)
	if err != nil {
		return nil, err
	}
	// Read before the transaction: a store call inside Update's fn would
	// need a second connection while the first is held, and concurrent
	// closures would then starve the pool.
	followers, err := s.store.Followers(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	return s.store.Update(ctx, t.ID, func(t *Ticket) error {
		now := s.now()
		was := t.Status
		if err := act(t, now); err != nil {
			return err
		}
		t.Enqueue("ticket.changed", messagePayload(t), now)
		if was.Open() && !t.Status.Open() {
			// Everyone whose report was merged into this one hears how it ended
			// (closed, declined or answered).
			for _, f := range followers {
				b, _ := json.Marshal(map[string]string{"number": f.Number, "master": t.Number, "status": string(t.Status)})
				t.Enqueue("ticket.follower_closed", b, now)
			}
		}
		return nil
	})
}

// Note appends an event that keeps the state (a delivery to an external
// platform, a status it reported back, a staff note) in one transaction.
// Unlike Act it queues no outbox message: nothing changed that a
// forwarder must pass on.
func (s *Service) Note(ctx context.Context, number, actor string, typ EventType, note, public string) error {
	t, err := s.Ticket(ctx, number)
	if err != nil {
		return err
	}
	_, err = s.store.Update(ctx, t.ID, func(t *Ticket) error { return t.AddNote(s.now(), actor, typ, note, public) })
	return err
}
