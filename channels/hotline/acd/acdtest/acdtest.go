// Package acdtest is the conformance suite every acd.Presence must pass.
package acdtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/hotline/acd"
)

// NewPresence returns an empty Presence ordering agents by s, cleaned up
// when t ends.
type NewPresence func(t *testing.T, s acd.Strategy) acd.Presence

// Run runs the conformance tests against Presences made by newPresence.
func Run(t *testing.T, newPresence NewPresence) {
	tests := []struct {
		name string
		fn   func(*testing.T, NewPresence)
	}{
		{"RegisterMakesAvailable", testRegister},
		{"UnknownAgent", testUnknownAgent},
		{"ClaimLongestIdle", testClaimLongestIdle},
		{"ClaimRoundRobin", testClaimRoundRobin},
		{"StrategiesDiffer", testStrategiesDiffer},
		{"Skills", testSkills},
		{"LapsedRegistration", testLapsed},
		{"ManyLapsed", testManyLapsed},
		{"WrapUp", testWrapUp},
		{"SetState", testSetState},
		{"SetStateOnCall", testSetStateOnCall},
		{"Release", testRelease},
		{"Hold", testHold},
		{"Unregister", testUnregister},
		{"Agents", testAgents},
		{"ConcurrentClaims", testConcurrentClaims},
		{"ClaimMany", testClaimMany},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newPresence) })
	}
}

// t0 is the start of every test's clock; at(s) is s seconds later.
var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func binding(agent string, expires time.Time) acd.Binding {
	return acd.Binding{Agent: agent, Contact: "sip:" + agent + "@192.168.1.20:5062",
		Source: "192.168.1.20:5062", Transport: "udp", Expires: expires}
}

// register registers agent at now for an hour.
func register(t *testing.T, p acd.Presence, agent string, now time.Time, skills ...string) {
	t.Helper()
	if err := p.Register(context.Background(), binding(agent, now.Add(time.Hour)), skills, now); err != nil {
		t.Fatalf("register %s: %v", agent, err)
	}
}

// claim returns the agent given callID, or "" when nobody is free.
func claim(t *testing.T, p acd.Presence, skill, callID string, now time.Time) string {
	t.Helper()
	b, ok, err := p.Claim(context.Background(), skill, callID, time.Time{}, now)
	if err != nil {
		t.Fatalf("claim %q: %v", skill, err)
	}
	if !ok {
		return ""
	}
	if b.Agent == "" || b.Contact == "" || b.Source == "" || b.Transport == "" {
		t.Fatalf("claim %q: incomplete binding %+v", skill, b)
	}
	return b.Agent
}

func wantClaim(t *testing.T, p acd.Presence, skill, callID string, now time.Time, want string) {
	t.Helper()
	if got := claim(t, p, skill, callID, now); got != want {
		t.Fatalf("claim %q for %s at %s gave %q, want %q", skill, callID, now.Format(time.TimeOnly), got, want)
	}
}

func release(t *testing.T, p acd.Presence, agent, callID string, readyAt, now time.Time) {
	t.Helper()
	if err := p.Release(context.Background(), agent, callID, readyAt, now); err != nil {
		t.Fatalf("release %s %s: %v", agent, callID, err)
	}
}

func setState(t *testing.T, p acd.Presence, agent string, s acd.State, now time.Time) {
	t.Helper()
	if err := p.SetState(context.Background(), agent, s, now); err != nil {
		t.Fatalf("set %s %s: %v", agent, s, err)
	}
}

func status(t *testing.T, p acd.Presence, agent string, now time.Time) acd.Status {
	t.Helper()
	s, err := p.Status(context.Background(), agent, now)
	if err != nil {
		t.Fatalf("status %s: %v", agent, err)
	}
	return s
}

// wantState checks agent's state as of now, and since when unless zero.
func wantState(t *testing.T, p acd.Presence, agent string, now time.Time, want acd.State, since time.Time) acd.Status {
	t.Helper()
	s := status(t, p, agent, now)
	if s.State != want {
		t.Fatalf("%s at %s is %s, want %s", agent, now.Format(time.TimeOnly), s.State, want)
	}
	if !since.IsZero() && !s.Since.Equal(since) {
		t.Fatalf("%s %s since %s, want since %s", agent, s.State, s.Since.Format(time.TimeOnly), since.Format(time.TimeOnly))
	}
	return s
}

