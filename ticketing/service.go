package ticketing

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"
)

// Router decides where a report goes. Unknown categories and other bad
// hints are *Error of KindInvalid; any other error means routing is down and
// the ticket waits for a dispatcher instead of being lost.
type Router interface {
	Route(ctx context.Context, r Report) (Assignment, error)
}

// Service is the one door every channel submits through.
type Service struct {
	store  TicketStore
	router Router
	now    func() time.Time
	loc    *time.Location
	log    *slog.Logger
	dups   DuplicatePolicy
	cc     string // default country code of reporters' phones
	track  []byte // the key of TrackCode; nil: no codes
	admit  *admission
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

// WithTrackKey lets Track accept the codes TrackCode derives with key
// (at least MinTrackKey bytes; the notices by SMS carry them).
func WithTrackKey(key []byte) Option { return func(s *Service) { s.track = key } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// NewService wires a Service.
func NewService(store TicketStore, router Router, opts ...Option) *Service {
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
// about; otherwise it waits for a dispatcher. A report the catalogue has
// confirmed on site first waits, received, with a 核实 task for its cell.
func (s *Service) autoDispatch(t *Ticket, a Assignment, now time.Time) error {
	if a.Confirm {
		t.AwaitConfirm(now, s.Clocks())
		return nil
	}
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
	leave, err := s.admit.enter(ctx)
	if err != nil {
		return nil, false, err
	}
	defer leave()
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
	build := func() *Ticket {
		t := &Ticket{
			ID: id, Number: FormatNumber(id, r.ReceivedAt.In(s.loc)), TrackToken: track, TrackHash: HashToken(track),
			Channel: r.Channel, ExternalID: r.ExternalID, Fingerprint: fp, Line: r.Line,
			Reporter: r.Reporter, Text: r.Text, Location: r.Location, Address: r.Address,
			Attachments: r.Attachments, Priority: PriorityNormal, Article: r.Article,
			ReceivedAt: r.ReceivedAt, CreatedAt: now, UpdatedAt: now,
		}
		if r.Channel == ChannelField {
			t.FoundBy = strings.TrimPrefix(r.By, supervisorActor)
		}
		t.record(now, cmp.Or(r.By, ActorCitizen), EventReceived, StatusReceived, "", "已受理，工单号"+t.Number)
		t.applyAssignment(a)
		t.Centre, t.CentreDue = a.Centre, a.CentreDue
		t.schedule(t.CentreDue)
		return t
	}
	// settle merges t into a duplicate the search finds, or lets decide
	// place it, and queues its message.
	settle := func(t *Ticket, search bool) error {
		merged := false
		if search {
			var err error
			if merged, err = s.foldDuplicates(ctx, t, now); err != nil {
				// Finding duplicates is a convenience; the report matters more.
				s.log.Warn("duplicate check failed", "err", err)
			}
		}
		if !merged {
			if err := decide(t, a, now); err != nil {
				return err
			}
		}
		if t.Status != StatusDispatched {
			t.Department, t.DepartmentName = "", "" // a suggestion only, until a dispatcher decides
		}
		t.Enqueue("ticket.created", messagePayload(t, ""), now)
		return nil
	}

	t = build()
	var stored *Ticket
	checker, checks := s.store.(NearCheckedCreator)
	check, located := s.nearCheck(t)
	if fold && checks && located {
		// Created at once unless an open ticket lies near it; only then
		// searched and scored, from scratch.
		if err := settle(t, false); err != nil {
			return nil, false, err
		}
		var near bool
		if stored, created, near, err = checker.CreateUnlessNear(ctx, t, check); err == nil && near {
			t = build()
			if err := settle(t, true); err != nil {
				return nil, false, err
			}
			stored, created, err = s.store.Create(ctx, t)
		}
	} else {
		if err := settle(t, fold); err != nil {
			return nil, false, err
		}
		stored, created, err = s.store.Create(ctx, t)
	}
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

func messagePayload(t *Ticket, from Status) []byte {
	var due *time.Time
	if !t.DueAt.IsZero() {
		due = &t.DueAt
	}
	var area *Area
	if t.Area != (Area{}) {
		area = &t.Area
	}
	b, _ := json.Marshal(struct {
		Number     string     `json:"number"`
		Status     Status     `json:"status"`
		From       Status     `json:"from,omitempty"` // the status before a change
		Category   string     `json:"category,omitempty"`
		Department string     `json:"department,omitempty"`
		DueAt      *time.Time `json:"due_at,omitempty"`
		// Where on the grid, and who assists: the desks' relay tells the
		// area's centres and the assisting departments by them.
		Area      *Area    `json:"area,omitempty"`
		Assisting []string `json:"assisting,omitempty"`
	}{t.Number, t.Status, from, t.Category, t.Department, due, area, t.Assisting})
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
	if !s.tracks(t, token) {
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

// tracks reports whether token opens t's tracking page: the token of the
// report's answer, or the code an SMS carried.
func (s *Service) tracks(t *Ticket, token string) bool {
	if token == "" {
		return false
	}
	if subtle.ConstantTimeCompare([]byte(HashToken(token)), []byte(t.TrackHash)) == 1 {
		return true
	}
	return len(s.track) >= MinTrackKey && subtle.ConstantTimeCompare([]byte(TrackCode(s.track, t.Number)), []byte(token)) == 1
}

// TrackCode is the code for t's tracking link that TrackCode derives, ""
// when the service has no key.
func (s *Service) TrackCode(number string) string {
	if len(s.track) < MinTrackKey {
		return ""
	}
	return TrackCode(s.track, number)
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
	clocks := s.Clocks()
	return s.store.Update(ctx, t.ID, func(t *Ticket) error {
		now := s.now()
		was := t.Status
		if err := act(t, now); err != nil {
			return err
		}
		t.SettleTasks(now, was, clocks)
		t.Enqueue("ticket.changed", messagePayload(t, was), now)
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
