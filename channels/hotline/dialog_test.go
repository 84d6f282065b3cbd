package hotline_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/yihao-city/yihao/channels/hotline"
	"github.com/yihao-city/yihao/channels/hotline/acd"
	"github.com/yihao-city/yihao/channels/hotline/sipptest"
	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing"
)

// Waits of the raw-socket tests: long enough for a loaded CI machine.
const (
	expectWithin = 5 * time.Second // a message that must come
	quietFor     = 2 * time.Second // a window in which nothing may come
)

// sipParty is a SIP endpoint the test plays itself on a UDP socket of its
// own: a caller, an agent's phone, an attacker, or a host the attacker
// would like the hub to reach.
type sipParty struct {
	t    *testing.T
	addr string
	conn *net.UDPConn
	got  chan sip.Message
	// answers by the branch of the request they answer: a request the hub
	// sends again (its timer ran out on a busy machine) is answered again.
	answers map[string]*sip.Response
}

// newParty listens on addr, an IP (any port) or IP:port; 127.0.0.x are
// all there (Linux answers for all of 127/8).
func newParty(t *testing.T, addr string) *sipParty {
	t.Helper()
	if !strings.Contains(addr, ":") {
		addr += ":0"
	}
	a, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", a)
	if err != nil {
		t.Fatal(err)
	}
	p := &sipParty{t: t, addr: c.LocalAddr().String(), conn: c, got: make(chan sip.Message, 64), answers: map[string]*sip.Response{}}
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			m, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
			if err != nil {
				m = sip.NewRequest("UNPARSABLE", sip.Uri{})
			}
			m.SetSource(from.String())
			select {
			case p.got <- m:
			default: // a full queue: the test fails on what is queued
			}
		}
	}()
	t.Cleanup(func() { c.Close() })
	return p
}

func (p *sipParty) sendRaw(to, msg string) {
	p.t.Helper()
	a, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		p.t.Fatal(err)
	}
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
	if _, err := p.conn.WriteToUDP([]byte(msg), a); err != nil {
		p.t.Fatal(err)
	}
}

func (p *sipParty) send(to string, m sip.Message) {
	p.t.Helper()
	p.sendRaw(to, m.String())
}

// next is the next message within wait that is not a request
// answered before (answered again here), or nil.
func (p *sipParty) next(wait time.Duration) sip.Message {
	p.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case m := <-p.got:
			if req, ok := m.(*sip.Request); ok {
				if res := p.answers[branch(req)]; res != nil {
					p.send(req.Source(), res)
					continue
				}
			}
			return m
		case <-deadline:
			return nil
		}
	}
}

// request waits for a request with method.
func (p *sipParty) request(method sip.RequestMethod) *sip.Request {
	p.t.Helper()
	m := p.next(expectWithin)
	if m == nil {
		p.t.Fatalf("%s: no %s within %v", p.addr, method, expectWithin)
	}
	req, ok := m.(*sip.Request)
	if !ok || req.Method != method {
		p.t.Fatalf("%s: got %s, want a %s", p.addr, firstLine(m.String()), method)
	}
	return req
}

// final waits for the final response to a method request (provisional
// ones, and repeated answers to earlier requests, are skipped) and fails
// on anything else.
func (p *sipParty) final(method sip.RequestMethod) *sip.Response {
	p.t.Helper()
	for deadline := time.Now().Add(expectWithin); ; {
		m := p.next(time.Until(deadline))
		if m == nil {
			p.t.Fatalf("%s: no final response to %s within %v", p.addr, method, expectWithin)
		}
		res, ok := m.(*sip.Response)
		if !ok {
			p.t.Fatalf("%s: got %s, want a response", p.addr, firstLine(m.String()))
		}
		if !res.IsProvisional() && res.CSeq().MethodName == method {
			return res
		}
	}
}

