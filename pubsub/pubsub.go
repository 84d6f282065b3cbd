// Package pubsub carries live events (the agent page's screen pops, the desks' ticket updates)
// to whoever listens, in this process or on another instance. Messages
// are fire and forget: a subscriber sees what is published while it
// listens, and a slow one loses messages rather than hold anyone up.
//
// Memory is the bus of one process; the redis package has one over Redis
// pub/sub. Both pass pubsubtest.Run.
package pubsub

import (
	"context"
	"errors"
	"sync"
)

// Bus fans out messages on topics to subscribers, in this process or across instances.
type Bus interface {
	Publish(ctx context.Context, topic string, msg []byte) error
	// Subscribe delivers messages published on topic after it returns, until cancel is called or ctx ends. Slow subscribers lose messages rather than block publishers (Buffer).
	Subscribe(ctx context.Context, topic string) (msgs <-chan []byte, cancel func(), err error)
}

// Message is one message on one topic.
type Message struct {
	Topic string
	Data  []byte
}

// Batcher is implemented by a Bus that sends many messages in one go: the
// Redis bus sends a batch in one round trip, where Publish costs one each.
type Batcher interface {
	PublishBatch(ctx context.Context, msgs []Message) error
}

// PublishAll sends msgs on bus, in one go when bus is a Batcher, else one
// by one past any that fail; it returns the failures joined.
func PublishAll(ctx context.Context, bus Bus, msgs []Message) error {
	if b, ok := bus.(Batcher); ok {
		return b.PublishBatch(ctx, msgs)
	}
	var errs []error
	for _, m := range msgs {
		errs = append(errs, bus.Publish(ctx, m.Topic, m.Data))
	}
	return errors.Join(errs...)
}

// Buffer is how many messages wait for a subscriber before newer ones are
// dropped: room for a whole batch of the desk relay (100 changes, one
// message each on the desks' common topic), which arrives at once.
const Buffer = 256

// Memory is a Bus within one process.
type Memory struct {
	mu   sync.Mutex
	subs map[string]map[*subscription]struct{} // topic -> subscribers
}

type subscription struct {
	ch   chan []byte
	done chan struct{} // closed by cancel
}

// NewMemory returns a bus with no subscribers.
func NewMemory() *Memory {
	return &Memory{subs: map[string]map[*subscription]struct{}{}}
}

var _ Bus = (*Memory)(nil)

// Publish gives every subscriber of topic its own copy of msg, dropping it
// for subscribers whose buffer is full. It never blocks.
func (m *Memory) Publish(_ context.Context, topic string, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for s := range m.subs[topic] {
		select {
		case s.ch <- append([]byte(nil), msg...):
		default:
		}
	}
	return nil
}

// Subscribe delivers messages published on topic from now until cancel is
// called or ctx ends; then msgs is closed.
func (m *Memory) Subscribe(ctx context.Context, topic string) (<-chan []byte, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s := &subscription{ch: make(chan []byte, Buffer), done: make(chan struct{})}
	m.mu.Lock()
	if m.subs[topic] == nil {
		m.subs[topic] = map[*subscription]struct{}{}
	}
	m.subs[topic][s] = struct{}{}
	m.mu.Unlock()

	var once sync.Once
	cancel := func() {
		once.Do(func() {
			m.mu.Lock()
			delete(m.subs[topic], s)
			if len(m.subs[topic]) == 0 {
				delete(m.subs, topic)
			}
			close(s.ch) // under mu: Publish never sends on a closed channel
			m.mu.Unlock()
			close(s.done)
		})
	}
	go func() {
		select {
		case <-ctx.Done():
			cancel()
		case <-s.done:
		}
	}()
	return s.ch, cancel, nil
}
