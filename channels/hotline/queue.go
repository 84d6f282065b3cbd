package hotline

import (
	"container/list"
	"sync"
)

// queue keeps this instance's waiting callers in arrival order, one line
// per skill: only the caller at the head asks the ACD for an agent, so a
// freed agent goes to whoever waited longest, and thousands of waiting
// callers cost one claim at a time instead of a stampede. (Across
// instances the order is per instance; the ACD still never gives one
// agent two calls.)
type queue struct {
	mu      sync.Mutex
	lines   map[string]*list.List // skill → *place, head first
	waiting int                   // places in every line
}

// place is one caller's place in a queue.
type place struct {
	q     *queue
	skill string
	elem  *list.Element
	turn  chan struct{} // closed when this place reaches the head
}

func newQueue() *queue { return &queue{lines: map[string]*list.List{}} }

// join puts a caller at the back of skill's line, or at the front for a
// caller whose offered agent did not answer and who already had their turn.
func (q *queue) join(skill string, front bool) *place {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.joinLocked(skill, front)
}

// tryJoin is join at the back unless max callers wait already (nil).
func (q *queue) tryJoin(skill string, max int) *place {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.waiting >= max {
		return nil
	}
	return q.joinLocked(skill, false)
}

func (q *queue) joinLocked(skill string, front bool) *place {
	q.waiting++
	l := q.lines[skill]
	if l == nil {
		l = list.New()
		q.lines[skill] = l
	}
	p := &place{q: q, skill: skill, turn: make(chan struct{})}
	if front {
		if h := l.Front(); h != nil {
			// The old head loses its turn until this caller is served.
			h.Value.(*place).turn = make(chan struct{})
		}
		p.elem = l.PushFront(p)
	} else {
		p.elem = l.PushBack(p)
	}
	if l.Front() == p.elem {
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

// leave takes the place out of its line (served, gone, or out of time)
// and gives the turn to the next caller. Leaving twice is harmless.
func (p *place) leave() {
	q := p.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if p.elem == nil {
		return
	}
	l := q.lines[p.skill]
	wasHead := l.Front() == p.elem
	l.Remove(p.elem)
	p.elem = nil
	q.waiting--
	if wasHead {
		if h := l.Front(); h != nil {
			close(h.Value.(*place).turn)
		}
	}
	if l.Len() == 0 {
		delete(q.lines, p.skill)
	}
}
