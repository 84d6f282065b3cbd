package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
	"github.com/yihao-city/yihao/ticketing/storetest"
)

func open(t testing.TB, u string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newStore(t *testing.T) ticketing.Store { return open(t, pgtest.SchemaURL(t)) }

// TestStore runs the conformance suite, each case on a schema of its own.
func TestStore(t *testing.T) {
	storetest.Run(t, newStore)
}

// TestShared runs the cases of two stores on one schema, as two instances.
func TestShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) storetest.NewStore {
		u := pgtest.SchemaURL(t)
		return func(t *testing.T) ticketing.Store { return open(t, u) }
	})
}

// BenchmarkSubmit: go test -bench Submit -benchtime 20000x ./ticketing/postgres
func BenchmarkSubmit(b *testing.B) {
	storetest.BenchmarkSubmit(b, open(b, pgtest.SchemaURL(b)+"&pool_max_conns=16"), 8)
}

// BenchmarkCallLog: the SIP proxy's call log, batch after batch, on a
// growing table.
func BenchmarkCallLog(b *testing.B) { storetest.BenchmarkCallLog(b, open(b, pgtest.SchemaURL(b))) }

// BenchmarkPositions: the supervisors' patrol positions, one commit each.
func BenchmarkPositions(b *testing.B) {
	storetest.BenchmarkPositions(b, open(b, pgtest.SchemaURL(b)+"&pool_max_conns=16"), 16)
}

// A report PostgreSQL refuses (text with a NUL byte) fails alone: the
// other submits of its batch are stored.
func TestBatchRefusalFailsAlone(t *testing.T) {
	s := open(t, pgtest.SchemaURL(t))
	ctx := context.Background()
	svc := ticketing.NewService(s, oneDept{})
	const n = 32
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			text := fmt.Sprint("井盖丢了 ", i)
			if i == 7 {
				text += "\x00"
			}
			_, _, errs[i] = svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: fmt.Sprint("b-", i), Text: text})
		})
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i == 7 && ticketing.KindOf(err) != ticketing.KindInvalid:
			t.Errorf("the report with a NUL byte: err = %v, want invalid", err)
		case i != 7 && err != nil:
			t.Errorf("report %d: %v", i, err)
		}
		_, err := s.ByExternalID(ctx, ticketing.ChannelWeb, fmt.Sprint("b-", i))
		if (err == nil) != (i != 7) {
			t.Errorf("report %d stored: err = %v", i, err)
		}
	}
}

type oneDept struct{}

func (oneDept) Route(_ context.Context, r ticketing.Report) (ticketing.Assignment, error) {
	return ticketing.Assignment{Category: "0103", Department: "swj", Deadline: r.ReceivedAt.Add(24 * time.Hour), AutoDispatch: true}, nil
}

// Closing many tickets at once on a small pool must not starve it: the
// closure reads the merged followers outside its transaction.
func TestConcurrentClosuresOnASmallPool(t *testing.T) {
	s := open(t, pgtest.SchemaURL(t)+"&pool_max_conns=2")
	svc := ticketing.NewService(s, oneDept{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var numbers []string
	for i := range 8 {
		tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: fmt.Sprint("m", i), Text: "井盖"})
		if err != nil {
			t.Fatal(err)
		}
		for _, act := range []func(*ticketing.Ticket, time.Time) error{
			func(t *ticketing.Ticket, now time.Time) error { return t.Accept(now, "l") },
			func(t *ticketing.Ticket, now time.Time) error { return t.ReportHandled(now, "l", "done") },
		} {
			if _, err := svc.Act(ctx, tk.Number, act); err != nil {
				t.Fatal(err)
			}
		}
		numbers = append(numbers, tk.Number)
	}
	var wg sync.WaitGroup
	for _, n := range numbers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := svc.Act(ctx, n, func(t *ticketing.Ticket, now time.Time) error { return t.Verify(now, "s", true, "") }); err != nil {
				t.Errorf("closing %s: %v", n, err)
			}
		}()
	}
	wg.Wait()
}

// The group commit's connection lost (here its backend terminated, as a
// restart or a failover would) fails the batch under way with "try again",
// and the next batch opens a connection of its own: the retry with the
// same key stores the report, once. A connection lost while idle is found
// by a ping before the next batch.
func TestGroupCommitReconnects(t *testing.T) {
	u := pgtest.SchemaURL(t)
	s := open(t, u)
	ctx := context.Background()
	svc := ticketing.NewService(s, oneDept{})
	submit := func(key string) (*ticketing.Ticket, error) {
		tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: key, Text: "井盖丢了"})
		return tk, err
	}
	if _, err := submit("r-1"); err != nil {
		t.Fatal(err)
	}
	pid := s.CommitterPID()
	if pid == 0 {
		t.Fatal("no group-commit connection after a submit")
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend($1)`, int32(pid)); err != nil {
		t.Fatal(err)
	}
	tk, err := submit("r-2")
	if err != nil {
		if ticketing.KindOf(err) != ticketing.KindUnavailable {
			t.Fatalf("the batch on the lost connection: err = %v, want unavailable", err)
		}
		if tk, err = submit("r-2"); err != nil {
			t.Fatalf("the retry: %v", err)
		}
	}
	if again, err := submit("r-2"); err != nil || again.Number != tk.Number {
		t.Fatalf("r-2 replayed: %v, %v; want ticket %s", again, err, tk.Number)
	}
	if _, err := submit("r-3"); err != nil {
		t.Fatal(err)
	}
	if p := s.CommitterPID(); p == pid || p == 0 {
		t.Errorf("group-commit backend %d after the loss, want a new one (not %d)", p, pid)
	}
	// Lost while idle: the next batch pings it first, and the report goes
	// through on a fresh connection without a "try again".
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend($1)`, int32(s.CommitterPID())); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // pingAfter
	if _, err := submit("r-4"); err != nil {
		t.Fatalf("the first report after an idle loss: %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM tickets WHERE external_id LIKE 'r-%'`).Scan(&n); err != nil || n != 4 {
		t.Errorf("%d tickets stored (%v), want 4", n, err)
	}
}
