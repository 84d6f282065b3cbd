package sipauth

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// DefaultMaxKeys bounds each in-process table. Keys come from outside
// (extensions, nonces), so the tables stay bounded whatever is sent, even
// though the registrar only records real extensions and authenticated
// nonces.
const DefaultMaxKeys = 100_000

// entry is one key of a table, with when it may be forgotten.
type entry struct {
	key     string
	count   int
	expires time.Time
}

// table is a map with a bound: past max keys the entry that expires first
// among the oldest goes. Entries are kept in insertion order; each has a
// fixed lifetime, so the oldest are the nearest to expiry.
type table struct {
	max   int
	items map[string]*list.Element
	order *list.List // of *entry, oldest first
}

func newTable(max int) table {
	if max <= 0 {
		max = DefaultMaxKeys
	}
	return table{max: max, items: map[string]*list.Element{}, order: list.New()}
}

// get returns the live entry for key, dropping it if expired.
func (t *table) get(key string, now time.Time) *entry {
	el := t.items[key]
	if el == nil {
		return nil
	}
	e := el.Value.(*entry)
	if !now.Before(e.expires) {
		t.remove(el)
		return nil
	}
	return e
}

// add inserts a new entry, first dropping expired ones at the old end and
// then, while full, the oldest.
func (t *table) add(e *entry, now time.Time) {
	for el := t.order.Front(); el != nil && !now.Before(el.Value.(*entry).expires); el = t.order.Front() {
		t.remove(el)
	}
	for t.order.Len() >= t.max {
		t.remove(t.order.Front())
	}
	t.items[e.key] = t.order.PushBack(e)
}

func (t *table) remove(el *list.Element) {
	delete(t.items, el.Value.(*entry).key)
	t.order.Remove(el)
}

// MemoryLockout is Lockout in one process.
type MemoryLockout struct {
	policy Policy
	mu     sync.Mutex
	keys   table
}

// NewMemoryLockout returns a lockout with policy p, remembering at most
// maxKeys keys (0: DefaultMaxKeys).
func NewMemoryLockout(p Policy, maxKeys int) *MemoryLockout {
	return &MemoryLockout{policy: p.WithDefaults(), keys: newTable(maxKeys)}
}

var _ Lockout = (*MemoryLockout)(nil)

// Locked reports how much longer key is locked out.
func (m *MemoryLockout) Locked(_ context.Context, key string, now time.Time) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.keys.get(key, now); e != nil && e.count >= m.policy.Failures {
		return e.expires.Sub(now), nil
	}
	return 0, nil
}

// Fail records a failure for key.
func (m *MemoryLockout) Fail(_ context.Context, key string, now time.Time) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.keys.get(key, now)
	if e == nil {
		e = &entry{key: key, expires: now.Add(m.policy.Window)}
		m.keys.add(e, now)
	}
	e.count++
	if e.count == m.policy.Failures {
		// Locked from now: the entry lives as long as the lockout. A key
		// locked stays in insertion order with an expiry later than its
		// neighbours'; eviction takes it only when the table is full.
		e.expires = now.Add(m.policy.Lockout)
	}
	if e.count >= m.policy.Failures {
		return e.expires.Sub(now), nil
	}
	return 0, nil
}

// MemoryNonceLedger is NonceLedger in one process.
type MemoryNonceLedger struct {
	mu    sync.Mutex
	pairs table
}

// NewMemoryNonceLedger remembers at most maxPairs pairs (0:
// DefaultMaxKeys). Only pairs of requests whose digest was right are
// recorded, so outsiders cannot fill it; should it fill all the same, the
// oldest pairs (the nearest to their nonce's expiry) go first.
func NewMemoryNonceLedger(maxPairs int) *MemoryNonceLedger {
	return &MemoryNonceLedger{pairs: newTable(maxPairs)}
}

var _ NonceLedger = (*MemoryNonceLedger)(nil)

// Use records the pair and reports whether it was new.
func (m *MemoryNonceLedger) Use(_ context.Context, nonce string, nc uint32, until, now time.Time) (bool, error) {
	if !now.Before(until) {
		return false, nil
	}
	k := PairKey(nonce, nc)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pairs.get(k, now) != nil {
		return false, nil
	}
	m.pairs.add(&entry{key: k, expires: until}, now)
	return true, nil
}

// Len is how many keys each table holds (for tests of the bound).
func (m *MemoryNonceLedger) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pairs.order.Len()
}

// Len is how many keys the lockout holds.
func (m *MemoryLockout) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keys.order.Len()
}