// silent fails if anything new is or comes within wait.
func (p *sipParty) silent(what string, wait time.Duration) {
	p.t.Helper()
	if m := p.next(wait); m != nil {
		p.t.Fatalf("%s (%s) received from %s:\n%s", what, p.addr, m.Source(), m.String())
	}
}

// answer replies to req with code, as the party's own UA would.
func (p *sipParty) answer(req *sip.Request, code int, reason string) {
	p.t.Helper()
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(sip.NewHeader("Contact", "<sip:party@"+p.addr+">"))
	p.answers[branch(req)] = res
	p.send(req.Source(), res)
}

func branch(req *sip.Request) string {
	if v := req.Via(); v != nil {
		b, _ := v.Params.Get("branch")
		return b
	}
	return ""
}

// dialog is one side's view of an answered call through the hub: where
// its requests go and what they carry.
type dialog struct {
	party  *sipParty
	hub    string // where requests are sent (the first Route's host:port)
	target string // the other party's Contact: the Request-URI
	routes []string
	from   string // this side's address with its tag
	to     string // the other side's, with its tag
	callID string
	cseq   int
}

// call is an answered call between a caller and an agent the test plays.
type call struct {
	callID            string
	caller, agent     *dialog
	callerTag, agentT string
	answer            *sip.Response // the agent's 200, as its phone sent it
}

// placeCall calls 12345 on hub from caller; the hub rings agent (whose
// extension is registered at agent's address), which answers. The ACK
// reaches the agent.
func placeCall(t *testing.T, hub string, caller, agent *sipParty) *call {
	t.Helper()
	callID := "dialog-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "@test"
	callerTag := "c" + strconv.FormatInt(time.Now().UnixNano(), 36)
	caller.sendRaw(hub, "INVITE sip:12345@"+hub+" SIP/2.0\n"+
		"Via: SIP/2.0/UDP "+caller.addr+";branch=z9hG4bK-inv-"+callerTag+";rport\n"+
		"Max-Forwards: 70\n"+
		"From: <sip:13800138000@"+caller.addr+">;tag="+callerTag+"\n"+
		"To: <sip:12345@"+hub+">\n"+
		"Call-ID: "+callID+"\n"+
		"CSeq: 1 INVITE\n"+
		"Contact: <sip:13800138000@"+caller.addr+">\n"+
		"Content-Length: 0\n\n")
	inv := agent.request(sip.INVITE)
	if rr := inv.GetHeaders("Record-Route"); len(rr) == 0 || !strings.Contains(rr[0].Value(), ";dialog=") {
		t.Fatalf("the INVITE the agent got has no Record-Route with a dialog token: %v", rr)
	}
	agent.answer(inv, 200, "OK")
	answer := agent.answers[branch(inv)]
	ok := caller.final(sip.INVITE)
	if ok.StatusCode != 200 {
		t.Fatalf("the call: %d %s", ok.StatusCode, ok.Reason)
	}
	agentTag, _ := ok.To().Params.Get("tag")
	var rr []string
	for _, h := range ok.GetHeaders("Record-Route") {
		for v := range strings.SplitSeq(h.Value(), ",") {
			rr = append(rr, strings.TrimSpace(v))
		}
	}
	c := &call{
		callID: callID, callerTag: callerTag, agentT: agentTag, answer: answer,
		caller: &dialog{party: caller, hub: hub, target: ok.Contact().Address.String(), routes: slices.Clone(rr),
			from: "<sip:13800138000@" + caller.addr + ">;tag=" + callerTag, to: "<sip:12345@" + hub + ">;tag=" + agentTag, callID: callID, cseq: 1},
		agent: &dialog{party: agent, hub: hub, target: "sip:13800138000@" + caller.addr, routes: rr,
			from: "<sip:12345@" + hub + ">;tag=" + agentTag, to: "<sip:13800138000@" + caller.addr + ">;tag=" + callerTag, callID: callID},
	}
	slices.Reverse(c.caller.routes)
	caller.sendRaw(hub, c.caller.raw(sip.ACK, 1, ""))
	agent.request(sip.ACK)
	return c
}

