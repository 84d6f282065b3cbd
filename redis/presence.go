package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yihao-city/yihao/channels/hotline/acd"
)

// Presence is acd.Presence shared by every instance through Redis: the
// in-process twin is acd.Memory. Every change is one Lua script, so two
// instances never give one agent two calls.
//
// Keys, all under the prefix:
//
//	agent:<ext>        hash: state, since, ready_at, call, hold, pending,
//	                   skills (JSON), contact, source, transport, expires
//	                   ("" when not registered), avail_at, offered_at
//	agents             zset of every known agent (score 0, so by extension)
//	avail              zset of available agents scored by the strategy's key
//	avail:skill:<s>    the same, agents with skill s
//	avail:any          the same, agents with no skills (they take every line)
//	wrapup             zset of agents in wrap-up by ready_at
//	holds              zset of agents on a held call by when the hold lapses
//
// Times are Unix microseconds, always passed in (never Redis TIME).
type Presence struct {
	c      goredis.Cmdable
	prefix string
	order  string // hash field scoring the avail sets: avail_at or offered_at

	register, unregister, setState, claim, hold, release, restore *goredis.Script
}

// claimBudget bounds the work of one claim script: wrap-ups moved, and
// for each call the unusable candidates skipped. When it runs out,
// ClaimMany runs the script again for the calls left; each run makes
// progress.
const claimBudget = 32

// NewPresence keeps presence under prefix, ordering agents by s (the zero
// Strategy, or any unknown one, is LongestIdle). Instances sharing prefix
// must use the same Strategy.
func NewPresence(c goredis.Cmdable, prefix string, s acd.Strategy) *Presence {
	order := "avail_at"
	if s == acd.RoundRobin {
		order = "offered_at"
	}
	return &Presence{c: c, prefix: prefix, order: order,
		register:   goredis.NewScript(presenceLib + registerScript),
		unregister: goredis.NewScript(presenceLib + unregisterScript),
		setState:   goredis.NewScript(presenceLib + setStateScript),
		claim:      goredis.NewScript(presenceLib + claimScript),
		hold:       goredis.NewScript(presenceLib + holdScript),
		release:    goredis.NewScript(presenceLib + releaseScript),
		restore:    goredis.NewScript(presenceLib + restoreScript),
	}
}

var _ acd.Restorer = (*Presence)(nil)

// presenceLib is the start of every script: ARGV[1] is the prefix, ARGV[2]
// the order field, ARGV[3] now; the script's own arguments follow.
const presenceLib = `
local P, ORDER, NOW = ARGV[1], ARGV[2], ARGV[3]
local NOWN = tonumber(NOW)

local function akey(name) return P .. 'agent:' .. name end

local function given(v) return v and v ~= '' end

-- the avail sets name belongs in while available
local function sets(name)
  local skills = cjson.decode(redis.call('HGET', akey(name), 'skills') or '[]')
  local out = {P .. 'avail'}
  if #skills == 0 then
    out[2] = P .. 'avail:any'
  else
    for _, s in ipairs(skills) do out[#out + 1] = P .. 'avail:skill:' .. s end
  end
  return out
end

local function index(name)
  local score = redis.call('HGET', akey(name), ORDER)
  if not given(score) then score = '0' end
  for _, k in ipairs(sets(name)) do redis.call('ZADD', k, score, name) end
end

local function unindex(name)
  for _, k in ipairs(sets(name)) do redis.call('ZREM', k, name) end
end

-- become moves name to state s at time at (a string of microseconds).
local function become(name, s, at)
  local k = akey(name)
  local from = redis.call('HGET', k, 'state')
  if from == 'available' then unindex(name) end
  if from == 'wrap_up' then redis.call('ZREM', P .. 'wrapup', name) end
  if from == 'on_call' then redis.call('ZREM', P .. 'holds', name) end
  redis.call('HSET', k, 'state', s, 'since', at, 'ready_at', '', 'call', '', 'hold', '', 'pending', '')
  if s == 'available' then
    redis.call('HSET', k, 'avail_at', at)
    index(name)
  end
end

-- settle applies what time did: a wrap-up that is over ends at ready_at;
-- a call whose hold lapsed (its instance died) frees the agent at the
-- lapse; a lapsed registration is dropped and, unless on a call, logs the
-- agent out (at the later of expiry and the last change).
local function settle(name)
  local k = akey(name)
  local st, ready = unpack(redis.call('HMGET', k, 'state', 'ready_at'))
  if st == 'wrap_up' and tonumber(ready) <= NOWN then
    become(name, 'available', ready)
    st = 'available'
  end
  if st == 'on_call' then
    local hold, pending, ex = unpack(redis.call('HMGET', k, 'hold', 'pending', 'expires'))
    if given(hold) and tonumber(hold) <= NOWN then
      if not given(ex) or tonumber(ex) <= tonumber(hold) then
        st = 'logged_out'
      elseif given(pending) then
        st = pending
      else
        st = 'available'
      end
      become(name, st, hold)
    end
  end
  local exp, since = unpack(redis.call('HMGET', k, 'expires', 'since'))
  if given(exp) and tonumber(exp) <= NOWN then
    redis.call('HSET', k, 'expires', '', 'contact', '', 'source', '', 'transport', '')
    if st ~= 'on_call' and st ~= 'logged_out' then
      local at = exp
      if tonumber(since) > tonumber(exp) then at = since end
      become(name, 'logged_out', at)
    end
  end
end
`