func testRegister(t *testing.T, newPresence NewPresence) {
	p := newPresence(t, acd.LongestIdle)
	ctx := context.Background()
	b := binding("2001", at(3600))
	if err := p.Register(ctx, b, []string{"12345", "12319"}, at(0)); err != nil {
		t.Fatal(err)
	}
	s := wantState(t, p, "2001", at(1), acd.Available, at(0))
	if s.Agent != "2001" || !slices.Equal(s.Skills, []string{"12345", "12319"}) || s.CallID != "" || !s.ReadyAt.IsZero() {
		t.Fatalf("status %+v", s)
	}
	if s.Binding == nil {
		t.Fatal("registered agent has no binding")
	}
	if got := *s.Binding; got.Agent != b.Agent || got.Contact != b.Contact || got.Source != b.Source ||
		got.Transport != b.Transport || !got.Expires.Equal(b.Expires) {
		t.Fatalf("binding %+v, want %+v", got, b)
	}

	// A refresh updates the binding and keeps the state and its time.
	b2 := b
	b2.Contact, b2.Source, b2.Transport, b2.Expires = "sip:2001@10.0.0.7:5070", "10.0.0.7:5070", "tcp", at(7200)
	if err := p.Register(ctx, b2, nil, at(60)); err != nil {
		t.Fatal(err)
	}
	s = wantState(t, p, "2001", at(61), acd.Available, at(0))
	if len(s.Skills) != 0 {
		t.Fatalf("skills %v after registering with none", s.Skills)
	}
	if s.Binding == nil || s.Binding.Contact != b2.Contact || s.Binding.Source != b2.Source ||
		s.Binding.Transport != "tcp" || !s.Binding.Expires.Equal(b2.Expires) {
		t.Fatalf("binding after refresh %+v", s.Binding)
	}
	got, ok, err := p.Claim(ctx, "", "call-1", time.Time{}, at(62))
	if err != nil || !ok {
		t.Fatalf("claim: ok=%v err=%v", ok, err)
	}
	if got.Agent != "2001" || got.Contact != b2.Contact || got.Source != b2.Source || !got.Expires.Equal(b2.Expires) {
		t.Fatalf("claimed binding %+v, want %+v", got, b2)
	}
	s = wantState(t, p, "2001", at(63), acd.OnCall, at(62))
	if s.CallID != "call-1" {
		t.Fatalf("call id %q", s.CallID)
	}
	// A refresh on a call keeps the call.
	register(t, p, "2001", at(64))
	wantState(t, p, "2001", at(64), acd.OnCall, at(62))
}

func testUnknownAgent(t *testing.T, newPresence NewPresence) {
	p := newPresence(t, acd.LongestIdle)
	ctx := context.Background()
	register(t, p, "2001", at(0))
	checks := map[string]error{}
	_, checks["Status"] = p.Status(ctx, "2999", at(1))
	checks["SetState"] = p.SetState(ctx, "2999", acd.Break, at(1))
	checks["Unregister"] = p.Unregister(ctx, "2999", at(1))
	checks["Release"] = p.Release(ctx, "2999", "call-1", at(1), at(1))
	for name, err := range checks {
		if !errors.Is(err, acd.ErrUnknownAgent) {
			t.Errorf("%s of an unknown agent: %v, want ErrUnknownAgent", name, err)
		}
	}
	if list, err := p.Agents(ctx, at(1)); err != nil || len(list) != 1 {
		t.Fatalf("agents %v, %v", list, err)
	}
}

func testClaimLongestIdle(t *testing.T, newPresence NewPresence) {
	p := newPresence(t, acd.LongestIdle)
	register(t, p, "2003", at(0))
	register(t, p, "2001", at(1))
	register(t, p, "2002", at(2))
	wantClaim(t, p, "", "c1", at(10), "2003")
	wantClaim(t, p, "", "c2", at(11), "2001")
	release(t, p, "2003", "c1", at(12), at(12)) // available again at 12
	wantClaim(t, p, "", "c3", at(13), "2002")
	release(t, p, "2001", "c2", at(14), at(14))
	wantClaim(t, p, "", "c4", at(15), "2003")
	wantClaim(t, p, "", "c5", at(16), "2001")
	wantClaim(t, p, "", "c6", at(17), "")

	// Coming back from a break puts the agent at the end of the queue.
	release(t, p, "2001", "c5", at(20), at(20))
	release(t, p, "2002", "c3", at(21), at(21))
	setState(t, p, "2001", acd.Break, at(22))
	setState(t, p, "2001", acd.Available, at(23))
	wantClaim(t, p, "", "c7", at(24), "2002")
	wantClaim(t, p, "", "c8", at(25), "2001")
}

