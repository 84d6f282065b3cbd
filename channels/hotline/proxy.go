package hotline

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/yihao-city/yihao/channels/hotline/acd"
	"github.com/yihao-city/yihao/ticketing"
)

// outcome of offering a call to one agent.
type outcome int

const (
	answered  outcome = iota // the agent took it; the dialog is up
	abandoned                // the caller hung up first
	tryNext                  // this agent did not take it; try another
)

// call is an inbound call while the INVITE is being handled.
type call struct {
	id     string
	line   *Line
	caller string // E.164 or ""
	req    *sip.Request
	tx     sip.ServerTransaction
	// gone is closed when the caller cancels. The transaction's Done comes
	// only when it terminates, which over UDP is Timer I (5 s) after the ACK.
	gone <-chan struct{}
	// earlier is the caller's earlier tickets for the call's pops: the
	// pop relay's alone to read and write.
	earlier callEarlier
}

// onInvite takes a call to a hotline number: logs its arrival, finds an
// agent through the ACD (queueing the caller up to QueueWait), and proxies
// the INVITE to that agent's phone, or answers with the fallback.
// Retransmissions of the INVITE never reach here: the transaction layer
// absorbs them, so a call is logged once.
func (s *SIP) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s.onInDialog(req, tx) // a re-INVITE within a call
		return
	}
	// A call the socket's read filter admitted is not weighed again (shed.go).
	if !s.sock.weighed(req) && s.overloaded() {
		s.shed(req, tx)
		return
	}
	c := s.admitCall(req, tx)
	if c == nil || !s.logArrival(c) {
		return
	}
	if s.cfg.Redirect {
		s.redirect(c)
		return
	}
	s.queueForAgent(c)
}

// shed refuses a call past MaxCallRate at once with the shedder's 503
// (Retry-After for a phone, not for a trunk). Over UDP the socket does this
// before sipgo (shed.go); here it is TCP's turn. Both 503s carry the
// shedder's To tag, by which the caller's ACK of it is known and dropped.
func (s *SIP) shed(req *sip.Request, tx sip.ServerTransaction) {
	s.metrics.shed()
	s.metrics.request(req.Method, 503)
	if err := tx.Respond(s.sock.response(req)); err != nil {
		s.log.Debug("sip: shed", "err", err)
	}
}

// overloaded says whether a new call now would pass MaxCallRate.
func (s *SIP) overloaded() bool {
	if s.callRate == nil {
		return false
	}
	ok, _, _ := s.callRate.Allow(s.ctx, "")
	return !ok
}

// admitCall reads which line is called and by whom, says 100 Trying and
// starts watching for the caller's CANCEL. It answers a call it cannot
// take itself and returns nil, as it does for one cancelled already.
func (s *SIP) admitCall(req *sip.Request, tx sip.ServerTransaction) *call {
	callID := ""
	if h := req.CallID(); h != nil {
		callID = h.Value()
	}
	if callID == "" || len(callID) > ticketing.MaxCallIDLen {
		s.respond(tx, req, 400, "Bad Request: Call-ID missing or too long")
		return nil
	}
	line := s.lineOf(req, tx)
	if line == nil {
		return nil
	}
	s.respond(tx, req, 100, "Trying")
	gone := make(chan struct{})
	var once sync.Once
	if !tx.OnCancel(func(*sip.Request) { once.Do(func() { close(gone) }) }) {
		return nil // cancelled before we began
	}
	return &call{id: callID, line: line, caller: CallerID(req, s.cfg.DefaultCountry), req: req, tx: tx, gone: gone}
}

// logArrival writes the call's arrival to the log before anything else
// happens to it, and says whether it was written.
func (s *SIP) logArrival(c *call) bool {
	// Cut at shutdown: an arrival not yet logged is refused, and the
	// carrier tries the call again elsewhere.
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	arrival := ticketing.CallEvent{
		CallID: c.id, Type: ticketing.CallNew, From: c.caller, To: c.line.Number,
		Direction: ticketing.DirectionIn, At: s.cfg.Now(),
	}
	_, err := s.calls.apply(ctx, arrival)
	cancel()
	if err != nil {
		// Unlogged, the call would be invisible to the callback list: refuse
		// it so the carrier retries or plays its own message.
		s.log.Error("sip invite: call log unavailable", "call_id", c.id, "err", err)
		s.refuse(c.tx, c.req, ticketing.Unavailable(err))
		go s.logRefused(arrival)
		return false
	}
	s.metrics.arrived(c.line.Number)
	return true
}

