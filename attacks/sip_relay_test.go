package attacks

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/yihao-city/yihao/channels/hotline/sipptest"
)

// The hole: the SIP proxy relayed any "in-dialog" request whose Route named
// it (BYE, INFO, re-INVITE, MESSAGE or INVITE with a To tag, NOTIFY, ...)
// to its next Route or Request-URI, although no such call existed: an
// outsider could place calls to a carrier from the hub's trusted address
// (toll fraud) or reach internal hosts (SSRF). The class: Yihao sends a SIP
// request only to a destination it chose; within a call, only from one of
// the call's parties to the other.
//
// The attacker forges requests with no call behind them, then with a real
// call's Call-ID, tags and Record-Route token from its own address, each
// pointing at a UDP socket of the test's (the sink). Every one is answered
// 481 (an ACK: nothing), the sink hears nothing, the agent's phone gets
// nothing but its real call, which ends normally with the caller's BYE.
func TestSIPRelayForgedInDialog(t *testing.T) {
	const agentPassword = "Relay-test-agent-pw"
	eachStore(t, func(t *testing.T, store string) {
		s := Start(t, store, Options{Setup: func(s *Server) {
			s.MustCommand(t, agentPassword+"\n", "agent", "add", "--ext", "2001", "--password", "-")
		}})
		sink := NewSink(t)
		attacker := listenUDP(t, "127.0.0.2")
		methods := []string{"BYE", "INFO", "INVITE", "MESSAGE", "NOTIFY", "UPDATE", "PRACK", "REFER", "CANCEL", "ACK"}

		// No call at all: Route names the hub, then the sink is the target.
		for _, m := range methods {
			for _, routes := range [][]string{
				{"<sip:" + s.SIP + ";lr>"},
				{"<sip:" + s.SIP + ";lr>", "<sip:" + sink.Addr + ";lr>"},
				{"<sip:" + s.SIP + ";lr;dialog=AQAAAAAAAAAAAQQKAAAB>"},
			} {
				msg := inDialog(m, "sip:+8618600000000@"+sink.Addr, attacker.addr, routes,
					"<sip:18600000000@"+attacker.addr+">;tag=a", "<sip:12345@"+s.SIP+">;tag=b", "forged-"+m+"@attacker", 7)
				checkRefused(t, attacker, s.SIP, m, msg, "no call")
			}
		}

		// A real call: the agent's phone (sipp) answers the caller (the test).
		port := sipptest.FreePort(t)
		reg := sipptest.Run(t, "register.xml", s.SIP, "-inf", sipptest.InjectionFile(t, []string{"2001", agentPassword}),
			"-m", "1", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "u1", "-timeout", "20s")
		if reg.Successful != 1 {
			t.Fatalf("registering the agent: %s", reg)
		}
		phone := sipptest.Start(t, "agent_uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "u1")
		caller := listenUDP(t, "127.0.0.1")
		c := dial(t, caller, s.SIP)

		// The attacker knows everything about the call but is not a party.
		for _, m := range methods {
			for _, side := range []struct {
				name     string
				from, to string
				routes   []string
			}{
				{"as the caller", c.from, c.to, c.routes},
				{"as the agent", c.to, c.from, c.routes},
				{"as the caller, then the sink", c.from, c.to, append(slices.Clone(c.routes), "<sip:"+sink.Addr+";lr>")},
			} {
				msg := inDialog(m, "sip:+8618600000000@"+sink.Addr, attacker.addr, side.routes, side.from, side.to, c.callID, 50)
				checkRefused(t, attacker, s.SIP, m, msg, side.name)
			}
		}
		// The caller's own address with one character of the token changed.
		i := strings.Index(c.routes[0], "dialog=") + len("dialog=") + 10
		flipped := byte('A')
		if c.routes[0][i] == 'A' {
			flipped = 'B'
		}
		bent := c.routes[0][:i] + string(flipped) + c.routes[0][i+1:]
		checkRefused(t, caller, s.SIP, "INFO", inDialog("INFO", c.target, caller.addr, []string{bent}, c.from, c.to, c.callID, 60), "bent token")

		sink.Silent(t, 2*time.Second)
		caller.send(t, s.SIP, inDialog("BYE", c.target, caller.addr, c.routes, c.from, c.to, c.callID, 70))
		if res := caller.final(t, "BYE", 10*time.Second); res == nil || res.StatusCode != 200 {
			t.Fatalf("the caller's own BYE: %v, want the agent's 200", res)
		}
		if res := phone.Stop(); res.Successful != 1 || res.Failed != 0 {
			t.Fatalf("the agent's phone got more than its call: %s", res)
		}
	})
}

// udpParty is a socket of the test's own that speaks SIP.
type udpParty struct {
	conn *net.UDPConn
	addr string
}

func listenUDP(t *testing.T, ip string) *udpParty {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpParty{conn: c, addr: c.LocalAddr().String()}
}

func (p *udpParty) send(t *testing.T, to, msg string) {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
	if _, err := p.conn.WriteToUDP([]byte(msg), a); err != nil {
		t.Fatal(err)
	}
}

// final is the next final response to a method request within wait, or
// nil. Others are skipped: a 200 to the INVITE may come again while the
// agent's phone waits for the ACK.
func (p *udpParty) final(t *testing.T, method string, wait time.Duration) *sip.Response {
	t.Helper()
	deadline := time.Now().Add(wait)
	buf := make([]byte, 65535)
	for {
		if err := p.conn.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return nil
		}
		m, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			t.Fatalf("%s got an unparsable message: %v\n%s", p.addr, err, buf[:n])
		}
		res, ok := m.(*sip.Response)
		if !ok {
			t.Fatalf("%s got a request:\n%s", p.addr, m)
		}
		if !res.IsProvisional() && res.CSeq() != nil && string(res.CSeq().MethodName) == method {
			return res
		}
	}
}