// raw is an in-dialog request of this side with cseq (0: the next).
func (d *dialog) raw(method sip.RequestMethod, cseq int, branch string) string {
	if cseq == 0 {
		d.cseq++
		cseq = d.cseq
	}
	if branch == "" {
		branch = "z9hG4bK-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\nVia: SIP/2.0/UDP %s;branch=%s;rport\nMax-Forwards: 70\n", method, d.target, d.party.addr, branch)
	for _, r := range d.routes {
		fmt.Fprintf(&b, "Route: %s\n", r)
	}
	fmt.Fprintf(&b, "From: %s\nTo: %s\nCall-ID: %s\nCSeq: %d %s\nContact: <sip:party@%s>\n", d.from, d.to, d.callID, cseq, method, d.party.addr)
	if method == sip.MESSAGE || method == sip.INFO {
		fmt.Fprintf(&b, "Content-Type: text/plain\nContent-Length: 2\n\nhi")
	} else {
		b.WriteString("Content-Length: 0\n\n")
	}
	return b.String()
}

// exchange sends an in-dialog request from this side through the hub;
// the other side must get it, with the hub's Route entries gone, and
// answers 200, which must come back. A re-INVITE's ACK follows the same way.
func (d *dialog) exchange(t *testing.T, other *sipParty, method sip.RequestMethod) {
	t.Helper()
	d.party.sendRaw(d.hub, d.raw(method, 0, ""))
	req := other.request(method)
	if req.CallID().Value() != d.callID {
		t.Fatalf("%s: Call-ID %q, want %q", method, req.CallID().Value(), d.callID)
	}
	// From the hub's own port, the one its Via names, also to a phone
	// that never wrote to this instance: answers to a socket of the
	// moment's were lost when sipgo closed it.
	if req.Source() != d.hub {
		t.Fatalf("%s reached the other side from %s, not from the hub's port %s", method, req.Source(), d.hub)
	}
	for _, r := range req.GetHeaders("Route") {
		if strings.Contains(r.Value(), "dialog=") {
			t.Fatalf("%s reached the other side with the hub's Route: %s", method, r.Value())
		}
	}
	other.answer(req, 200, "OK")
	if res := d.party.final(method); res.StatusCode != 200 {
		t.Fatalf("%s: %d %s, want the other side's 200", method, res.StatusCode, res.Reason)
	}
	if method == sip.INVITE {
		d.party.sendRaw(d.hub, d.raw(sip.ACK, d.cseq, ""))
		other.request(sip.ACK)
	}
}

// onInstance returns a copy of d whose requests go to another instance,
// as a load balancer in front of several would send them.
func (d *dialog) onInstance(hub string) *dialog {
	c := *d
	c.hub = hub
	c.routes = nil
	for _, r := range d.routes {
		c.routes = append(c.routes, strings.Replace(r, d.hub, hub, 1))
	}
	return &c
}

// agentEnv is a hub with agent 2001 registered at the returned party.
func agentEnv(t *testing.T, cfg hotline.SIPConfig) (*sipEnv, *sipParty) {
	t.Helper()
	e := newSIPEnv(t, sqliteStore(t), nil, nil, cfg)
	return e, registeredAgent(t, e)
}

// registeredAgent registers 2001 through e (with sipp, which digests the
// password) at a free port, then listens there as the agent's phone.
func registeredAgent(t *testing.T, e *sipEnv) *sipParty {
	t.Helper()
	e.addAgents(t, "2001")
	port := sipptest.FreePort(t)
	e.register(t, "udp", port, "2001")
	return newParty(t, "127.0.0.1:"+strconv.Itoa(port))
}