// ARGV[4..9]: agent, contact, source, transport, expires, skills (JSON).
const registerScript = `
local name = ARGV[4]
local k = akey(name)
if redis.call('EXISTS', k) == 0 then
  redis.call('HSET', k, 'state', 'logged_out', 'since', NOW, 'skills', '[]', 'expires', '',
    'avail_at', '0', 'offered_at', '0')
  redis.call('ZADD', P .. 'agents', 0, name)
end
settle(name)
local st, exp = unpack(redis.call('HMGET', k, 'state', 'expires'))
if st == 'available' then unindex(name) end
redis.call('HSET', k, 'contact', ARGV[5], 'source', ARGV[6], 'transport', ARGV[7],
  'expires', ARGV[8], 'skills', ARGV[9])
if st == 'available' then index(name) end
if st == 'logged_out' and not given(exp) then become(name, 'available', NOW) end
settle(name)
return 'ok'
`

// ARGV[4]: agent.
const unregisterScript = `
local name = ARGV[4]
local k = akey(name)
if redis.call('EXISTS', k) == 0 then return 'unknown' end
settle(name)
redis.call('HSET', k, 'expires', '', 'contact', '', 'source', '', 'transport', '')
local st = redis.call('HGET', k, 'state')
if st ~= 'on_call' and st ~= 'logged_out' then become(name, 'logged_out', NOW) end
return 'ok'
`

// ARGV[4..5]: agent, state (available, break or logged_out).
const setStateScript = `
local name, s = ARGV[4], ARGV[5]
local k = akey(name)
if redis.call('EXISTS', k) == 0 then return 'unknown' end
settle(name)
local st, exp = unpack(redis.call('HMGET', k, 'state', 'expires'))
if st == 'on_call' then
  if s == 'available' then s = '' end
  redis.call('HSET', k, 'pending', s)
elseif st ~= s and given(exp) then
  become(name, s, NOW)
end
return 'ok'
`

// ARGV[4..6]: skill, budget, hold ("" for none); ARGV[7..]: the call ids,
// claimed in order. Returns {status, then contact, source, transport,
// expires, agent for each call claimed}: status 1 when every call was
// claimed, 0 when nobody more is free, 2 when one call's budget ran out
// first (run again for the calls left).
const claimScript = `
local skill, budget, hold = ARGV[4], tonumber(ARGV[5]), ARGV[6]
-- settle the agents whose wrap-up ended or whose hold lapsed by now
for set, st in pairs({wrapup = 'wrap_up', holds = 'on_call'}) do
  for _, name in ipairs(redis.call('ZRANGEBYSCORE', P .. set, '-inf', NOW, 'LIMIT', 0, budget)) do
    settle(name)
    if redis.call('HGET', akey(name), 'state') ~= st then
      redis.call('ZREM', P .. set, name)
    end
  end
end
local keys
if skill == '' then
  keys = {P .. 'avail'}
else
  keys = {P .. 'avail:skill:' .. skill, P .. 'avail:any'}
end
local out = {1}
for i = 7, #ARGV do
  local call, got = ARGV[i], false
  for _ = 1, budget do
    local best, score
    for _, key in ipairs(keys) do
      local r = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      if r[1] then
        local sc = tonumber(r[2])
        if not best or sc < score or (sc == score and r[1] < best) then best, score = r[1], sc end
      end
    end
    if not best then
      out[1] = 0
      return out
    end
    settle(best)
    local k = akey(best)
    if redis.call('HGET', k, 'state') == 'available' then
      become(best, 'on_call', NOW)
      redis.call('HSET', k, 'call', call, 'hold', hold, 'offered_at', NOW)
      if given(hold) then redis.call('ZADD', P .. 'holds', hold, best) end
      local b = redis.call('HMGET', k, 'contact', 'source', 'transport', 'expires')
      for _, v in ipairs({b[1], b[2], b[3], b[4], best}) do out[#out + 1] = v end
      got = true
      break
    end
    -- logged out by settle, or not available for another reason: not a candidate
    for _, key in ipairs(keys) do redis.call('ZREM', key, best) end
  end
  if not got then
    out[1] = 2
    return out
  end
end
return out
`