func testClaimRoundRobin(t *testing.T, newPresence NewPresence) {
	p := newPresence(t, acd.RoundRobin)
	register(t, p, "2002", at(0))
	register(t, p, "2001", at(1))
	register(t, p, "2003", at(2))
	// Never offered: all equal, lowest extension first.
	wantClaim(t, p, "", "c1", at(10), "2001")
	release(t, p, "2001", "c1", at(11), at(11))
	wantClaim(t, p, "", "c2", at(12), "2002")
	release(t, p, "2002", "c2", at(13), at(13))
	// 2003 was never offered; then 2001, offered at 10, before 2002.
	wantClaim(t, p, "", "c3", at(14), "2003")
	wantClaim(t, p, "", "c4", at(15), "2001")
	wantClaim(t, p, "", "c5", at(16), "2002")
	wantClaim(t, p, "", "c6", at(17), "")
}

// The same history picks different agents under the two strategies.
func testStrategiesDiffer(t *testing.T, newPresence NewPresence) {
	for _, tt := range []struct {
		s    acd.Strategy
		want string
	}{
		{acd.LongestIdle, "2001"}, // available since 11, 2002 only since 13
		{acd.RoundRobin, "2002"},  // never offered a call; 2001 was at 10
	} {
		t.Run(string(tt.s), func(t *testing.T) {
			p := newPresence(t, tt.s)
			register(t, p, "2001", at(0))
			register(t, p, "2002", at(1))
			wantClaim(t, p, "", "c1", at(10), "2001")
			release(t, p, "2001", "c1", at(11), at(11))
			setState(t, p, "2002", acd.Break, at(12))
			setState(t, p, "2002", acd.Available, at(13))
			wantClaim(t, p, "", "c2", at(20), tt.want)
		})
	}
}

func testSkills(t *testing.T, newPresence NewPresence) {
	p := newPresence(t, acd.LongestIdle)
	register(t, p, "2001", at(0), "12345")
	register(t, p, "2002", at(1), "12319", "12345")
	register(t, p, "2003", at(2)) // no skills: takes every line
	wantClaim(t, p, "12319", "c1", at(10), "2002")
	wantClaim(t, p, "12319", "c2", at(11), "2003")
	wantClaim(t, p, "12319", "c3", at(12), "")
	wantClaim(t, p, "96310", "c4", at(13), "")
	wantClaim(t, p, "12345", "c5", at(14), "2001")
	wantClaim(t, p, "", "c6", at(15), "")
	release(t, p, "2001", "c5", at(20), at(20))
	release(t, p, "2003", "c2", at(21), at(21))
	wantClaim(t, p, "", "c7", at(22), "2001")
	wantClaim(t, p, "96310", "c8", at(23), "2003")

	// A refresh with other skills changes what the agent takes.
	release(t, p, "2001", "c7", at(30), at(30))
	register(t, p, "2001", at(31), "96310")
	wantClaim(t, p, "12345", "c9", at(32), "")
	wantClaim(t, p, "96310", "c10", at(33), "2001")
	release(t, p, "2001", "c10", at(34), at(34))
	register(t, p, "2001", at(35))
	wantClaim(t, p, "12315", "c11", at(36), "2001")
}

