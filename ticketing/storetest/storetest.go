// Package storetest is the conformance suite every ticketing.Store must
// pass. Each store's own test file calls Run with a function that returns a
// fresh, isolated store on the real database, and RunShared with one that
// opens stores on a fresh database shared between them.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/yihao-city/yihao/ticketing"
)

// NewStore returns an empty store that no other test uses.
type NewStore func(t *testing.T) ticketing.Store

// NewDatabase makes a fresh database and returns how to open a store on it:
// every store the returned NewStore opens shares that one database, as two
// instances (or a restart) of the service would.
type NewDatabase func(t *testing.T) NewStore

// Run runs every conformance case, each as a subtest on a fresh store made by
// newStore.
func Run(t *testing.T, newStore NewStore) {
	for _, tests := range [][]storeTest{ticketTests(), agentTests(), auditTests(), callTests(), deadlineTests(),
		deliveryTests(), indicatorTests(), listingTests(), queueTests(), taskTests(), patrolTests(), userTests(), kbTests(), optOutTests(), hotspotTests(), feedTests()} {
		runEach(t, newStore, tests)
	}
}

// RunShared runs the cases that need two stores on one database (two
// instances, or one store closed and opened again), each as a subtest on a
// database of its own made by newDatabase.
func RunShared(t *testing.T, newDatabase NewDatabase) {
	t.Run("Reopen", func(t *testing.T) { reopen(t, newDatabase(t)) })
	t.Run("Database", func(t *testing.T) { sharedDatabase(t, newDatabase(t)) })
	t.Run("Deadlines", func(t *testing.T) { open := newDatabase(t); concurrentEscalations(t, open(t), open(t)) })
	t.Run("Indicators", func(t *testing.T) { open := newDatabase(t); concurrentRollups(t, open(t), open(t)) })
	t.Run("Deliveries", func(t *testing.T) { sharedDeliveries(t, newDatabase) })
}

// ticketTests returns the conformance tests of tickets, their events,
// tokens and the Service workflow on the store.
func ticketTests() []storeTest {
	return []storeTest{
		{"CreateRoundTrip", testCreateRoundTrip},
		{"CreateIdempotent", testCreateIdempotent},
		{"CreateBurst", testCreateBurst},
		{"CreateConcurrentSameKey", testCreateConcurrentSameKey},
		{"NotFound", testNotFound},
		{"NextIDUnique", testNextIDUnique},
		{"UpdateAppendsEvents", testUpdateAppendsEvents},
		{"UpdateRollsBack", testUpdateRollsBack},
		{"IllegalTransitions", testIllegalTransitions},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"Outbox", testOutbox},
		{"Tokens", testTokens},
		{"Workflow", testWorkflow},
		{"SubmitIdempotent", testSubmitIdempotent},
		{"SubmitConcurrentReplays", testSubmitConcurrentReplays},
		{"SubmitRejectsBadInput", testSubmitRejectsBadInput},
		{"Track", testTrack},
		{"Duplicates", testDuplicates},
		{"RoutingNotApplicable", testRoutingNotApplicable},
		{"SupplementPersists", testSupplementPersists},
		{"SupplementKey", testSupplementKey},
		{"ResultPhotosPersist", testResultPhotosPersist},
	}
}

// storeTest is one conformance test; each runs on a fresh store.
type storeTest struct {
	name string
	fn   func(*testing.T, ticketing.Store)
}

func runEach(t *testing.T, newStore NewStore, tests []storeTest) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// clock is a deterministic clock at microsecond precision (what both stores keep).
type clock struct{ n atomic.Int64 }

var base = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

func (c *clock) now() time.Time { return base.Add(time.Duration(c.n.Add(1)) * time.Millisecond) }

// router sends anything mentioning 井盖 to the city management bureau and
// leaves everything else for a dispatcher; "unknown" categories are refused.
type router struct{}

func (router) Route(_ context.Context, r ticketing.Report) (ticketing.Assignment, error) {
	if r.Category == "nope" {
		return ticketing.Assignment{}, ticketing.Invalid("category", "unknown category %q", r.Category)
	}
	if strings.Contains(r.Text, "井盖") {
		return ticketing.Assignment{Category: "0101", CategoryName: "井盖", Department: "cgw", DepartmentName: "城管委",
			Priority: ticketing.PriorityUrgent, Deadline: r.ReceivedAt.Add(48 * time.Hour), Confidence: 0.9,
			AutoDispatch: true, Rule: "r1", Reason: "关键词“井盖”"}, nil
	}
	return ticketing.Assignment{Priority: ticketing.PriorityNormal, Reason: "无匹配规则"}, nil
}

func newService(s ticketing.Store) (*ticketing.Service, *clock) {
	c := &clock{}
	return ticketing.NewService(s, router{}, ticketing.WithClock(c.now), ticketing.WithLocation(time.UTC)), c
}

// newTicket builds a received ticket the way Service.Submit does.
func newTicket(t *testing.T, s ticketing.Store, key string) *ticketing.Ticket {
	t.Helper()
	svc, _ := newService(s)
	tk, _, err := svc.Submit(context.Background(), ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: key, Text: "路灯不亮 " + key})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return tk
}

func fullTicket(id int64) *ticketing.Ticket {
	at := base.Add(time.Duration(id) * time.Second)
	tk := &ticketing.Ticket{
		ID: id, Number: ticketing.FormatNumber(id, at), TrackHash: ticketing.HashToken("tok" + fmt.Sprint(id)),
		Channel: ticketing.ChannelWeb, ExternalID: fmt.Sprint("key-", id), Fingerprint: "fp", Line: "12345",
		Reporter: ticketing.Contact{Name: "张三", Phone: "+8613800138000", Email: "zhang@example.com", OpenID: "oABC"},
		Text:     "小区门口井盖缺失，很危险", Location: &ticketing.Point{Lat: 39.9042, Lon: 116.4074}, Address: "东城区东华门街道",
		Attachments: []ticketing.Attachment{{ID: "2026/11/25/a.jpg", ContentType: "image/jpeg", Size: 1234, SHA256: "ab"}},
		Status:      ticketing.StatusDispatched, Category: "0101", CategoryName: "井盖", Department: "cgw", DepartmentName: "城管委",
		Assisting: []string{"jdb", "swj"}, Area: ticketing.Area{Grid: "110101001001003", Community: "110101001001", Street: "110101001", District: "110101"},
		Priority: ticketing.PriorityUrgent, DueAt: at.Add(2 * time.Hour), RoutingRule: "r1", RoutingReason: "关键词",
		Confidence: 0.875, ReceivedAt: at, CreatedAt: at, UpdatedAt: at,
		Centre: "110101001", CentreDue: at.Add(8 * time.Hour),
		Parts: []ticketing.Part{{Department: "jdb", DueAt: at.Add(90 * time.Minute)},
			{Department: "swj", DueAt: at.Add(90 * time.Minute), ReportedAt: at.Add(time.Hour), ReportedBy: "li.swj", Result: "管线已关阀"}},
	}
	tk.Enqueue("ticket.created", []byte(`{"n":1}`), at)
	return tk
}

