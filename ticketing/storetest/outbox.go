package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/yihao-city/yihao/ticketing"
)

// DeliveryStore is a Store that also keeps forwarding deliveries.
type DeliveryStore interface {
	ticketing.Store
	ticketing.DeliveryStore
}

// deliveryTests returns the forwarding conformance tests. Each asks the
// store for its deliveries, failing where the store keeps none.
func deliveryTests() []storeTest {
	tests := []struct {
		name string
		fn   func(*testing.T, DeliveryStore)
	}{
		{"FanOut", testFanOut},
		{"OrderPerTicket", testOrderPerTicket},
		{"Lease", testLease},
		{"DeadLetters", testDeadLetters},
		{"Stats", testDeliveryStats},
		{"ExternalRefs", testExternalRefs},
		{"ConcurrentClaims", func(t *testing.T, s DeliveryStore) { concurrentClaims(t, []DeliveryStore{s, s}) }},
		{"ConcurrentPolls", func(t *testing.T, s DeliveryStore) { concurrentPolls(t, []DeliveryStore{s}, 4) }},
	}
	out := make([]storeTest, 0, len(tests))
	for _, tc := range tests {
		out = append(out, storeTest{"Delivery" + tc.name, func(t *testing.T, s ticketing.Store) { tc.fn(t, deliveries(t, s)) }})
	}
	return out
}

// deliveries is s as a DeliveryStore; a store without deliveries fails the test.
func deliveries(t *testing.T, s ticketing.Store) DeliveryStore {
	t.Helper()
	d, ok := s.(DeliveryStore)
	if !ok {
		t.Fatalf("%T keeps no forwarding deliveries", s)
	}
	return d
}

// sharedDeliveries checks that two stores on one database (two instances)
// claiming at once never hold the same delivery or poll the same reference,
// and keep each ticket's messages in order.
func sharedDeliveries(t *testing.T, newDatabase NewDatabase) {
	t.Run("Claims", func(t *testing.T) {
		open := newDatabase(t)
		a, b := deliveries(t, open(t)), deliveries(t, open(t))
		concurrentClaims(t, []DeliveryStore{a, b, a, b})
	})
	t.Run("Polls", func(t *testing.T) {
		open := newDatabase(t)
		a, b := deliveries(t, open(t)), deliveries(t, open(t))
		concurrentPolls(t, []DeliveryStore{a, b}, 2)
	})
}

// ticketWith submits a dispatched ticket and then accepts it and reports it
// handled as needed, so it has 1 to 3 outbox messages.
func ticketWith(t *testing.T, s ticketing.Store, key string, messages int) *ticketing.Ticket {
	t.Helper()
	ctx := context.Background()
	svc, _ := newService(s)
	tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: key, Text: "井盖缺失 " + key})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	acts := []func(*ticketing.Ticket, time.Time) error{
		func(t *ticketing.Ticket, now time.Time) error { return t.Accept(now, "liaison") },
		func(t *ticketing.Ticket, now time.Time) error { return t.ReportHandled(now, "liaison", "已修复") },
	}
	for _, act := range acts[:messages-1] {
		if tk, err = svc.Act(ctx, tk.Number, act); err != nil {
			t.Fatalf("Act: %v", err)
		}
	}
	return tk
}

func register(t *testing.T, s DeliveryStore, endpoints ...string) {
	t.Helper()
	for _, e := range endpoints {
		if err := s.RegisterEndpoint(context.Background(), e, base); err != nil {
			t.Fatalf("RegisterEndpoint(%s): %v", e, err)
		}
	}
}

func claim(t *testing.T, s DeliveryStore, endpoint string, now time.Time) []ticketing.Delivery {
	t.Helper()
	ds, err := s.ClaimDeliveries(context.Background(), endpoint, now, 10, time.Minute)
	if err != nil {
		t.Fatalf("ClaimDeliveries(%s): %v", endpoint, err)
	}
	return ds
}

