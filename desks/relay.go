package desks

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing"
)

// RelayFeed is the outbox feed the relay reads.
const RelayFeed = "desks"

// Relay turns every ticket change into a live event for the desks, on
// whichever instance or door it happened: a report by phone or WeChat, a
// forwarder's status update, a deadline turning red. It reads the ticket
// outbox as a feed (ticketing.ChangeFeed), so a change written to the
// database reaches the bus even if the instance that made it died just
// after. One instance at a time holds the feed, by a lease that the others
// take over when it runs out, so each change is published once (at least
// once, after a crash). Live events are best effort and carry no order a
// desk relies on: each tells a desk to reload a ticket, and a bus that is
// down is logged, not retried.
type Relay struct {
	feed   ticketing.ChangeFeed
	bus    pubsub.Bus
	log    *slog.Logger
	now    func() time.Time
	poll   time.Duration
	holder string // this relay, in the feed's lease

	leased bool
	until  time.Time // the lease's end when leased; else when to ask for it again
	pos    ticketing.FeedPosition
}

// relayLease is how long a relay holds the feed without renewing it. A
// relay renews it at half-time, and the others ask for it as often, so
// desks go at most one and a half leases without live events after the
// instance relaying them dies; one that stops gives the feed up at once.
const relayLease = 10 * time.Second

// NewRelay wires a relay; log may be nil.
func NewRelay(feed ticketing.ChangeFeed, bus pubsub.Bus, log *slog.Logger) *Relay {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{feed: feed, bus: bus, log: log, now: time.Now, poll: 500 * time.Millisecond, holder: rand.Text()}
}

// Register starts the feed, if no instance has, at the outbox's end, so
// that every ticket change from now on is relayed; call it before the first
// report is taken.
func (r *Relay) Register(ctx context.Context) error {
	return r.lease(ctx)
}

// lease takes or renews the feed; r.leased says whether this relay holds it.
func (r *Relay) lease(ctx context.Context) error {
	now := r.now()
	pos, ok, err := r.feed.LeaseFeed(ctx, RelayFeed, r.holder, now, now.Add(relayLease))
	if err != nil {
		return err
	}
	r.leased, r.pos, r.until = ok, pos, now.Add(relayLease)
	if !ok {
		// Another relay holds the feed: ask again when its lease may have
		// run out, not at every poll.
		r.until = now.Add(relayLease / 2)
	}
	return nil
}

// Run relays until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := r.relayOnce(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("desk relay", "err", err)
		}
		if n < relayBatch {
			select {
			case <-ctx.Done():
			case <-time.After(r.poll):
			}
		}
	}
	if r.leased {
		// Stopping: the lease ends now, for another instance to take.
		stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := r.feed.AdvanceFeed(stop, RelayFeed, r.holder, r.pos, r.now()); err != nil {
			r.log.Debug("desk relay: give up the feed", "err", err)
		}
	}
}

// relayBatch is how many changes a relay reads at once; their messages
// reach a desk together, so pubsub.Buffer holds at least as many.
const relayBatch = 100

// relayOnce publishes one batch of changes and returns how many it read.
func (r *Relay) relayOnce(ctx context.Context) (int, error) {
	switch now := r.now(); {
	case !r.leased && now.Before(r.until):
		return 0, nil
	case !r.leased || now.After(r.until.Add(-relayLease/2)):
		if err := r.lease(ctx); err != nil || !r.leased {
			return 0, err
		}
	}
	ms, err := r.feed.ReadFeed(ctx, r.pos, relayBatch)
	if err != nil || len(ms) == 0 {
		return 0, err
	}
	var msgs []pubsub.Message
	for _, m := range ms {
		var p struct {
			Number     string           `json:"number"`
			Status     ticketing.Status `json:"status"`
			Department string           `json:"department"`
			Area       ticketing.Area   `json:"area"`
			Assisting  []string         `json:"assisting"`
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil || p.Number == "" {
			// Not a ticket change this relay understands: nothing to tell.
			r.log.Debug("desk relay: payload", "topic", m.Topic, "err", err)
		} else if msgs, err = changeMessages(msgs, &ticketing.Ticket{Number: p.Number, Status: p.Status, Department: p.Department,
			Area: p.Area, Assisting: p.Assisting}, ""); err != nil {
			r.log.Warn("desk relay: encode", "number", p.Number, "err", err)
		}
	}
	// The whole batch in one go: on Redis, one round trip, not one per topic
	// of each change.
	if len(msgs) > 0 && r.bus != nil {
		if err := pubsub.PublishAll(ctx, r.bus, msgs); err != nil {
			r.log.Warn("desk relay: publish", "messages", len(msgs), "err", err)
		}
	}
	// One write for the batch: if this relay dies before it, the feed's next
	// holder publishes the batch again, which the desks take as a reload.
	pos, until := ms[len(ms)-1].Position, r.now().Add(relayLease)
	if err := r.feed.AdvanceFeed(ctx, RelayFeed, r.holder, pos, until); err != nil {
		// Lost: another relay has the feed. Otherwise (the database away,
		// the instance stopping) it is still ours, and the batch goes out
		// again, or the lease is given up at stop.
		if errors.Is(err, ticketing.ErrLeaseLost) {
			r.leased = false
		}
		return len(ms), err
	}
	r.pos, r.until = pos, until
	return len(ms), nil
}