// ARGV[4..6]: agent, call id, hold until.
const holdScript = `
local name = ARGV[4]
local k = akey(name)
if redis.call('EXISTS', k) == 0 then return 'unknown' end
settle(name)
local st, call = unpack(redis.call('HMGET', k, 'state', 'call'))
if st ~= 'on_call' or call ~= ARGV[5] then return 'not_on_call' end
redis.call('HSET', k, 'hold', ARGV[6])
redis.call('ZADD', P .. 'holds', ARGV[6], name)
return 'ok'
`

// ARGV[4..6]: agent, call id, ready at.
const releaseScript = `
local name = ARGV[4]
local k = akey(name)
if redis.call('EXISTS', k) == 0 then return 'unknown' end
settle(name)
local st, call, pending, exp = unpack(redis.call('HMGET', k, 'state', 'call', 'pending', 'expires'))
if st ~= 'on_call' or call ~= ARGV[5] then return 'not_on_call' end
if not given(exp) then
  become(name, 'logged_out', NOW)
elseif given(pending) then
  become(name, pending, NOW)
elseif tonumber(ARGV[6]) > NOWN then
  become(name, 'wrap_up', NOW)
  redis.call('HSET', k, 'ready_at', ARGV[6])
  redis.call('ZADD', P .. 'wrapup', ARGV[6], name)
else
  become(name, 'available', NOW)
end
return 'ok'
`

// ARGV[4..14]: agent, state, since, ready at, call, hold, skills (JSON),
// contact, source, transport, expires. An agent put back is indexed as its
// state wants; both strategy keys start at since.
const restoreScript = `
local name, st = ARGV[4], ARGV[5]
local k = akey(name)
if redis.call('EXISTS', k) == 1 then return 'known' end
redis.call('HSET', k, 'state', st, 'since', ARGV[6], 'ready_at', ARGV[7], 'call', ARGV[8], 'hold', ARGV[9],
  'pending', '', 'skills', ARGV[10], 'contact', ARGV[11], 'source', ARGV[12], 'transport', ARGV[13],
  'expires', ARGV[14], 'avail_at', ARGV[6], 'offered_at', ARGV[6])
redis.call('ZADD', P .. 'agents', 0, name)
if st == 'available' then index(name) end
if st == 'wrap_up' then redis.call('ZADD', P .. 'wrapup', ARGV[7], name) end
if st == 'on_call' and given(ARGV[9]) then redis.call('ZADD', P .. 'holds', ARGV[9], name) end
settle(name)
return 'ok'
`

func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

// optMicros is micros, or "" for the zero time.
func optMicros(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return micros(t)
}

// run runs script with the common arguments before args and maps the
// script's answers "unknown" and "not_on_call" to acd's errors.
func (p *Presence) run(ctx context.Context, op string, script *goredis.Script, now time.Time, args ...any) (any, error) {
	res, err := script.Run(ctx, p.c, nil, append([]any{p.prefix, p.order, micros(now)}, args...)...).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: presence %s: %w", op, err)
	}
	switch res {
	case "unknown":
		return nil, acd.ErrUnknownAgent
	case "not_on_call":
		return nil, acd.ErrNotOnCall
	}
	return res, nil
}