// Requests within an answered call go both ways through the hub: every
// method a call may carry, from the caller and from the agent, reaches the
// other side and its answer comes back; the agent's BYE ends the call.
func TestInDialogRequestsFollowTheDialog(t *testing.T) {
	e, agent := agentEnv(t, hotline.SIPConfig{})
	caller := newParty(t, "127.0.0.1")
	c := placeCall(t, e.addr, caller, agent)
	methods := []sip.RequestMethod{sip.INFO, sip.UPDATE, sip.PRACK, sip.NOTIFY, sip.REFER, sip.MESSAGE, sip.INVITE}
	for _, m := range methods {
		c.caller.exchange(t, agent, m)
	}
	for _, m := range methods {
		c.agent.exchange(t, caller, m)
	}
	c.agent.exchange(t, caller, sip.BYE)
	cs := e.waitCalls(t, 1)
	if got := cs[c.callID]; got == nil || got.Cause != ticketing.CauseAnswered || got.Agent != "2001" {
		t.Fatalf("the call in the log: %+v", got)
	}
	waitAgent(t, e.presence, "2001", acd.Available)
}

// An agent's phone resends its 200 until the caller's ACK reaches it, and
// the hub keeps an answered INVITE's transaction only a few seconds
// (KeepFinished). A 200 that no transaction matches any more goes on to the
// caller, by the dialog token in its Record-Route, as a stateless proxy
// passes it on. One with a forged token, from another address than the
// agent's, or without the hub's Via on top goes nowhere.
func TestStrayAnswerReachesTheCaller(t *testing.T) {
	e, agent := agentEnv(t, hotline.SIPConfig{})
	caller := newParty(t, "127.0.0.1")
	c := placeCall(t, e.addr, caller, agent)
	hubBranch, _ := c.answer.Via().Params.Get("branch")
	// The same 200 under a branch no transaction has: a resend after the
	// hub let the transaction go looks so to it.
	stray := strings.Replace(c.answer.String(), hubBranch, "z9hG4bK-gone-"+c.callerTag, 1)

	outsider := newParty(t, "127.0.0.2")
	outsider.sendRaw(e.addr, stray)
	agent.sendRaw(e.addr, strings.Replace(stray, ";dialog=", ";dialog=A", 1))
	viaLine := "Via: " + strings.Replace(c.answer.Via().Value(), hubBranch, "z9hG4bK-gone-"+c.callerTag, 1) + "\r\n"
	if !strings.Contains(stray, viaLine) {
		t.Fatalf("the 200 has no line %q:\n%s", viaLine, stray)
	}
	agent.sendRaw(e.addr, strings.Replace(stray, viaLine, "", 1))
	caller.silent("a forged or misplaced 200", quietFor)

	agent.sendRaw(e.addr, stray)
	res := caller.final(sip.INVITE)
	if res.StatusCode != 200 || res.CallID().Value() != c.callID {
		t.Fatalf("the caller got %d for %s, want the agent's 200 of %s", res.StatusCode, res.CallID().Value(), c.callID)
	}
	if vias := res.GetHeaders("Via"); len(vias) != 1 || !strings.Contains(vias[0].Value(), caller.addr) {
		t.Fatalf("the 200 reached the caller with Via %v, want only the caller's own", vias)
	}
	c.agent.exchange(t, caller, sip.BYE)
	if got := e.waitCalls(t, 1)[c.callID]; got == nil || got.Cause != ticketing.CauseAnswered {
		t.Fatalf("the call in the log: %+v", got)
	}
}

// tcpPhone is an agent's phone over TCP that the test plays itself: it
// takes the hub's connection on its port and reads messages from it.
type tcpPhone struct {
	t    *testing.T
	ln   net.Listener
	conn net.Conn
	rd   *bufio.Reader
}

func newTCPPhone(t *testing.T, port int) *tcpPhone {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpPhone{t: t, ln: ln}
	t.Cleanup(func() {
		ln.Close()
		if p.conn != nil {
			p.conn.Close()
		}
	})
	return p
}

