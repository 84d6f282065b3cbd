package hotline

import (
	"container/list"
	"sync"

	"github.com/yihao-city/yihao/channels/hotline/acd"
)

// queue keeps this instance's waiting callers in arrival order, one line
// per skill. Only the caller at the head asks the ACD for agents, and it
// asks for itself and the callers behind it at once (batch, hand): a freed
// agent goes to whoever waited longest, thousands of waiting callers cost
// one claim at a time instead of a stampede, and that one claim serves as
// many of them as there are agents free. (Across instances the order is per
// instance; the ACD still never gives one agent two calls.)
type queue struct {
	mu      sync.Mutex
	lines   map[string]*line
	waiting int // places in every line
}

// line is one skill's waiting callers, head first.
type line struct {
	places list.List // of *place
	// short is closed while the line's last claim found fewer agents free
	// than callers it asked for: its callers wait for an agent, not for a
	// turn, and are told so.
	short   chan struct{}
	isShort bool
}

// place is one caller's place in a queue.
type place struct {
	q      *queue
	skill  string
	callID string
	elem   *list.Element
	turn   chan struct{} // closed when this place reaches the head
	// given receives the agent the head of the line claimed for this
	// caller; the place has left the line by then.
	given chan acd.Binding
	// claiming: a claim for this caller is on its way, so no other claim
	// asks for it.
	claiming bool
}

func newQueue() *queue { return &queue{lines: map[string]*line{}} }

// join puts a caller at the back of skill's line, or at the front for a
// caller whose offered agent did not answer and who already had their turn.
func (q *queue) join(skill, callID string, front bool) *place {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.joinLocked(skill, callID, front)
}

// tryJoin is join at the back unless max callers wait already (nil).
func (q *queue) tryJoin(skill, callID string, max int) *place {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.waiting >= max {
		return nil
	}
	return q.joinLocked(skill, callID, false)
}

func (q *queue) joinLocked(skill, callID string, front bool) *place {
	q.waiting++
	l := q.lines[skill]
	if l == nil {
		l = &line{short: make(chan struct{})}
		q.lines[skill] = l
	}
	p := &place{q: q, skill: skill, callID: callID, turn: make(chan struct{}), given: make(chan acd.Binding, 1)}
	if front {
		if h := l.places.Front(); h != nil {
			// The old head loses its turn until this caller is served.
			h.Value.(*place).turn = make(chan struct{})
		}
		p.elem = l.places.PushFront(p)
	} else {
		p.elem = l.places.PushBack(p)
	}
	if l.places.Front() == p.elem {
		close(p.turn)
	}
	return p
}

// myTurn is closed once the place is at the head of its line.
func (p *place) myTurn() <-chan struct{} {
	p.q.mu.Lock()
	defer p.q.mu.Unlock()
	return p.turn
}

// short is closed while the place's line waits for agents (nil once the
// place has left its line).
func (p *place) short() <-chan struct{} {
	p.q.mu.Lock()
	defer p.q.mu.Unlock()
	if p.elem == nil {
		return nil
	}
	return p.q.lines[p.skill].short
}

// leave takes the place out of its line (served, gone, or out of time)
// and gives the turn to the next caller. Leaving twice is harmless. An
// agent given to the place before it left is in given.
func (p *place) leave() {
	p.q.mu.Lock()
	defer p.q.mu.Unlock()
	p.leaveLocked()
}

func (p *place) leaveLocked() {
	q := p.q
	if p.elem == nil {
		return
	}
	l := q.lines[p.skill]
	wasHead := l.places.Front() == p.elem
	l.places.Remove(p.elem)
	p.elem = nil
	q.waiting--
	if wasHead {
		if h := l.places.Front(); h != nil {
			close(h.Value.(*place).turn)
		}
	}
	if l.places.Len() == 0 {
		delete(q.lines, p.skill)
	}
}

// batch is the callers a claim by p, at the head of its line, asks agents
// for: p and the callers behind it, at most max, none that another claim
// is asking for already. Nil when p is not at the head (a caller back from
// an agent who did not answer went before it) or is in another's claim.
func (p *place) batch(max int) []*place {
	p.q.mu.Lock()
	defer p.q.mu.Unlock()
	if p.elem == nil || p.claiming || p.q.lines[p.skill].places.Front() != p.elem {
		return nil
	}
	out := []*place{p}
	p.claiming = true
	for e := p.elem.Next(); e != nil && len(out) < max; e = e.Next() {
		if o := e.Value.(*place); !o.claiming {
			o.claiming = true
			out = append(out, o)
		}
	}
	return out
}

// hand gives the agents claimed for batch (bs[i] for batch[i], fewer when
// fewer were free) to their callers: p's own comes back, every other
// caller's leaves the line and goes to its given. An agent claimed for a
// caller who left the line meanwhile comes back in orphans, to be released.
// A batch served short marks the line short; one served whole clears it.
func (p *place) hand(batch []*place, bs []acd.Binding) (mine acd.Binding, ok bool, orphans []orphan) {
	q := p.q
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, o := range batch {
		o.claiming = false
		if i >= len(bs) {
			continue
		}
		switch {
		case o == p:
			mine, ok = bs[i], true
		case o.elem == nil:
			orphans = append(orphans, orphan{agent: bs[i].Agent, callID: o.callID})
			continue
		default:
			o.given <- bs[i]
		}
		o.leaveLocked()
	}
	if l := q.lines[p.skill]; l != nil {
		switch {
		case len(bs) < len(batch) && !l.isShort:
			close(l.short)
			l.isShort = true
		case len(bs) == len(batch) && l.isShort:
			l.short = make(chan struct{})
			l.isShort = false
		}
	}
	return mine, ok, orphans
}

// orphan is an agent claimed for a caller who had left the line.
type orphan struct{ agent, callID string }

// takeGiven returns the agent given to a place that has left its line,
// if any: a caller who hangs up just as the head hands them an agent
// releases it with this.
func (p *place) takeGiven() (acd.Binding, bool) {
	select {
	case b := <-p.given:
		return b, true
	default:
		return acd.Binding{}, false
	}
}