// Register records or refreshes an agent's binding with its skills. As in
// acd.Memory, a new registration makes a logged-out agent available; a
// refresh keeps the state.
func (p *Presence) Register(ctx context.Context, b acd.Binding, skills []string, now time.Time) error {
	if b.Agent == "" {
		return errors.New("redis: presence register: binding names no agent")
	}
	if skills == nil {
		skills = []string{}
	}
	js, err := json.Marshal(skills)
	if err != nil {
		return fmt.Errorf("redis: presence register: %w", err)
	}
	_, err = p.run(ctx, "register", p.register, now, b.Agent, b.Contact, b.Source, b.Transport, micros(b.Expires), string(js))
	return err
}

// Unregister removes the binding; the agent is logged out, or, on a call,
// keeps it until Release.
func (p *Presence) Unregister(ctx context.Context, agent string, now time.Time) error {
	_, err := p.run(ctx, "unregister", p.unregister, now, agent)
	return err
}

// SetState applies the agent's own choice of Available, Break or LoggedOut.
func (p *Presence) SetState(ctx context.Context, agent string, s acd.State, now time.Time) error {
	if s != acd.Available && s != acd.Break && s != acd.LoggedOut {
		return acd.ErrBadState
	}
	_, err := p.run(ctx, "set state", p.setState, now, agent, string(s))
	return err
}

// Claim puts the first available agent with skill, in Strategy order, on
// callID.
func (p *Presence) Claim(ctx context.Context, skill, callID string, holdUntil, now time.Time) (acd.Binding, bool, error) {
	bs, err := p.ClaimMany(ctx, skill, []string{callID}, holdUntil, now)
	if err != nil || len(bs) == 0 {
		return acd.Binding{}, false, err
	}
	return bs[0], true, nil
}

// ClaimMany puts an available agent on each call in order, one script for
// them all unless stale agents spend a run's budget.
func (p *Presence) ClaimMany(ctx context.Context, skill string, callIDs []string, holdUntil, now time.Time) ([]acd.Binding, error) {
	var out []acd.Binding
	for range 100 {
		if len(out) == len(callIDs) {
			return out, nil
		}
		args := make([]any, 0, 3+len(callIDs)-len(out))
		args = append(args, skill, claimBudget, optMicros(holdUntil))
		for _, id := range callIDs[len(out):] {
			args = append(args, id)
		}
		res, err := p.run(ctx, "claim", p.claim, now, args...)
		if err != nil {
			return out, err
		}
		r, ok := res.([]any)
		if !ok || len(r) == 0 || (len(r)-1)%5 != 0 {
			return out, fmt.Errorf("redis: presence claim: unexpected answer %v", res)
		}
		for i := 1; i < len(r); i += 5 {
			var f [5]string
			for j := range f {
				f[j], _ = r[i+j].(string)
			}
			exp, err := strconv.ParseInt(f[3], 10, 64)
			if err != nil {
				return out, fmt.Errorf("redis: presence claim: expires %q: %w", f[3], err)
			}
			out = append(out, acd.Binding{Agent: f[4], Contact: f[0], Source: f[1], Transport: f[2], Expires: time.UnixMicro(exp)})
		}
		if r[0] != int64(2) {
			return out, nil
		}
	}
	return out, errors.New("redis: presence claim: no progress through stale agents")
}

// Hold renews the call's hold on the agent until until.
func (p *Presence) Hold(ctx context.Context, agent, callID string, until, now time.Time) error {
	_, err := p.run(ctx, "hold", p.hold, now, agent, callID, micros(until))
	return err
}

// Release ends the agent's call callID.
func (p *Presence) Release(ctx context.Context, agent, callID string, readyAt, now time.Time) error {
	_, err := p.run(ctx, "release", p.release, now, agent, callID, micros(readyAt))
	return err
}