var ticketOpts = cmp.Options{
	cmpopts.IgnoreUnexported(ticketing.Ticket{}),
	cmpopts.EquateApproxTime(0),
	cmpopts.IgnoreFields(ticketing.Ticket{}, "Version"),
}

func testCreateRoundTrip(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	id, err := s.NextID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := fullTicket(id)
	want.Extension = &ticketing.Extension{Until: base.Add(72 * time.Hour), Reason: "材料待补", RequestedBy: "liaison", RequestedAt: base}
	got, created, err := s.Create(ctx, want)
	if err != nil || !created {
		t.Fatalf("Create = %v, %v", created, err)
	}
	for name, load := range map[string]func() (*ticketing.Ticket, error){
		"returned":     func() (*ticketing.Ticket, error) { return got, nil },
		"ByID":         func() (*ticketing.Ticket, error) { return s.ByID(ctx, id) },
		"ByNumber":     func() (*ticketing.Ticket, error) { return s.ByNumber(ctx, want.Number) },
		"ByExternalID": func() (*ticketing.Ticket, error) { return s.ByExternalID(ctx, want.Channel, want.ExternalID) },
	} {
		tk, err := load()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(want, tk, ticketOpts); diff != "" {
			t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
		}
		if tk.Version != 1 {
			t.Errorf("%s: version = %d, want 1", name, tk.Version)
		}
	}
	// A ticket with no optional fields round-trips to nils, not zero values.
	id2, _ := s.NextID(ctx)
	bare := &ticketing.Ticket{ID: id2, Number: ticketing.FormatNumber(id2, base), TrackHash: ticketing.HashToken("t"), Channel: ticketing.ChannelPhone,
		ExternalID: "call-1", Fingerprint: "f", Text: "咨询", Status: ticketing.StatusReceived, Priority: ticketing.PriorityNormal,
		ReceivedAt: base, CreatedAt: base, UpdatedAt: base}
	if _, _, err := s.Create(ctx, bare); err != nil {
		t.Fatal(err)
	}
	got2, err := s.ByID(ctx, id2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(bare, got2, ticketOpts); diff != "" {
		t.Errorf("bare ticket mismatch (-want +got):\n%s", diff)
	}
}

func testCreateIdempotent(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	id, _ := s.NextID(ctx)
	first := fullTicket(id)
	if _, created, err := s.Create(ctx, first); err != nil || !created {
		t.Fatalf("first Create = %v, %v", created, err)
	}
	id2, _ := s.NextID(ctx)
	again := fullTicket(id2)
	again.ExternalID = first.ExternalID
	got, created, err := s.Create(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if created || got.ID != id {
		t.Fatalf("replay: created=%v id=%d, want false and %d", created, got.ID, id)
	}
	if _, err := s.ByID(ctx, id2); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("replay wrote a second ticket: ByID(%d) err = %v", id2, err)
	}
	evs, _ := s.Events(ctx, id)
	if len(evs) != 0 {
		// fullTicket carries no pending events; only outbox.
		t.Errorf("events = %d, want 0", len(evs))
	}
	msgs, _ := s.Outbox(ctx, 100)
	if len(msgs) != 1 {
		t.Errorf("outbox rows = %d, want 1 (the replay must write none)", len(msgs))
	}
	// The same key on another channel is another ticket.
	other := fullTicket(id2)
	other.Channel, other.ExternalID = ticketing.ChannelWeChat, first.ExternalID
	if _, created, err := s.Create(ctx, other); err != nil || !created {
		t.Errorf("same key, other channel: created=%v err=%v", created, err)
	}
}

// A burst of submits, which the stores commit in batches: every ticket is
// stored whole, with its own events and messages in order, and a replay
// inside the burst finds the ticket its key took.
func testCreateBurst(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	svc, _ := newService(s)
	const n = 64
	got := make([]*ticketing.Ticket, n+n/4)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			key := fmt.Sprint("burst-", i%n) // the last n/4 replay the first ones
			tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: key, Text: "井盖丢了 " + key})
			if err != nil {
				t.Errorf("Submit %s: %v", key, err)
				return
			}
			got[i] = tk
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i := range n {
		tk := got[i]
		if i < n/4 && got[n+i].ID != tk.ID {
			t.Errorf("burst-%d: the replay answered ticket %d, the first %d", i, got[n+i].ID, tk.ID)
		}
		stored, err := s.ByExternalID(ctx, ticketing.ChannelWeb, fmt.Sprint("burst-", i))
		if err != nil || stored.ID != tk.ID || stored.Status != ticketing.StatusDispatched {
			t.Fatalf("burst-%d: stored %+v, %v; want ticket %d dispatched", i, stored, err, tk.ID)
		}
		evs, err := s.Events(ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		var types []ticketing.EventType
		for j, e := range evs {
			if e.Seq != j+1 {
				t.Errorf("burst-%d: event %d has seq %d", i, j, e.Seq)
			}
			types = append(types, e.Type)
		}
		want := []ticketing.EventType{ticketing.EventReceived, ticketing.EventRegistered, ticketing.EventDispatched}
		if diff := cmp.Diff(want, types); diff != "" {
			t.Errorf("burst-%d events (-want +got):\n%s", i, diff)
		}
	}
	msgs, err := s.Outbox(ctx, 10*n)
	if err != nil {
		t.Fatal(err)
	}
	per := map[int64]int{}
	for _, m := range msgs {
		per[m.TicketID]++
	}
	if len(msgs) != n || len(per) != n {
		t.Errorf("outbox: %d messages for %d tickets, want one each for %d", len(msgs), len(per), n)
	}
}

