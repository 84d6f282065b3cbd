package acd

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"time"
)

// Memory is Presence in one process, for a single instance.
type Memory struct {
	strategy Strategy

	mu     sync.Mutex
	agents map[string]*agent
}

// agent is what Memory holds for one agent. The redis package keeps the
// same fields in a hash.
type agent struct {
	name      string
	state     State
	since     time.Time
	readyAt   time.Time // WrapUp
	call      string    // OnCall
	holdUntil time.Time // OnCall: the hold lapses then (zero: never)
	pending   State     // Break or LoggedOut chosen while OnCall
	skills    []string
	binding   *Binding  // nil when not registered (or lapsed)
	availAt   time.Time // when the agent last became Available (LongestIdle)
	offeredAt time.Time // when the agent was last offered a call (RoundRobin)
}

// NewMemory returns an empty Presence ordering agents by s; the zero
// Strategy (or any unknown one) is LongestIdle.
func NewMemory(s Strategy) *Memory {
	if s != RoundRobin {
		s = LongestIdle
	}
	return &Memory{strategy: s, agents: map[string]*agent{}}
}

var _ Presence = (*Memory)(nil)

// Register records or refreshes an agent's binding with its skills. A new
// registration (the agent had no live binding) makes a logged-out agent
// available; a refresh keeps the state, so an agent who chose LoggedOut
// stays logged out while the softphone refreshes.
func (m *Memory) Register(_ context.Context, b Binding, skills []string, now time.Time) error {
	if b.Agent == "" {
		return errors.New("acd: register: binding names no agent")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.agents[b.Agent]
	if a == nil {
		a = &agent{name: b.Agent, state: LoggedOut, since: now}
		m.agents[b.Agent] = a
	}
	a.settle(now)
	wasRegistered := a.binding != nil
	a.binding = &b
	a.skills = slices.Clone(skills)
	if a.state == LoggedOut && !wasRegistered {
		a.become(Available, now)
	}
	a.settle(now) // a binding that expires already is lapsed at once
	return nil
}

// Unregister removes the binding; the agent is logged out, or, on a call,
// keeps it until Release.
func (m *Memory) Unregister(_ context.Context, name string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.agents[name]
	if a == nil {
		return ErrUnknownAgent
	}
	a.settle(now)
	a.binding = nil
	if a.state != OnCall && a.state != LoggedOut {
		a.become(LoggedOut, now)
	}
	return nil
}

// SetState applies the agent's own choice of Available, Break or LoggedOut.
func (m *Memory) SetState(_ context.Context, name string, s State, now time.Time) error {
	if s != Available && s != Break && s != LoggedOut {
		return ErrBadState
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.agents[name]
	if a == nil {
		return ErrUnknownAgent
	}
	a.settle(now)
	switch {
	case a.state == OnCall:
		a.pending = s
		if s == Available {
			a.pending = ""
		}
	case a.state == s:
	case a.binding == nil:
		// Not registered: unreachable, so logged out whatever was chosen.
	default:
		a.become(s, now)
	}
	return nil
}

// Claim puts the first available agent with skill, in Strategy order, on
// callID.
func (m *Memory) Claim(_ context.Context, skill, callID string, holdUntil, now time.Time) (Binding, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.claimLocked(skill, callID, holdUntil, now)
	return b, ok, nil
}

// ClaimMany claims an agent for each call in order until nobody is free.
func (m *Memory) ClaimMany(_ context.Context, skill string, callIDs []string, holdUntil, now time.Time) ([]Binding, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Binding
	for _, id := range callIDs {
		b, ok := m.claimLocked(skill, id, holdUntil, now)
		if !ok {
			break
		}
		out = append(out, b)
	}
	return out, nil
}

// claimLocked is Claim with m.mu held.
func (m *Memory) claimLocked(skill, callID string, holdUntil, now time.Time) (Binding, bool) {
	var best *agent
	for _, a := range m.agents {
		a.settle(now)
		if a.state != Available || a.binding == nil || !a.hasSkill(skill) {
			continue
		}
		if best == nil || m.before(a, best) {
			best = a
		}
	}
	if best == nil {
		return Binding{}, false
	}
	best.become(OnCall, now)
	best.call, best.offeredAt, best.holdUntil = callID, now, holdUntil
	return *best.binding, true
}

// Hold renews the call's hold on the agent.
func (m *Memory) Hold(_ context.Context, name, callID string, until, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.onCall(name, callID, now)
	if err != nil {
		return err
	}
	a.holdUntil = until
	return nil
}

// onCall returns the agent settled as of now, if on callID. The caller
// holds m.mu.
func (m *Memory) onCall(name, callID string, now time.Time) (*agent, error) {
	a := m.agents[name]
	if a == nil {
		return nil, ErrUnknownAgent
	}
	a.settle(now)
	if a.state != OnCall || a.call != callID {
		return nil, ErrNotOnCall
	}
	return a, nil
}

// before reports whether a comes before b in the Strategy order; ties go
// to the lower extension.
func (m *Memory) before(a, b *agent) bool {
	ka, kb := a.availAt, b.availAt
	if m.strategy == RoundRobin {
		ka, kb = a.offeredAt, b.offeredAt
	}
	if !ka.Equal(kb) {
		return ka.Before(kb)
	}
	return a.name < b.name
}

// Release ends the agent's call callID.
func (m *Memory) Release(_ context.Context, name, callID string, readyAt, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.onCall(name, callID, now)
	if err != nil {
		return err
	}
	switch {
	case a.binding == nil:
		a.become(LoggedOut, now)
	case a.pending != "":
		a.become(a.pending, now)
	case readyAt.After(now):
		a.become(WrapUp, now)
		a.readyAt = readyAt
	default:
		a.become(Available, now)
	}
	return nil
}

// Status of one agent as of now.
func (m *Memory) Status(_ context.Context, name string, now time.Time) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.agents[name]
	if a == nil {
		return Status{}, ErrUnknownAgent
	}
	return a.status(now), nil
}

// Agents lists every known agent by extension as of now.
func (m *Memory) Agents(_ context.Context, now time.Time) ([]Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.agents))
	for _, a := range m.agents {
		out = append(out, a.status(now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Agent < out[j].Agent })
	return out, nil
}

