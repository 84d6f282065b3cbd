package hotline

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/yihao-city/yihao/ticketing"
)

// Shedding at the socket. Past MaxCallRate a new call over UDP is refused
// before sipgo sees it: the datagram is answered 503 from its own bytes
// and dropped, so the refusal costs no goroutine, no server transaction
// (which would resend the 503 until the ACK, up to 32 s, and keep it 5 s
// more) and no handler. Asked for twice its capacity, the proxy had spent
// the CPU those took on refusals instead of on the calls it had admitted
// (BENCHMARKS.md, "A fourth pass"). A lost 503 is
// mended by the caller: its INVITE comes again and is weighed again. The
// caller's ACK of the 503 carries the To tag the 503 gave it, and is
// dropped here as well. Over TCP the handler sheds (onInvite), since a
// stream's messages cannot be answered from outside sipgo's connection.

// shedder answers refused INVITEs on the UDP sockets it knows.
type shedder struct {
	s   *SIP
	tag []byte // the To tag of every 503 sent from here: "ys" + 16 hex digits

	mu    sync.Mutex
	conns map[string]net.PacketConn // by local address

	admitted recent // the calls admitted lately, by Call-ID and CSeq
}

// recent is a set whose keys are kept between one and two periods: an
// INVITE is sent again 0.5, 1.5, 3.5 and 7.5 s after the first while its
// caller hears nothing (and at 15.5 and 31.5 s, past the set: weighed
// again then, as a new call would be; any 100 Trying stops them). At
// 2,000 calls a second that is some 30,000 keys.
type recent struct {
	mu        sync.Mutex
	since     time.Time // when cur began
	cur, prev map[string]struct{}
}

const recentPeriod = 8 * time.Second

func (r *recent) rotate(now time.Time) {
	switch age := now.Sub(r.since); {
	case r.cur == nil || age >= 2*recentPeriod:
		r.prev, r.cur, r.since = nil, map[string]struct{}{}, now
	case age >= recentPeriod:
		r.prev, r.cur, r.since = r.cur, map[string]struct{}{}, now
	}
}

func (r *recent) add(k string, now time.Time) {
	r.mu.Lock()
	r.rotate(now)
	r.cur[k] = struct{}{}
	r.mu.Unlock()
}

func (r *recent) has(k string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rotate(now)
	_, in := r.cur[k]
	if !in {
		_, in = r.prev[k]
	}
	return in
}

func newShedder(s *SIP) *shedder {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &shedder{s: s, tag: []byte("ys" + hex.EncodeToString(b)), conns: map[string]net.PacketConn{}}
}

// add makes pc a socket the shedder may answer on.
func (d *shedder) add(pc net.PacketConn) {
	d.mu.Lock()
	d.conns[pc.LocalAddr().String()] = pc
	d.mu.Unlock()
}

func (d *shedder) remove(pc net.PacketConn) {
	d.mu.Lock()
	delete(d.conns, pc.LocalAddr().String())
	d.mu.Unlock()
}

// filter is sipgo's read filter: it returns nil for a datagram answered
// or absorbed here, and data unchanged for everything else.
func (d *shedder) filter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	if p.Transport != "UDP" || p.RemoteAddr == nil || p.LocalAddr == nil {
		return data, nil
	}
	switch {
	case bytes.HasPrefix(data, []byte("ACK ")):
		if to := headerLine(data, "to", "t"); to != nil && bytes.Contains(to, d.tag) {
			return nil, nil // the ACK of a 503 sent from here
		}
	case bytes.HasPrefix(data, []byte("INVITE ")) && d.s.callRate != nil && d.weighs(p.RemoteAddr):
		// Whatever is not plainly a new call (a re-INVITE, no To, an odd
		// Call-ID or CSeq) goes on unweighed, and onInvite weighs it.
		to := headerLine(data, "to", "t")
		if to == nil || hasTag(to) {
			return data, nil
		}
		key, ok := callKey(headerLine(data, "call-id", "i"), headerLine(data, "cseq", "cseq"))
		if !ok {
			return data, nil
		}
		// An INVITE comes again while the caller has heard nothing (no 100
		// yet: the busier the proxy, the likelier); a repeat of a call
		// admitted goes on to its transaction, which absorbs it.
		now := d.s.cfg.Now()
		if d.admitted.has(key, now) {
			return data, nil
		}
		if !d.s.overloaded() {
			d.admitted.add(key, now)
			return data, nil
		}
		d.mu.Lock()
		pc := d.conns[p.LocalAddr.String()]
		d.mu.Unlock()
		if pc == nil || !d.refuse(pc, p.RemoteAddr, data) {
			return data, nil // onInvite weighs it again (or sipgo cannot read it either)
		}
		return nil, nil
	}
	return data, nil
}