func testCreateConcurrentSameKey(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	ids := make([]int64, n)
	createdCount := atomic.Int32{}
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := s.NextID(ctx)
			if err != nil {
				errs <- err
				return
			}
			tk := fullTicket(id)
			tk.ExternalID = "same"
			got, created, err := s.Create(ctx, tk)
			if err != nil {
				errs <- err
				return
			}
			if created {
				createdCount.Add(1)
			}
			ids[i] = got.ID
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if createdCount.Load() != 1 {
		t.Fatalf("created %d tickets for one key, want 1", createdCount.Load())
	}
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Fatalf("callers saw different tickets: %v", ids)
		}
	}
}

func testNotFound(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	if _, err := s.ByID(ctx, 987654); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("ByID: %v", err)
	}
	if _, err := s.ByNumber(ctx, "26112500000000"); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("ByNumber: %v", err)
	}
	if _, err := s.ByExternalID(ctx, ticketing.ChannelWeb, "none"); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("ByExternalID: %v", err)
	}
	if _, err := s.Update(ctx, 987654, func(*ticketing.Ticket) error { return nil }); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("Update: %v", err)
	}
	if _, err := s.TokenByHash(ctx, "nope"); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("TokenByHash: %v", err)
	}
}

func testNextIDUnique(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	const workers, each = 8, 150
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				id, err := s.NextID(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[id] {
					t.Errorf("id %d returned twice", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != workers*each {
		t.Errorf("got %d ids, want %d", len(seen), workers*each)
	}
}

func testUpdateAppendsEvents(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	tk := newTicket(t, s, "upd")
	if tk.Status != ticketing.StatusReceived {
		t.Fatalf("status = %s, want received", tk.Status)
	}
	at := base.Add(time.Hour)
	got, err := s.Update(ctx, tk.ID, func(t *ticketing.Ticket) error {
		if err := t.Register(at, "dispatcher:7", "属实"); err != nil {
			return err
		}
		return t.Dispatch(at, "dispatcher:7", ticketing.Assignment{Department: "jtw", DepartmentName: "交通委", Deadline: at.Add(24 * time.Hour), Reason: "人工派单",
			Assisting: []string{"jdb"}, Area: ticketing.Area{Grid: "g1", Community: "c1", Street: "s1", District: "d1"},
			Location: &ticketing.Point{Lat: 39.91, Lon: 116.39}}, "")
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != ticketing.StatusDispatched || got.Version != 2 || len(got.PendingEvents()) != 0 {
		t.Errorf("after update: status=%s version=%d pending=%d", got.Status, got.Version, len(got.PendingEvents()))
	}
	reloaded, _ := s.ByID(ctx, tk.ID)
	if reloaded.Department != "jtw" || !reloaded.DueAt.Equal(at.Add(24*time.Hour)) || reloaded.Version != 2 {
		t.Errorf("reloaded: dept=%q due=%v version=%d", reloaded.Department, reloaded.DueAt, reloaded.Version)
	}
	if reloaded.Area.Grid != "g1" || reloaded.Area.District != "d1" || len(reloaded.Assisting) != 1 ||
		reloaded.Location == nil || reloaded.Location.Lat != 39.91 {
		t.Errorf("reloaded: area=%+v assisting=%v location=%v", reloaded.Area, reloaded.Assisting, reloaded.Location)
	}
	evs, err := s.Events(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for i, e := range evs {
		if e.Seq != i+1 || e.TicketID != tk.ID {
			t.Errorf("event %d: seq=%d ticket=%d", i, e.Seq, e.TicketID)
		}
		types = append(types, fmt.Sprintf("%s:%s>%s", e.Type, e.From, e.To))
	}
	want := []string{"received:>received", "registered:received>registered", "dispatched:registered>dispatched"}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if evs[1].Actor != "dispatcher:7" || evs[1].Note != "属实" || !evs[1].At.Equal(at) {
		t.Errorf("event 2 = %+v", evs[1])
	}
}

func testUpdateRollsBack(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	tk := newTicket(t, s, "rb")
	boom := errors.New("boom")
	_, err := s.Update(ctx, tk.ID, func(t *ticketing.Ticket) error {
		if err := t.Register(base, "x", ""); err != nil {
			return err
		}
		t.Enqueue("ticket.changed", []byte(`{}`), base)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	assertUnchanged(t, s, tk)
}

// assertUnchanged checks that nothing was written for tk since it was created.
func assertUnchanged(t *testing.T, s ticketing.Store, tk *ticketing.Ticket) {
	t.Helper()
	ctx := context.Background()
	got, err := s.ByID(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != tk.Status || got.Version != tk.Version {
		t.Errorf("ticket changed: status %s→%s version %d→%d", tk.Status, got.Status, tk.Version, got.Version)
	}
	evs, _ := s.Events(ctx, tk.ID)
	wantEvents := map[ticketing.Status]int{ticketing.StatusReceived: 1, ticketing.StatusDispatched: 3}[tk.Status]
	if len(evs) != wantEvents {
		t.Errorf("events = %d, want %d", len(evs), wantEvents)
	}
	msgs, _ := s.Outbox(ctx, 1000)
	n := 0
	for _, m := range msgs {
		if m.TicketID == tk.ID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("outbox rows for ticket = %d, want 1", n)
	}
}

func testIllegalTransitions(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	at := base.Add(time.Hour)
	a := ticketing.Assignment{Department: "d", Deadline: at.Add(time.Hour)}
	tests := []struct {
		name string
		act  func(*ticketing.Ticket) error
	}{
		{"accept a received ticket", func(t *ticketing.Ticket) error { return t.Accept(at, "l") }},
		{"dispatch a received ticket", func(t *ticketing.Ticket) error { return t.Dispatch(at, "d", a, "") }},
		{"report a received ticket handled", func(t *ticketing.Ticket) error { return t.ReportHandled(at, "l", "done") }},
		{"verify a received ticket", func(t *ticketing.Ticket) error { return t.Verify(at, "s", true, "") }},
		{"return a received ticket", func(t *ticketing.Ticket) error { return t.Return(at, "l", "not ours") }},
		{"evaluate an open ticket", func(t *ticketing.Ticket) error {
			return t.Evaluate(at, "c", ticketing.Evaluation{Satisfaction: ticketing.Satisfied})
		}},
		{"reopen an open ticket", func(t *ticketing.Ticket) error { return t.Reopen(at, "c", "x") }},
		{"refuse a return never made", func(t *ticketing.Ticket) error { return t.RefuseReturn(at, "d", "x") }},
		{"extend a received ticket", func(t *ticketing.Ticket) error { return t.RequestExtension(at, "l", at.Add(time.Hour), "x") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk := newTicket(t, s, "ill-"+tc.name)
			_, err := s.Update(ctx, tk.ID, tc.act)
			if !errors.Is(err, ticketing.ErrIllegalTransition) || !errors.Is(err, ticketing.ErrConflict) {
				t.Fatalf("err = %v, want an illegal transition", err)
			}
			var te *ticketing.TransitionError
			if !errors.As(err, &te) || te.From != ticketing.StatusReceived {
				t.Errorf("err = %#v, want *TransitionError from received", err)
			}
			assertUnchanged(t, s, tk)
		})
	}
	// From a closed ticket nothing but evaluation moves it.
	tk := walkToClosed(t, s, "closed")
	for _, act := range []func(*ticketing.Ticket) error{
		func(t *ticketing.Ticket) error { return t.Accept(at, "l") },
		func(t *ticketing.Ticket) error { return t.Register(at, "d", "") },
		func(t *ticketing.Ticket) error { return t.Dispatch(at, "d", a, "") },
		func(t *ticketing.Ticket) error { return t.Decline(at, "d", "r") },
	} {
		if _, err := s.Update(ctx, tk.ID, act); !errors.Is(err, ticketing.ErrIllegalTransition) {
			t.Errorf("on closed ticket: err = %v, want illegal transition", err)
		}
	}
}

// walkToClosed submits a routed report and takes it through to closed.
func walkToClosed(t *testing.T, s ticketing.Store, key string) *ticketing.Ticket {
	t.Helper()
	ctx := context.Background()
	svc, _ := newService(s)
	tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: key, Text: "井盖丢了 " + key})
	if err != nil {
		t.Fatal(err)
	}
	for _, act := range []func(*ticketing.Ticket, time.Time) error{
		func(t *ticketing.Ticket, now time.Time) error { return t.Accept(now, "liaison:1") },
		func(t *ticketing.Ticket, now time.Time) error {
			return t.ReportHandled(now, "liaison:1", "已补装井盖")
		},
		func(t *ticketing.Ticket, now time.Time) error {
			return t.Verify(now, "supervisor:2", true, "现场核实")
		},
	} {
		if tk, err = svc.Act(ctx, tk.Number, act); err != nil {
			t.Fatal(err)
		}
	}
	return tk
}

func testConcurrentUpdates(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	svc, c := newService(s)
	tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "cc", Text: "井盖松动"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var ok, illegal atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Update(ctx, tk.ID, func(t *ticketing.Ticket) error { return t.Accept(c.now(), "liaison") })
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ticketing.ErrIllegalTransition):
				illegal.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || illegal.Load() != n-1 {
		t.Fatalf("accepted %d times, refused %d; want exactly one acceptance", ok.Load(), illegal.Load())
	}
	evs, _ := s.Events(ctx, tk.ID)
	if len(evs) != 4 {
		t.Errorf("events = %d, want 4 (received, registered, dispatched, accepted)", len(evs))
	}
}

func testOutbox(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	svc, _ := newService(s)
	tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "ob", Text: "井盖"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Act(ctx, tk.Number, func(t *ticketing.Ticket, now time.Time) error { return t.Accept(now, "l") }); err != nil {
		t.Fatal(err)
	}
	msgs, err := s.Outbox(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var topics []string
	for _, m := range msgs {
		if m.TicketID != tk.ID || !strings.Contains(string(m.Payload), tk.Number) {
			t.Errorf("message %+v", m)
		}
		topics = append(topics, m.Topic)
	}
	if diff := cmp.Diff([]string{"ticket.created", "ticket.changed"}, topics); diff != "" {
		t.Errorf("topics (-want +got):\n%s", diff)
	}
	if msgs[0].ID >= msgs[1].ID {
		t.Errorf("outbox not in order: %d, %d", msgs[0].ID, msgs[1].ID)
	}
}

func testTokens(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	secret, tok, err := ticketing.NewToken(ticketing.RoleAdmin, "ops", base)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if tok.ID == 0 {
		t.Error("CreateToken did not set the id")
	}
	got, err := s.TokenByHash(ctx, ticketing.HashToken(secret))
	if err != nil {
		t.Fatal(err)
	}
	if got.Role != ticketing.RoleAdmin || got.Name != "ops" || got.ID != tok.ID || !got.CreatedAt.Equal(base) {
		t.Errorf("token = %+v", got)
	}
	if _, err := s.TokenByHash(ctx, ticketing.HashToken(secret+"x")); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("wrong secret: %v", err)
	}

	// A liaison's integration token keeps its department.
	secret, tok, err = ticketing.NewDepartmentToken(ticketing.RoleLiaison, "swj", "swj-system", base)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if got, err := s.TokenByHash(ctx, ticketing.HashToken(secret)); err != nil || got.Department != "swj" || got.Role != ticketing.RoleLiaison {
		t.Errorf("liaison token = %+v, %v", got, err)
	}
	// A phone's new sign-in ends the user's earlier phone tokens, and only
	// those: not the user's other tokens, not another user's.
	hash, err := ticketing.HashPassword("a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{}
	for _, u := range []string{"sup.a", "sup.b"} {
		if err := s.PutUser(ctx, &ticketing.User{Name: u, Role: ticketing.RoleSupervisor, PasswordHash: hash, CreatedAt: base, UpdatedAt: base}); err != nil {
			t.Fatal(err)
		}
	}
	var keep int64
	for _, k := range []struct{ user, name string }{{"sup.a", "field-app 1"}, {"sup.a", "field-app 2"}, {"sup.a", "desk script"},
		{"sup.b", "field-app 1"}, {"sup.a", "field-app 3"}} {
		u, err := s.UserByName(ctx, k.user)
		if err != nil {
			t.Fatal(err)
		}
		secret, tok, err := ticketing.NewUserToken(u, k.name, base)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		secrets[k.user+"/"+k.name], keep = secret, tok.ID
	}
	if n, err := s.DeleteUserTokens(ctx, "sup.a", "field-app ", keep); err != nil || n != 2 {
		t.Errorf("DeleteUserTokens = %d, %v; want 2 of sup.a's earlier phone tokens", n, err)
	}
	for key, wantKept := range map[string]bool{"sup.a/field-app 1": false, "sup.a/field-app 2": false, "sup.a/field-app 3": true,
		"sup.a/desk script": true, "sup.b/field-app 1": true} {
		_, err := s.TokenByHash(ctx, ticketing.HashToken(secrets[key]))
		if kept := err == nil; kept != wantKept || err != nil && !errors.Is(err, ticketing.ErrNotFound) {
			t.Errorf("%s: kept %v (%v), want %v", key, kept, err, wantKept)
		}
	}

	// The store refuses a liaison token acting for no department, and a
	// department on a role that has none, whoever built the record.
	for name, bad := range map[string]*ticketing.Token{
		"liaison without department": {Name: "x", Role: ticketing.RoleLiaison, Hash: ticketing.HashToken("a"), CreatedAt: base},
		"admin with department":      {Name: "x", Role: ticketing.RoleAdmin, Department: "swj", Hash: ticketing.HashToken("b"), CreatedAt: base},
		"unknown role":               {Name: "x", Role: "root", Hash: ticketing.HashToken("c"), CreatedAt: base},
		"not a digest":               {Name: "x", Role: ticketing.RoleAdmin, Hash: "yh_plaintext", CreatedAt: base},
	} {
		if err := s.CreateToken(ctx, bad); !errors.Is(err, ticketing.ErrInvalid) {
			t.Errorf("%s: CreateToken err = %v, want invalid", name, err)
		}
		if _, err := s.TokenByHash(ctx, bad.Hash); !errors.Is(err, ticketing.ErrNotFound) {
			t.Errorf("%s: stored anyway (%v)", name, err)
		}
	}
}

// testWorkflow walks every path of the state machine through Service.Act.
func testWorkflow(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	svc, c := newService(s)
	act := func(tk *ticketing.Ticket, f func(*ticketing.Ticket, time.Time) error) *ticketing.Ticket {
		t.Helper()
		got, err := svc.Act(ctx, tk.Number, f)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	tk := walkToClosed(t, s, "wf")
	// Evaluation: unsatisfied reopens; re-dispatch, return, refuse, extension, rework, close.
	tk = act(tk, func(t *ticketing.Ticket, now time.Time) error {
		return t.Evaluate(now, "citizen", ticketing.Evaluation{Satisfaction: ticketing.Unsatisfied, Solved: false, Comment: "没修好"})
	})
	if tk.Evaluation == nil || tk.Evaluation.Satisfaction != ticketing.Unsatisfied {
		t.Fatalf("evaluation = %+v", tk.Evaluation)
	}
	tk = act(tk, func(t *ticketing.Ticket, now time.Time) error { return t.Reopen(now, "supervisor", "市民不满意") })
	due := c.now().Add(72 * time.Hour)
	tk = act(tk, func(t *ticketing.Ticket, now time.Time) error {
		return t.Dispatch(now, "dispatcher", ticketing.Assignment{Department: "sw", DepartmentName: "水务局", Deadline: due, Reason: "改派"}, "")
	})
	tk = act(tk, func(t *ticketing.Ticket, now time.Time) error {
		return t.Return(now, "liaison:sw", "非本单位职责")
	})
	tk = act(tk, func(t *ticketing.Ticket, now time.Time) error {
		return t.RefuseReturn(now, "dispatcher", "属于水务局")
	})
	tk = act(tk, func(t *ticketing.Ticket, now time.Time) error { return t.Accept(now, "liaison:sw") })
	later := due.Add(48 * time.Hour)
	tk = act(tk, func(t *ticketing.Ticket, now time.Time) error {
		return t.RequestExtension(now, "liaison:sw", later, "需协调施工")
	})
	if _, err := svc.Act(ctx, tk.Number, func(t *ticketing.Ticket, now time.Time) error {
		return t.RequestExtension(now, "liaison:sw", later.Add(time.Hour), "again")
	}); !errors.Is(err, ticketing.ErrConflict) {
		t.Errorf("second pending extension: err = %v, want conflict", err)
	}
	tk = act(tk, func(t *ticketing.Ticket, now time.Time) error {
		return t.DecideExtension(now, "dispatcher", true, "同意")
	})
	if !tk.DueAt.Equal(later) || tk.ExtensionCount != 1 || tk.Extension != nil {
		t.Errorf("after extension: due=%v count=%d pending=%v", tk.DueAt, tk.ExtensionCount, tk.Extension)
	}
	tk = act(tk, func(t *ticketing.Ticket, now time.Time) error { return t.ReportHandled(now, "liaison:sw", "已修复") })
	tk = act(tk, func(t *ticketing.Ticket, now time.Time) error {
		return t.Verify(now, "supervisor", false, "仍有积水")
	})
	if tk.Status != ticketing.StatusAccepted || tk.ReworkCount != 1 {
		t.Errorf("after failed verification: status=%s rework=%d", tk.Status, tk.ReworkCount)
	}
	tk = act(tk, func(t *ticketing.Ticket, now time.Time) error {
		return t.ReportHandled(now, "liaison:sw", "已彻底修复")
	})
	tk = act(tk, func(t *ticketing.Ticket, now time.Time) error { return t.Verify(now, "supervisor", true, "") })
	if tk.Status != ticketing.StatusClosed {
		t.Fatalf("status = %s, want closed", tk.Status)
	}
	evs, err := s.Events(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []ticketing.EventType
	for _, e := range evs {
		got = append(got, e.Type)
	}
	want := []ticketing.EventType{"received", "registered", "dispatched", "accepted", "handled", "closed", "evaluated",
		"reopened", "rerouted", "dispatched", "returned", "return_refused", "accepted", "extension_requested", "extension_approved",
		"handled", "rework", "handled", "closed"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("event log (-want +got):\n%s", diff)
	}

	// Side doors: decline, resolve on contact, merge.
	submit := func(key, text string) *ticketing.Ticket {
		tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelPhone, ExternalID: key, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	d := act(submit("c1", "无关内容"), func(t *ticketing.Ticket, now time.Time) error {
		return t.Decline(now, "dispatcher", "不属于受理范围")
	})
	r := act(submit("c2", "公积金怎么提取"), func(t *ticketing.Ticket, now time.Time) error {
		return t.ResolveOnContact(now, "agent:3", "已告知提取流程")
	})
	master := submit("c3", "井盖缺失 master")
	dup := submit("c4", "同一个井盖缺失")
	if _, err := svc.Act(ctx, dup.Number, func(t *ticketing.Ticket, now time.Time) error { return t.MergeInto(now, "dispatcher", t) }); !errors.Is(err, ticketing.ErrInvalid) {
		t.Errorf("merge into itself: err = %v, want invalid", err)
	}
	m := act(dup, func(t *ticketing.Ticket, now time.Time) error { return t.MergeInto(now, "dispatcher", master) })
	for _, tc := range []struct {
		tk   *ticketing.Ticket
		want ticketing.Status
	}{{d, ticketing.StatusNotRegistered}, {r, ticketing.StatusResolvedOnContact}, {m, ticketing.StatusMerged}} {
		got, _ := s.ByID(ctx, tc.tk.ID)
		if got.Status != tc.want {
			t.Errorf("ticket %s: status %s, want %s", got.Number, got.Status, tc.want)
		}
	}
	if got, _ := s.ByID(ctx, m.ID); got.MasterID != master.ID {
		t.Errorf("merged ticket master = %d, want %d", got.MasterID, master.ID)
	}
}

func testSubmitIdempotent(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	svc, _ := newService(s)
	r := ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "idem-1", Text: "井盖被盗", Address: "长安街1号",
		Reporter: ticketing.Contact{Phone: "13800138000"}}
	first, created, err := svc.Submit(ctx, r)
	if err != nil || !created {
		t.Fatalf("first submit: created=%v err=%v", created, err)
	}
	if !ticketing.ValidNumber(first.Number) || first.Status != ticketing.StatusDispatched || first.Department != "cgw" {
		t.Errorf("first = number %q status %s dept %q", first.Number, first.Status, first.Department)
	}
	again, created, err := svc.Submit(ctx, r)
	if err != nil || created || again.Number != first.Number || again.TrackHash != first.TrackHash {
		t.Fatalf("replay: created=%v err=%v number %s vs %s", created, err, again.Number, first.Number)
	}
	if again.TrackToken != "" {
		t.Errorf("a replay carries the tracking secret %q; only its digest is stored", again.TrackToken)
	}
	r.Text = "另一件事"
	if _, _, err := svc.Submit(ctx, r); !errors.Is(err, ticketing.ErrConflict) {
		t.Errorf("same key, different report: err = %v, want conflict", err)
	}
	evs, _ := s.Events(ctx, first.ID)
	if len(evs) != 3 {
		t.Errorf("events = %d after replays, want 3", len(evs))
	}
}

func testSubmitConcurrentReplays(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	svc, _ := newService(s)
	const keys, replays = 5, 8
	var wg sync.WaitGroup
	numbers := make([][]string, keys)
	var created atomic.Int32
	for k := range keys {
		numbers[k] = make([]string, replays)
		for i := range replays {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tk, c, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: fmt.Sprint("conc-", k), Text: fmt.Sprint("井盖 ", k)})
				if err != nil {
					t.Error(err)
					return
				}
				if c {
					created.Add(1)
				}
				numbers[k][i] = tk.Number
			}()
		}
	}
	wg.Wait()
	if created.Load() != keys {
		t.Errorf("created %d tickets for %d keys", created.Load(), keys)
	}
	seen := map[string]bool{}
	for k := range keys {
		for _, n := range numbers[k] {
			if n != numbers[k][0] {
				t.Errorf("key %d answered with %v", k, numbers[k])
				break
			}
		}
		if seen[numbers[k][0]] {
			t.Errorf("two keys share number %s", numbers[k][0])
		}
		seen[numbers[k][0]] = true
	}
}

func testSubmitRejectsBadInput(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	svc, _ := newService(s)
	long := strings.Repeat("路", 10000)
	tests := []struct {
		name  string
		r     ticketing.Report
		kind  ticketing.Kind
		field string
	}{
		{"empty text", ticketing.Report{Text: "   "}, ticketing.KindInvalid, "text"},
		{"10000 characters", ticketing.Report{Text: long}, ticketing.KindTooLarge, "text"},
		{"unknown category", ticketing.Report{Text: "x", Category: "nope"}, ticketing.KindInvalid, "category"},
		{"latitude out of range", ticketing.Report{Text: "x", Location: &ticketing.Point{Lat: 91, Lon: 116}}, ticketing.KindInvalid, "lat"},
		{"longitude out of range", ticketing.Report{Text: "x", Location: &ticketing.Point{Lat: 39, Lon: 181}}, ticketing.KindInvalid, "lon"},
		{"bad phone", ticketing.Report{Text: "x", Reporter: ticketing.Contact{Phone: "call me"}}, ticketing.KindInvalid, "contact.phone"},
		{"bad channel", ticketing.Report{Channel: "fax", Text: "x"}, ticketing.KindInvalid, "channel"},
		{"NUL in the text", ticketing.Report{Text: "a\x00b"}, ticketing.KindInvalid, "text"},
		{"escape in the address", ticketing.Report{Text: "x", Address: "\x1b[2J"}, ticketing.KindInvalid, "address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.r.Channel == "" {
				tc.r.Channel = ticketing.ChannelWeb
			}
			tc.r.ExternalID = "bad-" + tc.name
			_, _, err := svc.Submit(ctx, tc.r)
			var e *ticketing.Error
			if !errors.As(err, &e) || e.Kind != tc.kind || e.Field != tc.field {
				t.Fatalf("err = %v, want kind %s on field %s", err, tc.kind, tc.field)
			}
			if _, err := s.ByExternalID(ctx, tc.r.Channel, tc.r.ExternalID); !errors.Is(err, ticketing.ErrNotFound) {
				t.Errorf("a rejected report was stored: %v", err)
			}
		})
	}
}

func testTrack(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	svc, _ := newService(s)
	tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "trk", Text: "井盖",
		Reporter: ticketing.Contact{Phone: "13800138000"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Act(ctx, tk.Number, func(t *ticketing.Ticket, now time.Time) error {
		return t.Return(now, "l", "内部原因：人手不足")
	}); err != nil {
		t.Fatal(err)
	}
	got, evs, err := svc.Track(ctx, tk.Number, tk.TrackToken)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != tk.ID || len(evs) != 3 {
		t.Fatalf("track: id %d, %d public events, want 3 (the return is internal)", got.ID, len(evs))
	}
	for _, e := range evs {
		if e.Note != "" || e.Actor != "" || strings.Contains(e.Public, "人手不足") {
			t.Errorf("public event leaks internals: %+v", e)
		}
	}
	for _, bad := range []struct{ number, token string }{
		{tk.Number, "wrong"}, {tk.Number, ""}, {"26112500000000", tk.TrackToken}, {"1234", tk.TrackToken},
		// Whoever holds a copy of the database holds the digest, not the
		// token: the digest itself opens nothing.
		{tk.Number, tk.TrackHash}, {tk.Number, got.TrackHash},
	} {
		if _, _, err := svc.Track(ctx, bad.number, bad.token); !errors.Is(err, ticketing.ErrNotFound) {
			t.Errorf("Track(%q, %q) err = %v, want not found", bad.number, bad.token, err)
		}
	}
	// The store keeps the SHA-256 digest of the token, never the token.
	stored, err := s.ByNumber(ctx, tk.Number)
	if err != nil {
		t.Fatal(err)
	}
	if stored.TrackToken != "" || stored.TrackHash != ticketing.HashToken(tk.TrackToken) {
		t.Errorf("stored tracking token %q, digest %q; want no token and the SHA-256 of %q", stored.TrackToken, stored.TrackHash, tk.TrackToken)
	}
	// A reissued token replaces the old one.
	fresh, err := svc.ReissueTrackToken(ctx, stored)
	if err != nil || fresh == "" || fresh == tk.TrackToken {
		t.Fatalf("reissue: %q, %v", fresh, err)
	}
	if _, _, err := svc.Track(ctx, tk.Number, tk.TrackToken); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("the old token after a reissue: err = %v, want not found", err)
	}
	if _, _, err := svc.Track(ctx, tk.Number, fresh); err != nil {
		t.Errorf("the reissued token: %v", err)
	}
	if err := s.SetTrackHash(ctx, 1<<40, ticketing.HashToken("x")); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("SetTrackHash of an unknown ticket: err = %v, want not found", err)
	}
}

// TrackTokenMigrated checks a store migrated from a schema that kept
// tracking tokens in plain text: token is the plain token a row of number
// had before. The link keeps working, and the store now holds its digest.
func TrackTokenMigrated(t *testing.T, s ticketing.Store, number, token string) {
	t.Helper()
	ctx := context.Background()
	svc, _ := newService(s)
	got, err := s.ByNumber(ctx, number)
	if err != nil {
		t.Fatal(err)
	}
	if got.TrackHash != ticketing.HashToken(token) {
		t.Errorf("after the migration the row holds %q, want the digest of the old token", got.TrackHash)
	}
	if _, _, err := svc.Track(ctx, number, token); err != nil {
		t.Errorf("the old tracking link after the migration: %v", err)
	}
	if _, _, err := svc.Track(ctx, number, got.TrackHash); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("the digest used as a token: err = %v, want not found", err)
	}
}

// reopen checks that a store opened again on the same database (a restart)
// migrates without error, keeps every ticket and never reuses an id.
// open must return a store on the same database each time it is called.
func reopen(t *testing.T, open NewStore) {
	ctx := context.Background()
	first := open(t)
	svc, _ := newService(first)
	tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "restart", Text: "井盖 restart"})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := first.(interface{ Close() error }); ok {
		_ = c.Close()
	} else if c, ok := first.(interface{ Close() }); ok {
		c.Close()
	}
	second := open(t)
	got, err := second.ByNumber(ctx, tk.Number)
	if err != nil {
		t.Fatalf("after reopening: %v", err)
	}
	if got.Status != tk.Status || got.TrackHash != tk.TrackHash {
		t.Errorf("after reopening: %+v", got)
	}
	id, err := second.NextID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id <= tk.ID {
		t.Errorf("NextID after reopening = %d, not above %d", id, tk.ID)
	}
}

