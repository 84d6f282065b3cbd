package desks

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing"
)

// RelayEndpoint is the outbox queue the relay consumes.
const RelayEndpoint = "desks"

// Relay turns every ticket change into a live event for the desks, on
// whichever instance or door it happened: a report by phone or WeChat, a
// forwarder's status update, a deadline turning red. It consumes the
// ticket outbox as one delivery endpoint, so a change written to the
// database reaches the bus even if the instance that made it died just
// after; any instance may relay, each change once (at least once, after a
// crash). Live events are best effort: a bus that is down is logged, not
// retried, since desks reload what they show anyway.
type Relay struct {
	ds   ticketing.DeliveryStore
	bus  pubsub.Bus
	log  *slog.Logger
	now  func() time.Time
	poll time.Duration
}

// NewRelay wires a relay; log may be nil.
func NewRelay(ds ticketing.DeliveryStore, bus pubsub.Bus, log *slog.Logger) *Relay {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{ds: ds, bus: bus, log: log, now: time.Now, poll: 500 * time.Millisecond}
}

// Register makes every ticket change from now on a delivery for the
// relay; call it before the first report is taken.
func (r *Relay) Register(ctx context.Context) error {
	return r.ds.RegisterEndpoint(ctx, RelayEndpoint, r.now())
}

// Run relays until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := r.relayOnce(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("desk relay: claim", "err", err)
		}
		if n == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(r.poll):
			}
		}
	}
}

// relayBatch is how many changes a relay claims at once; their messages
// reach a desk together, so pubsub.Buffer holds at least as many.
const relayBatch = 100

// relayOnce publishes one batch of changes and returns how many it took.
func (r *Relay) relayOnce(ctx context.Context) (int, error) {
	ds, err := r.ds.ClaimDeliveries(ctx, RelayEndpoint, r.now(), relayBatch, time.Minute)
	if err != nil {
		return 0, err
	}
	ids := make([]int64, 0, len(ds))
	var msgs []pubsub.Message
	for _, d := range ds {
		var p struct {
			Status     ticketing.Status `json:"status"`
			Department string           `json:"department"`
		}
		if err := json.Unmarshal(d.Payload, &p); err != nil {
			// Not a ticket change this relay understands: nothing to tell.
			r.log.Debug("desk relay: payload", "topic", d.Topic, "err", err)
		} else if msgs, err = changeMessages(msgs, &ticketing.Ticket{Number: d.Number, Status: p.Status, Department: p.Department}, ""); err != nil {
			r.log.Warn("desk relay: encode", "number", d.Number, "err", err)
		}
		ids = append(ids, d.ID)
	}
	// The whole batch in one go: on Redis, one round trip, not one per topic
	// of each change.
	if len(msgs) > 0 && r.bus != nil {
		if err := pubsub.PublishAll(ctx, r.bus, msgs); err != nil {
			r.log.Warn("desk relay: publish", "messages", len(msgs), "err", err)
		}
	}
	// One write for the claim: a relay that dies before it is redelivers
	// the batch, which the desks take as a reload.
	if err := r.ds.MarkDeliveredAll(ctx, ids, r.now()); err != nil {
		r.log.Warn("desk relay: mark delivered", "deliveries", len(ids), "err", err)
	}
	return len(ds), nil
}