func testLapsed(t *testing.T, newPresence NewPresence) {
	p := newPresence(t, acd.LongestIdle)
	ctx := context.Background()
	if err := p.Register(ctx, binding("2001", at(60)), nil, at(0)); err != nil {
		t.Fatal(err)
	}
	if err := p.Register(ctx, binding("2002", at(60)), nil, at(1)); err != nil {
		t.Fatal(err)
	}
	register(t, p, "2003", at(2))
	wantState(t, p, "2001", at(59), acd.Available, at(0))
	// 2001 and 2002 are idle longest, but their registrations lapsed at 60.
	wantClaim(t, p, "", "c1", at(60), "2003")
	for _, agent := range []string{"2001", "2002"} {
		s := wantState(t, p, agent, at(61), acd.LoggedOut, at(60))
		if s.Binding != nil {
			t.Fatalf("%s lapsed but has binding %+v", agent, s.Binding)
		}
	}
	wantClaim(t, p, "", "c2", at(62), "")
	wantState(t, p, "2001", at(63), acd.LoggedOut, at(60))

	// Registering again makes the agent available.
	register(t, p, "2002", at(70))
	wantState(t, p, "2002", at(70), acd.Available, at(70))
	wantClaim(t, p, "", "c3", at(71), "2002")

	// A registration lapsing on a call keeps the call; Release logs out.
	if err := p.Register(ctx, binding("2001", at(100)), nil, at(80)); err != nil {
		t.Fatal(err)
	}
	wantClaim(t, p, "", "c4", at(81), "2001")
	s := wantState(t, p, "2001", at(120), acd.OnCall, at(81))
	if s.Binding != nil {
		t.Fatalf("lapsed binding kept on a call: %+v", s.Binding)
	}
	release(t, p, "2001", "c4", at(130), at(121))
	wantState(t, p, "2001", at(122), acd.LoggedOut, at(121))

	// An agent on a break whose registration lapses is logged out too.
	if err := p.Register(ctx, binding("2004", at(200)), nil, at(150)); err != nil {
		t.Fatal(err)
	}
	setState(t, p, "2004", acd.Break, at(160))
	wantState(t, p, "2004", at(199), acd.Break, at(160))
	wantState(t, p, "2004", at(201), acd.LoggedOut, at(200))
}

// Many lapsed agents ahead in the queue do not hide the free ones, also
// from a batch claim walking past more of them than one script's budget.
func testManyLapsed(t *testing.T, newPresence NewPresence) {
	p := newPresence(t, acd.LongestIdle)
	ctx := context.Background()
	for i := range 100 {
		if err := p.Register(ctx, binding(fmt.Sprint(3000+i), at(60)), nil, at(0)); err != nil {
			t.Fatal(err)
		}
	}
	register(t, p, "2001", at(1))
	register(t, p, "2002", at(2))
	wantClaimMany(t, p, "", at(61), []string{"c1", "c2", "c3"}, "2001", "2002")
	wantClaim(t, p, "", "c4", at(62), "")
	list, err := p.Agents(ctx, at(63))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Agent != "2001" && s.Agent != "2002" && s.State != acd.LoggedOut {
			t.Fatalf("%s is %s after its registration lapsed", s.Agent, s.State)
		}
	}
}

func testWrapUp(t *testing.T, newPresence NewPresence) {
	p := newPresence(t, acd.LongestIdle)
	register(t, p, "2001", at(0))
	wantClaim(t, p, "", "c1", at(10), "2001")
	release(t, p, "2001", "c1", at(50), at(20))
	s := wantState(t, p, "2001", at(21), acd.WrapUp, at(20))
	if !s.ReadyAt.Equal(at(50)) || s.CallID != "" {
		t.Fatalf("wrap-up status %+v, want ready at %s", s, at(50))
	}
	wantClaim(t, p, "", "c2", at(49), "")
	s = wantState(t, p, "2001", at(50), acd.Available, at(50))
	if !s.ReadyAt.IsZero() {
		t.Fatalf("available with ready at %s", s.ReadyAt)
	}
	wantClaim(t, p, "", "c2", at(50), "2001")

	// Wrap-up agents are ordered by when their wrap-up ended.
	register(t, p, "2002", at(60))
	release(t, p, "2001", "c2", at(70), at(65))
	wantClaim(t, p, "", "c3", at(80), "2002")
	release(t, p, "2002", "c3", at(85), at(81))
	wantClaim(t, p, "", "c4", at(90), "2001") // available since 70, 2002 since 85
	wantClaim(t, p, "", "c5", at(91), "2002")

	// Choosing Available ends the wrap-up now.
	release(t, p, "2001", "c4", at(200), at(100))
	setState(t, p, "2001", acd.Available, at(101))
	wantState(t, p, "2001", at(102), acd.Available, at(101))
	wantClaim(t, p, "", "c6", at(103), "2001")

	// A readyAt not after now goes straight to Available.
	release(t, p, "2001", "c6", at(110), at(110))
	wantState(t, p, "2001", at(110), acd.Available, at(110))
}