// claimed renders deliveries as "number/topic#attempt" for comparisons.
func claimed(ds []ticketing.Delivery) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%s/%s#%d", d.Number, d.Topic, d.Attempt))
	}
	return out
}

func wantClaim(t *testing.T, s DeliveryStore, endpoint string, now time.Time, want ...string) []ticketing.Delivery {
	t.Helper()
	ds := claim(t, s, endpoint, now)
	if want == nil {
		want = []string{}
	}
	if diff := cmp.Diff(want, claimed(ds)); diff != "" {
		t.Fatalf("claim %s at %s (-want +got):\n%s", endpoint, now.Format(time.TimeOnly), diff)
	}
	return ds
}

// delivered marks ds delivered.
func delivered(t *testing.T, s DeliveryStore, ds ...ticketing.Delivery) {
	t.Helper()
	for _, d := range ds {
		if err := s.MarkDelivered(context.Background(), d.ID, base, false); err != nil {
			t.Fatalf("MarkDelivered(%d): %v", d.ID, err)
		}
	}
}

func testFanOut(t *testing.T, s DeliveryStore) {
	ctx := context.Background()
	register(t, s, "a", "b", "a") // registering again is a no-op
	t1 := ticketWith(t, s, "fan-1", 1)
	register(t, s, "c")
	t2 := ticketWith(t, s, "fan-2", 1)

	msgs, err := s.Outbox(ctx, 10)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("Outbox = %d messages, %v", len(msgs), err)
	}
	ds := wantClaim(t, s, "a", base, t1.Number+"/ticket.created#1", t2.Number+"/ticket.created#1")
	for i, d := range ds {
		m := msgs[i]
		if d.MessageID != m.ID || d.TicketID != m.TicketID || d.Endpoint != "a" || string(d.Payload) == "" ||
			!strings.Contains(string(d.Payload), d.Number) || !d.MessageAt.Equal(m.At) || d.Dead || !d.DeliveredAt.IsZero() {
			t.Errorf("delivery %+v does not match message %+v", d, m)
		}
	}
	if ds[0].ID == ds[1].ID {
		t.Errorf("two deliveries share id %d", ds[0].ID)
	}
	wantClaim(t, s, "b", base, t1.Number+"/ticket.created#1", t2.Number+"/ticket.created#1")
	// c was registered after t1's message was written.
	dc := wantClaim(t, s, "c", base, t2.Number+"/ticket.created#1")
	if dc[0].ID == ds[1].ID {
		t.Errorf("endpoints a and c share delivery id %d", dc[0].ID)
	}
	wantClaim(t, s, "unregistered", base)

	if err := s.RemoveEndpoint(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	t3 := ticketWith(t, s, "fan-3", 1)
	wantClaim(t, s, "a", base, t3.Number+"/ticket.created#1")
	wantClaim(t, s, "b", base)
	if st, err := s.DeliveryStats(ctx, "b"); err != nil || st.Pending != 2 {
		t.Errorf("b after removal: %+v, %v; want its 2 earlier deliveries kept", st, err)
	}
}

