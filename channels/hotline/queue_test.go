package hotline

import (
	"slices"
	"testing"

	"github.com/yihao-city/yihao/channels/hotline/acd"
)

// isOpen says whether c is closed: a turn given, a line gone short.
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
	a, b, c := q.join("", "a", false), q.join("", "b", false), q.join("", "c", false)
	other := q.join("12319", "o", false)
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
	back := q.join("", "b", true) // b's agent did not answer
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

func callIDs(ps []*place) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.callID)
	}
	return out
}

// One claim at the head serves the callers behind it: each gets its own
// agent and leaves the line, an agent claimed for a caller who left comes
// back to be released, two claims never ask for one caller, and a claim
// served short tells the line its callers wait for agents.
func TestQueueHandsBatch(t *testing.T) {
	q := newQueue()
	a, b, c, d := q.join("", "a", false), q.join("", "b", false), q.join("", "c", false), q.join("", "d", false)
	if b.batch(3) != nil {
		t.Fatal("only the head claims")
	}
	batch := a.batch(3)
	if got := callIDs(batch); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("batch %v", got)
	}
	// While that claim is on its way, a caller back from an unanswered
	// offer takes the head; its own claim skips the callers asked for.
	back := q.join("", "x", true)
	if got := callIDs(back.batch(3)); !slices.Equal(got, []string{"x", "d"}) {
		t.Fatalf("second batch %v, want x and d only", got)
	}
	if d.batch(3) != nil || a.batch(3) != nil {
		t.Fatal("a caller in a claim on its way claimed again")
	}
	back.hand([]*place{back, d}, nil)
	c.leave() // c hangs up during the claim
	agent := func(n string) acd.Binding { return acd.Binding{Agent: n} }
	mine, ok, orphans := a.hand(batch, []acd.Binding{agent("2001"), agent("2002"), agent("2003")})
	if !ok || mine.Agent != "2001" {
		t.Fatalf("head's own agent %v %v", mine, ok)
	}
	if g, ok := b.takeGiven(); !ok || g.Agent != "2002" {
		t.Fatalf("b given %v %v", g, ok)
	}
	if len(orphans) != 1 || orphans[0] != (orphan{agent: "2003", callID: "c"}) {
		t.Fatalf("orphans %v", orphans)
	}
	if !isOpen(back.myTurn()) || isOpen(d.myTurn()) {
		t.Fatal("x keeps the head, d waits")
	}
	if q.waiting != 2 {
		t.Fatalf("%d waiting, want x and d", q.waiting)
	}
	// x's first claim came back short; a's, served whole, cleared it.
	if isOpen(back.short()) {
		t.Fatal("the line is short after a claim served whole")
	}
	// x's claim finds one agent for two callers: the line is short.
	batch = back.batch(claimBatch)
	if _, ok, _ := back.hand(batch, []acd.Binding{agent("2004")}); !ok {
		t.Fatal("x gets the one agent")
	}
	if !isOpen(d.short()) || !isOpen(d.myTurn()) {
		t.Fatal("d heads a short line")
	}
	e := q.join("", "e", false)
	if !isOpen(e.short()) {
		t.Fatal("a caller joining a short line waits for agents")
	}
	// A claim that serves everyone it asked for ends the shortage.
	d.hand(d.batch(claimBatch), []acd.Binding{agent("2005"), agent("2006")})
	if g, ok := e.takeGiven(); !ok || g.Agent != "2006" {
		t.Fatalf("e given %v %v", g, ok)
	}
	f := q.join("", "f", false)
	if isOpen(f.short()) || !isOpen(f.myTurn()) {
		t.Fatal("the next caller finds a line that is not short, and heads it")
	}
	f.leave()
	if q.waiting != 0 || len(q.lines) != 0 {
		t.Fatalf("%d waiting in %d lines after all left", q.waiting, len(q.lines))
	}
}
