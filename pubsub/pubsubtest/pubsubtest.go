// Package pubsubtest is the conformance suite every pubsub.Bus must pass.
package pubsubtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/yihao-city/yihao/pubsub"
)

// NewBus returns two buses sharing one backend (two instances), or the
// same bus twice, cleaned up when t ends.
type NewBus func(t *testing.T) (a, b pubsub.Bus)

// Run runs the conformance tests against buses made by newBus.
func Run(t *testing.T, newBus NewBus) {
	tests := []struct {
		name string
		fn   func(*testing.T, pubsub.Bus, pubsub.Bus)
	}{
		{"AcrossBuses", testAcross},
		{"InOrder", testInOrder},
		{"Batch", testBatch},
		{"EverySubscriber", testEverySubscriber},
		{"TopicsIsolated", testTopics},
		{"Cancel", testCancel},
		{"ContextEnds", testContextEnds},
		{"SlowSubscriber", testSlowSubscriber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newBus(t)
			tt.fn(t, a, b)
		})
	}
}

// wait bounds every wait for a message; reaching it means a lost message
// or a stuck bus, not slowness.
const wait = 10 * time.Second

// topic is a topic of its own for this test.
func topic(t *testing.T, name string) string { return t.Name() + "/" + name }

func subscribe(t *testing.T, bus pubsub.Bus, topic string) <-chan []byte {
	t.Helper()
	msgs, cancel, err := bus.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatalf("subscribe %s: %v", topic, err)
	}
	t.Cleanup(cancel)
	return msgs
}

func publish(t *testing.T, bus pubsub.Bus, topic, msg string) {
	t.Helper()
	if err := bus.Publish(context.Background(), topic, []byte(msg)); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

func receive(t *testing.T, msgs <-chan []byte, want string) {
	t.Helper()
	select {
	case got, ok := <-msgs:
		if !ok {
			t.Fatalf("channel closed waiting for %q", want)
		}
		if string(got) != want {
			t.Fatalf("received %q, want %q", got, want)
		}
	case <-time.After(wait):
		t.Fatalf("no message, want %q", want)
	}
}

// closed waits for msgs to be closed, allowing messages still buffered.
func closed(t *testing.T, msgs <-chan []byte) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case _, ok := <-msgs:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("channel not closed")
		}
	}
}

func testAcross(t *testing.T, a, b pubsub.Bus) {
	top := topic(t, "pop")
	msgs := subscribe(t, b, top)
	// Published right after Subscribe returned: not lost.
	publish(t, a, top, `{"call":"c1","agent":"2001"}`)
	receive(t, msgs, `{"call":"c1","agent":"2001"}`)
	publish(t, b, top, "from b")
	receive(t, msgs, "from b")

	// The publisher's buffer is its own again after Publish.
	buf := []byte("first")
	if err := a.Publish(context.Background(), top, buf); err != nil {
		t.Fatal(err)
	}
	copy(buf, "xxxxx")
	receive(t, msgs, "first")
}

func testInOrder(t *testing.T, a, b pubsub.Bus) {
	top := topic(t, "desk")
	msgs := subscribe(t, b, top)
	for i := range 20 {
		publish(t, a, top, fmt.Sprint(i))
	}
	for i := range 20 {
		receive(t, msgs, fmt.Sprint(i))
	}
}

// A batch (pubsub.PublishAll) arrives whole, in order on each topic.
func testBatch(t *testing.T, a, b pubsub.Bus) {
	x, y := topic(t, "all"), topic(t, "dept")
	mx, my := subscribe(t, b, x), subscribe(t, b, y)
	var batch []pubsub.Message
	for i := range 30 {
		batch = append(batch, pubsub.Message{Topic: x, Data: []byte(fmt.Sprint(i))}, pubsub.Message{Topic: y, Data: []byte(fmt.Sprint("d", i))})
	}
	if err := pubsub.PublishAll(context.Background(), a, batch); err != nil {
		t.Fatalf("publish a batch: %v", err)
	}
	for i := range 30 {
		receive(t, mx, fmt.Sprint(i))
		receive(t, my, fmt.Sprint("d", i))
	}
	if err := pubsub.PublishAll(context.Background(), a, nil); err != nil {
		t.Fatalf("publish an empty batch: %v", err)
	}
}

func testEverySubscriber(t *testing.T, a, b pubsub.Bus) {
	top := topic(t, "pop")
	m1, m2, m3 := subscribe(t, a, top), subscribe(t, b, top), subscribe(t, b, top)
	publish(t, a, top, "hello")
	for _, msgs := range []<-chan []byte{m1, m2, m3} {
		receive(t, msgs, "hello")
	}
}

func testTopics(t *testing.T, a, b pubsub.Bus) {
	x, y := topic(t, "agent:2001"), topic(t, "agent:2002")
	mx, my := subscribe(t, b, x), subscribe(t, b, y)
	publish(t, a, x, "for 2001")
	publish(t, a, y, "for 2002")
	// Had "for 2001" reached y, it would have come first.
	receive(t, my, "for 2002")
	receive(t, mx, "for 2001")
	publish(t, a, x, "again")
	receive(t, mx, "again")
}

func testCancel(t *testing.T, a, b pubsub.Bus) {
	top := topic(t, "pop")
	msgs, cancel, err := b.Subscribe(context.Background(), top)
	if err != nil {
		t.Fatal(err)
	}
	other := subscribe(t, b, top)
	publish(t, a, top, "before")
	receive(t, msgs, "before")
	receive(t, other, "before")
	cancel()
	closed(t, msgs)
	cancel() // harmless
	// The other subscriber still gets messages; the cancelled one's
	// channel stays closed.
	publish(t, a, top, "after")
	receive(t, other, "after")
	if m, ok := <-msgs; ok {
		t.Fatalf("received %q after cancel", m)
	}
}

func testContextEnds(t *testing.T, a, b pubsub.Bus) {
	top := topic(t, "pop")
	ctx, stop := context.WithCancel(context.Background())
	msgs, cancel, err := b.Subscribe(ctx, top)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	publish(t, a, top, "before")
	receive(t, msgs, "before")
	stop()
	closed(t, msgs)
	cancel() // harmless after ctx ended

	if _, _, err := b.Subscribe(ctx, top); err == nil {
		t.Error("Subscribe with an ended context succeeded")
	}
}

func testSlowSubscriber(t *testing.T, a, b pubsub.Bus) {
	top := topic(t, "pop")
	slow := subscribe(t, b, top) // not read while the messages flood in
	const n = pubsub.Buffer * 4
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if err := a.Publish(context.Background(), top, []byte(fmt.Sprint(i))); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("Publish blocked on a slow subscriber")
	}
	// Reading again, the subscriber gets new messages: publish a marker
	// until one makes it past whatever still fills the buffer.
	got := 0
	for range 20 {
		for drained := false; !drained; {
			select {
			case _, ok := <-slow:
				if !ok {
					t.Fatal("slow subscriber's channel closed")
				}
				got++
			default:
				drained = true
			}
		}
		publish(t, a, top, "marker")
		timeout := time.After(time.Second)
		for {
			select {
			case m, ok := <-slow:
				if !ok {
					t.Fatal("slow subscriber's channel closed")
				}
				if string(m) == "marker" {
					if got > n {
						t.Fatalf("%d messages before the marker, %d published", got, n)
					}
					return
				}
				got++
				continue
			case <-timeout:
			}
			break
		}
	}
	t.Fatal("the slow subscriber never got a message after catching up")
}
