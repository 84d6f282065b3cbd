package ticketing

import (
	"context"
	"time"
)

// A feed reads the outbox as a log, for a consumer that needs every change
// told once to everyone listening rather than handed to one receiver with
// retries: the desks' live relay. It writes nothing per message — no
// delivery row, no claim, no acknowledgment — only its position, once per
// batch; that is most of what a new ticket used to cost the database after
// its own rows.
//
// One reader at a time holds a feed, by a lease, so instances sharing the
// database relay each change once (again after a crash between the relay
// and the new position: at least once).

// FeedPosition is how far a feed has been read: Tx orders the writers'
// transactions (PostgreSQL's transaction id; 0 on the embedded store,
// whose writes are serial) and Message the messages within them.
type FeedPosition struct {
	Tx      int64
	Message int64
}

// FeedMessage is one outbox message as a feed reads it.
type FeedMessage struct {
	Position FeedPosition
	TicketID int64
	Topic    string
	Payload  []byte // the message's JSON payload
	At       time.Time
}

// ChangeFeed is the outbox read as a feed. Every Store in this module
// implements it.
type ChangeFeed interface {
	// LeaseFeed makes holder the reader of feed until until, unless another
	// holder's lease still runs at now, and returns the feed's position;
	// false when another holder has it. The first lease of a feed starts it
	// at the outbox's end: what was written before is not read.
	LeaseFeed(ctx context.Context, feed, holder string, now, until time.Time) (FeedPosition, bool, error)
	// ReadFeed returns up to limit messages after pos, in order. A message
	// is returned only once no message can still commit before it: a
	// reader that moves on to the last one read skips nothing.
	ReadFeed(ctx context.Context, after FeedPosition, limit int) ([]FeedMessage, error)
	// AdvanceFeed records that holder has read up to pos and extends its
	// lease to until; ErrLeaseLost if holder no longer holds the feed.
	AdvanceFeed(ctx context.Context, feed, holder string, pos FeedPosition, until time.Time) error
}
