package hotline

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/yihao-city/yihao/limit"
)

// The socket's filter reads the To header from raw bytes: in either form
// of its name, in any case, and a tag only outside the URI's brackets.
func TestShedHeaderReading(t *testing.T) {
	for _, c := range []struct {
		msg   string
		to    string // "" for none
		isTag bool
	}{
		{"INVITE sip:12345@h SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nTo: <sip:12345@h>\r\nFrom: <sip:1@a>;tag=9\r\n\r\n", "<sip:12345@h>", false},
		{"INVITE sip:12345@h SIP/2.0\r\nTO: <sip:12345@h>;tag=abc\r\n\r\n", "<sip:12345@h>;tag=abc", true},
		{"INVITE sip:12345@h SIP/2.0\r\nt:sip:12345@h;TAG=x\r\n\r\n", "sip:12345@h;TAG=x", true},
		{"INVITE sip:12345@h SIP/2.0\r\nTo: \"a;tag=b\" <sip:12345@h;tag=uri>\r\n\r\n", "\"a;tag=b\" <sip:12345@h;tag=uri>", false},
		{"INVITE sip:12345@h SIP/2.0\r\nTopic: x\r\n\r\nTo: <sip:body@h>;tag=1\r\n", "", false},
		{"INVITE sip:12345@h SIP/2.0\nTo: <sip:12345@h>;tag=lf\n\n", "<sip:12345@h>;tag=lf", true},
	} {
		got := headerLine([]byte(c.msg), "to", "t")
		if string(got) != c.to || (got == nil) != (c.to == "") {
			t.Errorf("%q: To %q, want %q", c.msg, got, c.to)
			continue
		}
		if got != nil && hasTag(got) != c.isTag {
			t.Errorf("%q: tag %v, want %v", c.to, !c.isTag, c.isTag)
		}
	}
}

// A call's key: the CSeq's number as a number; none for a Call-ID the
// call log refuses or an odd CSeq, which the handler then weighs.
func TestShedCallKey(t *testing.T) {
	a, ok1 := callKey([]byte(" x@h "), []byte("01  INVITE"))
	b, ok2 := callKey([]byte("x@h"), []byte("1 INVITE"))
	if !ok1 || !ok2 || a != b {
		t.Errorf("one call, two spellings: %q %v, %q %v", a, ok1, b, ok2)
	}
	for _, c := range [][2]string{{"", "1 INVITE"}, {strings.Repeat("x", 300), "1 INVITE"}, {"x", "INVITE"}, {"x", "-1 INVITE"}} {
		if k, ok := callKey([]byte(c[0]), []byte(c[1])); ok {
			t.Errorf("callKey(%.20q, %q) = %q; want none", c[0], c[1], k)
		}
	}
}

// The socket's filter, past the rate: a new call refused with a 503 sent
// from the socket to where its Via says (the source's port only with
// rport), its ACK dropped; a repeat of a call admitted before the bucket
// ran dry passes on to sipgo, whose transaction absorbs it, and onInvite
// knows it weighed; anything else passes untouched.
func TestShedFilter(t *testing.T) {
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	s := &SIP{ctx: context.Background(), log: slog.New(slog.DiscardHandler),
		cfg:      SIPConfig{Now: func() time.Time { return now }},
		callRate: limit.NewLocal(limit.Rate{Events: 1, Period: time.Hour})} // one call, then none
	d := newShedder(s)
	s.sock = d
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	d.add(pc)
	caller, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	// The caller sends from an ephemeral port and listens on phone's.
	phone, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	props := sip.TransportReadProps{Transport: "UDP", LocalAddr: pc.LocalAddr(), RemoteAddr: caller.LocalAddr()}
	via := phone.LocalAddr().String()
	invite := func(callID string) []byte {
		return []byte("INVITE sip:12345@127.0.0.1 SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + via + ";branch=z9hG4bK" + callID + "\r\n" +
			"From: <sip:13800000000@127.0.0.1>;tag=f" + callID + "\r\nTo: <sip:12345@127.0.0.1>\r\n" +
			"Call-ID: " + callID + "\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	}
	pass := func(what string, data []byte) {
		t.Helper()
		if got, err := d.filter(props, data); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: filtered to %q, %v; want it passed on", what, got, err)
		}
	}
	pass("the first call (the bucket's one token)", invite("a"))
	pass("the first call's INVITE again", invite("a"))
	pass("a response", []byte("SIP/2.0 180 Ringing\r\nCall-ID: x\r\n\r\n"))
	pass("a re-INVITE", []byte("INVITE sip:a@b SIP/2.0\r\nTo: <sip:12345@h>;tag=1\r\nCall-ID: c\r\nCSeq: 2 INVITE\r\n\r\n"))
	first, err := sip.ParseMessage(invite("a"))
	if err != nil {
		t.Fatal(err)
	}
	if !d.weighed(first.(*sip.Request)) {
		t.Error("onInvite would weigh again the call the socket admitted")
	}
	if got, _ := d.filter(props, invite("b")); got != nil {
		t.Fatalf("a second call past the rate passed on: %q", got)
	}
	_ = phone.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := phone.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sip.ParseMessage(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	r, ok := res.(*sip.Response)
	if !ok || r.StatusCode != 503 || r.CallID().Value() != "b" || r.GetHeader("Retry-After") == nil {
		t.Fatalf("the refusal: %s", buf[:n])
	}
	if tag, _ := r.To().Params.Get("tag"); tag != string(d.tag) {
		t.Errorf("503 To tag %q, want the shedder's %q", tag, d.tag)
	}
	ack := []byte("ACK sip:12345@127.0.0.1 SIP/2.0\r\nTo: <sip:12345@127.0.0.1>;tag=" + string(d.tag) + "\r\nCall-ID: b\r\nCSeq: 1 ACK\r\n\r\n")
	if got, _ := d.filter(props, ack); got != nil {
		t.Errorf("the ACK of the 503 passed on")
	}
	tcp := props
	tcp.Transport = "TCP"
	if got, _ := d.filter(tcp, invite("c")); got == nil {
		t.Error("a call over TCP refused by the socket's filter; the handler weighs those")
	}
	// With rport the 503 goes back to the port it came from.
	via += ";rport"
	if got, _ := d.filter(props, invite("d")); got != nil {
		t.Fatalf("a call past the rate passed on: %q", got)
	}
	_ = caller.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := caller.ReadFrom(buf); err != nil || !bytes.Contains(buf[:n], []byte("Call-ID: d")) {
		t.Errorf("the 503 to a Via with rport: %q, %v", buf[:n], err)
	}
	// A caller the handlers' per-source limit sees first is left to them.
	s.cfg.Limiter = limit.NewLocal(limit.PerMinute(60, 20))
	pass("a call past the rate from a phone under a per-source limit", invite("e"))
	s.cfg.Limiter = nil
	pass("another ACK", []byte("ACK sip:12345@127.0.0.1 SIP/2.0\r\nTo: <sip:12345@127.0.0.1>;tag=agent\r\nCall-ID: a\r\nCSeq: 1 ACK\r\n\r\n"))
	// 16 s on, the admitted call is forgotten: its INVITE now would be weighed.
	now = now.Add(2 * recentPeriod)
	if d.admitted.has("a\x00"+"1 INVITE", now) {
		t.Error("an admitted call remembered past two periods")
	}
}
