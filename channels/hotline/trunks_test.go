package hotline_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/hotline"
	"github.com/yihao-city/yihao/channels/hotline/sipptest"
	"github.com/yihao-city/yihao/ticketing"
)

// udpSocket is a UDP socket of the test's own on addr, closed when t ends.
func udpSocket(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends msg from c to the server and returns the status lines of
// its answers up to the first final one ("" when none came within wait).
func exchange(t *testing.T, c *net.UDPConn, to, msg string, wait time.Duration) (final string) {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
	if _, err := c.WriteToUDP([]byte(msg), raddr); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	buf := make([]byte, 65535)
	for {
		c.SetReadDeadline(deadline)
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return ""
		}
		if from.String() != raddr.String() {
			continue
		}
		line := firstLine(string(buf[:n]))
		if strings.HasPrefix(line, "SIP/2.0 1") || !strings.HasPrefix(line, "SIP/2.0 ") {
			continue
		}
		return line
	}
}

// silent fails t if anything arrives at c within wait.
func silent(t *testing.T, c *net.UDPConn, wait time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65535)
	n, from, err := c.ReadFromUDP(buf)
	if err == nil {
		t.Fatalf("%s received %d bytes from %s:\n%s", c.LocalAddr(), n, from, buf[:n])
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatal(err)
	}
}

// textMessage is a MESSAGE to line sent from local, claiming to come from
// the number at fromHost (what a spoofed text names for the reply), with
// extra headers.
func textMessage(line, local, number, fromHost, id, text string, extra ...string) string {
	h := ""
	for _, x := range extra {
		h += x + "\n"
	}
	return fmt.Sprintf("MESSAGE sip:%s@127.0.0.1 SIP/2.0\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s;rport\n"+
		"Max-Forwards: 70\n"+
		"From: <sip:%s@%s>;tag=t-%s\n"+
		"To: <sip:%s@127.0.0.1>\n"+
		"Call-ID: %s@test\n"+
		"CSeq: 1 MESSAGE\n"+
		"Contact: <sip:%s@%s>\n"+
		"%s"+
		"Content-Type: text/plain;charset=UTF-8\n"+
		"Content-Length: %d\n\n%s", line, local, id, number, fromHost, id, line, id, number, fromHost, h, len(text), text)
}

// lineInvite is an INVITE to line from local with extra headers.
func lineInvite(line, local, number, id string, extra ...string) string {
	h := ""
	for _, x := range extra {
		h += x + "\n"
	}
	return fmt.Sprintf("INVITE sip:%s@127.0.0.1 SIP/2.0\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s;rport\n"+
		"Max-Forwards: 70\n"+
		"From: <sip:%s@%s>;tag=t-%s\n"+
		"To: <sip:%s@127.0.0.1>\n"+
		"Call-ID: %s@test\n"+
		"CSeq: 1 INVITE\n"+
		"Contact: <sip:%s@%s>\n"+
		"%s"+
		"Content-Length: 0\n\n", line, local, id, number, local, id, line, id, number, local, h)
}