func testSetState(t *testing.T, newPresence NewPresence) {
	p := newPresence(t, acd.LongestIdle)
	ctx := context.Background()
	register(t, p, "2001", at(0))
	for _, s := range []acd.State{acd.OnCall, acd.WrapUp, "lunch"} {
		if err := p.SetState(ctx, "2001", s, at(1)); !errors.Is(err, acd.ErrBadState) {
			t.Errorf("SetState %q: %v, want ErrBadState", s, err)
		}
	}
	wantState(t, p, "2001", at(1), acd.Available, at(0))

	// Choosing the state one is in changes nothing, not even the time.
	setState(t, p, "2001", acd.Available, at(2))
	wantState(t, p, "2001", at(2), acd.Available, at(0))

	setState(t, p, "2001", acd.Break, at(3))
	wantState(t, p, "2001", at(3), acd.Break, at(3))
	wantClaim(t, p, "", "c1", at(4), "")
	setState(t, p, "2001", acd.Available, at(5))
	wantState(t, p, "2001", at(5), acd.Available, at(5))
	wantClaim(t, p, "", "c1", at(6), "2001")
	release(t, p, "2001", "c1", at(7), at(7))

	setState(t, p, "2001", acd.LoggedOut, at(10))
	wantState(t, p, "2001", at(10), acd.LoggedOut, at(10))
	wantClaim(t, p, "", "c2", at(11), "")
	// The softphone's refresh keeps the agent logged out ...
	register(t, p, "2001", at(12))
	wantState(t, p, "2001", at(12), acd.LoggedOut, at(10))
	wantClaim(t, p, "", "c2", at(13), "")
	// ... until the agent chooses Available.
	setState(t, p, "2001", acd.Available, at(14))
	wantState(t, p, "2001", at(14), acd.Available, at(14))

	// Choosing Break or LoggedOut in wrap-up takes effect now.
	wantClaim(t, p, "", "c3", at(20), "2001")
	release(t, p, "2001", "c3", at(60), at(21))
	setState(t, p, "2001", acd.Break, at(22))
	wantState(t, p, "2001", at(61), acd.Break, at(22))
	wantClaim(t, p, "", "c4", at(62), "")

	// Without a registration nobody can be reached: still logged out.
	if err := p.Unregister(ctx, "2001", at(70)); err != nil {
		t.Fatal(err)
	}
	setState(t, p, "2001", acd.Available, at(71))
	wantState(t, p, "2001", at(71), acd.LoggedOut, at(70))
	wantClaim(t, p, "", "c5", at(72), "")
}

func testSetStateOnCall(t *testing.T, newPresence NewPresence) {
	for _, choice := range []acd.State{acd.Break, acd.LoggedOut} {
		t.Run(string(choice), func(t *testing.T) {
			p := newPresence(t, acd.LongestIdle)
			register(t, p, "2001", at(0))
			register(t, p, "2002", at(1))
			wantClaim(t, p, "", "c1", at(10), "2001")
			setState(t, p, "2001", choice, at(11))
			s := wantState(t, p, "2001", at(12), acd.OnCall, at(10))
			if s.CallID != "c1" {
				t.Fatalf("call %q", s.CallID)
			}
			// The choice waits for Release and skips the wrap-up.
			release(t, p, "2001", "c1", at(60), at(20))
			wantState(t, p, "2001", at(21), choice, at(20))
			wantClaim(t, p, "", "c2", at(70), "2002")
			wantClaim(t, p, "", "c3", at(71), "")

			// Choosing Available again on the call cancels the choice.
			setState(t, p, "2001", acd.Available, at(80))
			wantClaim(t, p, "", "c4", at(81), "2001")
			setState(t, p, "2001", choice, at(82))
			setState(t, p, "2001", acd.Available, at(83))
			release(t, p, "2001", "c4", at(95), at(90))
			wantState(t, p, "2001", at(91), acd.WrapUp, at(90))
			wantState(t, p, "2001", at(95), acd.Available, at(95))
		})
	}
}