func testOrderPerTicket(t *testing.T, s DeliveryStore) {
	ctx := context.Background()
	register(t, s, "ep")
	tk := ticketWith(t, s, "order", 3)
	other := ticketWith(t, s, "order-other", 2)
	n, o := tk.Number, other.Number
	now := base.Add(time.Hour)

	// One delivery per ticket per claim, each ticket's first message first.
	ds := wantClaim(t, s, "ep", now, n+"/ticket.created#1", o+"/ticket.created#1")
	m1 := ds[0]
	delivered(t, s, ds[1])
	delivered(t, s, wantClaim(t, s, "ep", now, o+"/ticket.changed#1")...) // m1 is leased: nothing of tk
	// A failure holds back the ticket's later messages until the retry.
	if err := s.MarkFailed(ctx, m1.ID, m1.Attempt, now.Add(time.Minute), "503 Service Unavailable", false); err != nil {
		t.Fatal(err)
	}
	wantClaim(t, s, "ep", now.Add(59*time.Second))
	ds = wantClaim(t, s, "ep", now.Add(time.Minute), n+"/ticket.created#2")
	if ds[0].ID != m1.ID || ds[0].LastError != "503 Service Unavailable" {
		t.Errorf("retry = %+v, want the same delivery with its last error", ds[0])
	}
	delivered(t, s, ds[0])
	m2 := wantClaim(t, s, "ep", now.Add(time.Minute), n+"/ticket.changed#1")[0]
	// A dead letter does not hold the ticket back.
	if err := s.MarkFailed(ctx, m2.ID, m2.Attempt, now, "400 Bad Request", true); err != nil {
		t.Fatal(err)
	}
	m3 := wantClaim(t, s, "ep", now.Add(time.Minute), n+"/ticket.changed#1")[0]
	if m3.MessageID <= m2.MessageID {
		t.Errorf("third message id %d not after second %d", m3.MessageID, m2.MessageID)
	}
	delivered(t, s, m3)
	wantClaim(t, s, "ep", now.Add(time.Hour))
}

func testLease(t *testing.T, s DeliveryStore) {
	ctx := context.Background()
	register(t, s, "ep")
	tk := ticketWith(t, s, "lease", 2)
	n := tk.Number
	now := base.Add(time.Hour)

	first, err := s.ClaimDeliveries(ctx, "ep", now, 10, 30*time.Second)
	if err != nil || len(first) != 1 {
		t.Fatalf("claim = %v, %v", claimed(first), err)
	}
	wantClaim(t, s, "ep", now.Add(29*time.Second))
	// The sender died: the lease runs out and the same delivery goes out again.
	second := wantClaim(t, s, "ep", now.Add(30*time.Second), n+"/ticket.created#2")[0]
	if second.ID != first[0].ID {
		t.Fatalf("after the lease: delivery %d, want %d again", second.ID, first[0].ID)
	}
	if err := s.MarkFailed(ctx, first[0].ID, 1, now, "late", false); !errors.Is(err, ticketing.ErrLeaseLost) {
		t.Errorf("MarkFailed by the expired attempt = %v, want ErrLeaseLost", err)
	}
	if err := s.Release(ctx, first[0].ID, 1); !errors.Is(err, ticketing.ErrLeaseLost) {
		t.Errorf("Release by the expired attempt = %v, want ErrLeaseLost", err)
	}
	// Release gives the claim back without counting the attempt.
	if err := s.Release(ctx, second.ID, second.Attempt); err != nil {
		t.Fatal(err)
	}
	third := wantClaim(t, s, "ep", now.Add(30*time.Second), n+"/ticket.created#2")[0]
	// The expired attempt's success still counts, once.
	for range 2 {
		if err := s.MarkDelivered(ctx, first[0].ID, now, false); err != nil {
			t.Fatalf("MarkDelivered: %v", err)
		}
	}
	if err := s.MarkFailed(ctx, third.ID, third.Attempt, now, "x", false); !errors.Is(err, ticketing.ErrLeaseLost) {
		t.Errorf("MarkFailed after delivery = %v, want ErrLeaseLost", err)
	}
	wantClaim(t, s, "ep", now.Add(30*time.Second), n+"/ticket.changed#1")
	if err := s.MarkDelivered(ctx, 1<<40, now, false); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("MarkDelivered(unknown) = %v, want ErrNotFound", err)
	}
}

