package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yihao-city/yihao/pubsub"
)

// Bus is pubsub.Bus across instances over Redis pub/sub: the in-process
// twin is pubsub.Memory. Topics are channels under the prefix. Each
// Subscribe holds one connection of its own.
type Bus struct {
	c      *goredis.Client
	prefix string
}

// NewBus publishes and subscribes on channels under prefix.
func NewBus(c *goredis.Client, prefix string) *Bus {
	return &Bus{c: c, prefix: prefix}
}

var _ pubsub.Bus = (*Bus)(nil)

// busPing is how long a subscription waits for a message before it pings
// Redis to find a dead connection (and reconnect and subscribe again).
const busPing = 30 * time.Second

// Publish sends msg to every subscriber of topic on every instance.
func (b *Bus) Publish(ctx context.Context, topic string, msg []byte) error {
	if err := b.c.Publish(ctx, b.prefix+topic, msg).Err(); err != nil {
		return fmt.Errorf("redis: publish: %w", err)
	}
	return nil
}

// PublishBatch sends msgs in one pipeline: one round trip for a relay's
// whole batch.
func (b *Bus) PublishBatch(ctx context.Context, msgs []pubsub.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	_, err := b.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, m := range msgs {
			p.Publish(ctx, b.prefix+m.Topic, m.Data)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: publish: %w", err)
	}
	return nil
}

var _ pubsub.Batcher = (*Bus)(nil)

// Subscribe delivers messages published on topic once Redis has confirmed
// the subscription, until cancel is called or ctx ends; then msgs is
// closed (by the time cancel returns). Messages published while a broken
// connection is being replaced are lost.
func (b *Bus) Subscribe(ctx context.Context, topic string) (<-chan []byte, func(), error) {
	ps := b.c.Subscribe(ctx)
	if err := ps.Subscribe(ctx, b.prefix+topic); err != nil {
		_ = ps.Close()
		return nil, nil, fmt.Errorf("redis: subscribe: %w", err)
	}
	confirm := b.c.Options().ReadTimeout
	if confirm <= 0 {
		confirm = 3 * time.Second
	}
	// The first reply on the connection confirms the subscription.
	if _, err := ps.ReceiveTimeout(ctx, confirm); err != nil {
		_ = ps.Close()
		return nil, nil, fmt.Errorf("redis: subscribe: %w", err)
	}

	msgs := make(chan []byte, pubsub.Buffer)
	done, exited := make(chan struct{}), make(chan struct{})
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			close(done)
			_ = ps.Close() // ends a waiting ReceiveTimeout
		})
		<-exited
	}
	loopCtx := context.WithoutCancel(ctx)
	go func() {
		defer close(exited)
		defer close(msgs)
		for {
			m, err := ps.ReceiveTimeout(loopCtx, busPing)
			select {
			case <-done:
				return
			default:
			}
			var netErr net.Error
			switch {
			case errors.As(err, &netErr) && netErr.Timeout():
				_ = ps.Ping(loopCtx) // a failed ping replaces the connection
			case err != nil:
				select { // reconnects on the next receive; do not spin
				case <-done:
					return
				case <-time.After(250 * time.Millisecond):
				}
			default:
				if m, ok := m.(*goredis.Message); ok {
					select {
					case msgs <- []byte(m.Payload):
					default: // slow subscriber: drop
					}
				}
			}
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			cancel()
		case <-done:
		}
	}()
	return msgs, cancel, nil
}
