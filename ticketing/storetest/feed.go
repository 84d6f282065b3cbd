package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// feedTests returns the conformance tests of the outbox read as a feed.
func feedTests() []storeTest {
	return []storeTest{
		{"FeedReadsInOrder", testFeedReadsInOrder},
		{"FeedLease", testFeedLease},
	}
}

func feedOf(t *testing.T, s ticketing.Store) ticketing.ChangeFeed {
	t.Helper()
	f, ok := s.(ticketing.ChangeFeed)
	if !ok {
		t.Fatalf("%T has no change feed", s)
	}
	return f
}

// readN reads f from pos until it has n messages, limit at a time, and
// checks that nothing follows them. On PostgreSQL a message is read only
// once every older transaction on the server has ended, so other tests'
// transactions may hold it back for a while.
func readN(t *testing.T, f ticketing.ChangeFeed, pos ticketing.FeedPosition, limit, n int) []ticketing.FeedMessage {
	t.Helper()
	var out []ticketing.FeedMessage
	deadline := time.Now().Add(30 * time.Second)
	for {
		ms, err := f.ReadFeed(context.Background(), pos, limit)
		if err != nil {
			t.Fatalf("ReadFeed: %v", err)
		}
		if len(ms) > limit {
			t.Fatalf("ReadFeed returned %d messages, limit %d", len(ms), limit)
		}
		out = append(out, ms...)
		if len(ms) > 0 {
			pos = ms[len(ms)-1].Position
		}
		switch {
		case len(out) > n:
			t.Fatalf("the feed read %d messages, want %d", len(out), n)
		case len(out) == n && len(ms) < limit:
			return out
		case len(ms) == 0 && time.Now().After(deadline):
			t.Fatalf("the feed read %d messages in 30 s, want %d", len(out), n)
		case len(ms) == 0:
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// The feed starts at the outbox's end, then reads every message written
// after, once, in order, with what the outbox holds.
func testFeedReadsInOrder(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	f := feedOf(t, s)
	newTicket(t, s, "before")
	pos, ok, err := f.LeaseFeed(ctx, "desks", "a", base, base.Add(time.Minute))
	if err != nil || !ok {
		t.Fatalf("LeaseFeed = %v, %v", ok, err)
	}
	if ms, err := f.ReadFeed(ctx, pos, 10); err != nil || len(ms) != 0 {
		t.Fatalf("a new feed read %d messages written before it started (%v)", len(ms), err)
	}
	var want []string
	for i := range 7 {
		tk := newTicket(t, s, fmt.Sprintf("after-%d", i))
		want = append(want, tk.Number)
	}
	ms := readN(t, f, pos, 3, len(want))
	var got []string
	for i, m := range ms {
		if m.Topic != "ticket.created" || m.TicketID == 0 || m.At.IsZero() {
			t.Errorf("message %d: %+v", i, m)
		}
		if i > 0 && !less(ms[i-1].Position, m.Position) {
			t.Errorf("message %d at %+v, not after %+v", i, m.Position, ms[i-1].Position)
		}
		for _, n := range want {
			if strings.Contains(string(m.Payload), n) {
				got = append(got, n)
			}
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("feed read tickets %v, want %v in this order", got, want)
	}
	if err := f.AdvanceFeed(ctx, "desks", "a", ms[4].Position, base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The position is kept: the holder leasing again resumes there.
	again, ok, err := f.LeaseFeed(ctx, "desks", "a", base, base.Add(time.Minute))
	if err != nil || !ok || again != ms[4].Position {
		t.Fatalf("LeaseFeed again = %+v, %v, %v; want %+v", again, ok, err, ms[4].Position)
	}
	readN(t, f, again, 10, 2)
}

func less(a, b ticketing.FeedPosition) bool {
	return a.Tx < b.Tx || a.Tx == b.Tx && a.Message < b.Message
}

// One holder at a time: the others get the feed when its lease runs out,
// and the old holder can then no longer move it.
func testFeedLease(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	f := feedOf(t, s)
	if _, ok, err := f.LeaseFeed(ctx, "desks", "a", base, base.Add(10*time.Second)); err != nil || !ok {
		t.Fatalf("LeaseFeed(a) = %v, %v", ok, err)
	}
	// Several others asking at once while a's lease runs: none gets it.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if _, ok, err := f.LeaseFeed(ctx, "desks", fmt.Sprint("b", i), base.Add(5*time.Second), base.Add(15*time.Second)); err != nil || ok {
				t.Errorf("LeaseFeed(b%d) during a's lease = %v, %v; want false", i, ok, err)
			}
		})
	}
	wg.Wait()
	// Another feed is another lease.
	if _, ok, err := f.LeaseFeed(ctx, "other", "b", base, base.Add(10*time.Second)); err != nil || !ok {
		t.Errorf("LeaseFeed(other) = %v, %v", ok, err)
	}
	newTicket(t, s, "leased")
	pos, ok, err := f.LeaseFeed(ctx, "desks", "b", base.Add(10*time.Second), base.Add(20*time.Second))
	if err != nil || !ok {
		t.Fatalf("LeaseFeed(b) after a's lease = %v, %v", ok, err)
	}
	ms := readN(t, f, pos, 10, 1) // the one written under a's lease
	if err := f.AdvanceFeed(ctx, "desks", "a", ms[0].Position, base.Add(30*time.Second)); !errors.Is(err, ticketing.ErrLeaseLost) {
		t.Errorf("AdvanceFeed by a after b took the feed = %v, want ErrLeaseLost", err)
	}
	if err := f.AdvanceFeed(ctx, "desks", "b", ms[0].Position, base.Add(30*time.Second)); err != nil {
		t.Errorf("AdvanceFeed by b = %v", err)
	}
	if _, ok, _ := f.LeaseFeed(ctx, "desks", "a", base.Add(25*time.Second), base.Add(35*time.Second)); ok {
		t.Error("a took the feed while b's renewed lease ran")
	}
}