// claimBatch bounds the callers one claim asks agents for: one Redis
// script serves them all, and a longer script holds up every other client
// of that Redis.
const claimBatch = 32

// queueForAgent puts the caller in line and offers the call to each agent
// the line hands them, until one answers, the caller hangs up, or
// QueueWait runs out and the fallback answers.
func (s *SIP) queueForAgent(c *call) {
	skill := s.skillOf(c.line)
	deadline := time.NewTimer(s.cfg.QueueWait)
	defer deadline.Stop()
	deadlineAt := time.Now().Add(s.cfg.QueueWait)
	p := s.queue.tryJoin(skill, c.id, s.cfg.MaxQueued)
	if p == nil {
		s.metrics.queueFull()
		s.log.Warn("sip invite: queue full; fallback at once", "call_id", c.id, "max_queued", s.cfg.MaxQueued)
		s.hangup(c.id, "noAnswer")
		s.fallback(c)
		return
	}
	w := &inLine{c: c, deadline: deadline.C}
	defer func() {
		// An agent handed over as the caller left goes back at once.
		p.leave()
		if b, ok := p.takeGiven(); ok {
			s.releaseAgent(b.Agent, c.id, freeAtOnce)
		}
		if w.poll != nil {
			w.poll.Stop()
		}
		if w.queued {
			s.metrics.queue(-1)
		}
	}()
	for {
		b, ok := s.nextAgent(w, p)
		if !ok {
			return
		}
		if s.ringAgent(c, b, deadlineAt) {
			return
		}
		// The agent did not take it: back to the front, straight on to
		// the next.
		p = s.queue.join(skill, c.id, true)
	}
}

// inLine is a caller's wait in the line.
type inLine struct {
	c        *call
	deadline <-chan time.Time
	poll     *time.Ticker // the head's look at other instances' releases
	queued   bool         // told 182 Queued: nobody was free
}

// nextAgent waits in line for the caller's next agent: one the head's
// claim hands over, or, at the head, one it claims for itself and the
// callers behind it. False when the call is settled instead: the caller
// hung up, or the wait ran out (the fallback answered), both logged.
func (s *SIP) nextAgent(w *inLine, p *place) (acd.Binding, bool) {
	c := w.c
	for {
		var wake <-chan struct{}
		var tick <-chan time.Time
		short := p.short()
		select {
		case b := <-p.given:
			return b, true
		case <-p.myTurn():
			if b, ok := p.takeGiven(); ok {
				return b, true // handed over as it reached the head
			}
			freed := s.freedSignal()
			b, ok, asked := s.claimForLine(p)
			switch {
			case ok:
				return b, true
			case !asked:
				// A caller back from an agent who did not answer took the
				// head, or a claim for this caller is on its way.
				wake = p.myTurn()
			default:
				// Nobody free. An agent released here wakes the head at
				// once; another instance's release shows at the next poll.
				s.enqueued(w)
				if w.poll == nil {
					w.poll = time.NewTicker(250 * time.Millisecond)
				}
				wake, tick = freed, w.poll.C
			}
		default:
			wake = p.myTurn()
		}
		if w.queued {
			short = nil
		}
		select {
		case b := <-p.given:
			return b, true
		case <-wake:
		case <-tick:
		case <-short:
			s.enqueued(w)
		case <-c.gone:
			s.hangup(c.id, "cancel")
			return acd.Binding{}, false
		case <-c.tx.Done():
			s.hangup(c.id, "cancel")
			return acd.Binding{}, false
		case <-w.deadline:
			s.hangup(c.id, "noAnswer")
			s.fallback(c)
			return acd.Binding{}, false
		}
	}
}

// enqueued tells the caller, once, that they wait for an agent.
func (s *SIP) enqueued(w *inLine) {
	if !w.queued {
		w.queued = true
		s.metrics.queue(+1)
		s.respond(w.c.tx, w.c.req, 182, "Queued")
	}
}

