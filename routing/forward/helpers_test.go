package forward_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yihao-city/yihao/routing/forward"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
	"github.com/yihao-city/yihao/ticketing/sqlite"
)

// store is what a Yihao instance has: the ticket store with its deliveries.
type store interface {
	ticketing.Store
	ticketing.DeliveryStore
}

// eachStore runs fn against both real stores. open returns a new store
// instance on the same database at each call (a second instance, or the
// same one after a restart); stores are closed when the test ends.
func eachStore(t *testing.T, fn func(t *testing.T, open func() store)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "yihao.db")
		fn(t, func() store {
			s, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("postgres", func(t *testing.T) {
		u := pgtest.SchemaURL(t)
		fn(t, func() store {
			s, err := postgres.Open(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			return s
		})
	})
}

// router dispatches manhole reports to the city management committee and
// noise reports to the environment bureau; anything else waits for a dispatcher.
type router struct{}

func (router) Route(_ context.Context, r ticketing.Report) (ticketing.Assignment, error) {
	a := ticketing.Assignment{Priority: ticketing.PriorityNormal, Deadline: r.ReceivedAt.Add(48 * time.Hour),
		Confidence: 0.9, AutoDispatch: true, Rule: "test"}
	switch {
	case strings.Contains(r.Text, "井盖"):
		a.Category, a.CategoryName, a.Department, a.DepartmentName, a.Reason = "0101", "井盖", "cgw", "城管委", "关键词“井盖”"
	case strings.Contains(r.Text, "噪音"):
		a.Category, a.CategoryName, a.Department, a.DepartmentName, a.Reason = "0302", "噪音", "hbj", "环保局", "关键词“噪音”"
	default:
		return ticketing.Assignment{Priority: ticketing.PriorityNormal, Reason: "无匹配规则"}, nil
	}
	return a, nil
}

// serviceNotes is the Notes the binary wires: Service.Act with AddNote.
type serviceNotes struct {
	svc    *ticketing.Service
	killed *atomic.Bool // set: the instance is gone and writes nothing
}

func (n serviceNotes) Note(ctx context.Context, number, actor string, typ ticketing.EventType, note, public string) error {
	if n.killed != nil && n.killed.Load() {
		return ticketing.Unavailable(errors.New("instance killed"))
	}
	_, err := n.svc.Act(ctx, number, func(t *ticketing.Ticket, now time.Time) error {
		return t.AddNote(now, actor, typ, note, public)
	})
	return err
}

func newService(s ticketing.Store) *ticketing.Service {
	return ticketing.NewService(s, router{}, ticketing.WithLocation(time.UTC))
}

// submit files a report and walks the ticket through steps more workflow
// actions (accept, report handled), one outbox message each.
func submit(t *testing.T, svc *ticketing.Service, key, text string, steps int) *ticketing.Ticket {
	t.Helper()
	ctx := context.Background()
	tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: key, Text: text,
		Location: &ticketing.Point{Lat: 39.9042, Lon: 116.4074}, Address: "东城区东华门街道"})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	acts := []func(*ticketing.Ticket, time.Time) error{
		func(t *ticketing.Ticket, now time.Time) error { return t.Accept(now, "liaison") },
		func(t *ticketing.Ticket, now time.Time) error { return t.ReportHandled(now, "liaison", "已处理") },
	}
	for _, act := range acts[:steps] {
		if tk, err = svc.Act(ctx, tk.Number, act); err != nil {
			t.Fatalf("Act: %v", err)
		}
	}
	return tk
}

// run starts f and returns a stop function that cancels it and waits
// (bounded) for Run to return.
func run(t *testing.T, f *forward.Forwarder) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil after cancel", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds, failing the test after a generous bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settled reports whether endpoint has nothing pending.
func settled(t *testing.T, s ticketing.DeliveryStore, endpoint string) func() bool {
	return func() bool {
		st, err := s.DeliveryStats(context.Background(), endpoint)
		if err != nil {
			t.Logf("DeliveryStats: %v", err)
			return false
		}
		return st.Pending == 0
	}
}

// allMessages returns every outbox message, oldest first.
func allMessages(t *testing.T, s ticketing.Store) []ticketing.Message {
	t.Helper()
	msgs, err := s.Outbox(context.Background(), 100000)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// eventsOf returns the ticket's events of type typ.
func eventsOf(t *testing.T, s ticketing.Store, tk *ticketing.Ticket, typ ticketing.EventType) []ticketing.Event {
	t.Helper()
	evs, err := s.Events(context.Background(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []ticketing.Event
	for _, e := range evs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// testLogger logs to the test output when -v and YIHAO_TEST_LOG are set.
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("YIHAO_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// killable is an instance's store that can die at once, as when the
// process is killed: from then on nothing it would write reaches the database.
type killable struct {
	store
	killed *atomic.Bool
}

func (k killable) gone() error {
	if k.killed.Load() {
		return ticketing.Unavailable(errors.New("instance killed"))
	}
	return nil
}

func (k killable) ClaimDeliveries(ctx context.Context, endpoint string, now time.Time, limit int, lease time.Duration) ([]ticketing.Delivery, error) {
	if err := k.gone(); err != nil {
		return nil, err
	}
	return k.store.ClaimDeliveries(ctx, endpoint, now, limit, lease)
}

func (k killable) MarkDelivered(ctx context.Context, id int64, at time.Time, skipped bool) error {
	if err := k.gone(); err != nil {
		return err
	}
	return k.store.MarkDelivered(ctx, id, at, skipped)
}

func (k killable) MarkFailed(ctx context.Context, id int64, attempt int, nextAt time.Time, errText string, dead bool) error {
	if err := k.gone(); err != nil {
		return err
	}
	return k.store.MarkFailed(ctx, id, attempt, nextAt, errText, dead)
}

func (k killable) Release(ctx context.Context, id int64, attempt int) error {
	if err := k.gone(); err != nil {
		return err
	}
	return k.store.Release(ctx, id, attempt)
}

func (k killable) SaveExternalRef(ctx context.Context, ref *ticketing.ExternalRef) error {
	if err := k.gone(); err != nil {
		return err
	}
	return k.store.SaveExternalRef(ctx, ref)
}

func (k killable) ClaimPolls(ctx context.Context, endpoint string, now time.Time, limit int, lease time.Duration) ([]ticketing.ExternalRef, error) {
	if err := k.gone(); err != nil {
		return nil, err
	}
	return k.store.ClaimPolls(ctx, endpoint, now, limit, lease)
}

func key(prefix string, i int) string { return fmt.Sprintf("%s-%d", prefix, i) }