func testRelease(t *testing.T, newPresence NewPresence) {
	p := newPresence(t, acd.LongestIdle)
	ctx := context.Background()
	register(t, p, "2001", at(0))
	if err := p.Release(ctx, "2001", "c1", at(1), at(1)); !errors.Is(err, acd.ErrNotOnCall) {
		t.Fatalf("release while available: %v, want ErrNotOnCall", err)
	}
	wantClaim(t, p, "", "c1", at(10), "2001")
	if err := p.Release(ctx, "2001", "c0", at(11), at(11)); !errors.Is(err, acd.ErrNotOnCall) {
		t.Fatalf("release of another call: %v, want ErrNotOnCall", err)
	}
	wantState(t, p, "2001", at(11), acd.OnCall, at(10))
	release(t, p, "2001", "c1", at(30), at(12))
	if err := p.Release(ctx, "2001", "c1", at(40), at(13)); !errors.Is(err, acd.ErrNotOnCall) {
		t.Fatalf("second release: %v, want ErrNotOnCall", err)
	}
	// The second Release changed nothing.
	s := wantState(t, p, "2001", at(14), acd.WrapUp, at(12))
	if !s.ReadyAt.Equal(at(30)) {
		t.Fatalf("ready at %s after a second release, want %s", s.ReadyAt, at(30))
	}
}

// testHold: a call's hold on an agent lapses unless renewed (the instance
// handling the call died), freeing the agent at the lapse for the next
// Claim, without wrap-up and with any state chosen meanwhile.
func testHold(t *testing.T, newPresence NewPresence) {
	p := newPresence(t, acd.LongestIdle)
	ctx := context.Background()
	register(t, p, "2001", at(0))
	register(t, p, "2002", at(1))
	register(t, p, "2003", at(2))
	claimHeld := func(call string, until, now time.Time, want string) {
		t.Helper()
		b, ok, err := p.Claim(ctx, "", call, until, now)
		if err != nil || !ok || b.Agent != want {
			t.Fatalf("claim %s: %q %v %v, want %s", call, b.Agent, ok, err, want)
		}
	}
	claimHeld("c1", at(30), at(10), "2001")
	if s := wantState(t, p, "2001", at(11), acd.OnCall, at(10)); s.CallID != "c1" || !s.HoldUntil.Equal(at(30)) {
		t.Fatalf("on c1: %+v, want held until %s", s, at(30).Format(time.TimeOnly))
	}
	if err := p.Hold(ctx, "2001", "c1", at(60), at(20)); err != nil {
		t.Fatalf("renew: %v", err)
	}
	if err := p.Hold(ctx, "2001", "c0", at(90), at(21)); !errors.Is(err, acd.ErrNotOnCall) {
		t.Fatalf("hold of another call: %v, want ErrNotOnCall", err)
	}
	if err := p.Hold(ctx, "2002", "c1", at(90), at(21)); !errors.Is(err, acd.ErrNotOnCall) {
		t.Fatalf("hold of an agent not on a call: %v, want ErrNotOnCall", err)
	}
	if err := p.Hold(ctx, "9999", "c1", at(90), at(21)); !errors.Is(err, acd.ErrUnknownAgent) {
		t.Fatalf("hold of an unknown agent: %v, want ErrUnknownAgent", err)
	}
	wantState(t, p, "2001", at(59), acd.OnCall, at(10))
	// 2002 is on a call with no hold: it never lapses.
	wantClaim(t, p, "", "c2", at(40), "2002")

	// Nobody renews c1: at 60 s 2001 is free, available since the lapse,
	// and the longest idle (2003 has been available since 2 s: it goes
	// first, then 2001).
	wantState(t, p, "2001", at(61), acd.Available, at(60))
	wantClaim(t, p, "", "c3", at(62), "2003")
	wantClaim(t, p, "", "c4", at(63), "2001")
	wantClaim(t, p, "", "c5", at(64), "")
	// c1's release arriving late (its BYE at a restarted instance) is harmless.
	if err := p.Release(ctx, "2001", "c1", at(90), at(65)); !errors.Is(err, acd.ErrNotOnCall) {
		t.Fatalf("late release of a lapsed call: %v, want ErrNotOnCall", err)
	}
	if s := wantState(t, p, "2002", at(3000), acd.OnCall, at(40)); !s.HoldUntil.IsZero() {
		t.Fatalf("a call claimed without a hold lapses at %s", s.HoldUntil)
	}

	// A state chosen on the call applies at the lapse.
	release(t, p, "2003", "c3", at(70), at(70))
	claimHeld("c6", at(100), at(71), "2003")
	setState(t, p, "2003", acd.Break, at(72))
	wantState(t, p, "2003", at(101), acd.Break, at(100))
	wantClaim(t, p, "", "c7", at(102), "")
}

