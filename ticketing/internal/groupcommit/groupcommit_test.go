package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// fakePipe is a store that runs what it is sent in order: it logs each
// send and wait, checks that waits come in the order of the sends, and
// lets the test hold a send or a wait (by the batch's first item) until
// it has queued more writes.
type fakePipe struct {
	t        *testing.T
	mu       sync.Mutex
	log      []string
	sent     [][]int // sent, not yet waited for
	refuse   int     // a batch holding this item is refused
	holdSend map[int]func()
	holdWait map[int]func()
}

func (f *fakePipe) send(_ context.Context, b []*Call[int]) func() error {
	items := make([]int, len(b))
	for i, c := range b {
		items[i] = c.Item
	}
	slices.Sort(items) // the writes queued in any order
	f.mu.Lock()
	f.sent = append(f.sent, items)
	if len(f.sent) > 2 {
		f.t.Errorf("%v in flight, want at most two batches", f.sent)
	}
	f.log = append(f.log, fmt.Sprint("send ", items))
	f.mu.Unlock()
	if hold := f.holdSend[items[0]]; hold != nil && len(items) == 1 {
		hold()
	}
	return func() error {
		if hold := f.holdWait[items[0]]; hold != nil && len(items) == 1 {
			hold()
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.sent) == 0 || !slices.Equal(f.sent[0], items) {
			f.t.Errorf("waited for %v, but %v were sent first", items, f.sent)
		} else {
			f.sent = f.sent[1:]
		}
		f.log = append(f.log, fmt.Sprint("wait ", items))
		if slices.Contains(items, f.refuse) {
			return errors.New("refused")
		}
		return nil
	}
}

// While a batch commits, the next one is sent, and only then is the first
// waited for; waits follow the sends; never more than two are in flight.
// A refused batch is tried one write at a time once the batch sent behind
// it has been waited for, so nothing is in flight: the bad write fails alone.
func TestPipelinedSendsAheadAndRetriesOnAnEmptyPipe(t *testing.T) {
	var q *Queue[int]
	errs := make([]error, 8)
	var wg sync.WaitGroup
	do := func(from, to int) {
		for i := from; i <= to; i++ {
			wg.Go(func() {
				c, err := q.Do(context.Background(), i)
				if err == nil {
					err = c.Err
				}
				errs[i] = err
			})
		}
		waitFor(t, func() bool { return len(q.calls) == to-from+1 })
	}
	f := &fakePipe{t: t, refuse: 3,
		holdSend: map[int]func(){0: func() { do(1, 5) }}, // queued while [0] is being sent
		holdWait: map[int]func(){0: func() { do(6, 7) }}, // queued while [0] commits
	}
	q = NewPipelined(8, time.Minute, f.send)
	wg.Go(func() {
		_, errs[0] = q.Do(context.Background(), 0)
	})
	waitFor(t, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.log) == 16 })
	wg.Wait()
	q.Close()
	want := []string{"send [0]", "send [1 2 3 4 5]", "wait [0]", "send [6 7]", "wait [1 2 3 4 5]", "wait [6 7]"}
	var alone []string // then each of 1..5 sent and waited for alone, in the batch's order
	for i := 6; i+1 < len(f.log); i += 2 {
		alone = append(alone, strings.TrimPrefix(f.log[i], "send "))
		if f.log[i+1] != "wait "+alone[len(alone)-1] {
			alone = nil
			break
		}
	}
	slices.Sort(alone)
	if !slices.Equal(f.log[:6], want) || !slices.Equal(alone, []string{"[1]", "[2]", "[3]", "[4]", "[5]"}) {
		t.Errorf("the store saw\n%v\nwant\n%v, then each of 1..5 sent and waited for alone", f.log, want)
	}
	for i, err := range errs {
		if (err != nil) != (i == 3) {
			t.Errorf("write %d: err = %v", i, err)
		}
	}
}
