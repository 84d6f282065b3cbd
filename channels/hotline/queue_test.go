package hotline

import "testing"

func isOpen(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Callers get their turn in arrival order, per skill; a caller whose agent
// did not answer goes back to the front; leaving twice is harmless.
func TestQueueOrder(t *testing.T) {
	q := newQueue()
	a, b, c := q.join("", false), q.join("", false), q.join("", false)
	other := q.join("12319", false)
	if !isOpen(a.myTurn()) || isOpen(b.myTurn()) || isOpen(c.myTurn()) {
		t.Fatal("first caller should have the turn, and only they")
	}
	if !isOpen(other.myTurn()) {
		t.Fatal("another skill's line has its own head")
	}
	a.leave()
	a.leave()
	if !isOpen(b.myTurn()) || isOpen(c.myTurn()) {
		t.Fatal("the turn passes to the second caller")
	}
	b.leave()
	back := q.join("", true) // b's agent did not answer
	if !isOpen(back.myTurn()) || isOpen(c.myTurn()) {
		t.Fatal("a caller back from an unanswered offer goes first")
	}
	c.leave() // c hangs up while waiting: the head keeps its turn
	if !isOpen(back.myTurn()) {
		t.Fatal("head lost its turn when someone behind left")
	}
	back.leave()
	if len(q.lines) != 1 {
		t.Fatalf("empty lines kept: %v", q.lines)
	}
}