// Restore puts back an agent this Redis lost (it restarted empty), as st
// says, unless the agent is known. Only a registered agent (st.Binding)
// can be put back.
func (p *Presence) Restore(ctx context.Context, st acd.Status, now time.Time) (bool, error) {
	b := st.Binding
	if b == nil || st.Agent == "" {
		return false, errors.New("redis: presence restore: only a registered agent can be put back")
	}
	switch st.State {
	case acd.Available, acd.OnCall, acd.WrapUp, acd.Break, acd.LoggedOut:
	default:
		return false, fmt.Errorf("redis: presence restore: agent %s: unknown state %q", st.Agent, st.State)
	}
	skills := st.Skills
	if skills == nil {
		skills = []string{}
	}
	js, err := json.Marshal(skills)
	if err != nil {
		return false, fmt.Errorf("redis: presence restore: %w", err)
	}
	ready, call, hold := "", "", ""
	if st.State == acd.WrapUp {
		ready = micros(st.ReadyAt)
	}
	if st.State == acd.OnCall {
		call, hold = st.CallID, optMicros(st.HoldUntil)
	}
	res, err := p.run(ctx, "restore", p.restore, now, st.Agent, string(st.State), micros(st.Since), ready, call, hold,
		string(js), b.Contact, b.Source, b.Transport, micros(b.Expires))
	return res == "ok", err
}

// Status of one agent as of now.
func (p *Presence) Status(ctx context.Context, agent string, now time.Time) (acd.Status, error) {
	h, err := p.c.HGetAll(ctx, p.prefix+"agent:"+agent).Result()
	if err != nil {
		return acd.Status{}, fmt.Errorf("redis: presence status: %w", err)
	}
	if len(h) == 0 {
		return acd.Status{}, acd.ErrUnknownAgent
	}
	return statusOf(agent, h, now)
}

// Agents lists every known agent by extension as of now.
func (p *Presence) Agents(ctx context.Context, now time.Time) ([]acd.Status, error) {
	names, err := p.c.ZRange(ctx, p.prefix+"agents", 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: presence agents: %w", err)
	}
	cmds := make([]*goredis.MapStringStringCmd, len(names))
	if _, err := p.c.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
		for i, name := range names {
			cmds[i] = pipe.HGetAll(ctx, p.prefix+"agent:"+name)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("redis: presence agents: %w", err)
	}
	out := make([]acd.Status, 0, len(names))
	for i, name := range names {
		s, err := statusOf(name, cmds[i].Val(), now)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// statusOf reads an agent's hash as of now: what the scripts' settle would
// make of it, without writing.
func statusOf(agent string, h map[string]string, now time.Time) (acd.Status, error) {
	num := func(field string) (int64, error) {
		v := h[field]
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("redis: presence: agent %s: %s %q: %w", agent, field, v, err)
		}
		return n, nil
	}
	var since, ready, exp, hold int64
	var err error
	for _, f := range []struct {
		name string
		to   *int64
	}{{"since", &since}, {"ready_at", &ready}, {"expires", &exp}, {"hold", &hold}} {
		if *f.to, err = num(f.name); err != nil {
			return acd.Status{}, err
		}
	}
	s := acd.Status{Agent: agent, State: acd.State(h["state"]), CallID: h["call"]}
	if err := json.Unmarshal([]byte(h["skills"]), &s.Skills); err != nil {
		return acd.Status{}, fmt.Errorf("redis: presence: agent %s: skills: %w", agent, err)
	}
	if len(s.Skills) == 0 {
		s.Skills = nil
	}
	nowUs := now.UnixMicro()
	if s.State == acd.WrapUp && ready <= nowUs {
		s.State, since = acd.Available, ready
	}
	registered := h["expires"] != ""
	if s.State == acd.OnCall && hold != 0 && hold <= nowUs {
		switch {
		case !registered || exp <= hold:
			s.State = acd.LoggedOut
		case h["pending"] != "":
			s.State = acd.State(h["pending"])
		default:
			s.State = acd.Available
		}
		since = hold
	}
	if registered && exp <= nowUs {
		registered = false
		if s.State != acd.OnCall && s.State != acd.LoggedOut {
			s.State, since = acd.LoggedOut, max(since, exp)
		}
	}
	s.Since = time.UnixMicro(since)
	if s.State == acd.WrapUp {
		s.ReadyAt = time.UnixMicro(ready)
	}
	if s.State == acd.OnCall && hold != 0 {
		s.HoldUntil = time.UnixMicro(hold)
	}
	if s.State != acd.OnCall {
		s.CallID = ""
	}
	if registered {
		s.Binding = &acd.Binding{Agent: agent, Contact: h["contact"], Source: h["source"],
			Transport: h["transport"], Expires: time.UnixMicro(exp)}
	}
	return s, nil
}