// claimForLine claims agents for p, at the head of its line, and the
// callers behind it in one go, hands theirs over, and returns p's own.
// asked is false when p was not the one to claim: no longer at the head,
// or in another's claim already.
func (s *SIP) claimForLine(p *place) (b acd.Binding, ok, asked bool) {
	batch := p.batch(claimBatch)
	if len(batch) == 0 {
		return acd.Binding{}, false, false
	}
	ids := make([]string, len(batch))
	for i, o := range batch {
		ids[i] = o.callID
	}
	now := s.cfg.Now()
	bs, err := s.presence.ClaimMany(s.ctx, p.skill, ids, now.Add(s.cfg.HoldFor), now)
	if err != nil {
		s.log.Error("sip invite: acd claim", "call_id", p.callID, "calls", len(ids), "err", err)
	}
	b, ok, orphans := p.hand(batch, bs)
	for _, o := range orphans {
		s.releaseAgent(o.agent, o.callID, freeAtOnce)
	}
	return b, ok, true
}

// skillOf is the skill the ACD is asked for on line: none unless
// SkillsByLine.
func (s *SIP) skillOf(line *Line) string {
	if s.cfg.SkillsByLine {
		return line.skill()
	}
	return ""
}

// claimAgent asks the ACD for a free agent with skill and holds them for
// the call from now.
func (s *SIP) claimAgent(skill, callID string, now time.Time) (acd.Binding, bool) {
	b, ok, err := s.presence.Claim(s.ctx, skill, callID, now.Add(s.cfg.HoldFor), now)
	if err != nil {
		s.log.Error("sip invite: acd claim", "call_id", callID, "err", err)
	}
	return b, ok
}

// ringAgent offers the call to the claimed agent and says whether the
// call is settled: answered, the caller gone, or, if the agent did not
// take it, the caller's wait over (the fallback). False: try another.
func (s *SIP) ringAgent(c *call, b acd.Binding, deadlineAt time.Time) bool {
	switch s.offer(c, b) {
	case answered:
		return true
	case abandoned:
		s.hangup(c.id, "cancel")
		return true
	}
	if time.Now().After(deadlineAt) {
		s.hangup(c.id, "noAnswer")
		s.fallback(c)
		return true
	}
	return false
}

// fallback answers a caller no agent took.
func (s *SIP) fallback(c *call) {
	fb := s.cfg.Fallback
	switch fb.Code {
	case 302:
		s.respond(c.tx, c.req, 302, "Moved Temporarily", sip.NewHeader("Contact", "<"+fb.Redirect+">"))
	case 480:
		s.respond(c.tx, c.req, 480, "Temporarily Unavailable", retryAfter(fb.RetryAfter))
	default:
		s.respond(c.tx, c.req, 486, "Busy Here", retryAfter(fb.RetryAfter))
	}
}

func retryAfter(d time.Duration) sip.Header {
	return sip.NewHeader("Retry-After", strconv.Itoa(max(1, int(d.Seconds()))))
}

// redirect answers 302 with the chosen agent's contact, for a PBX in
// front that places the call itself. The hub never sees the answer or the
// hangup: the PBX reports those through the CTI webhook. The agent is
// held for RingTimeout plus WrapUp so the next call does not land on them
// while this one rings.
func (s *SIP) redirect(c *call) {
	now := s.cfg.Now()
	b, ok := s.claimAgent(s.skillOf(c.line), c.id, now)
	if !ok {
		s.hangup(c.id, "noAnswer")
		s.fallback(c)
		return
	}
	s.pop(c, b.Agent, PopRinging)
	// The release is finished even at shutdown, or the agent stays held.
	if err := s.presence.Release(context.WithoutCancel(s.ctx), b.Agent, c.id, now.Add(s.cfg.RingTimeout+s.cfg.WrapUp), now); err != nil {
		s.log.Error("sip redirect: acd release", "agent", b.Agent, "err", err)
	}
	s.signalFreed()
	s.respond(c.tx, c.req, 302, "Moved Temporarily", sip.NewHeader("Contact", "<"+b.Contact+">"))
}

