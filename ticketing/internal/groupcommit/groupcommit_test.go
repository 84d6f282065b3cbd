package groupcommit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A write that arrives while a batch commits joins the next batch, which
// takes everything queued; each call is released after its own batch.
func TestBatchesWhatQueued(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var batches [][]int
	q := New(1, 8, time.Minute, func(_ context.Context, b []*Call[int]) error {
		items := make([]int, len(b))
		for i, c := range b {
			items[i] = c.Item
			c.Err = nil
			if c.Item == 3 {
				c.Err = errors.New("refused")
			}
		}
		mu.Lock()
		batches = append(batches, items)
		mu.Unlock()
		if items[0] == 0 {
			<-release // the first batch holds while the others queue
		}
		return nil
	})
	defer q.Close()

	var wg sync.WaitGroup
	errs := make([]error, 11)
	do := func(i int) {
		defer wg.Done()
		c, err := q.Do(context.Background(), i)
		if err == nil {
			err = c.Err
		}
		errs[i] = err
	}
	wg.Add(1)
	go do(0)
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(batches) == 1 })
	for i := 1; i <= 10; i++ {
		wg.Add(1)
		go do(i)
	}
	waitFor(t, func() bool { return len(q.calls) == 10 })
	close(release)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(batches) != 3 || len(batches[1]) != 8 || len(batches[2]) != 2 {
		t.Fatalf("batches = %v, want [0], then 8 and 2 of the ten queued", batches)
	}
	for i, err := range errs {
		if (err != nil) != (i == 3) {
			t.Errorf("call %d: err = %v", i, err)
		}
	}
}

// Close commits what is queued; later writes are refused, and a caller
// whose context ends stops waiting.
func TestCloseAndCancel(t *testing.T) {
	var committed atomic.Int32
	hold, holding := make(chan struct{}), make(chan struct{})
	q := New(1, 4, time.Minute, func(_ context.Context, b []*Call[int]) error {
		if b[0].Item == 0 {
			close(holding)
			<-hold
		}
		committed.Add(int32(len(b)))
		return nil
	})
	go func() { _, _ = q.Do(context.Background(), 0) }()
	<-holding

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := q.Do(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do with an ending context = %v, want its deadline", err)
	}
	close(hold)
	q.Close()
	if n := committed.Load(); n != 2 {
		t.Errorf("committed %d writes by Close, want both (the abandoned one too)", n)
	}
	if _, err := q.Do(context.Background(), 2); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close = %v, want ErrClosed", err)
	}
}

// A batch the store refuses is tried one write at a time: the bad write
// fails alone. Once the batch's deadline has passed, it fails whole
// without retries.
func TestRefusedBatchSplits(t *testing.T) {
	for _, timeout := range []time.Duration{time.Minute, time.Nanosecond} {
		var mu sync.Mutex
		tries := 0
		hold, holding := make(chan struct{}), make(chan struct{})
		q := New(1, 8, timeout, func(ctx context.Context, b []*Call[int]) error {
			if b[0].Item == 0 {
				close(holding)
				<-hold
				return nil
			}
			mu.Lock()
			tries++
			mu.Unlock()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			for _, c := range b {
				if c.Item == 3 {
					return errors.New("refused")
				}
			}
			return nil
		})
		go func() { _, _ = q.Do(context.Background(), 0) }()
		<-holding
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := 1; i <= 5; i++ {
			wg.Go(func() {
				c, err := q.Do(context.Background(), i)
				if err == nil {
					err = c.Err
				}
				errs[i] = err
			})
		}
		waitFor(t, func() bool { return len(q.calls) == 5 })
		close(hold)
		wg.Wait()
		q.Close()
		for i := 1; i <= 5; i++ {
			if want := i == 3 || timeout == time.Nanosecond; (errs[i] != nil) != want {
				t.Errorf("timeout %v, write %d: err = %v", timeout, i, errs[i])
			}
		}
		if want := map[time.Duration]int{time.Minute: 6, time.Nanosecond: 1}[timeout]; tries != want {
			t.Errorf("timeout %v: %d commits, want %d (the batch, then each alone unless out of time)", timeout, tries, want)
		}
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkDo is the queue's own cost per write, 32 writers at once, with
// a commit that does nothing.
func BenchmarkDo(b *testing.B) {
	q := New(2, 256, time.Minute, func(context.Context, []*Call[int]) error { return nil })
	defer q.Close()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := q.Do(context.Background(), 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
