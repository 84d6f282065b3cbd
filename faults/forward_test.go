package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yihao-city/yihao/configs"
	"github.com/yihao-city/yihao/routing"
	"github.com/yihao-city/yihao/routing/forward"
)

// The forwarding endpoint of the suite: a webhook receiver in the test,
// which every instance forwards every dispatched ticket to.
const (
	hookEndpoint = "faults-grid"   // the endpoint's name (its queue)
	hookDown     = 4 * time.Second // forwarding-endpoint: the receiver answers 503 this long
	hookTimeout  = 5 * time.Second // the endpoint's timeout
	hookLease    = 15 * time.Second
	// forwardDrain bounds the wait for every delivery to complete once the
	// receiver is back (the backoff after four failures is 4 to 8 s).
	forwardDrain = 60 * time.Second
)

// writeConfig writes the instances' YAML configuration: the webhook
// endpoint at hook, forwarding the tickets dispatched to any department of
// the demo catalogue (the one the instances run with), then more (further
// sections). It returns the file's path.
func writeConfig(dir string, hook *receiver, more string) (string, error) {
	cat, err := routing.LoadCatalogue(bytes.NewReader(configs.DemoCatalogue))
	if err != nil {
		return "", fmt.Errorf("demo catalogue: %w", err)
	}
	var depts []string
	for _, d := range cat.Departments {
		depts = append(depts, strconv.Quote(d.Code))
	}
	if len(depts) == 0 {
		return "", fmt.Errorf("demo catalogue: no departments")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# written by the fault suite\nforwarding:\n")
	fmt.Fprintf(&b, "  - name: %s\n    kind: webhook\n    url: %s\n    secret: %s\n",
		strconv.Quote(hookEndpoint), strconv.Quote(hook.URL()), strconv.Quote(hook.secret))
	fmt.Fprintf(&b, "    departments: [%s]\n    timeout: %s\n    lease: %s\n", strings.Join(depts, ", "), hookTimeout, hookLease)
	b.WriteString(more)
	path := filepath.Join(dir, "yihao.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// receiver is an external platform's webhook: it checks each request's
// signature, deduplicates on X-Yihao-Delivery, and answers 503 with
// Retry-After while it is down.
type receiver struct {
	srv    *httptest.Server
	secret string

	mu       sync.Mutex
	down     bool
	byID     map[int64]*receipt
	posts    int
	problems []string // requests that were not valid deliveries
}

// receipt is what reached the receiver under one delivery id.
type receipt struct {
	Ticket, Topic string
	OK            int   // answered 200
	Refused       int   // answered 503
	Attempts      []int // the attempt numbers the requests carried
	FirstOK       time.Time
}

func newReceiver(t testing.TB) *receiver {
	h := &receiver{secret: randomHex(16), byID: map[int64]*receipt{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

// URL is where the instances send.
func (h *receiver) URL() string { return h.srv.URL + "/yihao/hook" }

// setDown makes the receiver answer 503 (true) or take deliveries again.
func (h *receiver) setDown(down bool) {
	h.mu.Lock()
	h.down = down
	h.mu.Unlock()
}

func (h *receiver) problem(format string, args ...any) {
	if len(h.problems) < 10 {
		h.problems = append(h.problems, fmt.Sprintf(format, args...))
	}
}

func (h *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.posts++
	if err != nil {
		h.problem("reading a request: %v", err)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if err := forward.VerifySignature(h.secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
		h.problem("delivery %s: %v", r.Header.Get(forward.HeaderDelivery), err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var m forward.WebhookMessage
	if err := json.Unmarshal(body, &m); err != nil {
		h.problem("delivery %s: body: %v", r.Header.Get(forward.HeaderDelivery), err)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	id, err := strconv.ParseInt(r.Header.Get(forward.HeaderDelivery), 10, 64)
	if err != nil || id != m.Delivery {
		h.problem("%s %q does not match the body's delivery %d", forward.HeaderDelivery, r.Header.Get(forward.HeaderDelivery), m.Delivery)
		http.Error(w, "bad delivery id", http.StatusBadRequest)
		return
	}
	rc := h.byID[id]
	if rc == nil {
		rc = &receipt{Ticket: m.Ticket, Topic: m.Topic}
		h.byID[id] = rc
	} else if rc.Ticket != m.Ticket || rc.Topic != m.Topic {
		h.problem("delivery %d came as %s/%s and as %s/%s", id, rc.Ticket, rc.Topic, m.Ticket, m.Topic)
	}
	rc.Attempts = append(rc.Attempts, m.Attempt)
	if h.down {
		rc.Refused++
		w.Header().Set("Retry-After", "1")
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
		return
	}
	rc.OK++
	if rc.OK == 1 {
		rc.FirstOK = time.Now()
	}
	w.WriteHeader(http.StatusOK)
}

// snapshot is a copy of the receipts and problems.
func (h *receiver) snapshot() (map[int64]receipt, int, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := make(map[int64]receipt, len(h.byID))
	for id, rc := range h.byID {
		c := *rc
		c.Attempts = append([]int(nil), rc.Attempts...)
		m[id] = c
	}
	return m, h.posts, append([]string(nil), h.problems...)
}

// delivery is one row of the deliveries table, as the check reads it.
type delivery struct {
	ID         int64
	Number     string
	ExternalID string // the ticket's: names the fault of the report
	Department string // in the message's payload: "" unless dispatched
	Delivered  bool
	Skipped    bool
	Dead       bool
	Attempts   int
	LastError  string
}

// deliveries reads the endpoint's deliveries: of the tickets with the
// given external ids, or every one when keys is nil.
func (cl *cluster) deliveries(ctx context.Context, keys []string) ([]delivery, error) {
	q := `SELECT d.id, t.number, t.external_id, coalesce(o.payload->>'department', ''), d.delivered_at IS NOT NULL, d.skipped, d.dead,
			d.attempts, d.last_error
		FROM deliveries d JOIN tickets t ON t.id = d.ticket_id JOIN outbox o ON o.id = d.message_id
		WHERE d.endpoint = $1 AND ($2::text[] IS NULL OR t.external_id = ANY($2))
		ORDER BY d.id`
	rows, err := cl.db.Query(ctx, q, hookEndpoint, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []delivery
	for rows.Next() {
		var d delivery
		if err := rows.Scan(&d.ID, &d.Number, &d.ExternalID, &d.Department, &d.Delivered, &d.Skipped, &d.Dead, &d.Attempts, &d.LastError); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// waitDeliveries waits until none of the deliveries (of keys, or of the
// whole run) is pending: each delivered, skipped or dead.
func (cl *cluster) waitDeliveries(ctx context.Context, keys []string, timeout time.Duration) ([]delivery, error) {
	deadline := time.Now().Add(timeout)
	for {
		ds, err := cl.deliveries(ctx, keys)
		if err != nil {
			return nil, err
		}
		pending := 0
		for _, d := range ds {
			if !d.Delivered && !d.Dead {
				pending++
			}
		}
		if pending == 0 {
			return ds, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return ds, fmt.Errorf("%d of %d deliveries still pending %v after the receiver came back", pending, len(ds), timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// forwardTally compares the deliveries in the database with what reached
// the receiver.
type forwardTally struct {
	Tickets     int // tickets whose deliveries are counted
	Deliveries  int // their deliveries (one ticket.created each)
	Dispatched  int // deliveries of dispatched tickets: what must arrive
	Skipped     int // deliveries of tickets not dispatched: done without sending
	Delivered   int // dispatched deliveries marked delivered in the database
	Received    int // distinct delivery ids the receiver took (200)
	Redelivered int // 200s beyond the first for one delivery id
	Lost        int // dispatched and never taken by the receiver, or dead
	Dead        int
	Pending     int
	Unexpected  int // taken by the receiver though the database skipped it or has no such delivery
	Refused     int // the receiver's 503s
	Attempts    int // attempts the database counted, beyond the first
	Problems    []string
	Repeats     []string // the deliveries taken more than once, with their evidence
	repeatIDs   []int64
}

func (ft *forwardTally) problem(format string, args ...any) {
	if len(ft.Problems) < 10 {
		ft.Problems = append(ft.Problems, fmt.Sprintf(format, args...))
	}
}

// tallyForward counts ds against the receipts; with all, receipts for no
// delivery in ds count as unexpected (ds is then the run's every delivery).
func tallyForward(ds []delivery, receipts map[int64]receipt, all bool) forwardTally {
	var ft forwardTally
	tickets := map[string]int{}
	mine := map[int64]bool{}
	for _, d := range ds {
		mine[d.ID] = true
		tickets[d.Number]++
		ft.Deliveries++
		ft.Attempts += max(d.Attempts-1, 0)
		rc, got := receipts[d.ID]
		ft.Refused += rc.Refused
		switch {
		case d.Dead:
			ft.Dead++
		case !d.Delivered:
			ft.Pending++
		}
		if d.Department == "" {
			ft.Skipped++
			if rc.OK > 0 {
				ft.Unexpected++
				ft.problem("delivery %d of ticket %s (not dispatched) reached the receiver", d.ID, d.Number)
			}
			if d.Delivered && !d.Skipped {
				ft.problem("delivery %d of ticket %s (not dispatched) marked delivered, not skipped", d.ID, d.Number)
			}
			continue
		}
		ft.Dispatched++
		if d.Delivered && !d.Skipped {
			ft.Delivered++
		}
		if got && rc.OK > 0 {
			ft.Received++
			ft.Redelivered += rc.OK - 1
			if rc.OK > 1 && len(ft.Repeats) < 10 {
				ft.repeatIDs = append(ft.repeatIDs, d.ID)
				ft.Repeats = append(ft.Repeats, fmt.Sprintf("delivery %d of ticket %s (%s) taken %d times; attempts sent %v, the database counts %d",
					d.ID, d.Number, d.ExternalID, rc.OK, rc.Attempts, d.Attempts))
			}
			if rc.Ticket != d.Number {
				ft.problem("delivery %d is ticket %s in the database, %s at the receiver", d.ID, d.Number, rc.Ticket)
			}
			if !d.Delivered || d.Skipped {
				ft.problem("delivery %d of ticket %s reached the receiver but is delivered=%v skipped=%v in the database",
					d.ID, d.Number, d.Delivered, d.Skipped)
			}
		} else {
			ft.Lost++
			ft.problem("delivery %d of ticket %s (department %s) never taken by the receiver: delivered=%v skipped=%v dead=%v attempts=%d last error %q",
				d.ID, d.Number, d.Department, d.Delivered, d.Skipped, d.Dead, d.Attempts, d.LastError)
		}
	}
	ft.Tickets = len(tickets)
	for n, c := range tickets {
		if c > 1 {
			ft.problem("ticket %s has %d deliveries (one ticket.created message each expected)", n, c)
		}
	}
	if all {
		for id, rc := range receipts {
			if !mine[id] && rc.OK > 0 {
				ft.Unexpected++
				ft.problem("the receiver took delivery %d (ticket %s), which the database does not have", id, rc.Ticket)
			}
		}
	}
	return ft
}

// Line is the endpoint's line, in the format of the channels' lines: sent
// are the dispatched tickets' deliveries, acknowledged those the database
// marks delivered, stored the distinct ones the receiver took.
func (ft forwardTally) Line(fault, channel string) string {
	refusals := "-"
	if ft.Refused > 0 {
		refusals = fmt.Sprintf("503+Retry-After:%d", ft.Refused)
	}
	return fmt.Sprintf("fault=%s channel=%s sent=%d acknowledged=%d stored=%d duplicated=%d lost=%d retries=%d skipped=%d dead=%d pending=%d unexpected=%d tickets=%d refusals=%s",
		fault, channel, ft.Dispatched, ft.Delivered, ft.Received, ft.Redelivered, ft.Lost, ft.Attempts, ft.Skipped,
		ft.Dead, ft.Pending, ft.Unexpected, ft.Tickets, refusals)
}

// forwardingEndpoint: the forwarding endpoint answers 503 (with
// Retry-After) for hookDown while reports stream in, then takes
// deliveries again. Every dispatched ticket's delivery must then reach it,
// from whichever instance, with no delivery taken twice; the reports
// themselves are checked as in every fault.
func (cl *cluster) forwardingEndpoint(t *testing.T) {
	const fault = "forwarding-endpoint"
	ctx, cancel := context.WithTimeout(t.Context(), faultLimit)
	defer cancel()
	defer cl.hook.setDown(false)
	logFrom := make([]int64, len(cl.instances))
	for i, in := range cl.instances {
		if fi, err := os.Stat(in.logPath); err == nil {
			logFrom[i] = fi.Size()
		}
	}
	l := cl.startLoad(ctx, t, fault, 5)
	defer l.finish()

	l.until(ctx, time.Second)
	cl.hook.setDown(true)
	t.Logf("%s: the receiver answers 503 for %v", l.at(), hookDown)
	l.until(ctx, time.Second+hookDown)
	cl.hook.setDown(false)
	back := time.Now()
	t.Logf("%s: the receiver takes deliveries again", l.at())
	l.until(ctx, faultLoad)
	if err := l.finish(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: load stopped, every report's delivery finished", l.at())
	cl.settle(ctx, t, l, nil, nil)

	// This fault's tickets, then every ticket of the run (the earlier
	// faults' and the probes').
	var keys []string
	for _, c := range []*channelLoad{l.web, l.wechat, l.open311} {
		for _, r := range c.Reports() {
			keys = append(keys, r.Key)
		}
	}
	ds, err := cl.waitDeliveries(ctx, keys, forwardDrain)
	if err != nil {
		t.Error(err)
	}
	t.Logf("%s: this fault's deliveries done %v after the receiver came back", l.at(), time.Since(back).Round(10*time.Millisecond))
	all, err := cl.waitDeliveries(ctx, nil, forwardDrain)
	if err != nil {
		t.Error(err)
	}
	receipts, posts, problems := cl.hook.snapshot()
	for _, p := range problems {
		t.Errorf("receiver: %s", p)
	}

	ft := tallyForward(ds, receipts, false)
	line := ft.Line(fault, "webhook")
	t.Log(line)
	fmt.Println(line)
	if ft.Dispatched == 0 {
		t.Errorf("no ticket of the load was dispatched: nothing to forward (check the demo catalogue)")
	}
	if ft.Tickets != len(keys) {
		t.Errorf("%d reports sent, but deliveries exist for %d tickets", len(keys), ft.Tickets)
	}
	if ft.Refused == 0 {
		t.Errorf("the receiver refused nothing: the outage did not meet any delivery")
	}
	// No instance died here: a delivery the receiver took is never sent again.
	if ft.Lost > 0 || ft.Dead > 0 || ft.Pending > 0 || ft.Unexpected > 0 || ft.Redelivered > 0 || len(ft.Problems) > 0 {
		t.Errorf("forwarding: lost=%d dead=%d pending=%d unexpected=%d redelivered=%d:\n  %s",
			ft.Lost, ft.Dead, ft.Pending, ft.Unexpected, ft.Redelivered, strings.Join(append(ft.Problems, ft.Repeats...), "\n  "))
	}

	// The whole run: every delivery complete (kill-instance,
	// restart-postgres and the rest included). A delivery whose 200 its
	// instance could not record (PostgreSQL going down, the instance
	// killed) goes out again under the same id: a retry the receiver
	// deduplicates, counted (duplicated=) and allowed.
	run := tallyForward(all, receipts, true)
	line = run.Line("all", "webhook") + fmt.Sprintf(" posts=%d", posts)
	t.Log(line)
	fmt.Println(line)
	for _, r := range run.Repeats {
		t.Logf("taken again (a retry; the receiver deduplicates): %s", r)
	}
	for _, id := range run.repeatIDs {
		for _, in := range cl.instances {
			for _, line := range linesInLog(in.logPath, fmt.Sprintf("delivery=%d ", id), 5) {
				t.Logf("  %s: %s", in.Name, line)
			}
		}
	}
	if run.Lost > 0 || run.Dead > 0 || run.Pending > 0 || run.Unexpected > 0 || len(run.Problems) > 0 {
		t.Errorf("forwarding over the whole run: lost=%d dead=%d pending=%d unexpected=%d:\n  %s",
			run.Lost, run.Dead, run.Pending, run.Unexpected, strings.Join(run.Problems, "\n  "))
	}

	// Both instances' forwarders met the outage (their logs). Over the
	// run, the instances' notes of a delivery taken by the
	// receiver whose success could not be recorded (the delivery itself,
	// or the forwarding on the ticket): it goes out again, same id.
	var by, unrecorded []string
	for i, in := range cl.instances {
		by = append(by, fmt.Sprintf("%s:%d", in.Name, countInLog(in.logPath, logFrom[i], "delivery failed; will retry")))
		unrecorded = append(unrecorded, fmt.Sprintf("%s:%d+%d", in.Name, countInLog(in.logPath, 0, "recording a delivery failed"),
			countInLog(in.logPath, 0, "recording the forwarding on the ticket")))
	}
	t.Logf("failed attempts logged during the outage, by instance: %s; sent but unrecorded over the run (delivery+note): %s",
		strings.Join(by, ","), strings.Join(unrecorded, ","))
}

// countInLog counts the lines holding s in the log at path from offset on.
func countInLog(path string, offset int64, s string) int {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return 0
	}
	return strings.Count(string(b[offset:]), s)
}

// linesInLog returns up to n lines of the log at path that hold s.
func linesInLog(path, s string, n int) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, s) && len(out) < n {
			out = append(out, line)
		}
	}
	return out
}