// offer rings one agent and relays what happens back to the caller.
func (s *SIP) offer(c *call, b acd.Binding) outcome {
	ctx := s.ctx
	u, err := parseURI(b.Contact)
	if err != nil {
		s.log.Warn("sip invite: agent contact unusable; agent put on break", "agent", b.Agent, "err", err)
		s.releaseAgent(b.Agent, c.id, toBreak)
		return tryNext
	}
	callerTag := ""
	if f := c.req.From(); f != nil {
		callerTag, _ = f.Params.Get("tag")
	}
	agentHop := hop{b.Source, strings.ToUpper(b.Transport)}
	token, err := s.dialogTokens().mint(c.id, callerTag, hop{c.req.Source(), c.req.Transport()}, agentHop, s.cfg.Now())
	if err != nil {
		// The caller's hop is the address the INVITE came from: only the
		// agent's binding can be unusable.
		s.log.Warn("sip invite: agent binding unusable; agent put on break", "agent", b.Agent, "err", err)
		s.releaseAgent(b.Agent, c.id, toBreak)
		return tryNext
	}
	fwd := c.req.Clone()
	fwd.Recipient = u
	fwd.SetTransport(agentHop.transport)
	fwd.SetDestination(b.Source)
	// The INVITE's own Route entries (naming us, or anyone) end here: the
	// agent is reached at its binding.
	for fwd.Route() != nil {
		fwd.RemoveHeader("Route")
	}
	clTx, err := s.client.TransactionRequest(ctx, fwd,
		sipgo.ClientRequestDecreaseMaxForward, sipgo.ClientRequestAddVia, s.recordRoute(c.req.Transport(), token), s.fromListener)
	if err != nil {
		if strings.Contains(err.Error(), "max forwards") {
			s.releaseAgent(b.Agent, c.id, freeAtOnce)
			s.respond(c.tx, c.req, 483, "Too Many Hops")
			return abandoned
		}
		s.log.Warn("sip invite: agent unreachable; agent put on break", "agent", b.Agent, "err", err)
		s.releaseAgent(b.Agent, c.id, toBreak)
		return tryNext
	}
	s.pop(c, b.Agent, PopRinging)
	ring := time.NewTimer(s.cfg.RingTimeout)
	defer ring.Stop()
	for {
		select {
		case res, more := <-clTx.Responses():
			if !more {
				s.releaseAgent(b.Agent, c.id, toBreak)
				return tryNext
			}
			switch {
			case res.StatusCode == 100: // hop by hop
			case res.IsProvisional():
				s.relay(c.tx, res)
			case res.IsSuccess():
				s.answered(c, b, clTx, res)
				return answered
			default:
				// The agent's phone declined (busy, DND, error). The caller
				// stays in the queue and another agent is tried.
				clTx.Terminate()
				s.releaseAgent(b.Agent, c.id, freeAtOnce)
				s.pop(c, b.Agent, PopMissed)
				return tryNext
			}
		case <-clTx.Done():
			// No answer at all from the phone (timer B, transport error).
			s.log.Warn("sip invite: agent phone did not respond; agent put on break", "agent", b.Agent, "err", clTx.Err())
			s.releaseAgent(b.Agent, c.id, toBreak)
			s.pop(c, b.Agent, PopMissed)
			return tryNext
		case <-ring.C:
			// Ring, no answer: cancel and put the agent on break, so the next
			// caller does not ring an empty desk.
			s.cancelAgentLeg(c, b, fwd, clTx)
			s.releaseAgent(b.Agent, c.id, toBreak)
			s.pop(c, b.Agent, PopMissed)
			return tryNext
		case <-c.gone:
			// The caller hung up (CANCEL) while the agent's phone rang.
			s.cancelAgentLeg(c, b, fwd, clTx)
			s.releaseAgent(b.Agent, c.id, freeAtOnce)
			s.pop(c, b.Agent, PopMissed)
			return abandoned
		case <-c.tx.Done():
			// The caller's side failed (transport error).
			s.cancelAgentLeg(c, b, fwd, clTx)
			s.releaseAgent(b.Agent, c.id, freeAtOnce)
			s.pop(c, b.Agent, PopMissed)
			return abandoned
		}
	}
}

// relay passes a response from the agent's side back to the caller,
// without our Via.
func (s *SIP) relay(tx sip.ServerTransaction, res *sip.Response) {
	res.RemoveHeader("Via")
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip: relay response", "code", res.StatusCode, "err", err)
	}
}