// request reads the next message, the hub's connection taken first, and
// fails unless it is a request with method.
func (p *tcpPhone) request(method sip.RequestMethod) *sip.Request {
	p.t.Helper()
	if p.conn == nil {
		_ = p.ln.(*net.TCPListener).SetDeadline(time.Now().Add(expectWithin))
		c, err := p.ln.Accept()
		if err != nil {
			p.t.Fatalf("the hub did not connect to the phone: %v", err)
		}
		p.conn, p.rd = c, bufio.NewReader(c)
	}
	_ = p.conn.SetReadDeadline(time.Now().Add(expectWithin))
	var head strings.Builder
	length := 0
	for {
		line, err := p.rd.ReadString('\n')
		if err != nil {
			p.t.Fatalf("the phone's connection: %v", err)
		}
		head.WriteString(line)
		if name, v, ok := strings.Cut(line, ":"); ok && (strings.EqualFold(strings.TrimSpace(name), "Content-Length") || strings.TrimSpace(name) == "l") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if line == "\r\n" {
			break
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(p.rd, body); err != nil {
		p.t.Fatal(err)
	}
	m, err := sip.ParseMessage(append([]byte(head.String()), body...))
	if err != nil {
		p.t.Fatal(err)
	}
	req, ok := m.(*sip.Request)
	if !ok || req.Method != method {
		p.t.Fatalf("the phone got %s, want a %s", firstLine(m.String()), method)
	}
	return req
}

func (p *tcpPhone) send(msg string) {
	p.t.Helper()
	if _, err := io.WriteString(p.conn, msg); err != nil {
		p.t.Fatal(err)
	}
}

// A 2xx passed on past its transaction goes to the caller on the caller's
// transport, not on the one it came in on: here the agent's phone is on
// TCP and the caller on UDP.
func TestStrayAnswerAcrossTransports(t *testing.T) {
	e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{})
	e.addAgents(t, "2001")
	port := sipptest.FreePort(t)
	e.register(t, "tcp", port, "2001")
	agent := newTCPPhone(t, port)
	caller := newParty(t, "127.0.0.1")
	tag := "c" + strconv.FormatInt(time.Now().UnixNano(), 36)
	caller.sendRaw(e.addr, "INVITE sip:12345@"+e.addr+" SIP/2.0\n"+
		"Via: SIP/2.0/UDP "+caller.addr+";branch=z9hG4bK-inv-"+tag+";rport\n"+
		"Max-Forwards: 70\n"+
		"From: <sip:13800138000@"+caller.addr+">;tag="+tag+"\n"+
		"To: <sip:12345@"+e.addr+">\n"+
		"Call-ID: tcp-"+tag+"@test\n"+
		"CSeq: 1 INVITE\n"+
		"Contact: <sip:13800138000@"+caller.addr+">\n"+
		"Content-Length: 0\n\n")
	inv := agent.request(sip.INVITE)
	ok := sip.NewResponseFromRequest(inv, 200, "OK", nil)
	ok.AppendHeader(sip.NewHeader("Contact", "<sip:2001@127.0.0.1:"+strconv.Itoa(port)+";transport=tcp>"))
	agent.send(ok.String())
	if res := caller.final(sip.INVITE); res.StatusCode != 200 {
		t.Fatalf("the call: %d %s", res.StatusCode, res.Reason)
	}

	hubBranch, _ := ok.Via().Params.Get("branch")
	stray := strings.Replace(ok.String(), hubBranch, "z9hG4bK-gone-"+tag, 1)
	stray = strings.Replace(stray, "Content-Length: 0\r\n", "X-Resent: yes\r\nContent-Length: 0\r\n", 1)
	if !strings.Contains(stray, "X-Resent") {
		t.Fatalf("no Content-Length line to mark the resent 200 by:\n%s", stray)
	}
	agent.send(stray)
	for deadline := time.Now().Add(expectWithin); ; {
		res := caller.final(sip.INVITE)
		if res.GetHeader("X-Resent") == nil {
			if time.Now().After(deadline) {
				t.Fatal("the resent 200 did not reach the caller")
			}
			continue // the first 200 again
		}
		if vias := res.GetHeaders("Via"); len(vias) != 1 || !strings.Contains(vias[0].Value(), caller.addr) {
			t.Fatalf("the resent 200 reached the caller with Via %v, want only the caller's own", vias)
		}
		break
	}
}

// The requests within a call may reach another instance than the one
// that proxied its INVITE: the dialog token lets any instance of the
// deployment route them, and none of another deployment (another secret).
func TestInDialogAcrossInstances(t *testing.T) {
	store, presence, bus := sqliteStore(t), acd.NewMemory(acd.LongestIdle), pubsub.NewMemory()
	a := newSIPEnv(t, store, presence, bus, hotline.SIPConfig{})
	b := newSIPEnv(t, store, presence, bus, hotline.SIPConfig{})
	stranger := newSIPEnv(t, store, presence, bus, hotline.SIPConfig{NonceSecret: []byte("another deployment's secret")})
	agent := registeredAgent(t, a)
	caller := newParty(t, "127.0.0.1")
	c := placeCall(t, a.addr, caller, agent)

	viaB, agentViaB := c.caller.onInstance(b.addr), c.agent.onInstance(b.addr)
	viaB.exchange(t, agent, sip.INFO)
	agentViaB.exchange(t, caller, sip.INFO)

	caller.sendRaw(stranger.addr, c.caller.onInstance(stranger.addr).raw(sip.BYE, 0, ""))
	if res := caller.final(sip.BYE); res.StatusCode != 481 {
		t.Fatalf("BYE through another deployment's hub: %d %s, want 481", res.StatusCode, res.Reason)
	}
	agent.silent("the agent's phone", quietFor)

	a.sip.RenewHolds(time.Now())
	if n := a.sip.Dialogs(); n != 1 {
		t.Fatalf("instance A keeps %d calls while the call goes on, want 1", n)
	}

	viaB.cseq = 10
	viaB.exchange(t, agent, sip.BYE)
	if got := a.waitCalls(t, 1)[c.callID]; got.Cause != ticketing.CauseAnswered {
		t.Fatalf("the call in the log: %+v", got)
	}
	waitAgent(t, presence, "2001", acd.Available)
	// The BYE went through B: A lets the call go at its next renewal.
	a.sip.RenewHolds(time.Now())
	if n := a.sip.Dialogs(); n != 0 {
		t.Errorf("instance A keeps %d calls after the BYE through B, want 0", n)
	}
}

func waitAgent(t *testing.T, p acd.Presence, agent string, want acd.State) {
	t.Helper()
	var st acd.Status
	for deadline := time.Now().Add(expectWithin); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		if st, err = p.Status(context.Background(), agent, time.Now()); err == nil && st.State == want {
			return
		}
	}
	t.Fatalf("agent %s is %s, want %s", agent, st.State, want)
}

