package acd

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Restorer is a Presence kept where it can be lost all at once: a Redis
// restarted without persistence, or failed over to an empty replica.
type Restorer interface {
	Presence
	// Restore puts st back as it was, unless the store knows the agent
	// already (then it changes nothing); restored reports which.
	Restore(ctx context.Context, st Status, now time.Time) (restored bool, err error)
}

// Keeper is a Presence that survives the loss of its store. Without it,
// a Redis that comes back empty forgets every agent until each phone
// registers again, which softphones do only at their Expires (up to ten
// minutes, as Yihao's registrar grants by default): meanwhile the hotline
// would answer "no agent" with its agents at their desks.
//
// Each round, every instance reads all agents and remembers them. An
// agent that was registered in the last round and is now missing
// altogether was lost (agents are never deleted otherwise), so the
// keeper puts them back as last seen: state, call, skills and binding.
// Instances race harmlessly: Restore does nothing to a known agent.
//
// A Release that fails because the store is away is retried each round
// until it takes, so an agent whose call ended during the outage is not
// kept on it until the call's hold lapses.
type Keeper struct {
	Restorer
	log *slog.Logger

	mu       sync.Mutex
	last     map[string]Status // registered agents as the last good round read them
	releases map[release]time.Time
}

// release is a Release to retry; the map's value is its readyAt.
type release struct{ agent, callID string }

// maxReleases bounds the releases kept for retrying.
const maxReleases = 10000

// NewKeeper keeps p; Run (or Round) does the keeping.
func NewKeeper(p Restorer, log *slog.Logger) *Keeper {
	return &Keeper{Restorer: p, log: log, releases: map[release]time.Time{}}
}

// Release ends the agent's call as Presence.Release does; when the store
// fails, it is also kept to retry on the next rounds.
func (k *Keeper) Release(ctx context.Context, agent, callID string, readyAt, now time.Time) error {
	err := k.Restorer.Release(ctx, agent, callID, readyAt, now)
	if err != nil && !errors.Is(err, ErrNotOnCall) && !errors.Is(err, ErrUnknownAgent) {
		k.mu.Lock()
		if len(k.releases) < maxReleases {
			k.releases[release{agent, callID}] = readyAt
		}
		k.mu.Unlock()
	}
	return err
}

// Round reads every agent, puts back the registered ones the store lost
// since the last round, and retries the releases that failed. It returns
// how many agents it put back; with the store away it returns the error
// and keeps what it remembered for the next round.
func (k *Keeper) Round(ctx context.Context, now time.Time) (restored int, err error) {
	all, err := k.Agents(ctx, now)
	if err != nil {
		return 0, err
	}
	k.mu.Lock()
	last := k.last
	k.mu.Unlock()
	seen := make(map[string]Status, len(all))
	for _, s := range all {
		seen[s.Agent] = s
	}
	for name, s := range last {
		if _, ok := seen[name]; ok || s.Binding == nil || !s.Binding.Expires.After(now) {
			continue
		}
		ok, err := k.Restore(ctx, s, now)
		if err != nil {
			return restored, err
		}
		if ok {
			restored++
			k.log.Warn("acd: agent restored after the presence store lost it", "agent", name, "state", s.State)
		}
		seen[name] = s
	}
	k.retryReleases(ctx, now)
	kept := make(map[string]Status, len(seen))
	for name, s := range seen {
		if s.Binding != nil {
			kept[name] = s
		}
	}
	k.mu.Lock()
	k.last = kept
	k.mu.Unlock()
	return restored, nil
}

// retryReleases runs the failed releases again, forgetting those that
// took or can no longer take (the agent is not on that call).
func (k *Keeper) retryReleases(ctx context.Context, now time.Time) {
	k.mu.Lock()
	todo := make(map[release]time.Time, len(k.releases))
	for r, at := range k.releases {
		todo[r] = at
	}
	k.mu.Unlock()
	for r, readyAt := range todo {
		err := k.Restorer.Release(ctx, r.agent, r.callID, readyAt, now)
		if err != nil && !errors.Is(err, ErrNotOnCall) && !errors.Is(err, ErrUnknownAgent) {
			return // the store is away again: the next round retries
		}
		if err == nil {
			k.log.Info("acd: release retried", "agent", r.agent, "call_id", r.callID)
		}
		k.mu.Lock()
		delete(k.releases, r)
		k.mu.Unlock()
	}
}

// Run calls Round every interval until ctx ends.
func (k *Keeper) Run(ctx context.Context, every time.Duration, now func() time.Time) {
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		if _, err := k.Round(ctx, now()); err != nil && ctx.Err() == nil {
			if !failing {
				k.log.Warn("acd: keeper cannot read presence; retrying", "err", err)
			}
			failing = true
		} else {
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