// With trunks and an SMS gateway configured, line traffic and the caller's
// identity come from them only. From anyone else, a text, a call with a
// forged P-Asserted-Identity and a call naming a diverted line are
// refused 403, make no ticket and no call, and nothing is sent to the
// address the text named. The trunk's calls (with their PAI) and the
// gateway's texts still work, and the ticket number goes back to the
// gateway alone, even for a text from the gateway's host that names
// another address.
func TestLinesFromTrunksOnly(t *testing.T) {
	gw := udpSocket(t, "127.0.0.5:0")
	gwAddr := gw.LocalAddr().String()
	g, err := hotline.ParseGateway(gwAddr)
	if err != nil {
		t.Fatal(err)
	}
	e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{
		Trunks:    []netip.Prefix{netip.MustParsePrefix("127.0.0.6/32")},
		Gateways:  []hotline.Gateway{g},
		QueueWait: 300 * time.Millisecond,
	})
	sink := udpSocket(t, "127.0.0.1:0") // where a spoofed text asks the reply to go
	attacker := udpSocket(t, "127.0.0.1:0")
	local := attacker.LocalAddr().String()

	attacks := map[string]string{
		"text": textMessage("12345", local, "13900139000", sink.LocalAddr().String(), "spoof-text", "我要投诉",
			"P-Asserted-Identity: <tel:+8613900139000>"),
		"call with a forged PAI": lineInvite("12345", local, "13800138000", "spoof-pai", "P-Asserted-Identity: <tel:+8613900139000>"),
		"call naming a diverted line": lineInvite("13800000000", local, "13800138000", "spoof-div",
			"Diversion: <sip:12319@127.0.0.1>;reason=unconditional"),
	}
	for name, msg := range attacks {
		if got := exchange(t, attacker, e.addr, msg, 3*time.Second); !strings.HasPrefix(got, "SIP/2.0 403") {
			t.Errorf("%s from no trunk: %q, want 403", name, got)
		}
	}
	silent(t, sink, 2*time.Second)
	if cs := e.calls(t); len(cs) != 0 {
		t.Errorf("%d calls logged from refused INVITEs", len(cs))
	}
	if ts, err := e.store.List(context.Background(), ticketing.ListFilter{Channel: ticketing.ChannelSMS}); err != nil || len(ts) != 0 {
		t.Fatalf("%d sms tickets after refused texts (err %v)", len(ts), err)
	}

	// The carrier's trunk: its PAI names the caller.
	trunk := udpSocket(t, "127.0.0.6:0")
	if got := exchange(t, trunk, e.addr, lineInvite("12345", trunk.LocalAddr().String(), "anonymous", "trunk-call",
		"P-Asserted-Identity: <tel:+8613700137000>"), 10*time.Second); !strings.HasPrefix(got, "SIP/2.0 486") {
		t.Fatalf("trunk's call with no agent: %q, want 486 after the queue", got)
	}
	cs := e.waitCalls(t, 1)
	if c := cs["trunk-call@test"]; c == nil || c.Caller != "+8613700137000" || c.Line != "12345" {
		t.Fatalf("trunk's call logged as %+v", c)
	}

	// The gateway's text: a ticket, and its number back to the gateway.
	ticketNo := regexp.MustCompile(`[0-9]{14}`)
	if got := exchange(t, gw, e.addr, textMessage("12319", gwAddr, "13800138000", gwAddr, "gw-text", "路灯坏了"), 5*time.Second); !strings.HasPrefix(got, "SIP/2.0 202") {
		t.Fatalf("gateway's text: %q, want 202", got)
	}
	reply := readRequest(t, gw, 10*time.Second)
	if !strings.HasPrefix(reply, "MESSAGE sip:13800138000@"+gwAddr) || !ticketNo.MatchString(reply) {
		t.Fatalf("gateway got %q, want the ticket number", firstLine(reply))
	}
	answer(t, gw, e.addr, reply)

	// A text from the gateway's host (another port: a spoof of its address)
	// naming the sink: a ticket (the source is trusted), but the reply goes
	// to the gateway as configured, never to the sink or the sending port.
	other := udpSocket(t, "127.0.0.5:0")
	if got := exchange(t, other, e.addr, textMessage("12345", other.LocalAddr().String(), "13900139000", sink.LocalAddr().String(), "gw-spoof", "井盖丢了"), 5*time.Second); !strings.HasPrefix(got, "SIP/2.0 202") {
		t.Fatalf("text from the gateway's host: %q, want 202", got)
	}
	reply = readRequest(t, gw, 10*time.Second)
	if !strings.HasPrefix(reply, "MESSAGE sip:13900139000@"+gwAddr) {
		t.Fatalf("gateway got %q", firstLine(reply))
	}
	answer(t, gw, e.addr, reply)
	silent(t, sink, time.Second)
	silent(t, other, time.Second)

	ts, err := e.store.List(context.Background(), ticketing.ListFilter{Channel: ticketing.ChannelSMS})
	if err != nil || len(ts) != 2 {
		t.Fatalf("%d sms tickets, want the gateway's 2 (err %v)", len(ts), err)
	}
}