// onStrayAnswer passes on an agent's 2xx to an INVITE whose client
// transaction is gone (KeepFinished keeps it 2 s): the phone resends
// its 2xx until the caller's ACK reaches it, and a stateful proxy past its
// transaction forwards such a response statelessly (RFC 3261 16.7). Where
// to comes from the dialog token in our Record-Route, checked like an
// in-dialog request's, never from the response's Via, so a forged answer
// cannot choose where it goes. Anything else unmatched
// (a late 1xx, a 4xx, a response to a request of ours) is dropped.
func (s *SIP) onStrayAnswer(res *sip.Response) {
	cseq, callID, from, via := res.CSeq(), res.CallID(), res.From(), res.Via()
	if !res.IsSuccess() || cseq == nil || cseq.MethodName != sip.INVITE || callID == nil || from == nil || !s.ourVia(via) {
		return
	}
	var tokens []string
	for _, h := range res.GetHeaders("Record-Route") {
		for v := range strings.SplitSeq(h.Value(), ",") {
			v = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(v), "<"), ">")
			var u sip.Uri
			if sip.ParseUri(v, &u) == nil && s.isMe(u) {
				tok, _ := u.UriParams.Get(dialogParam)
				tokens = append(tokens, tok)
			}
		}
	}
	var caller, agent hop
	tok, err := agreedToken(tokens)
	if err == nil {
		callerTag, _ := from.Params.Get("tag")
		caller, agent, err = s.dialogTokens().verify(tok, callID.Value(), callerTag, s.cfg.Now())
	}
	if err == nil && !s.sameParty(agent.addr, res.Source()) {
		err = errWrongSource
	}
	if err != nil {
		s.metrics.noDialog()
		s.log.Debug("sip: stray answer dropped", "err", err)
		return
	}
	r := res.Clone()
	r.RemoveHeader("Via")
	r.SetTransport(caller.transport) // it came in on the agent's
	r.SetDestination(caller.addr)
	if err := s.server.WriteResponse(r); err != nil {
		s.log.Debug("sip: stray answer", "err", err)
	}
}

// ourVia says whether via is the one this server put on a request it
// forwarded: our host, and over UDP our port (over a stream, sipgo's
// sent-by names the connection's own port).
func (s *SIP) ourVia(via *sip.ViaHeader) bool {
	switch {
	case via == nil || !strings.EqualFold(via.Host, s.cfg.Advertise):
		return false
	case strings.EqualFold(via.Transport, "UDP"):
		return s.isMe(sip.Uri{Host: via.Host, Port: via.Port})
	}
	return true
}

// answered completes a call an agent took: the 200 goes to the caller, the
// call log and the screen pop learn of the answer, and the dialog is kept
// for the BYE.
func (s *SIP) answered(c *call, b acd.Binding, clTx sip.ClientTransaction, res *sip.Response) {
	callerDest, callerTransport := c.req.Source(), c.req.Transport()
	// Retransmitted 200s (the agent's phone has not seen the ACK yet) go
	// straight through, statelessly.
	clTx.OnRetransmission(func(r *sip.Response) {
		r = r.Clone()
		r.RemoveHeader("Via")
		r.SetTransport(callerTransport) // it came in on the agent's
		r.SetDestination(callerDest)
		_ = s.server.WriteResponse(r) // the next retransmission tries again
	})
	tag := ""
	if f := c.req.From(); f != nil {
		tag, _ = f.Params.Get("tag")
	}
	s.mu.Lock()
	s.dialogs[c.id] = &dialog{
		callID: c.id, agent: b.Agent, callerTag: tag,
		caller: hop{callerDest, callerTransport}, callee: hop{b.Source, strings.ToUpper(b.Transport)},
		line: c.line.Number, number: c.caller, answered: s.cfg.Now(),
	}
	s.mu.Unlock()
	s.metrics.active(+1)
	// The answer is queued for the log before the 200 goes out: the
	// caller's BYE may follow within a millisecond, and its hangup must
	// find the call answered.
	ev := ticketing.CallEvent{CallID: c.id, Type: ticketing.CallAnswer, User: b.Agent, At: s.cfg.Now()}
	// Not cut at shutdown: the caller is told the call is answered, so the
	// log must say so too.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 5*time.Second)
	defer cancel()
	wait := s.calls.submit(ctx, ev)
	s.pop(c, b.Agent, PopAnswered) // before the 200: the caller's BYE, and its ended pop, may follow at once
	s.relay(c.tx, res)
	if _, err := wait(ctx); err != nil {
		s.record(ev) // the store is failing: retried in the background like any event
	}
}