// status reports a as of now without changing it.
func (a *agent) status(now time.Time) Status {
	c := *a
	c.settle(now)
	s := Status{Agent: c.name, State: c.state, Skills: slices.Clone(c.skills), Since: c.since}
	if len(s.Skills) == 0 {
		s.Skills = nil
	}
	switch c.state {
	case WrapUp:
		s.ReadyAt = c.readyAt
	case OnCall:
		s.CallID, s.HoldUntil = c.call, c.holdUntil
	}
	if c.binding != nil {
		b := *c.binding
		s.Binding = &b
	}
	return s
}

// settle applies what time did since the last change: a wrap-up that is
// over ends (at readyAt), a call whose hold lapsed frees the agent (at the
// lapse), and a lapsed registration is dropped, logging the agent out
// unless on a call (at the later of expiry and the last change).
func (a *agent) settle(now time.Time) {
	if a.state == WrapUp && !a.readyAt.After(now) {
		a.become(Available, a.readyAt)
	}
	if a.state == OnCall && !a.holdUntil.IsZero() && !a.holdUntil.After(now) {
		// The instance handling the call stopped renewing: it died.
		switch at := a.holdUntil; {
		case a.binding == nil || !a.binding.Expires.After(at):
			a.become(LoggedOut, at)
		case a.pending != "":
			a.become(a.pending, at)
		default:
			a.become(Available, at)
		}
	}
	if a.binding != nil && !a.binding.Expires.After(now) {
		at := a.binding.Expires
		a.binding = nil
		if a.state != OnCall && a.state != LoggedOut {
			if a.since.After(at) {
				at = a.since
			}
			a.become(LoggedOut, at)
		}
	}
}

// become moves a to s at at.
func (a *agent) become(s State, at time.Time) {
	a.state, a.since = s, at
	a.readyAt, a.call, a.pending, a.holdUntil = time.Time{}, "", "", time.Time{}
	if s == Available {
		a.availAt = at
	}
}

func (a *agent) hasSkill(skill string) bool {
	return skill == "" || len(a.skills) == 0 || slices.Contains(a.skills, skill)
}