// readRequest waits for one request at c and returns it.
func readRequest(t *testing.T, c *net.UDPConn, wait time.Duration) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65535)
	for {
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("no request at %s: %v", c.LocalAddr(), err)
		}
		if m := string(buf[:n]); !strings.HasPrefix(m, "SIP/2.0 ") {
			return m
		}
	}
}

// answer sends 200 OK for req back to the server.
func answer(t *testing.T, c *net.UDPConn, to, req string) {
	t.Helper()
	var hs []string
	for _, l := range strings.Split(req, "\r\n")[1:] {
		for _, h := range []string{"Via:", "From:", "To:", "Call-ID:", "CSeq:"} {
			if strings.HasPrefix(l, h) {
				hs = append(hs, l)
			}
		}
	}
	raddr, _ := net.ResolveUDPAddr("udp", to)
	res := "SIP/2.0 200 OK\r\n" + strings.Join(hs, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.WriteToUDP([]byte(res), raddr); err != nil {
		t.Fatal(err)
	}
}

// The carrier's trunk, by sipp: a call from the trunk is answered by a
// registered agent (the agents register from elsewhere), and a text from
// the gateway gets its ticket number back.
func TestTrunkStillWorks(t *testing.T) {
	gwPort := sipptest.FreePort(t)
	g, err := hotline.ParseGateway("sip:127.0.0.5:" + strconv.Itoa(gwPort) + ";transport=udp")
	if err != nil {
		t.Fatal(err)
	}
	e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{
		Trunks: []netip.Prefix{netip.MustParsePrefix("127.0.0.6/32")}, Gateways: []hotline.Gateway{g},
	})
	e.addAgents(t, "2001")
	port := sipptest.FreePort(t)
	e.register(t, "udp", port, "2001")
	uas := sipptest.Start(t, "agent_uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "u1", "-d", "100")
	if res := sipptest.Run(t, "caller_uac.xml", e.addr, "-s", "12345", "-m", "2", "-d", "100", "-i", "127.0.0.6", "-t", "u1", "-timeout", "20s"); res.Successful != 2 {
		t.Fatalf("calls from the trunk: %s", res)
	}
	if res := uas.Stop(); res.Successful != 2 {
		t.Errorf("agent's phone: %s", res)
	}
	res := sipptest.Run(t, "message_uac.xml", e.addr, "-oocsf", sipptest.Scenario("message_ticket_uas.xml"),
		"-s", "12345", "-d", "1500", "-m", "1", "-i", "127.0.0.5", "-p", strconv.Itoa(gwPort), "-t", "u1", "-timeout", "20s")
	if res.Successful != 1 || res.AutoAnswered != 1 {
		t.Fatalf("gateway: %s", res)
	}
}

func TestParseGateway(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.20:5070":                       "10.0.0.20:5070/udp",
		"10.0.0.20":                            "10.0.0.20:5060/udp",
		"sip:10.0.0.20:5061;transport=tls":     "10.0.0.20:5061/tls",
		"SIP:[2001:db8::1]:5060;transport=tcp": "[2001:db8::1]:5060/tcp",
	} {
		g, err := hotline.ParseGateway(in)
		if err != nil || g.Addr.String()+"/"+g.Transport != want {
			t.Errorf("ParseGateway(%q) = %v/%s, %v; want %s", in, g.Addr, g.Transport, err, want)
		}
	}
	for _, bad := range []string{"", "gw.example:5060", "sip:10.0.0.20;transport=sctp", "10.0.0.20:0", "10.0.0.0/24"} {
		if _, err := hotline.ParseGateway(bad); err == nil {
			t.Errorf("ParseGateway(%q) accepted", bad)
		}
	}
}