// cancelAgentLeg stops the agent's phone ringing. If the phone answered
// in the same instant, the answer is acknowledged and hung up at once.
func (s *SIP) cancelAgentLeg(c *call, b acd.Binding, fwd *sip.Request, clTx sip.ClientTransaction) {
	cancel := sip.NewRequest(sip.CANCEL, fwd.Recipient)
	cancel.AppendHeader(sip.HeaderClone(fwd.Via()))
	cancel.AppendHeader(sip.HeaderClone(fwd.From()))
	cancel.AppendHeader(sip.HeaderClone(fwd.To()))
	cancel.AppendHeader(sip.HeaderClone(fwd.CallID()))
	cseq := fwd.CSeq()
	cancel.AppendHeader(&sip.CSeqHeader{SeqNo: cseq.SeqNo, MethodName: sip.CANCEL})
	mf := sip.MaxForwardsHeader(70)
	cancel.AppendHeader(&mf)
	cancel.SetTransport(fwd.Transport())
	cancel.SetDestination(fwd.Destination())
	cancel.SetBody(nil)
	ctx, done := context.WithTimeout(s.ctx, 5*time.Second)
	defer done()
	if ctx2, err := s.client.TransactionRequest(ctx, cancel, s.fromListener); err == nil {
		defer ctx2.Terminate()
	}
	// Wait for the INVITE's final answer: 487 normally (the transaction
	// layer ACKs it), or a 200 that crossed the CANCEL.
	for {
		select {
		case res, more := <-clTx.Responses():
			if !more {
				return
			}
			if res.IsSuccess() {
				s.byeAnsweredLeg(fwd, res)
				return
			}
			if !res.IsProvisional() {
				return
			}
		case <-clTx.Done():
			return
		case <-ctx.Done():
			clTx.Terminate()
			return
		}
	}
}

// byeAnsweredLeg ACKs and ends an agent leg answered after the caller left.
func (s *SIP) byeAnsweredLeg(fwd *sip.Request, res *sip.Response) {
	target := fwd.Recipient
	if ct := res.Contact(); ct != nil {
		target = ct.Address
	}
	mk := func(m sip.RequestMethod, seq uint32) *sip.Request {
		r := sip.NewRequest(m, target)
		r.AppendHeader(sip.HeaderClone(fwd.From()))
		r.AppendHeader(sip.HeaderClone(res.To()))
		r.AppendHeader(sip.HeaderClone(fwd.CallID()))
		r.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: m})
		mf := sip.MaxForwardsHeader(70)
		r.AppendHeader(&mf)
		r.SetTransport(fwd.Transport())
		r.SetDestination(fwd.Destination())
		r.SetBody(nil)
		return r
	}
	seq := fwd.CSeq().SeqNo
	_ = s.client.WriteRequest(mk(sip.ACK, seq), sipgo.ClientRequestAddVia, s.fromListener) // best effort
	ctx, done := context.WithTimeout(s.ctx, 5*time.Second)
	defer done()
	_, _ = s.client.Do(ctx, mk(sip.BYE, seq+1), sipgo.ClientRequestAddVia, s.fromListener) // best effort
}

// onAck forwards the ACK of a 200 along the dialog. The ACK of a failure
// belongs to its INVITE transaction and is absorbed there; one that comes
// late, or for no call of ours, or from anyone but the caller, is dropped
// (never answered: ACK has no response).
func (s *SIP) onAck(req *sip.Request, _ sip.ServerTransaction) {
	if s.sock.refusedHere(req) {
		return // the ACK of a 503 past MaxCallRate, which over TCP reaches here
	}
	fwd, err := s.inDialogTarget(req)
	if err != nil {
		s.refuseInDialog(req, err)
		return
	}
	if err := s.client.WriteRequest(fwd, sipgo.ClientRequestDecreaseMaxForward, sipgo.ClientRequestAddVia, s.fromListener); err != nil {
		s.log.Debug("sip: forward ack", "err", err)
	}
}

