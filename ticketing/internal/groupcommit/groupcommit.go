// Package groupcommit gathers writes that arrive together into batches, so
// a store commits (and waits for its disk) once per batch instead of once
// per write. Both ticket stores take new tickets through it.
//
// Nothing waits for a batch to fill: a writer takes the next write and
// whatever queued behind it while the previous batch was committing, so a
// lone write commits at once and a burst shares its commits.
//
// A batch the store refuses is tried again one write at a time, so one bad
// write (a value the database cannot store) fails alone and the others
// commit; the retries share the batch's deadline, so a store that hangs
// costs the batch one timeout, not one per write.
package groupcommit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrClosed answers writes submitted after Close.
var ErrClosed = errors.New("groupcommit: closed")

// Call is one write waiting for its batch. Err is the error of the batch
// it failed with, or what the commit function set for it alone; the
// commit function also sets whatever result the item carries.
type Call[T any] struct {
	Item T
	Err  error
	done chan struct{}
}

// Queue feeds batches of at most max calls to commit, from writers
// goroutines; every call of a batch is released when commit (and any
// retry one write at a time) has returned.
type Queue[T any] struct {
	commit  func(context.Context, []*Call[T]) error
	send    Send[T] // pipelined (NewPipelined): commit is send, then wait
	max     int
	timeout time.Duration

	mu     sync.RWMutex // read-held while queueing; Close takes it to close calls
	closed bool
	calls  chan *Call[T]
	wg     sync.WaitGroup
}

// New starts writers goroutines that commit batches of up to max calls,
// each batch with its retries within timeout. commit stores a batch or
// returns the error that fails it whole.
func New[T any](writers, max int, timeout time.Duration, commit func(context.Context, []*Call[T]) error) *Queue[T] {
	q := &Queue[T]{commit: commit, max: max, timeout: timeout, calls: make(chan *Call[T], 4*max)}
	for range writers {
		q.wg.Add(1)
		go q.write()
	}
	return q
}

// Send hands a batch to the store without waiting for it to commit and
// returns the wait for its outcome. The waits are called in the order of
// the sends, each at most once, and nothing is sent between a failed
// wait and the wait of the batch sent after it.
type Send[T any] func(ctx context.Context, batch []*Call[T]) (wait func() error)

// NewPipelined is New with one writer that sends the next batch while the
// one before it is still committing, for a store that runs what it is
// sent in order (PostgreSQL's pipeline mode on one connection). The store
// then has the next batch at hand the moment it finishes one, instead of
// waiting for the writer to hear of the commit, be scheduled and send; at
// most two batches are in flight. A refused batch is tried one write at a
// time once nothing is in flight, as with New.
func NewPipelined[T any](max int, timeout time.Duration, send Send[T]) *Queue[T] {
	q := &Queue[T]{send: send, max: max, timeout: timeout, calls: make(chan *Call[T], 4*max)}
	q.commit = func(ctx context.Context, batch []*Call[T]) error { return send(ctx, batch)() }
	q.wg.Add(1)
	go q.pipeline()
	return q
}

// Do queues item and waits until its batch has committed, returning the
// call as commit left it. If ctx ends first Do returns ctx's error, and the
// write may still commit: callers make their writes idempotent.
func (q *Queue[T]) Do(ctx context.Context, item T) (*Call[T], error) {
	c := &Call[T]{Item: item, done: make(chan struct{})}
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case q.calls <- c:
		q.mu.RUnlock()
	case <-ctx.Done():
		q.mu.RUnlock()
		return nil, ctx.Err()
	}
	select {
	case <-c.done:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops taking writes and returns once every queued one has
// committed (or failed).
func (q *Queue[T]) Close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.calls)
	}
	q.mu.Unlock()
	q.wg.Wait()
}

func (q *Queue[T]) write() {
	defer q.wg.Done()
	batch := make([]*Call[T], 0, q.max)
	for first := range q.calls {
		batch = q.gather(append(batch[:0], first))
		q.commitBatch(batch)
		q.release(batch)
	}
}

// gather adds to batch what is queued, without waiting, up to max.
func (q *Queue[T]) gather(batch []*Call[T]) []*Call[T] {
	for len(batch) < q.max {
		select {
		case c, ok := <-q.calls:
			if !ok {
				return batch
			}
			batch = append(batch, c)
		default:
			return batch
		}
	}
	return batch
}

func (q *Queue[T]) release(batch []*Call[T]) {
	for _, c := range batch {
		close(c.done)
	}
	clear(batch)
}

// flight is a batch sent and not yet settled.
type flight[T any] struct {
	batch  []*Call[T]
	ctx    context.Context
	cancel context.CancelFunc
	wait   func() error
}

func (q *Queue[T]) launch(batch []*Call[T]) *flight[T] {
	ctx, cancel := context.WithTimeout(context.Background(), q.timeout)
	return &flight[T]{batch: batch, ctx: ctx, cancel: cancel, wait: q.send(ctx, batch)}
}

// settle releases f's calls once err, its outcome, is known: a refused
// batch is first tried one write at a time, with nothing else in flight.
func (q *Queue[T]) settle(f *flight[T], err error) {
	q.refused(f.ctx, f.batch, err)
	f.cancel()
	q.release(f.batch)
}

// pipeline is the writer of NewPipelined: it sends a batch, then, while
// that one commits, the next (whatever queued meanwhile), and only then
// waits for the first.
func (q *Queue[T]) pipeline() {
	defer q.wg.Done()
	var ahead *flight[T] // sent, its outcome not read yet
	for {
		var batch []*Call[T]
		if ahead == nil {
			first, ok := <-q.calls
			if !ok {
				return
			}
			batch = q.gather(append(make([]*Call[T], 0, q.max), first))
		} else if batch = q.gather(make([]*Call[T], 0, q.max)); len(batch) == 0 {
			q.settle(ahead, ahead.wait())
			ahead = nil
			continue
		}
		next := q.launch(batch)
		if ahead != nil {
			if err := ahead.wait(); err != nil {
				// Retries go out one at a time on an empty pipe: read
				// what was sent behind the failed batch first.
				nextErr := next.wait()
				q.settle(ahead, err)
				q.settle(next, nextErr)
				ahead = nil
				continue
			}
			q.settle(ahead, nil)
		}
		ahead = next
	}
}

func (q *Queue[T]) commitBatch(batch []*Call[T]) {
	ctx, cancel := context.WithTimeout(context.Background(), q.timeout)
	defer cancel()
	q.split(ctx, batch)
}

// split commits batch, or, refused and with time left, each call alone.
func (q *Queue[T]) split(ctx context.Context, batch []*Call[T]) {
	q.refused(ctx, batch, q.commit(ctx, batch))
}

// refused handles a batch's outcome err: with time left, a refused batch
// of several calls is committed again one call at a time; otherwise each
// call fails with err.
func (q *Queue[T]) refused(ctx context.Context, batch []*Call[T], err error) {
	if err == nil {
		return
	}
	if len(batch) > 1 && ctx.Err() == nil {
		for i := range batch {
			q.split(ctx, batch[i:i+1])
		}
		return
	}
	for _, c := range batch {
		c.Err = err
	}
}
