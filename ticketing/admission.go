package ticketing

import (
	"context"
	"sync/atomic"
	"time"
)

// ErrBusy is what a submit gets when the service is at capacity: retry in
// a second (every door says so: HTTP 503 with Retry-After: 1).
var ErrBusy = &Error{Kind: KindUnavailable, Code: "busy", Message: "too many reports at once; retry in a second"}

// admission bounds the reports a service works on at once. Past its
// capacity a hub that takes every report only makes every report slow:
// each waits behind the others for the same cores and the same disk, until
// clients time out and retry into the queue, and nothing gets through. So
// a report waits for one of max slots at most wait, and is then refused at
// once (ErrBusy); the ones admitted keep their latency, and the refused
// one's retry (with its key) finds a slot.
type admission struct {
	slots chan struct{}
	wait  time.Duration
	shed  atomic.Uint64
}

// WithAdmission lets at most max reports be worked on at once, each
// waiting at most wait for its turn; 0 admits every report.
func WithAdmission(max int, wait time.Duration) Option {
	return func(s *Service) {
		if max > 0 {
			s.admit = &admission{slots: make(chan struct{}, max), wait: wait}
		}
	}
}

// staffKey marks a context as a staff member's own submit (Staffed).
type staffKey struct{}

// Staffed marks ctx as an agent's submit of the call they are on: it is
// never refused as busy, nor does it take a slot. Agents are a few dozen,
// each with a citizen on the line; the bound is for the doors anyone can
// reach, whose load has no such limit.
func Staffed(ctx context.Context) context.Context { return context.WithValue(ctx, staffKey{}, true) }

// enter takes a slot, or refuses with ErrBusy once wait has passed; done
// gives the slot back.
func (a *admission) enter(ctx context.Context) (done func(), err error) {
	if a == nil || ctx.Value(staffKey{}) != nil {
		return func() {}, nil
	}
	select {
	case a.slots <- struct{}{}:
		return a.leave, nil
	default:
	}
	t := time.NewTimer(a.wait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		return a.leave, nil
	case <-t.C:
		a.shed.Add(1)
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, Unavailable(ctx.Err())
	}
}

func (a *admission) leave() { <-a.slots }

// Shed counts the reports refused as busy since the service started.
func (s *Service) Shed() uint64 {
	if s.admit == nil {
		return 0
	}
	return s.admit.shed.Load()
}