// sharedDatabase checks that two stores on one database (two instances)
// never hand out the same ticket id, see each other's tickets and store a
// supplement retried on both once.
func sharedDatabase(t *testing.T, open NewStore) {
	ctx := context.Background()
	a, b := open(t), open(t)
	seen := map[int64]bool{}
	for i := range 250 {
		s := a
		if i%3 == 0 {
			s = b
		}
		id, err := s.NextID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if seen[id] {
			t.Fatalf("id %d handed out twice", id)
		}
		seen[id] = true
	}
	svcA, _ := newService(a)
	tk, _, err := svcA.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "shared", Text: "井盖 shared"})
	if err != nil {
		t.Fatal(err)
	}
	svcB, _ := newService(b)
	again, created, err := svcB.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "shared", Text: "井盖 shared"})
	if err != nil || created || again.ID != tk.ID {
		t.Fatalf("replay through the other instance: created=%v err=%v id %d vs %d", created, err, again.ID, tk.ID)
	}
	// A supplement retried on both instances at once is stored once.
	supplementAll(t, []*ticketing.Service{svcA, svcB}, tk, slices.Repeat([]string{"wechat:msg:shared"}, 8), true)
	assertSupplements(t, a, tk, 1)
}

func testDuplicates(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	c := &clock{}
	svc := ticketing.NewService(s, router{}, ticketing.WithClock(c.now), ticketing.WithLocation(time.UTC),
		ticketing.WithDuplicates(ticketing.DuplicatePolicy{Radius: 100, Window: 72 * time.Hour, AutoMerge: 0.8}))
	at := func(dLat float64) *ticketing.Point { return &ticketing.Point{Lat: 39.9 + dLat, Lon: 116.4} }
	submit := func(key, text string, p *ticketing.Point) *ticketing.Ticket {
		t.Helper()
		tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: key, Text: text, Location: p})
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	master := submit("m", "东华门小区南门井盖缺失，晚上很危险", at(0))
	same := submit("same", "东华门小区南门井盖缺失，晚上很危险！", at(0.0001)) // ~11 m away
	if same.Status != ticketing.StatusMerged || same.MasterID != master.ID || same.Department != "" {
		t.Fatalf("a near-identical report 11 m away: status %s master %d dept %q; want merged into %d", same.Status, same.MasterID, same.Department, master.ID)
	}
	similar := submit("similar", "井盖好像有点松动", at(0.0002))
	if similar.Status != ticketing.StatusDispatched {
		t.Errorf("a loosely similar report: status %s, want dispatched with a note", similar.Status)
	}
	evs, _ := s.Events(ctx, similar.ID)
	noted := false
	for _, e := range evs {
		if e.Type == ticketing.EventNote && strings.Contains(e.Note, master.Number) && e.Public == "" {
			noted = true
		}
	}
	if !noted {
		t.Errorf("no internal note naming %s on the possible duplicate: %+v", master.Number, evs)
	}
	far := submit("far", "东华门小区南门井盖缺失，晚上很危险", at(0.01)) // ~1.1 km
	if far.Status == ticketing.StatusMerged {
		t.Error("a report 1.1 km away was merged")
	}
	// Closing the master tells the merged report's citizen.
	for _, act := range []func(*ticketing.Ticket, time.Time) error{
		func(t *ticketing.Ticket, now time.Time) error { return t.Accept(now, "l") },
		func(t *ticketing.Ticket, now time.Time) error { return t.ReportHandled(now, "l", "已补装") },
		func(t *ticketing.Ticket, now time.Time) error { return t.Verify(now, "s", true, "") },
	} {
		if _, err := svc.Act(ctx, master.Number, act); err != nil {
			t.Fatal(err)
		}
	}
	msgs, _ := s.Outbox(ctx, 1000)
	told := false
	for _, m := range msgs {
		if m.Topic == "ticket.follower_closed" && strings.Contains(string(m.Payload), same.Number) {
			told = true
		}
	}
	if !told {
		t.Error("no follower_closed message for the merged report")
	}
	_, public, err := svc.Track(ctx, same.Number, same.TrackToken)
	if err != nil {
		t.Fatal(err)
	}
	last := public[len(public)-1].Public
	if !strings.Contains(last, master.Number) || !strings.Contains(last, "已结案") {
		t.Errorf("the merged report's timeline ends with %q, want the master's closure", last)
	}
}