// forged is an in-dialog request an outsider makes up: Route naming the
// hub (with route, any dialog parameter), then whatever it wants reached.
func forged(method sip.RequestMethod, ruri, from, callID string, routes ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\nVia: SIP/2.0/UDP {{local}};branch=z9hG4bK-forged-%d;rport\nMax-Forwards: 70\n",
		method, ruri, time.Now().UnixNano())
	for _, r := range routes {
		fmt.Fprintf(&b, "Route: %s\n", r)
	}
	fmt.Fprintf(&b, "From: <sip:%s>;tag=attacker\nTo: <sip:12345@hub>;tag=victim\nCall-ID: %s\nCSeq: 7 %s\nContent-Length: 0\n\n",
		from, callID, method)
	return b.String()
}

// attack sends msg from p to hub ({{local}} is p's address) and returns
// the hub's final answer, or nil for none within wait. A final answer to
// an INVITE is acknowledged, as any UA would, so it is not repeated.
func (p *sipParty) attack(hub, msg string, wait time.Duration) *sip.Response {
	p.t.Helper()
	msg = strings.ReplaceAll(msg, "{{local}}", p.addr)
	p.sendRaw(hub, msg)
	deadline := time.After(wait)
	for {
		select {
		case m := <-p.got:
			res, ok := m.(*sip.Response)
			if !ok {
				p.t.Fatalf("the attacker got a request: %s", firstLine(m.String()))
			}
			if res.IsProvisional() {
				continue
			}
			if res.CSeq().MethodName == sip.INVITE {
				parsed, err := sip.ParseMessage([]byte(strings.ReplaceAll(msg, "\n", "\r\n")))
				if err != nil {
					p.t.Fatal(err)
				}
				inv := parsed.(*sip.Request)
				ack := sip.NewRequest(sip.ACK, inv.Recipient)
				ack.AppendHeader(sip.HeaderClone(inv.Via()))
				ack.AppendHeader(sip.HeaderClone(inv.From()))
				ack.AppendHeader(sip.HeaderClone(res.To()))
				ack.AppendHeader(sip.HeaderClone(inv.CallID()))
				ack.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.ACK})
				ack.SetBody(nil)
				p.send(hub, ack)
			}
			return res
		case <-deadline:
			return nil
		}
	}
}