func testDeadLetters(t *testing.T, s DeliveryStore) {
	ctx := context.Background()
	register(t, s, "ep", "other")
	tk := ticketWith(t, s, "dead", 1)
	d := wantClaim(t, s, "ep", base, tk.Number+"/ticket.created#1")[0]
	if err := s.Requeue(ctx, d.ID, base); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("Requeue of a live delivery = %v, want ErrNotFound", err)
	}
	if err := s.MarkFailed(ctx, d.ID, 1, base, "400 Bad Request: unknown category", true); err != nil {
		t.Fatal(err)
	}
	wantClaim(t, s, "ep", base.Add(time.Hour))
	dead, err := s.DeadLetters(ctx, "ep", 10)
	if err != nil || len(dead) != 1 {
		t.Fatalf("DeadLetters = %v, %v", claimed(dead), err)
	}
	if got := dead[0]; got.ID != d.ID || !got.Dead || got.Attempt != 1 || got.Number != tk.Number ||
		got.LastError != "400 Bad Request: unknown category" || got.Topic != "ticket.created" {
		t.Errorf("dead letter %+v", got)
	}
	if other, _ := s.DeadLetters(ctx, "other", 10); len(other) != 0 {
		t.Errorf("other endpoint's dead letters = %v", claimed(other))
	}
	later := base.Add(2 * time.Hour)
	if err := s.Requeue(ctx, d.ID, later); err != nil {
		t.Fatal(err)
	}
	wantClaim(t, s, "ep", later.Add(-time.Second))
	again := wantClaim(t, s, "ep", later, tk.Number+"/ticket.created#1")[0]
	if again.ID != d.ID || again.LastError == "" {
		t.Errorf("requeued = %+v", again)
	}
	if dead, _ := s.DeadLetters(ctx, "ep", 10); len(dead) != 0 {
		t.Errorf("dead letters after requeue = %v", claimed(dead))
	}
}

func testDeliveryStats(t *testing.T, s DeliveryStore) {
	ctx := context.Background()
	if st, err := s.DeliveryStats(ctx, "ep"); err != nil || st != (ticketing.DeliveryStats{}) {
		t.Fatalf("empty stats = %+v, %v", st, err)
	}
	register(t, s, "ep")
	t1 := ticketWith(t, s, "stats-1", 2)
	ticketWith(t, s, "stats-2", 1)
	msgs, _ := s.Outbox(ctx, 10)
	ds := claim(t, s, "ep", base)
	if err := s.MarkFailed(ctx, ds[1].ID, ds[1].Attempt, base, "gone", true); err != nil {
		t.Fatal(err)
	}
	st, err := s.DeliveryStats(ctx, "ep")
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 2 || st.Dead != 1 || !st.OldestPending.Equal(msgs[0].At) {
		t.Errorf("stats = %+v, want 2 pending (t1's two) since %s, 1 dead", st, msgs[0].At)
	}
	delivered(t, s, ds[0])
	st, _ = s.DeliveryStats(ctx, "ep")
	if st.Pending != 1 || ds[0].Number != t1.Number || !st.OldestPending.After(msgs[0].At) {
		t.Errorf("stats after one delivery = %+v", st)
	}
}