// staleRouter answers with a deadline that has already passed.
type staleRouter struct{}

func (staleRouter) Route(_ context.Context, r ticketing.Report) (ticketing.Assignment, error) {
	return ticketing.Assignment{Category: "0101", Department: "cgw", Deadline: r.ReceivedAt.Add(-time.Hour), AutoDispatch: true, Reason: "过期"}, nil
}

// A routing answer the workflow refuses leaves the report for a dispatcher.
func testRoutingNotApplicable(t *testing.T, s ticketing.Store) {
	c := &clock{}
	svc := ticketing.NewService(s, staleRouter{}, ticketing.WithClock(c.now))
	tk, created, err := svc.Submit(context.Background(), ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "stale", Text: "井盖"})
	if err != nil || !created {
		t.Fatalf("created=%v err=%v; the report must be kept", created, err)
	}
	if tk.Status != ticketing.StatusReceived || tk.Department != "" || tk.Category != "0101" {
		t.Errorf("status %s dept %q category %q; want received, no department, the category suggested", tk.Status, tk.Department, tk.Category)
	}
	evs, _ := s.Events(context.Background(), tk.ID)
	if len(evs) != 1 {
		t.Errorf("%d events, want only received", len(evs))
	}
}

// What a citizen adds later (photos, place) is stored with the ticket.
func testSupplementPersists(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	svc, _ := newService(s)
	tk := newTicket(t, s, "sup-1")
	att := ticketing.Attachment{ID: "2026/11/26/p.jpg", ContentType: "image/jpeg", Size: 10, SHA256: "cd"}
	if _, err := svc.Supplement(ctx, tk.Number, "wechat:citizen", ticketing.Supplement{Text: "在公交站旁",
		Attachments: []ticketing.Attachment{att}, Location: &ticketing.Point{Lat: 39.91, Lon: 116.41}, Address: "和平路12号"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ByNumber(ctx, tk.Number)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Attachments) != 1 || got.Attachments[0] != att || got.Location == nil || got.Location.Lat != 39.91 || got.Address != "和平路12号" {
		t.Fatalf("stored after the supplement: attachments %v location %v address %q", got.Attachments, got.Location, got.Address)
	}
	evs, err := s.Events(ctx, got.ID)
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Type != ticketing.EventSupplemented || !strings.Contains(last.Public, "在公交站旁") {
		t.Fatalf("last event %+v", last)
	}
}

// A department's result photos keep their kind apart from the citizen's.
func testResultPhotosPersist(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	svc, _ := newService(s)
	citizen := ticketing.Attachment{ID: "2026/11/25/c.jpg", ContentType: "image/jpeg", Size: 10, SHA256: "c1"}
	tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "res-1", Text: "井盖丢了",
		Attachments: []ticketing.Attachment{citizen}})
	if err != nil {
		t.Fatal(err)
	}
	result := ticketing.Attachment{ID: "2026/11/26/r.png", ContentType: "image/png", Size: 20, SHA256: "r1"}
	for _, act := range []func(*ticketing.Ticket, time.Time) error{
		func(t *ticketing.Ticket, now time.Time) error { return t.Accept(now, "liaison:1") },
		func(t *ticketing.Ticket, now time.Time) error {
			return t.ReportHandled(now, "liaison:1", "已补装井盖", result)
		},
	} {
		if _, err := svc.Act(ctx, tk.Number, act); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ByNumber(ctx, tk.Number)
	if err != nil {
		t.Fatal(err)
	}
	result.Kind = ticketing.AttachmentResult
	if c, r := got.CitizenPhotos(), got.ResultPhotos(); len(c) != 1 || c[0] != citizen || len(r) != 1 || r[0] != result {
		t.Fatalf("stored attachments %+v; want citizen %+v and result %+v", got.Attachments, citizen, result)
	}
}
