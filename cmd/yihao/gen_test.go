package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
)

// yihao gen writes what the running system would have: as many tickets as
// asked, their indicator sums agreeing with the tickets themselves, deadline
// clocks on the open ones, and a database the server opens as its own.
func TestGen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := pgtest.SchemaURL(t)
	env := map[string]string{"YIHAO_DATABASE_URL": url, "YIHAO_DATA_DIR": t.TempDir()}
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"gen", "--tickets", "3000", "--months", "2", "--batch", "1000"}, func(k string) string { return env[k] }, &out, &errOut); err != nil {
		t.Fatalf("gen: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "generated 3000 tickets") {
		t.Errorf("gen said %q", out.String())
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	scalar := func(q string) int64 {
		t.Helper()
		var n int64
		if err := pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	sum := func(metric string) int64 {
		return scalar(`SELECT coalesce(sum(n), 0) FROM indicator_daily WHERE dim = 'all' AND metric = '` + metric + `'`)
	}
	if n := scalar(`SELECT count(*) FROM tickets`); n != 3000 {
		t.Errorf("%d tickets, want 3000", n)
	}
	for metric, q := range map[string]string{
		"received": `SELECT count(*) FROM tickets`,
		// A supervisor's 自处置 is closed with no department, counted apart.
		"closed":       `SELECT count(*) FROM tickets WHERE status = 'closed' AND department <> ''`,
		"self_handled": `SELECT count(*) FROM tickets WHERE status = 'closed' AND department = ''`,
		// Supervisors' finds filed by their centre; the 核实 done on site.
		"found":     `SELECT count(*) FROM tickets WHERE channel = 'field' AND status NOT IN ('received', 'closed') OR channel = 'field' AND department <> ''`,
		"confirmed": `SELECT count(*) FROM tickets WHERE channel <> 'field' AND category = '0604' AND status <> 'received'`,
		"answered":  `SELECT count(*) FROM tickets WHERE status = 'resolved_on_contact'`,
		"evaluated": `SELECT count(*) FROM tickets WHERE evaluation IS NOT NULL`,
	} {
		if got, want := sum(metric), scalar(q); got != want || want == 0 {
			t.Errorf("indicator %s = %d, tickets say %d", metric, got, want)
		}
	}
	if d, m := sum("received"), scalar(`SELECT coalesce(sum(n), 0) FROM indicator_monthly WHERE dim = 'all' AND metric = 'received'`); d != m {
		t.Errorf("daily received %d, monthly %d", d, m)
	}
	if n := scalar(`SELECT count(*) FROM tickets WHERE status IN ('dispatched', 'accepted') AND alarm_at IS NULL`); n != 0 {
		t.Errorf("%d open tickets with a department have no deadline clock", n)
	}
	// The grid's work is there as the running system leaves it: centres
	// holding cases, open 核实 and 核查 tasks for the cells' supervisors.
	for what, q := range map[string]string{
		"case held by a street or district centre": `SELECT count(*) FROM tickets WHERE centre <> ''`,
		"open 核查 task":                             `SELECT count(*) FROM tickets WHERE task = 'inspect' AND status = 'handled' AND task_due IS NOT NULL`,
	} {
		if scalar(q) == 0 {
			t.Errorf("no %s", what)
		}
	}
	// Open tickets keep their logs; the server reads them like its own.
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	open, err := st.Queue(ctx, ticketing.QueueFilter{Limit: 1, Sort: ticketing.SortReceived})
	if err != nil || len(open) != 1 {
		t.Fatalf("no open ticket: %v", err)
	}
	evs, err := st.Events(ctx, open[0].ID)
	if err != nil || len(evs) == 0 || evs[0].Type != ticketing.EventReceived || evs[len(evs)-1].To != open[0].Status {
		t.Errorf("log of open ticket %s: %v %+v", open[0].Number, err, evs)
	}
	// Again, on a database that already has them: ids follow on.
	out.Reset()
	if err := run(ctx, []string{"gen", "--tickets", "10", "--months", "1"}, func(k string) string { return env[k] }, &out, &errOut); err != nil {
		t.Fatalf("gen again: %v", err)
	}
	if n := scalar(`SELECT count(*) FROM tickets`); n != 3010 {
		t.Errorf("%d tickets after a second run, want 3010", n)
	}
}