func testExternalRefs(t *testing.T, s DeliveryStore) {
	ctx := context.Background()
	t1, t2, t3 := ticketWith(t, s, "ref-1", 1), ticketWith(t, s, "ref-2", 1), ticketWith(t, s, "ref-3", 1)
	if _, err := s.ExternalRef(ctx, "o311", t1.ID); !errors.Is(err, ticketing.ErrNotFound) {
		t.Fatalf("ExternalRef before any = %v, want ErrNotFound", err)
	}
	want := ticketing.ExternalRef{Endpoint: "o311", TicketID: t1.ID, Number: t1.Number, RequestedAt: base, UpdatedAt: base}
	if err := s.SaveExternalRef(ctx, &want); err != nil {
		t.Fatal(err)
	}
	got, err := s.ExternalRef(ctx, "o311", t1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("ref (-want +got):\n%s", diff)
	}
	want.RemoteID, want.Status, want.StatusNotes = "638344", "open", "已派员"
	want.ForwardedAt, want.NextPollAt, want.UpdatedAt = base.Add(time.Second), base.Add(time.Minute), base.Add(time.Second)
	if err := s.SaveExternalRef(ctx, &want); err != nil {
		t.Fatal(err)
	}
	got, _ = s.ExternalRef(ctx, "o311", t1.ID)
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("replaced ref (-want +got):\n%s", diff)
	}
	if _, err := s.ExternalRef(ctx, "other", t1.ID); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("ref on another endpoint = %v, want ErrNotFound", err)
	}
	// t2 is due earlier than t1; t3 is never polled.
	for _, r := range []ticketing.ExternalRef{
		{Endpoint: "o311", TicketID: t2.ID, Token: "tok-2", NextPollAt: base.Add(30 * time.Second), UpdatedAt: base},
		{Endpoint: "o311", TicketID: t3.ID, RemoteID: "3", UpdatedAt: base},
		{Endpoint: "other", TicketID: t2.ID, RemoteID: "x", NextPollAt: base, UpdatedAt: base},
	} {
		if err := s.SaveExternalRef(ctx, &r); err != nil {
			t.Fatal(err)
		}
	}
	polls := func(now time.Time) []string {
		t.Helper()
		rs, err := s.ClaimPolls(ctx, "o311", now, 10, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, r := range rs {
			if !r.NextPollAt.Equal(now.Add(10 * time.Second)) {
				t.Errorf("claimed ref's NextPollAt = %s, want the lease end", r.NextPollAt)
			}
			out = append(out, r.Number)
		}
		return out
	}
	now := base.Add(time.Minute)
	if diff := cmp.Diff([]string{t2.Number, t1.Number}, polls(now)); diff != "" {
		t.Errorf("polls (-want +got):\n%s", diff)
	}
	if got := polls(now.Add(9 * time.Second)); len(got) != 0 {
		t.Errorf("polls while leased = %v", got)
	}
	if got := polls(now.Add(10 * time.Second)); len(got) != 2 {
		t.Errorf("polls after the lease = %v", got)
	}
}

