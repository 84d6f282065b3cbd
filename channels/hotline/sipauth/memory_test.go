package sipauth_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/hotline/sipauth"
	"github.com/yihao-city/yihao/channels/hotline/sipauth/sipauthtest"
)

// perTest hands out one value per test, so that the suite's "two
// instances" share it as two Redis clients share their keys.
type perTest[T any] struct {
	mu   sync.Mutex
	byT  map[*testing.T]T
	make func() T
}

func (p *perTest[T]) get(t *testing.T) T {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byT == nil {
		p.byT = map[*testing.T]T{}
	}
	v, ok := p.byT[t]
	if !ok {
		v = p.make()
		p.byT[t] = v
	}
	return v
}

func TestMemoryLockout(t *testing.T) {
	var p perTest[*sipauth.MemoryLockout]
	sipauthtest.RunLockout(t, func(t *testing.T, pol sipauth.Policy) sipauth.Lockout {
		p.make = func() *sipauth.MemoryLockout { return sipauth.NewMemoryLockout(pol, 0) }
		return p.get(t)
	})
}

func TestMemoryNonceLedger(t *testing.T) {
	p := perTest[*sipauth.MemoryNonceLedger]{make: func() *sipauth.MemoryNonceLedger { return sipauth.NewMemoryNonceLedger(0) }}
	sipauthtest.RunNonceLedger(t, func(t *testing.T) sipauth.NonceLedger { return p.get(t) })
}

// Whatever is sent, the in-process tables stay within their bound: a flood
// of extensions (or of authenticated pairs) pushes out the oldest.
func TestMemoryBounded(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	l := sipauth.NewMemoryLockout(sipauth.Policy{}, 1000)
	for i := range 5000 {
		if _, err := l.Fail(ctx, strconv.Itoa(100000+i), now); err != nil {
			t.Fatal(err)
		}
	}
	if l.Len() > 1000 {
		t.Fatalf("lockout holds %d keys, bound 1000", l.Len())
	}
	n := sipauth.NewMemoryNonceLedger(1000)
	for i := range 5000 {
		if _, err := n.Use(ctx, "n"+strconv.Itoa(i), 1, now.Add(time.Minute), now); err != nil {
			t.Fatal(err)
		}
	}
	if n.Len() > 1000 {
		t.Fatalf("ledger holds %d pairs, bound 1000", n.Len())
	}
	// Expired entries go before live ones: a later use finds room without
	// pushing out what is still live.
	later := now.Add(2 * time.Minute)
	if ok, _ := n.Use(ctx, "fresh", 1, later.Add(time.Minute), later); !ok || n.Len() != 1 {
		t.Fatalf("after expiry: ok %v, %d pairs held, want 1", ok, n.Len())
	}
}