// onInDialog forwards a request within a call this deployment proxied
// (BYE, re-INVITE, INFO, UPDATE, PRACK, REFER, NOTIFY, MESSAGE) from one
// party to the other and its answer back. Anything else is 481 and goes
// nowhere. A BYE ends the call: the log gets its end, the agent goes to
// wrap-up.
func (s *SIP) onInDialog(req *sip.Request, tx sip.ServerTransaction) {
	fwd, err := s.inDialogTarget(req)
	if err != nil {
		s.refuseInDialog(req, err)
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if req.Method == sip.BYE {
		s.endDialog(req.CallID().Value())
	}
	ctx, cancel := context.WithTimeout(s.ctx, 32*time.Second)
	defer cancel()
	clTx, err := s.client.TransactionRequest(ctx, fwd, sipgo.ClientRequestDecreaseMaxForward, sipgo.ClientRequestAddVia, s.fromListener)
	if err != nil {
		s.respond(tx, req, 502, "Bad Gateway")
		return
	}
	defer clTx.Terminate()
	for {
		select {
		case res, more := <-clTx.Responses():
			if !more {
				return
			}
			if res.StatusCode == 100 {
				continue
			}
			s.relay(tx, res)
			if !res.IsProvisional() {
				return
			}
		case <-clTx.Done():
			if req.Method == sip.BYE {
				// The other side is gone; the caller's BYE still ends the call.
				s.respond(tx, req, 200, "OK")
			} else {
				s.respond(tx, req, 408, "Request Timeout")
			}
			return
		case <-tx.Done():
			return
		}
	}
}

// refuseInDialog counts and logs (at debug: a scan would flood the log) an
// in-dialog request that follows no dialog of ours.
func (s *SIP) refuseInDialog(req *sip.Request, why error) {
	s.metrics.noDialog()
	s.log.Debug("sip: in-dialog request refused", "method", metricMethod(req.Method), "source", req.Source(), "reason", why)
}

// endDialog is the BYE's bookkeeping: the call's end in the log, the agent
// to wrap-up, the screen pop closed. A second BYE finds nothing to do.
func (s *SIP) endDialog(callID string) {
	s.mu.Lock()
	d := s.dialogs[callID]
	delete(s.dialogs, callID)
	s.mu.Unlock()
	if d == nil {
		// Proxied by an instance that restarted, or a BYE already seen:
		// the log's hangup is idempotent and names the agent to release.
		c := s.hangup(callID, "normalClearing")
		if c != nil && c.Agent != "" {
			s.releaseAgent(c.Agent, callID, toWrapUp)
		}
		return
	}
	s.metrics.active(-1)
	s.hangup(callID, "normalClearing")
	s.releaseAgent(d.agent, callID, toWrapUp)
	s.pops.send(popRequest{Pop: Pop{Kind: PopEnded, CallID: callID, Line: d.line, Caller: d.number, Agent: d.agent, At: s.cfg.Now()}})
}

// afterCall is where an agent goes when their part in a call ends.
type afterCall int

const (
	freeAtOnce afterCall = iota // straight back: the call never reached a talk
	toWrapUp                    // back after WrapUp: the agent talked
	toBreak                     // on break: the phone did not answer or cannot be reached
)

// releaseAgent ends the agent's part in a call and sends them where next says.
//
// The release is finished even at shutdown: an agent left on a call this
// instance no longer proxies waits out the hold before taking another.
func (s *SIP) releaseAgent(agent, callID string, next afterCall) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 5*time.Second)
	defer cancel()
	now := s.cfg.Now()
	if next == toBreak {
		if err := s.presence.SetState(ctx, agent, acd.Break, now); err != nil {
			s.log.Error("sip: acd break", "agent", agent, "err", err)
		}
	}
	ready := now
	if next == toWrapUp {
		ready = now.Add(s.cfg.WrapUp)
	}
	if err := s.presence.Release(ctx, agent, callID, ready, now); err != nil && !errors.Is(err, acd.ErrNotOnCall) {
		s.log.Error("sip: acd release", "agent", agent, "err", err)
	}
	s.signalFreed()
}

// freedSignal returns a channel closed when this instance next frees an agent.
func (s *SIP) freedSignal() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.freed
}

func (s *SIP) signalFreed() {
	s.mu.Lock()
	close(s.freed)
	s.freed = make(chan struct{})
	s.mu.Unlock()
}

// hangup logs the end of a call; cause is the CTI cause (cancel,
// noAnswer, normalClearing) that ticketing.Call.Apply maps to the log's.
func (s *SIP) hangup(callID, cause string) *ticketing.Call {
	return s.record(ticketing.CallEvent{CallID: callID, Type: ticketing.CallHangup, Cause: cause, At: s.cfg.Now()})
}