// The hole: an outsider sends requests "within a call" that never was, or
// that is someone else's, with a Route naming the hub and a Request-URI or
// next Route pointing where the outsider wants the hub to send (a
// carrier: toll fraud; an internal host: SSRF). Every one is answered 481
// (an ACK: nothing) and nothing reaches the target, nor the call's own
// parties; the real call goes on and ends normally.
func TestForgedInDialogRequestsGoNowhere(t *testing.T) {
	e, agent := agentEnv(t, hotline.SIPConfig{})
	sink := newParty(t, "127.0.0.1")
	hub := "<sip:" + e.addr + ";lr>"
	attacker := newParty(t, "127.0.0.2")
	methods := []sip.RequestMethod{sip.BYE, sip.INFO, sip.INVITE, sip.MESSAGE, sip.NOTIFY, sip.UPDATE, sip.PRACK, sip.REFER, sip.CANCEL, sip.ACK}

	// No such call at all.
	for _, m := range methods {
		for _, tc := range []struct {
			name   string
			ruri   string
			routes []string
		}{
			{"Request-URI", "sip:18600000000@" + sink.addr, []string{hub}},
			{"next Route", "sip:18600000000@hub", []string{hub, "<sip:" + sink.addr + ";lr>"}},
			{"made-up token", "sip:18600000000@" + sink.addr, []string{"<sip:" + e.addr + ";lr;dialog=AQAAAAAAAAAA>"}},
			{"no Route", "sip:18600000000@" + sink.addr, nil},
		} {
			res := attacker.attack(e.addr, forged(m, tc.ruri, "18600000000@"+attacker.addr, "forged-"+string(m)+"@x", tc.routes...), answerWait(m))
			switch {
			case m == sip.ACK && res != nil:
				t.Errorf("forged ACK (%s) answered %d", tc.name, res.StatusCode)
			case m != sip.ACK && (res == nil || res.StatusCode != 481):
				t.Errorf("forged %s (%s): %v, want 481", m, tc.name, res)
			}
		}
	}
	sink.silent("the attacker's target", quietFor)

	// A real call, and the outsider knows its Call-ID, tags and the hub's
	// Route with its token (it sniffed them): from its own address, as
	// either party, it still gets nowhere.
	caller := newParty(t, "127.0.0.1")
	c := placeCall(t, e.addr, caller, agent)
	for _, m := range methods {
		for _, tc := range []struct {
			name   string
			from   *dialog
			routes []string
		}{
			{"as the caller", c.caller, c.caller.routes},
			{"as the agent", c.agent, c.agent.routes},
			{"as the caller, no Route", c.caller, nil},
			{"as the caller, then to the target", c.caller, append(slices.Clone(c.caller.routes), "<sip:"+sink.addr+";lr>")},
		} {
			d := *tc.from
			d.party, d.routes, d.target = attacker, tc.routes, "sip:18600000000@"+sink.addr
			msg := strings.ReplaceAll(d.raw(m, 100, ""), "Via: SIP/2.0/UDP "+attacker.addr, "Via: SIP/2.0/UDP {{local}}")
			res := attacker.attack(e.addr, msg, answerWait(m))
			switch {
			case m == sip.ACK && res != nil:
				t.Errorf("ACK %s answered %d", tc.name, res.StatusCode)
			case m != sip.ACK && (res == nil || res.StatusCode != 481):
				t.Errorf("%s %s: %v, want 481", m, tc.name, res)
			}
		}
	}

	// From the caller's own address, a token with one byte changed (to
	// point the request elsewhere) is no token.
	for _, i := range []int{2, 12, 20, 30} {
		d := *c.caller
		d.routes = []string{flipTokenByte(t, c.caller.routes[0], i)}
		msg := d.raw(sip.INFO, 0, "")
		caller.sendRaw(e.addr, msg)
		if res := caller.final(sip.INFO); res.StatusCode != 481 {
			t.Errorf("token byte %d flipped: %d, want 481", i, res.StatusCode)
		}
	}

	sink.silent("the attacker's target", quietFor)
	agent.silent("the agent's phone", 100*time.Millisecond) // the sink's window has passed
	if cs := e.calls(t); cs[c.callID] == nil || cs[c.callID].Ended() {
		t.Fatalf("the real call after the attacks: %+v", cs[c.callID])
	}
	c.caller.cseq = 200
	c.caller.exchange(t, agent, sip.BYE)
	if got := e.waitCalls(t, 1)[c.callID]; got.Cause != ticketing.CauseAnswered {
		t.Fatalf("the call in the log: %+v", got)
	}
}