func testUnregister(t *testing.T, newPresence NewPresence) {
	p := newPresence(t, acd.LongestIdle)
	ctx := context.Background()
	register(t, p, "2001", at(0))
	register(t, p, "2002", at(1))
	if err := p.Unregister(ctx, "2001", at(5)); err != nil {
		t.Fatal(err)
	}
	s := wantState(t, p, "2001", at(6), acd.LoggedOut, at(5))
	if s.Binding != nil {
		t.Fatalf("binding %+v after Unregister", s.Binding)
	}
	wantClaim(t, p, "", "c1", at(7), "2002")
	wantClaim(t, p, "", "c2", at(8), "")
	register(t, p, "2001", at(9))
	wantState(t, p, "2001", at(9), acd.Available, at(9))

	// On a call: the call is kept until Release, then logged out.
	if err := p.Unregister(ctx, "2002", at(10)); err != nil {
		t.Fatal(err)
	}
	s = wantState(t, p, "2002", at(11), acd.OnCall, at(7))
	if s.CallID != "c1" || s.Binding != nil {
		t.Fatalf("on a call after Unregister: %+v", s)
	}
	release(t, p, "2002", "c1", at(40), at(12))
	wantState(t, p, "2002", at(13), acd.LoggedOut, at(12))
	wantClaim(t, p, "", "c3", at(14), "2001")
	wantClaim(t, p, "", "c4", at(15), "")

	// Unregistering twice is harmless.
	if err := p.Unregister(ctx, "2002", at(16)); err != nil {
		t.Fatal(err)
	}
	wantState(t, p, "2002", at(17), acd.LoggedOut, at(12))
}

func testAgents(t *testing.T, newPresence NewPresence) {
	p := newPresence(t, acd.LongestIdle)
	ctx := context.Background()
	if list, err := p.Agents(ctx, at(0)); err != nil || len(list) != 0 {
		t.Fatalf("agents of an empty presence: %v, %v", list, err)
	}
	register(t, p, "2003", at(0), "12345")
	register(t, p, "2001", at(1))
	register(t, p, "2002", at(2))
	register(t, p, "10001", at(3))
	wantClaim(t, p, "12345", "c1", at(10), "2003")
	setState(t, p, "2002", acd.Break, at(11))
	list, err := p.Agents(ctx, at(12))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range list {
		got = append(got, fmt.Sprintf("%s %s %s", s.Agent, s.State, s.CallID))
		if want := status(t, p, s.Agent, at(12)); !sameStatus(s, want) {
			t.Errorf("Agents gave %+v, Status %+v", s, want)
		}
	}
	want := []string{"10001 available ", "2001 available ", "2002 break ", "2003 on_call c1"}
	if !slices.Equal(got, want) {
		t.Fatalf("agents %q, want %q", got, want)
	}
}

func sameStatus(a, b acd.Status) bool {
	if a.Agent != b.Agent || a.State != b.State || !slices.Equal(a.Skills, b.Skills) || !a.Since.Equal(b.Since) ||
		!a.ReadyAt.Equal(b.ReadyAt) || a.CallID != b.CallID || (a.Binding == nil) != (b.Binding == nil) {
		return false
	}
	return a.Binding == nil || (a.Binding.Contact == b.Binding.Contact && a.Binding.Expires.Equal(b.Binding.Expires))
}

// Many callers at once never give one agent two calls, claiming one call
// at a time or batches of three.
func testConcurrentClaims(t *testing.T, newPresence NewPresence) {
	for _, batch := range []int{1, 3} {
		t.Run(fmt.Sprint(batch), func(t *testing.T) { concurrentClaims(t, newPresence, batch) })
	}
}

