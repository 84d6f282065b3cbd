package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/internal/groupcommit"
	"github.com/yihao-city/yihao/ticketing/internal/sqlq"
)

// Group commit (ticketing/internal/groupcommit). With synchronous=FULL
// every commit waits for the disk, and the store has one writer, so new
// tickets one transaction each would queue for fsync after fsync. Instead
// one writer goroutine takes whatever submits queued while the previous
// batch was committing and stores them in one transaction. Each submit is
// acknowledged only after the commit.
const (
	// maxBatch bounds one transaction.
	maxBatch = 256
	// batchTimeout bounds a batch the file never answers.
	batchTimeout = 30 * time.Second
)

// pendingCreate is one submit waiting for its batch.
type pendingCreate struct {
	t        *ticketing.Ticket
	args     []any
	inserted bool
}

// commitCreates stores a batch in one transaction (groupcommit retries a
// refused batch one submit at a time). Not a savepoint per submit: each
// one wrote its pages to a statement journal, a fifth of the CPU at load.
func (s *Store) commitCreates(ctx context.Context, batch []*groupcommit.Call[*pendingCreate]) error {
	err := s.insertBatch(ctx, batch)
	if err != nil {
		for _, c := range batch {
			c.Item.inserted = false
		}
	}
	return err
}

func (s *Store) insertBatch(ctx context.Context, batch []*groupcommit.Call[*pendingCreate]) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback() // after Commit this is a no-op
	for _, c := range batch {
		if c.Item.inserted, err = s.insertTicket(ctx, tx, c.Item); err != nil {
			return err
		}
	}
	return translate(tx.Commit())
}

// insertTicket writes one new ticket and its changes; false when its key
// was taken already.
func (s *Store) insertTicket(ctx context.Context, tx *sql.Tx, p *pendingCreate) (bool, error) {
	res, err := s.txExec(ctx, tx, insertTicketSQL, p.args...)
	if err != nil {
		return false, translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	return true, s.appendChanges(ctx, tx, p.t, 0)
}

// Create inserts the ticket, its events, outbox rows, indicator tallies
// and keys, in one transaction with the other submits of its batch, and
// returns once that transaction has committed.
func (s *Store) Create(ctx context.Context, t *ticketing.Ticket) (*ticketing.Ticket, bool, error) {
	args, err := sqlq.TicketArgs(dialect, t, 1)
	if err != nil {
		return nil, false, err
	}
	p := &pendingCreate{t: t, args: args}
	c, err := s.creates.Do(ctx, p)
	inserted := false
	if err == nil {
		err, inserted = c.Err, c.Item.inserted // read only once its batch is over
	}
	return sqlq.Committed(ctx, t, inserted, err, s.ByExternalID)
}
