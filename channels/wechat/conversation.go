package wechat

import (
	"context"
	"sync"
	"time"
)

// MemoryConversations keeps conversations in this process (one instance,
// no Redis).
type MemoryConversations struct {
	mu        sync.Mutex
	now       func() time.Time
	open      map[string]conversation
	nextPrune time.Time
}

// prunePeriod is how often Keep sweeps out ended conversations, so the
// map holds the conversations of the last window, not of every citizen
// since it last filled (an hour's soak at 100 new citizens a second grew
// it by some 40 MB toward its bound).
const prunePeriod = time.Minute

type conversation struct {
	number string
	until  time.Time
}

// NewMemoryConversations returns an empty store; now may be nil.
func NewMemoryConversations(now func() time.Time) *MemoryConversations {
	if now == nil {
		now = time.Now
	}
	return &MemoryConversations{now: now, open: map[string]conversation{}}
}

// Open returns the ticket of the citizen's conversation, if one is under way.
func (m *MemoryConversations) Open(_ context.Context, openID string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.open[openID]
	if !ok || !m.now().Before(c.until) {
		delete(m.open, openID)
		return "", false, nil
	}
	return c.number, true, nil
}

// Keep starts or extends the conversation for ttl from now.
func (m *MemoryConversations) Keep(_ context.Context, openID, number string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	_, known := m.open[openID]
	full := !known && len(m.open) >= maxMemoryKeys
	if full || !now.Before(m.nextPrune) {
		m.prune(now)
	}
	if full {
		// A flood of citizens left it full of live ones: arbitrary ones go
		// down to three quarters (their next message opens a new ticket), so
		// sweeps are far apart.
		for k := range m.open {
			if len(m.open) <= maxMemoryKeys*3/4 {
				break
			}
			delete(m.open, k)
		}
	}
	m.open[openID] = conversation{number: number, until: now.Add(ttl)}
	return nil
}

// prune drops ended conversations.
func (m *MemoryConversations) prune(now time.Time) {
	for k, c := range m.open {
		if !now.Before(c.until) {
			delete(m.open, k)
		}
	}
	m.nextPrune = now.Add(prunePeriod)
}

// Len is how many conversations are kept, ended ones not yet swept
// included.
func (m *MemoryConversations) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.open)
}

// End closes the conversation.
func (m *MemoryConversations) End(_ context.Context, openID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.open, openID)
	return nil
}