func concurrentClaims(t *testing.T, newPresence NewPresence, batch int) {
	const agents, workers, rounds = 10, 30, 10
	p := newPresence(t, acd.LongestIdle)
	ctx := context.Background()
	for i := range agents {
		register(t, p, fmt.Sprint(2001+i), at(i))
	}
	now := at(100)
	var (
		mu      sync.Mutex
		busy    = map[string]string{} // agent -> call
		offered int
		wg      sync.WaitGroup
	)
	claimAll := func(calls []string) ([]acd.Binding, error) {
		if len(calls) > 1 {
			return p.ClaimMany(ctx, "", calls, time.Time{}, now)
		}
		b, ok, err := p.Claim(ctx, "", calls[0], time.Time{}, now)
		if !ok {
			return nil, err
		}
		return []acd.Binding{b}, err
	}
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				calls := make([]string, batch)
				for j := range calls {
					calls[j] = fmt.Sprintf("call-%d-%d-%d", w, i, j)
				}
				bs, err := claimAll(calls)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for j, b := range bs {
					if other, dup := busy[b.Agent]; dup {
						t.Errorf("%s given %s while on %s", b.Agent, calls[j], other)
					}
					busy[b.Agent] = calls[j]
				}
				offered += len(bs)
				mu.Unlock()

				time.Sleep(time.Millisecond)

				mu.Lock()
				for _, b := range bs {
					delete(busy, b.Agent)
				}
				mu.Unlock()
				for j, b := range bs {
					if err := p.Release(ctx, b.Agent, calls[j], now, now); err != nil {
						t.Errorf("release %s %s: %v", b.Agent, calls[j], err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if offered == 0 {
		t.Fatal("no claim succeeded")
	}
	list, err := p.Agents(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.State != acd.Available {
			t.Errorf("%s is %s after every call ended", s.Agent, s.State)
		}
	}
	t.Logf("%d of %d calls offered an agent", offered, workers*rounds*batch)
}

// claimMany returns the agents given calls, in order.
func claimMany(t *testing.T, p acd.Presence, skill string, now time.Time, calls ...string) []string {
	t.Helper()
	bs, err := p.ClaimMany(context.Background(), skill, calls, time.Time{}, now)
	if err != nil {
		t.Fatalf("claim %q for %v: %v", skill, calls, err)
	}
	if len(bs) > len(calls) {
		t.Fatalf("claim %q for %d calls gave %d agents", skill, len(calls), len(bs))
	}
	var got []string
	for i, b := range bs {
		if b.Agent == "" || b.Contact == "" || b.Source == "" || b.Transport == "" {
			t.Fatalf("claim %q: incomplete binding %+v", skill, b)
		}
		if st := status(t, p, b.Agent, now); st.State != acd.OnCall || st.CallID != calls[i] {
			t.Fatalf("%s claimed for %s is %s on %q", b.Agent, calls[i], st.State, st.CallID)
		}
		got = append(got, b.Agent)
	}
	return got
}

func wantClaimMany(t *testing.T, p acd.Presence, skill string, now time.Time, calls []string, want ...string) {
	t.Helper()
	if got := claimMany(t, p, skill, now, calls...); !slices.Equal(got, want) {
		t.Fatalf("claim %q for %v at %s gave %v, want %v", skill, calls, now.Format(time.TimeOnly), got, want)
	}
}

// Several calls claim in one go, in order, in the strategy's order of
// agents, until nobody is free; the skill still decides who is a candidate.
func testClaimMany(t *testing.T, newPresence NewPresence) {
	p := newPresence(t, acd.LongestIdle)
	register(t, p, "2003", at(0), "12345")
	register(t, p, "2001", at(1))
	register(t, p, "2002", at(2), "12345")
	register(t, p, "2004", at(3), "12319")
	wantClaimMany(t, p, "12345", at(10), []string{"c1", "c2"}, "2003", "2001")
	wantClaimMany(t, p, "12345", at(11), []string{"c3", "c4", "c5"}, "2002")
	wantClaimMany(t, p, "12345", at(12), []string{"c6"})
	wantClaimMany(t, p, "12345", at(13), nil)
	release(t, p, "2001", "c2", at(14), at(14))
	wantClaimMany(t, p, "", at(15), []string{"c7", "c8", "c9"}, "2004", "2001")
	wantState(t, p, "2002", at(16), acd.OnCall, at(11))
}