// weighs says whether a call from addr reaches the rate check as soon as
// it arrives: a trunk's does, and so does any caller's when the lines are
// open to all with no per-source limit. Any other first passes the
// handlers' per-source limit and trunk check (limited, fromTrunk), which
// must not be skipped, nor must their refusals spend the rate's tokens.
func (d *shedder) weighs(addr net.Addr) bool {
	if d.s.trunk(hostOf(addr.String())) {
		return true
	}
	return d.s.cfg.LinesOpen() && d.s.cfg.Limiter == nil
}

// weighed says whether the socket admitted req already (onInvite then
// does not weigh it twice).
func (d *shedder) weighed(req *sip.Request) bool {
	id, cseq := req.CallID(), req.CSeq()
	if id == nil || cseq == nil {
		return false
	}
	key, ok := callKey([]byte(id.Value()), []byte(strconv.FormatUint(uint64(cseq.SeqNo), 10)+" "+string(cseq.MethodName)))
	return ok && d.admitted.has(key, d.s.cfg.Now())
}

// callKey is a call's key in the admitted set: its Call-ID and CSeq, the
// sequence number as a number; false for a Call-ID the call log would
// refuse (none, or longer than ticketing.MaxCallIDLen) or an odd CSeq.
func callKey(callID, cseq []byte) (string, bool) {
	callID = bytes.TrimSpace(callID)
	f := bytes.Fields(cseq)
	if len(callID) == 0 || len(callID) > ticketing.MaxCallIDLen || len(f) != 2 {
		return "", false
	}
	n, err := strconv.ParseUint(string(f[0]), 10, 32)
	if err != nil {
		return "", false
	}
	return string(callID) + "\x00" + strconv.FormatUint(n, 10) + " " + string(f[1]), true
}

// refuse sends the 503 for the INVITE in data to from; false if it could not.
func (d *shedder) refuse(pc net.PacketConn, from net.Addr, data []byte) bool {
	msg, err := sip.ParseMessage(data)
	if err != nil {
		return false
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return false
	}
	req.SetSource(from.String())
	if _, err := pc.WriteTo([]byte(d.response(req).String()), replyTo(req, from)); err != nil {
		d.s.log.Debug("sip: shed", "err", err)
	}
	d.s.metrics.shed()
	d.s.metrics.request(sip.INVITE, 503)
	return true
}

// replyTo is where a response to req, received from from, goes over UDP
// (RFC 3261 18.2.2, RFC 3581), as sipgo sends its own: the source address,
// at the port in the top Via, or at the source port if the Via asks for
// rport (an SBC sending from a port it does not listen on names its
// listening port in Via).
func replyTo(req *sip.Request, from net.Addr) net.Addr {
	u, ok := from.(*net.UDPAddr)
	via := req.Via()
	if !ok || via == nil || via.Params.Has("rport") {
		return from
	}
	port := via.Port
	if port == 0 {
		port = 5060
	}
	return &net.UDPAddr{IP: u.IP, Port: port, Zone: u.Zone}
}

// response is the 503 refusing req: with Retry-After: 1 for a caller's own
// phone; none for a carrier's trunk, since RFC 3261 bids a client told
// Retry-After send nothing more to the server for that long, and a carrier
// that did so would take every call of the next second away from an
// instance that could take most of them (without it, the carrier routes
// this one call elsewhere).
func (d *shedder) response(req *sip.Request) *sip.Response {
	res := sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil)
	if to := res.To(); to != nil {
		to.Params.Add("tag", string(d.tag))
	}
	if !d.s.trunk(hostOf(req.Source())) {
		res.AppendHeader(sip.NewHeader("Retry-After", "1"))
	}
	return res
}

// refusedHere says whether ack acknowledges a 503 of this shedder.
func (d *shedder) refusedHere(ack *sip.Request) bool {
	to := ack.To()
	if to == nil {
		return false
	}
	tag, _ := to.Params.Get("tag")
	return tag == string(d.tag)
}

// headerLine returns the value of the first header named long or short
// (compact form) in the message's head, or nil. Names are matched without
// regard to case, as RFC 3261 bids.
func headerLine(data []byte, long, short string) []byte {
	head := data
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		head = data[:i]
	}
	first := true
	for len(head) > 0 {
		var line []byte
		line, head, _ = bytes.Cut(head, []byte("\n"))
		if first {
			first = false // the request line
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimSpace(name)
		if bytes.EqualFold(name, []byte(long)) || bytes.EqualFold(name, []byte(short)) {
			return bytes.TrimSpace(value)
		}
	}
	return nil
}

// hasTag says whether a To header's value carries a tag parameter (outside
// its URI's angle brackets).
func hasTag(to []byte) bool {
	if i := bytes.LastIndexByte(to, '>'); i >= 0 {
		to = to[i+1:]
	}
	for _, p := range bytes.Split(to, []byte(";"))[1:] {
		name, _, _ := bytes.Cut(p, []byte("="))
		if bytes.EqualFold(bytes.TrimSpace(name), []byte("tag")) {
			return true
		}
	}
	return false
}
