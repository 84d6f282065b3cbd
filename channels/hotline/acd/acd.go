// Package acd is the automatic call distribution of the phone door: which
// agents are reachable, in which state, and which one takes the next call.
//
// Presence is the one interface the SIP side uses. Memory keeps it in one
// process; the redis package keeps it in Redis so that several Yihao
// instances share agents and never give one agent two calls. Both pass
// acdtest.Run.
package acd

import (
	"context"
	"errors"
	"time"
)

// State is an agent's state (坐席状态).
type State string

const (
	LoggedOut State = "logged_out" // no live registration, or signed out
	Available State = "available"  // ready for the next call (示闲)
	OnCall    State = "on_call"    // offered or talking on a call
	WrapUp    State = "wrap_up"    // after a call, writing it up (话后处理); available again at ReadyAt
	Break     State = "break"      // away (示忙)
)

// Strategy orders the available agents for the next call.
type Strategy string

const (
	// LongestIdle offers the call to the agent available the longest
	// (ordered by when they last became available). The default.
	LongestIdle Strategy = "longest_idle"
	// RoundRobin offers it to the agent offered a call least recently.
	RoundRobin Strategy = "round_robin"
)

// Binding is where an agent's softphone is reached, as its last REGISTER
// said.
type Binding struct {
	Agent     string    // extension (2001)
	Contact   string    // Contact URI as registered (sip:2001@192.168.1.20:5062)
	Source    string    // host:port the REGISTER came from; requests go here (NAT)
	Transport string    // udp, tcp or tls
	Expires   time.Time // the registration lapses then
}

// Status is what Presence knows about one agent.
type Status struct {
	Agent   string
	State   State
	Skills  []string  // lines (or skill names) the agent takes; empty takes every line
	Since   time.Time // when the agent entered State
	ReadyAt time.Time // WrapUp only: when the agent becomes available
	CallID  string    // OnCall only: the call offered or taken
	// HoldUntil (OnCall only, zero for none) is when the call's hold on
	// the agent lapses unless the instance handling it renews it.
	HoldUntil time.Time
	Binding   *Binding // nil when not registered
}

// Errors of Presence.
var (
	ErrUnknownAgent = errors.New("acd: agent not known to presence")
	ErrNotOnCall    = errors.New("acd: agent is not on this call")
	ErrBadState     = errors.New("acd: agents may set themselves only available, break or logged_out")
)

// Presence holds agents' registrations and states and hands out calls.
// Every method is safe for concurrent use, also across instances sharing
// the same backing store. now is passed in so tests control time.
type Presence interface {
	// Register records or refreshes an agent's binding with its skills.
	// A new registration (no live binding before) makes a logged-out agent
	// available; a refresh keeps whatever state the agent chose, so the
	// phone's periodic re-REGISTER never undoes a sign-out.
	Register(ctx context.Context, b Binding, skills []string, now time.Time) error
	// Unregister removes the binding; the agent is logged out. An agent
	// on a call keeps it until Release (then is logged out).
	Unregister(ctx context.Context, agent string, now time.Time) error
	// SetState is the agent's own choice: Available, Break or LoggedOut.
	// An agent on a call or in wrap-up who chooses Break or LoggedOut gets
	// it when the call is released; choosing Available in wrap-up ends the
	// wrap-up now. ErrUnknownAgent if never registered; ErrBadState for
	// OnCall or WrapUp.
	SetState(ctx context.Context, agent string, s State, now time.Time) error
	// Claim atomically picks one available agent whose registration has
	// not lapsed and who has skill (any agent when skill is ""; an agent
	// with no skills has every skill), in the Presence's Strategy order,
	// and puts them OnCall for callID, held until holdUntil (zero: until
	// Release). ok is false when nobody is free. Agents whose wrap-up is
	// over count as available. An agent whose registration lapsed is
	// logged out on the way.
	Claim(ctx context.Context, skill, callID string, holdUntil, now time.Time) (b Binding, ok bool, err error)
	// ClaimMany is Claim for several calls at once, in order: the i-th
	// binding is for callIDs[i], and fewer bindings than calls means
	// nobody more is free. The waiting line hands agents to the callers
	// at its head with it, one round trip for all of them. With an error,
	// the agents claimed before it are returned too: they are on their
	// calls.
	ClaimMany(ctx context.Context, skill string, callIDs []string, holdUntil, now time.Time) ([]Binding, error)
	// Hold renews the call's hold on the agent until until. The instance
	// handling a call renews it while the call lasts; should that instance
	// die, the hold lapses and the agent is freed as if released then
	// (available, or the state chosen meanwhile; no wrap-up). ErrNotOnCall
	// if the agent is not on callID.
	Hold(ctx context.Context, agent, callID string, until, now time.Time) error
	// Release ends the agent's call callID: WrapUp until readyAt (or
	// straight to Available when readyAt is not after now), unless the
	// agent had chosen Break or LoggedOut meanwhile. ErrNotOnCall if the
	// agent is not on callID (a second Release is harmless: ErrNotOnCall).
	Release(ctx context.Context, agent, callID string, readyAt, now time.Time) error
	// Status of one agent; ErrUnknownAgent if never registered.
	Status(ctx context.Context, agent string, now time.Time) (Status, error)
	// Agents lists every known agent by extension, ascending.
	Agents(ctx context.Context, now time.Time) ([]Status, error)
}
