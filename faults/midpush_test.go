package faults

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/yihao-city/yihao/channels/wechat/wechattest"
	"github.com/yihao-city/yihao/ticketing"
)

// killMidPush: an instance dies with WeChat pushes in hand, after it has
// marked their MsgIds as seen in Redis and before their tickets reached
// PostgreSQL. WeChat pushes each again (same MsgId) to the other instance,
// which must store it, or refuse it so that WeChat tries later; answering
// "success" without storing loses the message, since WeChat then stops.
//
// To hold pushes in that window on purpose, the test locks the tickets
// table: the first pushes' batch waits in PostgreSQL for the lock (new
// tickets are inserted in batches, see kill-mid-commit) and the rest queue
// behind it in the group commit, their MsgIds already marked. Then
// the instance is killed and the lock released. (Under load, kill-instance
// hits the same window by chance now and then: see its
// success_not_stored.)
//
// It found the loss it guards against: wechat.Channel.Handle used to mark
// the MsgId seen before storing, so the retry of a push whose instance
// died was answered "success". Now an attempt holds a push only for a
// short lease, and a retry waits for its reply or takes it over.
func (cl *cluster) killMidPush(t *testing.T) {
	const fault, pushes = "kill-mid-push", 24
	ctx, cancel := context.WithTimeout(t.Context(), faultLimit)
	defer cancel()
	victim, other := cl.instances[0], cl.instances[1]
	defer cl.restartIfKilled(t, victim)
	tx := cl.lockTickets(ctx, t)
	defer tx.Rollback(context.Background())

	s := newWeChatSender(t, cl.run+"-"+fault, cl.acct, nil, cl.msgID(3, 0))
	c := newChannelLoad(fault, "wechat")
	var wg sync.WaitGroup
	for seq := 1; seq <= pushes; seq++ {
		r := &report{Seq: seq, Attempts: 1}
		s.prepare(r)
		c.reports = append(c.reports, r)
		wg.Go(func() {
			_, _, _, err := s.push(ctx, victim.Base, s.message(r))
			if err != nil {
				c.note(transportKind(err))
			}
		})
	}
	waiting, err := cl.lockWaiters(ctx, 1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the rest queue behind the batch
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	t.Logf("killed %s with %d pushes in hand (%d batch statements waiting in PostgreSQL for the lock, the rest queued behind them)",
		victim.Name, pushes, waiting)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.lockWaiters(ctx, 0, 10*time.Second); err != nil { // the dead client's INSERTs finish
		t.Fatal(err)
	}

	// WeChat pushes each message again, now to the other instance, and
	// again after a 503 (its three tries): a retry that comes while the
	// dead attempt's lease still holds the push waits for it, and past the
	// handler's deadline is answered 503.
	for _, r := range c.reports {
		var (
			status int
			reply  *wechattest.ReplyMsg
			answer []byte
			err    error
		)
		for try := 0; try < 3 && (try == 0 || (err == nil && status == http.StatusServiceUnavailable)); try++ {
			if try > 0 {
				c.note(fmt.Sprint(status))
			}
			r.Attempts++
			status, reply, answer, err = s.push(ctx, other.Base, s.message(r))
		}
		switch {
		case err != nil:
			c.note(transportKind(err))
			r.GaveUp = true
		case status != http.StatusOK:
			c.note(fmt.Sprint(status))
			r.GaveUp = true
		case reply == nil:
			r.Silent = true
		default:
			if n := numberInReply.FindString(reply.Content); ticketing.ValidNumber(n) {
				r.Acked, r.Number = true, n
			} else {
				r.Rejected = fmt.Sprintf("reply without a number: %.200s", answer)
			}
		}
	}
	tl, err := verify(ctx, cl.db, c, string(ticketing.ChannelWeChat), fmt.Sprintf("[faults %s-%s wechat ", cl.run, fault))
	if err != nil {
		t.Fatal(err)
	}
	t.Log(tl.Line())
	fmt.Println(tl.Line())
	if tl.SilentLost > 0 || tl.Lost > 0 || tl.Duplicated > 0 {
		t.Errorf("%d pushes answered \"success\" by %s and never stored (WeChat does not push them again); lost=%d duplicated=%d:\n  %s",
			tl.SilentLost, other.Name, tl.Lost, tl.Duplicated, strings.Join(tl.Problems, "\n  "))
	}
}

// lockTickets holds the tickets table in EXCLUSIVE mode (reads go on,
// writes wait) until the returned transaction ends.
func (cl *cluster) lockTickets(ctx context.Context, t *testing.T) pgx.Tx {
	t.Helper()
	tx, err := cl.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE tickets IN EXCLUSIVE MODE`); err != nil {
		_ = tx.Rollback(context.Background())
		t.Fatal(err)
	}
	return tx
}

// restartIfKilled starts victim again if a fault left it dead.
func (cl *cluster) restartIfKilled(t *testing.T, victim *Instance) {
	if victim.Exited() {
		if err := victim.Start(); err != nil {
			t.Errorf("restart of %s: %v", victim.Name, err)
		}
	}
}

// lockWaiters waits until at least (or, for 0, exactly) want sessions of
// the yihao database wait for a lock, and returns how many do.
func (cl *cluster) lockWaiters(ctx context.Context, want int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		var n int
		err := cl.db.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = 'yihao' AND wait_event_type = 'Lock'`).Scan(&n)
		if err != nil {
			return 0, err
		}
		if (want == 0 && n == 0) || (want > 0 && n >= want) {
			return n, nil
		}
		if time.Now().After(deadline) {
			return n, fmt.Errorf("%d sessions waiting for a lock after %v, want %d", n, timeout, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
