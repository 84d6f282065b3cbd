package faults

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// killMidCommit: an instance dies in the middle of a group commit. New
// tickets reach PostgreSQL in batches (ticketing/internal/groupcommit): a
// writer gathers the submits that queued while the last batch committed
// and inserts them with one statement, and each submit is acknowledged
// after that commit. Here web reports are sent to the instance while the
// test holds a lock on the tickets table, so the first batch's statement
// waits in PostgreSQL (gathered, sent, not committed), the writer sends
// the next batch behind it (it pipelines them), and the other reports
// queue in the instance (those past intake_max_inflight are shed with
// 503); then the instance is killed and the lock released.
//
// PostgreSQL holds the dead client's whole statement, and the one sent
// behind it, so those batches may still commit with nobody told; the
// queued ones never reach it. Either way nothing was acknowledged, and the client sends each report again,
// with its key, to the other instance: each must be stored exactly once,
// and every stored ticket whole (its events, its outbox message and a
// delivery per endpoint), never half a batch.
func (cl *cluster) killMidCommit(t *testing.T) {
	const fault, reports = "kill-mid-commit", 40
	ctx, cancel := context.WithTimeout(t.Context(), faultLimit)
	defer cancel()
	victim, other := cl.instances[0], cl.instances[1]
	defer cl.restartIfKilled(t, victim)
	tx := cl.lockTickets(ctx, t)
	defer tx.Rollback(context.Background())

	tag := cl.run + "-" + fault
	door := webDoor{tag: tag}
	first := newHTTPSender(door, []string{victim.Base})
	c := newChannelLoad(fault, "web")
	var wg sync.WaitGroup
	for seq := 1; seq <= reports; seq++ {
		r := &report{Seq: seq}
		door.prepare(r)
		c.reports = append(c.reports, r)
		wg.Go(func() {
			r.Attempts++
			status, hdr, answer, err := first.send(ctx, victim.Base, r)
			switch {
			case err != nil:
				c.note(transportKind(err))
			case status == http.StatusServiceUnavailable && hdr.Get("Retry-After") != "":
				// Past intake_max_inflight (32) the instance sheds: the
				// report is refused at once, and sent again below.
				c.note("503+Retry-After")
			default:
				// The table is locked: no acknowledgement can come before
				// the kill.
				c.note(fmt.Sprint(status))
				r.Rejected = fmt.Sprintf("answered %d while its batch could not commit: %.200s", status, answer)
			}
		})
	}
	if _, err := cl.lockWaiters(ctx, 1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the rest queue behind the batch
	var waiting string
	if err := cl.db.QueryRow(ctx, `SELECT string_agg(left(query, 60), ' | ') FROM pg_stat_activity
		WHERE datname = 'yihao' AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
		t.Fatal(err)
	}
	t.Logf("waiting for the lock: %s", waiting)
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.lockWaiters(ctx, 0, 10*time.Second); err != nil { // the dead client's batch ends
		t.Fatal(err)
	}
	keys := make([]string, len(c.reports))
	for i, r := range c.reports {
		keys[i] = r.Key
	}
	var committed int
	if err := cl.db.QueryRow(ctx, `SELECT count(*) FROM tickets WHERE channel = 'web' AND external_id = ANY($1)`,
		keys).Scan(&committed); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed %s with %d reports in its group commit; %d of them committed by its last statement, unacknowledged",
		victim.Name, reports, committed)

	// The client sends each report again, to the other instance.
	again := newHTTPSender(door, []string{other.Base})
	for _, r := range c.reports {
		if r.Rejected == "" {
			wg.Go(func() { again.deliver(ctx, c, r) })
		}
	}
	wg.Wait()
	tl, err := verify(ctx, cl.db, c, string(ticketing.ChannelWeb), fmt.Sprintf("[faults %s web ", tag))
	if err != nil {
		t.Fatal(err)
	}
	t.Log(tl.Line())
	fmt.Println(tl.Line())
	if tl.Lost > 0 || tl.Duplicated > 0 || tl.Acked != reports || tl.Stored != reports {
		t.Errorf("lost=%d duplicated=%d acknowledged=%d stored=%d of %d:\n  %s", tl.Lost, tl.Duplicated, tl.Acked, tl.Stored, reports,
			strings.Join(tl.Problems, "\n  "))
	}
	for _, r := range c.reports {
		if r.Rejected != "" {
			t.Errorf("report %d: %s", r.Seq, r.Rejected)
		}
	}

	// Whole tickets only: each with its received event, its ticket.created
	// message and one delivery of it per endpoint registered before it.
	rows, err := cl.db.Query(ctx, `SELECT t.number,
			(SELECT count(*) FROM ticket_events e WHERE e.ticket_id = t.id AND e.type = 'received'),
			(SELECT count(*) FROM outbox o WHERE o.ticket_id = t.id AND o.topic = 'ticket.created'),
			(SELECT count(*) FROM deliveries d JOIN outbox o ON o.id = d.message_id
			  WHERE o.ticket_id = t.id AND o.topic = 'ticket.created'),
			(SELECT count(*) FROM delivery_endpoints)
		FROM tickets t WHERE t.channel = 'web' AND t.external_id = ANY($1)`, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	whole := 0
	for rows.Next() {
		var number string
		var received, created, deliveries, endpoints int
		if err := rows.Scan(&number, &received, &created, &deliveries, &endpoints); err != nil {
			t.Fatal(err)
		}
		if received != 1 || created != 1 || deliveries != endpoints {
			t.Errorf("ticket %s is half-written: %d received events, %d ticket.created messages, %d deliveries for %d endpoints",
				number, received, created, deliveries, endpoints)
			continue
		}
		whole++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tickets, each whole", whole)
}
