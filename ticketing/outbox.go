package ticketing

import (
	"context"
	"time"
)

// Forwarding turns each outbox message into one delivery per registered
// endpoint (an external grid platform: a webhook, an Open311 server). The
// store creates the deliveries in the same transaction that writes the
// message, so a message is never missed by an endpoint registered before it
// was written, whichever instance wrote it.
//
// Delivery is at least once: a delivery whose lease runs out (its sender
// died) is handed out again with the same ID, which receivers use as their
// idempotency key. Per ticket and endpoint, deliveries go out in message
// order: a later message is not handed out while an earlier one is still
// undelivered and not dead.

// Delivery is one outbox message on its way to one endpoint.
type Delivery struct {
	ID        int64 // idempotency key for the receiver; stable across retries
	MessageID int64
	TicketID  int64
	Number    string // the ticket's public number
	Endpoint  string
	Topic     string
	Payload   []byte    // the message's JSON payload
	MessageAt time.Time // when the message was written
	Attempt   int       // 1 for the first attempt; claims count up, Requeue resets
	LastError string    // why the previous attempt failed, if it did
	// Set on dead letters and by DeadLetters.
	Dead        bool
	DeliveredAt time.Time // zero until delivered
}

// DeliveryStats is the state of one endpoint's queue.
type DeliveryStats struct {
	Pending       int       // neither delivered nor dead (including in flight)
	Dead          int       // in the dead-letter list
	OldestPending time.Time // the message time of the oldest pending delivery; zero when none
}

// ExternalRef is what Yihao knows of a ticket on one endpoint: whether it
// was forwarded, the remote id it got there (an Open311
// service_request_id, or a token to resolve into one), and the last status
// seen when polling.
type ExternalRef struct {
	Endpoint    string
	TicketID    int64
	Number      string // filled in by reads
	RemoteID    string
	Token       string
	RequestedAt time.Time // a create request was sent (its outcome may be unknown); zero if never
	ForwardedAt time.Time // EventForwarded was recorded; zero if not yet
	Status      string    // last remote status seen
	StatusNotes string
	NextPollAt  time.Time // zero: not polled
	UpdatedAt   time.Time
}

// ErrLeaseLost matches a MarkFailed or Release for an attempt that no
// longer holds its delivery: the lease ran out and it was handed out again,
// or it was delivered meanwhile.
var ErrLeaseLost = &Error{Kind: KindConflict, Code: "lease_lost"}

// DeliveryStore keeps deliveries and external references. Every Store in
// this module implements it; all methods are safe for several instances on
// one database.
type DeliveryStore interface {
	// RegisterEndpoint makes every message written from now on produce a
	// delivery for endpoint. Registering again is a no-op. Messages written
	// before the first registration are not delivered to it.
	RegisterEndpoint(ctx context.Context, endpoint string, now time.Time) error
	// RemoveEndpoint stops new deliveries to endpoint. Its existing
	// deliveries stay (and go out if it is registered again).
	RemoveEndpoint(ctx context.Context, endpoint string) error

	// ClaimDeliveries hands out up to limit deliveries for endpoint that are
	// due at now and not leased, oldest message first, and leases them until
	// now+lease. It never hands out a delivery while an earlier message of the
	// same ticket for the same endpoint is undelivered and not dead, so one
	// claim holds at most one delivery per ticket and its deliveries can be
	// sent in parallel. Each claim increments Attempt.
	ClaimDeliveries(ctx context.Context, endpoint string, now time.Time, limit int, lease time.Duration) ([]Delivery, error)
	// MarkDelivered records success (skipped: not relevant to the endpoint).
	// It is idempotent and succeeds even if the lease ran out.
	MarkDelivered(ctx context.Context, id int64, at time.Time, skipped bool) error
	// MarkFailed ends attempt number attempt: the delivery is due again at
	// nextAt, or goes to the dead-letter list when dead is true. It returns
	// ErrLeaseLost if the attempt no longer holds the delivery.
	MarkFailed(ctx context.Context, id int64, attempt int, nextAt time.Time, errText string, dead bool) error
	// Release gives back a claimed delivery that was not attempted (the
	// sender is stopping): it is due at once and the attempt is not counted.
	// It returns ErrLeaseLost if the attempt no longer holds the delivery.
	Release(ctx context.Context, id int64, attempt int) error
	// DeadLetters lists up to limit dead deliveries of endpoint, oldest first.
	DeadLetters(ctx context.Context, endpoint string, limit int) ([]Delivery, error)
	// Requeue takes a dead delivery back from the dead-letter list, due at
	// now with its attempts reset. ErrNotFound if there is no such dead delivery.
	Requeue(ctx context.Context, id int64, now time.Time) error
	// DeliveryStats counts endpoint's pending and dead deliveries.
	DeliveryStats(ctx context.Context, endpoint string) (DeliveryStats, error)

	// ExternalRef returns the ticket's reference on endpoint, ErrNotFound if none.
	ExternalRef(ctx context.Context, endpoint string, ticketID int64) (*ExternalRef, error)
	// SaveExternalRef creates or replaces the reference for (Endpoint, TicketID).
	SaveExternalRef(ctx context.Context, ref *ExternalRef) error
	// ClaimPolls hands out up to limit references of endpoint whose
	// NextPollAt is due at now, earliest first, and moves their NextPollAt to
	// now+lease so no other instance polls them meanwhile; the poller saves
	// the reference with the real next time afterwards.
	ClaimPolls(ctx context.Context, endpoint string, now time.Time, limit int, lease time.Duration) ([]ExternalRef, error)
}

// Consume runs step until ctx ends, waiting poll after a step that found
// nothing due (or failed, reported to failed): the loop of each outbox
// endpoint's sender, whose step claims its due deliveries and sends them.
func Consume(ctx context.Context, poll time.Duration, step func(context.Context) (int, error), failed func(error)) {
	for {
		got, err := step(ctx)
		if err != nil && ctx.Err() == nil {
			failed(err)
		}
		if got == 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(poll):
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
}
