package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/yihao-city/yihao/ticketing"
)

// A supplement is stored once per Supplement.Key however often it is
// retried, one after another or at once; another key, or none, adds it
// again. A key belongs to its ticket: another ticket takes it too.
func testSupplementKey(t *testing.T, s ticketing.Store) {
	svc, _ := newService(s)
	tests := []struct {
		name       string
		keys       []string // one supplement per key
		concurrent bool
		want       int // supplements stored
	}{
		{"same key twice", []string{"wechat:msg:1", "wechat:msg:1"}, false, 1},
		{"same key at once", slices.Repeat([]string{"wechat:msg:2"}, 8), true, 1},
		{"different keys", []string{"wechat:msg:3", "wechat:msg:4"}, false, 2},
		{"no key", []string{"", ""}, false, 2},
		{"another ticket's key", []string{"wechat:msg:1"}, false, 1},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk := newTicket(t, s, fmt.Sprint("sup-key-", i))
			supplementAll(t, []*ticketing.Service{svc}, tk, tc.keys, tc.concurrent)
			assertSupplements(t, s, tk, tc.want)
		})
	}
}

// supplementAll adds one supplement to tk per key, through svcs in turn
// (instances), each with a photo of its own. Each must succeed
// and answer with tk, whether it was stored or had been already.
func supplementAll(t *testing.T, svcs []*ticketing.Service, tk *ticketing.Ticket, keys []string, concurrent bool) {
	t.Helper()
	var wg sync.WaitGroup
	for i, key := range keys {
		sup := ticketing.Supplement{Text: "在公交站旁", Key: key, Attachments: []ticketing.Attachment{
			{ID: fmt.Sprintf("2026/11/26/%d.jpg", i), ContentType: "image/jpeg", Size: 10, SHA256: "cd"}}}
		supplement := func() {
			got, err := svcs[i%len(svcs)].Supplement(context.Background(), tk.Number, "citizen:wechat", sup)
			if err != nil {
				t.Errorf("supplement %d (key %q): %v", i, key, err)
			} else if got.ID != tk.ID {
				t.Errorf("supplement %d (key %q) answered with ticket %d, want %d", i, key, got.ID, tk.ID)
			}
		}
		if !concurrent {
			supplement()
			continue
		}
		wg.Go(supplement)
	}
	wg.Wait()
}

// assertSupplements checks that tk holds want supplements: as many events,
// outbox messages and photos, none written twice.
func assertSupplements(t *testing.T, s ticketing.Store, tk *ticketing.Ticket, want int) {
	t.Helper()
	ctx := context.Background()
	evs, err := s.Events(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	events := 0
	for _, e := range evs {
		if e.Type == ticketing.EventSupplemented {
			events++
		}
	}
	msgs, err := s.Outbox(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	changed := 0
	for _, m := range msgs {
		if m.TicketID == tk.ID && m.Topic == "ticket.changed" {
			changed++
		}
	}
	got, err := s.ByID(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if events != want || changed != want || len(got.Attachments) != want {
		t.Errorf("%d supplement events, %d outbox messages, %d photos; want %d of each", events, changed, len(got.Attachments), want)
	}
}
