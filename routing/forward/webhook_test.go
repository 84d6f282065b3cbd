package forward_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yihao-city/yihao/routing/forward"
	"github.com/yihao-city/yihao/ticketing"
)

const secret = "s3cr3t-shared-with-the-grid-platform"

// action is how the receiver answers one request.
type action int

const (
	accept         action = iota // apply (once per delivery id) and answer 200
	acceptThenDrop               // apply, then cut the connection: the answer is lost
	unavailable                  // 503
	reject                       // 400: a permanent refusal
	hold                         // wait until released, then apply (the sender may be gone)
)

// receiver is an idempotent webhook receiver, as a grid platform should
// write one: it verifies the signature and applies each delivery id once.
type receiver struct {
	mu       sync.Mutex
	seen     map[int64]bool
	applied  []forward.WebhookMessage // effects, in the order they happened
	requests map[int64]int            // per delivery id, every request
	answers  map[action]int
	badSigs  int
	behave   func(m forward.WebhookMessage, n int) action // n counts requests
	n        int
	release  chan struct{}
}

func newReceiver(behave func(m forward.WebhookMessage, n int) action) *receiver {
	return &receiver{seen: map[int64]bool{}, requests: map[int64]int{}, answers: map[action]int{},
		behave: behave, release: make(chan struct{})}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if err := forward.VerifySignature(secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
		rc.mu.Lock()
		rc.badSigs++
		rc.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var m forward.WebhookMessage
	if err := json.Unmarshal(body, &m); err != nil || r.Header.Get(forward.HeaderDelivery) != strconv.FormatInt(m.Delivery, 10) {
		rc.mu.Lock()
		rc.badSigs++
		rc.mu.Unlock()
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.n++
	rc.requests[m.Delivery]++
	act := rc.behave(m, rc.n)
	rc.answers[act]++
	rc.mu.Unlock()
	switch act {
	case unavailable:
		w.Header().Set("Retry-After", "0")
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	case reject:
		http.Error(w, "unknown department", http.StatusBadRequest)
	case hold:
		<-rc.release
		rc.apply(m)
	case accept:
		rc.apply(m)
	case acceptThenDrop:
		rc.apply(m)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
}

func (rc *receiver) apply(m forward.WebhookMessage) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !rc.seen[m.Delivery] {
		rc.seen[m.Delivery] = true
		rc.applied = append(rc.applied, m)
	}
}

func (rc *receiver) count(a action) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.answers[a]
}

// duplicates counts requests beyond the first per delivery id.
func (rc *receiver) duplicates() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, c := range rc.requests {
		n += c - 1
	}
	return n
}

// checkEffects asserts every message had exactly one effect and each
// ticket's effects came in message order.
func (rc *receiver) checkEffects(t *testing.T, msgs []ticketing.Message) {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.badSigs > 0 {
		t.Errorf("%d requests with a bad signature", rc.badSigs)
	}
	effects := map[int64]int{}
	last := map[string]int64{}
	for _, m := range rc.applied {
		effects[m.ID]++
		if m.ID <= last[m.Ticket] {
			t.Errorf("ticket %s: message %d took effect after message %d", m.Ticket, m.ID, last[m.Ticket])
		}
		last[m.Ticket] = m.ID
		var p struct{ Number string }
		if json.Unmarshal(m.Payload, &p) != nil || p.Number != m.Ticket {
			t.Errorf("message %d: payload %s does not carry ticket %s", m.ID, m.Payload, m.Ticket)
		}
	}
	for _, m := range msgs {
		if effects[m.ID] != 1 {
			t.Errorf("message %d (%s) took effect %d times, want once", m.ID, m.Topic, effects[m.ID])
		}
		delete(effects, m.ID)
	}
	for id := range effects {
		t.Errorf("unknown message %d took effect", id)
	}
}

// countingTransport counts requests that got no answer (connection refused).
type countingTransport struct{ failed atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		c.failed.Add(1)
	}
	return resp, err
}

func webhookEndpoint(url string) forward.Endpoint {
	return forward.Endpoint{Name: "grid", Label: "区网格化平台", Kind: forward.KindWebhook, URL: url, Secret: secret,
		BackoffBase: 5 * time.Millisecond, BackoffMax: 40 * time.Millisecond, Idle: 5 * time.Millisecond,
		Timeout: 2 * time.Second, MaxAttempts: 100000}
}

