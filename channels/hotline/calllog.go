package hotline

import (
	"context"
	"sync"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// BatchStore applies call events in one transaction.
type BatchStore interface {
	ApplyCallEvents(ctx context.Context, evs []ticketing.CallEvent) ([]*ticketing.Call, error)
}

// callLog writes the call log with group commit: while one transaction
// commits, the events that arrive meanwhile queue up and go together in
// the next. Every caller still waits for its own event to be stored, so
// a call is acknowledged only once its arrival is durable, but a busy
// switch pays one commit per group instead of one per event.
type callLog struct {
	ctx   context.Context // the SIP side's; its values, never its cancellation
	store BatchStore
	in    chan logRequest
	stop  chan struct{}
	done  sync.WaitGroup
}

type logRequest struct {
	ev    ticketing.CallEvent
	reply chan logReply
}

type logReply struct {
	call *ticketing.Call
	err  error
}

// maxBatch bounds a group so one commit never holds a caller for long.
const maxBatch = 256

func newCallLog(ctx context.Context, store BatchStore) *callLog {
	l := &callLog{ctx: ctx, store: store, in: make(chan logRequest, maxBatch), stop: make(chan struct{})}
	l.done.Add(1)
	go l.run()
	return l
}

// apply stores ev and returns the call after it.
func (l *callLog) apply(ctx context.Context, ev ticketing.CallEvent) (*ticketing.Call, error) {
	return l.submit(ctx, ev)(ctx)
}

// submit queues ev and returns a wait for its result. Events submitted
// one after another are applied in that order, so an event queued before
// a message goes out is stored before anything that message causes.
func (l *callLog) submit(ctx context.Context, ev ticketing.CallEvent) func(context.Context) (*ticketing.Call, error) {
	r := logRequest{ev: ev, reply: make(chan logReply, 1)}
	select {
	case l.in <- r:
	case <-l.stop:
		return func(context.Context) (*ticketing.Call, error) { return nil, context.Canceled }
	case <-ctx.Done():
		return func(context.Context) (*ticketing.Call, error) { return nil, ctx.Err() }
	}
	return func(ctx context.Context) (*ticketing.Call, error) {
		select {
		case rep := <-r.reply:
			return rep.call, rep.err
		case <-ctx.Done():
			return nil, ctx.Err() // stored or not: events are idempotent, a retry is safe
		}
	}
}

func (l *callLog) run() {
	defer l.done.Done()
	batch := make([]logRequest, 0, maxBatch)
	evs := make([]ticketing.CallEvent, 0, maxBatch)
	for {
		select {
		case r := <-l.in:
			batch = append(batch[:0], r)
		case <-l.stop:
			return
		}
		batch = gather(l.in, batch)
		evs = evs[:0]
		for _, r := range batch {
			evs = append(evs, r.ev)
		}
		// A group is committed whole even while the hub shuts down: its
		// callers wait on it, and an arrival it holds may be a call already
		// being answered.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(l.ctx), 10*time.Second)
		calls, err := l.store.ApplyCallEvents(ctx, evs)
		cancel()
		for i, r := range batch {
			if err != nil {
				r.reply <- logReply{err: err}
			} else {
				r.reply <- logReply{call: calls[i]}
			}
		}
	}
}

// gather adds to batch what waits on in, up to maxBatch: a group is what
// arrived while the last one was being written.
func gather[T any](in <-chan T, batch []T) []T {
	for len(batch) < maxBatch {
		select {
		case v := <-in:
			batch = append(batch, v)
		default:
			return batch
		}
	}
	return batch
}

// close stops the writer once the group being committed is done.
func (l *callLog) close() {
	close(l.stop)
	l.done.Wait()
}