// inDialog is a request within a call, as text.
func inDialog(method, ruri, local string, routes []string, from, to, callID string, cseq int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-relay-%d;rport\nMax-Forwards: 70\n",
		method, ruri, local, time.Now().UnixNano())
	for _, r := range routes {
		fmt.Fprintf(&b, "Route: %s\n", r)
	}
	fmt.Fprintf(&b, "From: %s\nTo: %s\nCall-ID: %s\nCSeq: %d %s\nContact: <sip:x@%s>\nContent-Length: 0\n\n",
		from, to, callID, cseq, method, local)
	return b.String()
}

// checkRefused sends msg and wants 481, or for an ACK no answer at all. A
// final answer to an INVITE is acknowledged so that it is not repeated.
func checkRefused(t *testing.T, p *udpParty, hub, method, msg, what string) {
	t.Helper()
	p.send(t, hub, msg)
	wait := 10 * time.Second
	if method == "ACK" {
		wait = 300 * time.Millisecond
	}
	res := p.final(t, method, wait)
	switch {
	case method == "ACK" && res != nil:
		t.Errorf("%s ACK answered %d", what, res.StatusCode)
	case method != "ACK" && (res == nil || res.StatusCode != 481):
		t.Errorf("%s %s: %v, want 481", what, method, res)
	}
	if method == "INVITE" && res != nil {
		lines := strings.Split(msg, "\n")
		lines[0] = strings.Replace(lines[0], "INVITE", "ACK", 1)
		for i, l := range lines {
			switch {
			case strings.HasPrefix(l, "To:"):
				lines[i] = "To: " + res.To().Value()
			case strings.HasPrefix(l, "CSeq:"):
				lines[i] = strings.Replace(l, "INVITE", "ACK", 1)
			}
		}
		p.send(t, hub, strings.Join(lines, "\n"))
	}
}

// sipCall is the caller's side of an answered call.
type sipCall struct {
	callID, from, to, target string
	routes                   []string
}

// dial calls 12345 from p and acknowledges the answer.
func dial(t *testing.T, p *udpParty, hub string) sipCall {
	t.Helper()
	callID := "relay-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	from := "<sip:13800138000@" + p.addr + ">;tag=" + callID
	p.send(t, hub, "INVITE sip:12345@"+hub+" SIP/2.0\nVia: SIP/2.0/UDP "+p.addr+";branch=z9hG4bK-"+callID+";rport\n"+
		"Max-Forwards: 70\nFrom: "+from+"\nTo: <sip:12345@"+hub+">\nCall-ID: "+callID+"\nCSeq: 1 INVITE\n"+
		"Contact: <sip:13800138000@"+p.addr+">\nContent-Length: 0\n\n")
	ok := p.final(t, "INVITE", 20*time.Second)
	if ok == nil || ok.StatusCode != 200 || ok.Contact() == nil {
		t.Fatalf("the call was not answered: %v", ok)
	}
	c := sipCall{callID: callID, from: from, to: ok.To().Value(), target: ok.Contact().Address.String()}
	for _, h := range ok.GetHeaders("Record-Route") {
		for v := range strings.SplitSeq(h.Value(), ",") {
			c.routes = append(c.routes, strings.TrimSpace(v))
		}
	}
	if len(c.routes) == 0 || !strings.Contains(c.routes[0], "dialog=") {
		t.Fatalf("the answer has no Record-Route with a dialog token: %v", c.routes)
	}
	slices.Reverse(c.routes)
	p.send(t, hub, inDialog("ACK", c.target, p.addr, c.routes, c.from, c.to, callID, 1))
	return c
}