// TestWebhookOutage: the platform refuses connections, then answers 503,
// then comes back losing some answers. Every message takes effect once, in
// order per ticket, and each ticket is noted as forwarded once.
func TestWebhookOutage(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() store) {
		ctx := context.Background()
		s := open()
		svc := newService(s)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // down: connection refused

		var up atomic.Bool
		rc := newReceiver(func(_ forward.WebhookMessage, n int) action {
			switch {
			case !up.Load():
				return unavailable
			case n%3 == 0:
				return acceptThenDrop
			}
			return accept
		})
		ct := &countingTransport{}
		f, err := forward.New(s, svc, serviceNotes{svc: svc}, []forward.Endpoint{webhookEndpoint("http://" + addr + "/hooks/yihao")},
			forward.WithTransport(ct), forward.WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Register(ctx); err != nil {
			t.Fatal(err)
		}
		stop := run(t, f)
		var tickets []*ticketing.Ticket
		for i := range 8 {
			tickets = append(tickets, submit(t, svc, key("down", i), "井盖缺失 "+fmt.Sprint(i), 2))
		}
		waitFor(t, "refused connections", func() bool { return ct.failed.Load() >= 20 })

		l, err = net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listening again on %s: %v", addr, err)
		}
		srv := httptest.NewUnstartedServer(rc)
		srv.Listener.Close()
		srv.Listener = l
		srv.Start()
		t.Cleanup(srv.Close)
		waitFor(t, "503 answers", func() bool { return rc.count(unavailable) >= 20 })

		up.Store(true)
		for i := 8; i < 12; i++ { // reports keep coming while the backlog drains
			tickets = append(tickets, submit(t, svc, key("down", i), "井盖缺失 "+fmt.Sprint(i), 2))
		}
		waitFor(t, "the backlog to drain", settled(t, s, "grid"))
		stop()

		rc.checkEffects(t, allMessages(t, s))
		if rc.count(acceptThenDrop) == 0 || rc.duplicates() == 0 {
			t.Errorf("no answer was lost (%d) or no delivery repeated (%d): the test did not exercise deduplication",
				rc.count(acceptThenDrop), rc.duplicates())
		}
		for _, tk := range tickets {
			evs := eventsOf(t, s, tk, ticketing.EventForwarded)
			if len(evs) != 1 {
				t.Errorf("ticket %s: %d forwarded events, want 1", tk.Number, len(evs))
				continue
			}
			if e := evs[0]; e.Actor != "forward:grid" || e.Public != "已转送区网格化平台办理" || e.From != e.To {
				t.Errorf("forwarded event %+v", e)
			}
		}
	})
}

// TestWebhookRestart stops Yihao while a delivery is in flight and starts
// a new instance on the same database: nothing is lost and nothing takes
// effect twice. "crash" kills the first instance outright, so its claims
// come back only when their leases run out.
func TestWebhookRestart(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(map[bool]string{false: "stop", true: "crash"}[crash], func(t *testing.T) {
			eachStore(t, func(t *testing.T, open func() store) {
				testRestart(t, open, crash)
			})
		})
	}
}