// answerWait is how long an attack waits for the hub's answer: an ACK is
// never answered, so its wait is short (the target's silence is checked
// once, over a longer window, after all the attacks).
func answerWait(m sip.RequestMethod) time.Duration {
	if m == sip.ACK {
		return 300 * time.Millisecond
	}
	return expectWithin
}

// flipTokenByte changes byte i of the dialog token in route.
func flipTokenByte(t *testing.T, route string, i int) string {
	t.Helper()
	_, after, ok := strings.Cut(route, "dialog=")
	if !ok {
		t.Fatalf("no token in %s", route)
	}
	tok := strings.TrimRight(after, ">")
	if j := strings.IndexByte(tok, ';'); j >= 0 {
		tok = tok[:j]
	}
	b, err := hex.DecodeString(tok)
	if err != nil || i >= len(b) {
		t.Fatalf("token %q: %v", tok, err)
	}
	b[i] ^= 0x40
	return strings.Replace(route, tok, hex.EncodeToString(b), 1)
}

// A caller over UDP and an agent over TCP: the hub record-routes twice
// (one entry per transport, both with the call's token), and the ACK and
// BYE find their way through both.
func TestDialogAcrossTransports(t *testing.T) {
	e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{})
	e.addAgents(t, "2001")
	port := sipptest.FreePort(t)
	e.register(t, "tcp", port, "2001")
	uas := sipptest.Start(t, "agent_uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "t1")
	res := sipptest.Run(t, "caller_uac.xml", e.addr, "-s", "12345", "-d", "200", "-m", "2", "-r", "5",
		"-i", "127.0.0.1", "-t", "u1", "-timeout", "30s")
	if res.Successful != 2 || res.Failed != 0 {
		t.Fatalf("callers over UDP: %s", res)
	}
	for id, c := range e.waitCalls(t, 2) {
		if c.Cause != ticketing.CauseAnswered {
			t.Errorf("call %s: cause %q", id, c.Cause)
		}
	}
	if res := uas.Stop(); res.Successful != 2 || res.Failed != 0 {
		t.Errorf("the agent's phone over TCP: %s", res)
	}
}