// concurrentClaims has workers on stores (several instances when they are
// distinct stores on one database) claim, fail and deliver the deliveries
// of many tickets at once, and checks that no delivery is ever held twice
// and that every ticket's messages are delivered in order.
func concurrentClaims(t *testing.T, stores []DeliveryStore) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s0 := stores[0]
	register(t, s0, "ep")
	const tickets = 24
	msgsOf := map[int64][]int64{} // ticket → its message ids in order
	for i := range tickets {
		tk := ticketWith(t, s0, fmt.Sprint("cc-", i), 3)
		msgsOf[tk.ID] = nil
	}
	msgs, err := s0.Outbox(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		msgsOf[m.TicketID] = append(msgsOf[m.TicketID], m.ID)
	}
	total := len(msgs)

	var (
		mu       sync.Mutex
		held     = map[int64]bool{}    // delivery ids claimed and not yet finished
		done     = map[int64]bool{}    // message ids delivered
		order    = map[int64][]int64{} // ticket → delivered message ids
		failures []string
		nDone    atomic.Int64
		attempts atomic.Int64
		now      = base.Add(time.Hour)
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	// take records a claimed delivery, checking it is not held by another
	// worker and that its ticket's earlier messages are all delivered.
	take := func(d ticketing.Delivery) {
		mu.Lock()
		defer mu.Unlock()
		if held[d.ID] {
			failures = append(failures, fmt.Sprintf("delivery %d handed out while held", d.ID))
		}
		for _, m := range msgsOf[d.TicketID] {
			if m == d.MessageID {
				break
			}
			if !done[m] {
				failures = append(failures, fmt.Sprintf("message %d of ticket %d handed out before message %d", d.MessageID, d.TicketID, m))
			}
		}
		held[d.ID] = true
	}
	// finish forgets the claim before the store does, so that a claim the
	// store allows next never looks like a double hand-out.
	finish := func(d ticketing.Delivery, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		delete(held, d.ID)
		if ok {
			done[d.MessageID] = true
			order[d.TicketID] = append(order[d.TicketID], d.MessageID)
		}
	}
	work := func(w int, s DeliveryStore) {
		for nDone.Load() < int64(total) && ctx.Err() == nil {
			var ds []ticketing.Delivery
			err := retryBusy(ctx, func() (err error) {
				ds, err = s.ClaimDeliveries(ctx, "ep", now, 3, time.Hour)
				return err
			})
			if err != nil {
				fail("worker %d: claim: %v", w, err)
				return
			}
			if len(ds) == 0 {
				time.Sleep(time.Millisecond) // the rest is held by other workers
			}
			for _, d := range ds {
				take(d)
			}
			for _, d := range ds {
				ok := attempts.Add(1)%3 != 0 // every third attempt fails, due again at once
				finish(d, ok)
				err := retryBusy(ctx, func() error {
					if ok {
						return s.MarkDelivered(ctx, d.ID, now, false)
					}
					return s.MarkFailed(ctx, d.ID, d.Attempt, now, "transient", false)
				})
				if ok {
					nDone.Add(1)
				}
				if err != nil {
					fail("worker %d: finishing delivery %d: %v", w, d.ID, err)
				}
			}
		}
	}
	var wg sync.WaitGroup
	for w, s := range stores {
		wg.Go(func() { work(w, s) })
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if nDone.Load() != int64(total) {
		t.Fatalf("delivered %d of %d before the deadline", nDone.Load(), total)
	}
	if diff := cmp.Diff(msgsOf, order); diff != "" {
		t.Errorf("delivery order per ticket (-messages +delivered):\n%s", diff)
	}
	if st, err := s0.DeliveryStats(ctx, "ep"); err != nil || st.Pending != 0 {
		t.Errorf("stats after all delivered = %+v, %v", st, err)
	}
	if attempts.Load() <= int64(total) {
		t.Errorf("%d attempts for %d deliveries: the test should have exercised failures", attempts.Load(), total)
	}
}

// retryBusy retries fn while the store reports itself unavailable: SQLite
// files shared by two processes answer SQLITE_BUSY when one of them waits
// longer than the busy timeout, which heavy contention (and the race
// detector) can cause. Callers of a store retry such errors later.
func retryBusy(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if !errors.Is(err, ticketing.ErrUnavailable) || ctx.Err() != nil {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// concurrentPolls has workers claim polls at once and checks each due
// reference is handed to exactly one of them.
func concurrentPolls(t *testing.T, stores []DeliveryStore, workers int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s0 := stores[0]
	const n = 20
	want := map[int64]bool{}
	for i := range n {
		tk := ticketWith(t, s0, fmt.Sprint("cp-", i), 1)
		if err := s0.SaveExternalRef(ctx, &ticketing.ExternalRef{Endpoint: "o311", TicketID: tk.ID, RemoteID: fmt.Sprint(i),
			NextPollAt: base, UpdatedAt: base}); err != nil {
			t.Fatal(err)
		}
		want[tk.ID] = true
	}
	var mu sync.Mutex
	got := map[int64]int{}
	var wg sync.WaitGroup
	for w := range workers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			for {
				var rs []ticketing.ExternalRef
				err := retryBusy(ctx, func() (err error) {
					rs, err = s.ClaimPolls(ctx, "o311", base, 3, time.Hour)
					return err
				})
				if err != nil {
					t.Errorf("ClaimPolls: %v", err)
					return
				}
				if len(rs) == 0 {
					return
				}
				mu.Lock()
				for _, r := range rs {
					got[r.TicketID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(got) != n {
		t.Errorf("%d of %d references polled", len(got), n)
	}
	for id, c := range got {
		if c != 1 || !want[id] {
			t.Errorf("ticket %d polled %d times", id, c)
		}
	}
}