// record applies an event to the call log. Events are idempotent, so a
// failed write is retried in the background for a while: the call goes
// on whatever the store does.
//
// The events recorded here belong to calls already logged (an answer, a
// hangup, a refusal), so shutdown does not cut them: the write goes on
// (context.WithoutCancel), a retry waiting at shutdown is tried once more
// at once, and Close waits for those last tries.
func (s *SIP) record(ev ticketing.CallEvent) *ticketing.Call {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 5*time.Second)
	c, err := s.calls.apply(ctx, ev)
	cancel()
	if err == nil {
		s.metrics.observeCall(ev, c)
		return c
	}
	s.log.Error("sip: call log write failed; retrying", "call_id", ev.CallID, "event", ev.Type, "err", err)
	s.retryMu.Lock()
	if s.closed {
		s.retryMu.Unlock()
		s.tryRecord(ev)
		return nil
	}
	s.retrying.Add(1)
	s.retryMu.Unlock()
	go func() {
		defer s.retrying.Done()
		for wait := time.Second; wait < 2*time.Minute; wait *= 2 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				s.tryRecord(ev)
				return
			}
			if s.tryRecord(ev) {
				return
			}
		}
		s.log.Error("sip: call log write abandoned", "call_id", ev.CallID, "event", ev.Type)
	}()
	return nil
}

// tryRecord writes ev straight to the store, once, and says whether it
// was stored.
func (s *SIP) tryRecord(ev ticketing.CallEvent) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 5*time.Second)
	defer cancel()
	cs, err := s.store.ApplyCallEvents(ctx, []ticketing.CallEvent{ev})
	if err != nil {
		return false
	}
	s.metrics.observeCall(ev, cs[0])
	return true
}

// refusedSuffix marks the call log's row of a call refused for want of the
// log itself: the caller may retry with the same Call-ID, and that attempt
// has its own row.
const refusedSuffix = "#refused"

// logRefused writes a call refused because the call log was unavailable,
// once the store takes writes again: the caller belongs on the callback
// list (a failed call with a number is a missed call), and the refusal in
// the hotline's figures.
func (s *SIP) logRefused(arrival ticketing.CallEvent) {
	if len(arrival.CallID)+len(refusedSuffix) > ticketing.MaxCallIDLen {
		s.log.Warn("sip: refused call not logged: Call-ID too long to mark", "call_id", arrival.CallID)
		return
	}
	arrival.CallID += refusedSuffix
	s.record(arrival)
	s.record(ticketing.CallEvent{CallID: arrival.CallID, Type: ticketing.CallHangup, Cause: "congestion", At: arrival.At})
}

// hostOf is the host of a host:port source address.
func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// recordRoute puts this instance in the dialog's route set (RFC 3261
// §16.6): one Record-Route, or two when the caller's and the agent's legs
// use different transports (RFC 5658), the agent's side on top.
//
// Each entry carries the dialog's token, so the requests within the call
// can be checked and routed by whichever instance they reach.
func (s *SIP) recordRoute(inbound, token string) sipgo.ClientRequestOption {
	return func(_ *sipgo.Client, r *sip.Request) error {
		in, out := sip.NetworkToLower(inbound), sip.NetworkToLower(r.Transport())
		if in != out {
			r.PrependHeader(s.routeHeader(in, token))
		}
		r.PrependHeader(s.routeHeader(out, token))
		return nil
	}
}

// fromListener sends a UDP request from the socket we listen on, the port
// our Via names, and never from a socket of its own. sipgo reuses the
// listening socket only towards an address it has heard from; to any
// other (a phone registered with another instance, a gateway) it opened a
// socket per address, and closed it while answers were still due: at
// 2,800 calls/s over two instances, an agent's 200 to a caller's BYE went
// to a closed port, and the caller's call failed.
func (s *SIP) fromListener(_ *sipgo.Client, r *sip.Request) error {
	if !strings.EqualFold(r.Transport(), "UDP") {
		return nil
	}
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	if s.udpAddr.IP != nil {
		s.udpAddr.Copy(&r.Laddr)
	}
	return nil
}

func (s *SIP) routeHeader(transport, token string) *sip.RecordRouteHeader {
	s.listenMu.Lock()
	port := s.ports[transport]
	s.listenMu.Unlock()
	return &sip.RecordRouteHeader{Address: sip.Uri{
		Host: s.cfg.Advertise, Port: port,
		UriParams: sip.HeaderParams{{K: "transport", V: transport}, {K: "lr", V: ""}, {K: dialogParam, V: token}},
	}}
}