func testRestart(t *testing.T, open func() store, crash bool) {
	ctx := context.Background()
	var held atomic.Int64
	arrived := make(chan struct{})
	rc := newReceiver(func(m forward.WebhookMessage, n int) action {
		if n == 6 {
			held.Store(m.Delivery)
			close(arrived)
			return hold
		}
		if n%4 == 0 {
			return acceptThenDrop
		}
		return accept
	})
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	released := false
	releaseHeld := func() {
		if !released {
			released = true
			close(rc.release)
		}
	}
	t.Cleanup(releaseHeld) // before srv.Close, which waits for handlers

	ep := webhookEndpoint(srv.URL)
	ep.Timeout, ep.Lease = time.Second, 2*time.Second

	// First instance.
	sA := open()
	killed := &atomic.Bool{}
	svcA := newService(sA)
	fA, err := forward.New(killable{sA, killed}, svcA, serviceNotes{svc: svcA, killed: killed}, []forward.Endpoint{ep},
		forward.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := fA.Register(ctx); err != nil {
		t.Fatal(err)
	}
	var tickets []*ticketing.Ticket
	for i := range 10 {
		tickets = append(tickets, submit(t, svcA, key("restart", i), "井盖缺失 "+fmt.Sprint(i), 2))
	}
	stopA := run(t, fA)
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery reached the receiver")
	}
	if crash {
		killed.Store(true)
	}
	stopA()
	releaseHeld() // the held request takes effect after its sender is gone

	// Second instance on the same database.
	sB := open()
	svcB := newService(sB)
	fB, err := forward.New(sB, svcB, serviceNotes{svc: svcB}, []forward.Endpoint{ep}, forward.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := fB.Register(ctx); err != nil {
		t.Fatal(err)
	}
	stopB := run(t, fB)
	waitFor(t, "the second instance to deliver everything", settled(t, sB, "grid"))
	stopB()

	rc.checkEffects(t, allMessages(t, sB))
	rc.mu.Lock()
	heldRequests := rc.requests[held.Load()]
	rc.mu.Unlock()
	if heldRequests < 2 {
		t.Errorf("the delivery in flight at the stop was requested %d times, want it sent again", heldRequests)
	}
	for _, tk := range tickets {
		n := len(eventsOf(t, sB, tk, ticketing.EventForwarded))
		// A kill between noting and recording the note may note it twice.
		if n < 1 || n > 1 && !crash || n > 2 {
			t.Errorf("ticket %s: %d forwarded events", tk.Number, n)
		}
	}
}

// TestWebhookDeadLetters: a permanent 400 sends the ticket's messages to
// the dead-letter list at the first attempt, without holding back other
// tickets; once the platform is fixed, Requeue delivers them in order.
func TestWebhookDeadLetters(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() store) {
		ctx := context.Background()
		s := open()
		svc := newService(s)
		var rejecting atomic.Bool
		rejecting.Store(true)
		var bad *ticketing.Ticket
		rc := newReceiver(func(m forward.WebhookMessage, _ int) action {
			if rejecting.Load() && m.Ticket == bad.Number {
				return reject
			}
			return accept
		})
		srv := httptest.NewServer(rc)
		t.Cleanup(srv.Close)
		f, err := forward.New(s, svc, serviceNotes{svc: svc}, []forward.Endpoint{webhookEndpoint(srv.URL)},
			forward.WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Register(ctx); err != nil {
			t.Fatal(err)
		}
		bad = submit(t, svc, "bad", "井盖缺失 bad", 2)
		good := submit(t, svc, "good", "井盖缺失 good", 2)
		stop := run(t, f)
		waitFor(t, "deliveries to settle", settled(t, s, "grid"))
		stop()

		dead, err := s.DeadLetters(ctx, "grid", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(dead) != 3 {
			t.Fatalf("%d dead letters, want the 3 messages of %s", len(dead), bad.Number)
		}
		for _, d := range dead {
			if d.Number != bad.Number || d.Attempt != 1 || !strings.Contains(d.LastError, "400") || !d.Dead {
				t.Errorf("dead letter %+v", d)
			}
		}
		if n := len(eventsOf(t, s, good, ticketing.EventForwarded)); n != 1 {
			t.Errorf("good ticket: %d forwarded events, want 1", n)
		}
		if n := len(eventsOf(t, s, bad, ticketing.EventForwarded)); n != 0 {
			t.Errorf("rejected ticket: %d forwarded events, want 0", n)
		}

		rejecting.Store(false)
		for _, d := range dead {
			if err := s.Requeue(ctx, d.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		stop = run(t, f)
		waitFor(t, "requeued deliveries", settled(t, s, "grid"))
		stop()
		if st, _ := s.DeliveryStats(ctx, "grid"); st.Dead != 0 {
			t.Errorf("stats after requeue: %+v", st)
		}
		rc.checkEffects(t, allMessages(t, s))
		if n := len(eventsOf(t, s, bad, ticketing.EventForwarded)); n != 1 {
			t.Errorf("requeued ticket: %d forwarded events, want 1", n)
		}
	})
}

// TestWebhookFilters: only the configured topics and departments go out,
// and a ticket once forwarded keeps its updates after leaving the department.
func TestWebhookFilters(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() store) {
		ctx := context.Background()
		s := open()
		svc := newService(s)
		rc := newReceiver(func(forward.WebhookMessage, int) action { return accept })
		srv := httptest.NewServer(rc)
		t.Cleanup(srv.Close)
		ep := webhookEndpoint(srv.URL)
		ep.Departments = []string{"cgw"}
		f, err := forward.New(s, svc, serviceNotes{svc: svc}, []forward.Endpoint{ep}, forward.WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Register(ctx); err != nil {
			t.Fatal(err)
		}
		manhole := submit(t, svc, "m", "井盖缺失", 0)
		noise := submit(t, svc, "n", "夜间施工噪音", 1)
		triage := submit(t, svc, "x", "咨询社保政策", 0)
		stop := run(t, f)
		waitFor(t, "first deliveries", settled(t, s, "grid"))
		// Re-dispatched to another department: the platform still hears of it.
		if _, err := svc.Act(ctx, manhole.Number, func(tk *ticketing.Ticket, now time.Time) error {
			return tk.Dispatch(now, "dispatcher", ticketing.Assignment{Department: "hbj", DepartmentName: "环保局",
				Deadline: now.Add(time.Hour)}, "改派")
		}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the re-dispatch", settled(t, s, "grid"))
		stop()

		got := map[string][]string{}
		rc.mu.Lock()
		for _, m := range rc.applied {
			var p struct{ Department string }
			json.Unmarshal(m.Payload, &p) // checked by the comparison
			got[m.Ticket] = append(got[m.Ticket], m.Topic+":"+p.Department)
		}
		rc.mu.Unlock()
		want := []string{"ticket.created:cgw", "ticket.changed:cgw", "ticket.changed:hbj"} // created, forwarded note, re-dispatch
		if fmt.Sprint(got[manhole.Number]) != fmt.Sprint(want) || len(got) != 1 {
			t.Errorf("delivered %v, want only %s: %v", got, manhole.Number, want)
		}
		for _, tk := range []*ticketing.Ticket{noise, triage} {
			if n := len(eventsOf(t, s, tk, ticketing.EventForwarded)); n != 0 {
				t.Errorf("ticket %s not forwarded but has %d forwarded events", tk.Number, n)
			}
		}
	})
}
