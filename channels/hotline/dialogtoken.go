package hotline

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// A dialog token rides in this proxy's Record-Route URI (;dialog=...) and
// so comes back in the Route of every request within the call. It names
// the two hops the dialog joins, the caller's (where its INVITE came from)
// and the agent's (where its phone registered from), and is signed over
// the call's Call-ID and the caller's From tag with a key derived from the
// deployment's shared secret. Any instance can therefore check a request
// another instance proxied the INVITE of, and knows where to send it,
// without shared state; nobody else can mint one, so nobody else can make
// this server send a request anywhere.
//
// Layout: version (1) | issued, Unix seconds (8) | caller hop | agent hop
// | HMAC-SHA256[:16]; a hop is transport (1) | address length (1: 4 or
// 16) | address | port (2).
//
// It is written in lower-case hex. It rides in Record-Route, ahead of the
// CSeq header, and some SIP stacks find a header by searching the whole
// message for its name: sipp takes a response's method from the first
// "CSeq" anywhere in it. In base64 a call's signature spelled "CSeq" now
// and then (two calls in one run of 144,000), and a caller on such a stack
// refused every response of that call and never hung up. Hex has no letter
// past f, so it spells no header's name, in either case.
const (
	dialogParam        = "dialog"
	dialogTokenVersion = 1
	dialogTokenMaxLen  = 1 + 8 + 2*(2+16+2) + 16
)

var (
	errNoDialog       = errors.New("no dialog of ours")
	errTokenForged    = errors.New("dialog token not minted by this deployment")
	errTokenExpired   = errors.New("dialog token expired")
	errNotAParty      = errors.New("tags match neither side of the dialog")
	errWrongSource    = errors.New("sent from another address than the dialog's party")
	errTokensDisagree = errors.New("route entries of ours carry different dialog tokens")
)

// dialogTokens mints and checks dialog tokens.
type dialogTokens struct {
	key []byte
	ttl time.Duration // how long after the INVITE was offered a token is good
}

// dialogTokens derives the token key from the shared secret, so that a
// token never doubles as a digest nonce or a session cookie. Tokens last
// as long as a call may: ringing plus MaxCall.
func (s *SIP) dialogTokens() dialogTokens {
	k := sha256.Sum256(append([]byte("yihao sip dialog\x00"), s.cfg.NonceSecret...))
	return dialogTokens{key: k[:], ttl: s.cfg.RingTimeout + s.cfg.MaxCall}
}

// transportCode numbers the transports in a token; 0 is none.
func transportCode(t string) byte {
	switch strings.ToUpper(t) {
	case "UDP":
		return 1
	case "TCP":
		return 2
	case "TLS":
		return 3
	case "WS":
		return 4
	case "WSS":
		return 5
	}
	return 0
}

func transportName(code byte) string {
	for _, t := range []string{"UDP", "TCP", "TLS", "WS", "WSS"} {
		if transportCode(t) == code {
			return t
		}
	}
	return ""
}

// mint signs the dialog of callID, whose INVITE carried callerTag, between
// the caller's and the agent's hops.
func (d dialogTokens) mint(callID, callerTag string, caller, agent hop, now time.Time) (string, error) {
	b := make([]byte, 0, dialogTokenMaxLen)
	b = append(b, dialogTokenVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(now.Unix()))
	for _, h := range []hop{caller, agent} {
		var err error
		if b, err = appendHop(b, h); err != nil {
			return "", err
		}
	}
	b = append(b, d.mac(b, callID, callerTag)...)
	return hex.EncodeToString(b), nil
}

// verify checks that tok was minted for callID and callerTag, and returns
// the caller's and the agent's hops.
func (d dialogTokens) verify(tok, callID, callerTag string, now time.Time) (caller, agent hop, err error) {
	b, err := decodeToken(tok)
	if err != nil || len(b) < 1+8+16 || b[0] != dialogTokenVersion {
		return hop{}, hop{}, errTokenForged
	}
	body, sum := b[:len(b)-16], b[len(b)-16:]
	if !hmac.Equal(sum, d.mac(body, callID, callerTag)) {
		return hop{}, hop{}, errTokenForged
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(body[1:9])), 0)
	if age := now.Sub(issued); age > d.ttl || age < -time.Minute {
		return hop{}, hop{}, errTokenExpired
	}
	rest := body[9:]
	if caller, rest, err = readHop(rest); err != nil {
		return hop{}, hop{}, err
	}
	if agent, rest, err = readHop(rest); err != nil {
		return hop{}, hop{}, err
	}
	if len(rest) != 0 {
		return hop{}, hop{}, errTokenForged
	}
	return caller, agent, nil
}

// decodeToken reads a token in hex or, minted by an instance not yet
// upgraded while calls it proxied are still up, in base64url.
func decodeToken(tok string) ([]byte, error) {
	if len(tok) > hex.EncodedLen(dialogTokenMaxLen) {
		return nil, errTokenForged
	}
	b, err := hex.DecodeString(tok)
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(tok)
	}
	return b, err
}

func (d dialogTokens) mac(body []byte, callID, callerTag string) []byte {
	h := hmac.New(sha256.New, d.key)
	h.Write(body)
	for _, s := range []string{callID, callerTag} {
		h.Write(binary.AppendUvarint(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	return h.Sum(nil)[:16]
}

func appendHop(b []byte, h hop) ([]byte, error) {
	code := transportCode(h.transport)
	ap, err := netip.ParseAddrPort(h.addr)
	if code == 0 || err != nil {
		return nil, fmt.Errorf("hotline: dialog hop %s %q is no transport and address", h.transport, h.addr)
	}
	a := ap.Addr().Unmap().AsSlice()
	b = append(b, code, byte(len(a)))
	b = append(b, a...)
	return binary.BigEndian.AppendUint16(b, ap.Port()), nil
}

// readHop decodes a hop of a token whose signature was checked: malformed
// here means minted by another version.
func readHop(b []byte) (hop, []byte, error) {
	if len(b) < 2 || transportName(b[0]) == "" || (b[1] != 4 && b[1] != 16) || len(b) < 2+int(b[1])+2 {
		return hop{}, nil, errTokenForged
	}
	n := int(b[1])
	a, _ := netip.AddrFromSlice(b[2 : 2+n])
	port := binary.BigEndian.Uint16(b[2+n:])
	return hop{addr: netip.AddrPortFrom(a, port).String(), transport: transportName(b[0])}, b[2+n+2:], nil
}

// inDialogTarget checks an in-dialog request and prepares it for the other
// side. The dialog comes from the token in our Route entries, or, when the
// request names no route through us, from this instance's own dialogs; the
// sender is the party whose tag it carries (From for the caller, To for
// the agent), and must send from that party's address. The request then
// goes to the other party's hop, whatever its Request-URI or remaining
// Route say: a destination this server chose when it proxied the INVITE.
func (s *SIP) inDialogTarget(req *sip.Request) (*sip.Request, error) {
	callID, from, to := req.CallID(), req.From(), req.To()
	if callID == nil || from == nil || to == nil {
		return nil, errNoDialog
	}
	fromTag, _ := from.Params.Get("tag")
	toTag, _ := to.Params.Get("tag")
	fwd := req.Clone()
	var tokens []string
	for r := fwd.Route(); r != nil && s.isMe(r.Address); r = fwd.Route() {
		tok, _ := r.Address.UriParams.Get(dialogParam)
		tokens = append(tokens, tok) // twice when we record-routed two transports
		fwd.RemoveHeader("Route")
	}

	var caller, agent hop
	fromCaller := false
	switch {
	case len(tokens) > 0:
		tok, err := agreedToken(tokens)
		if err != nil {
			return nil, err
		}
		dt, now := s.dialogTokens(), s.cfg.Now()
		caller, agent, err = dt.verify(tok, callID.Value(), fromTag, now)
		fromCaller = err == nil
		if err != nil && toTag != "" {
			caller, agent, err = dt.verify(tok, callID.Value(), toTag, now)
		}
		if err != nil {
			return nil, err
		}
	default:
		s.mu.Lock()
		d := s.dialogs[callID.Value()]
		s.mu.Unlock()
		switch {
		case d == nil:
			return nil, errNoDialog
		case fromTag == d.callerTag:
			fromCaller = true
		case toTag != d.callerTag:
			return nil, errNotAParty
		}
		caller, agent = d.caller, d.callee
	}

	sender, target := agent, caller
	if fromCaller {
		sender, target = caller, agent
	}
	if !s.sameParty(sender.addr, req.Source()) {
		return nil, errWrongSource
	}
	fwd.SetTransport(target.transport)
	fwd.SetDestination(target.addr)
	return fwd, nil
}

// agreedToken is the dialog token our Route or Record-Route entries carry
// (twice when we record-routed two transports): errNoDialog when none
// does, errTokensDisagree when they differ.
func agreedToken(tokens []string) (string, error) {
	if len(tokens) == 0 {
		return "", errNoDialog
	}
	for _, t := range tokens[1:] {
		if t != tokens[0] {
			return "", errTokensDisagree
		}
	}
	return tokens[0], nil
}

// sameParty says whether a request from source comes from the party at
// hop. Hosts are compared, not ports: over TCP a phone connects from any
// port. A carrier's trunk configured as a prefix is one party, whichever
// of its addresses sends.
func (s *SIP) sameParty(hopAddr, source string) bool {
	h, err1 := netip.ParseAddrPort(hopAddr)
	src, err2 := netip.ParseAddrPort(source)
	if err1 != nil || err2 != nil {
		return false
	}
	a, b := h.Addr().Unmap(), src.Addr().Unmap()
	if a == b {
		return true
	}
	for _, p := range s.cfg.Trunks {
		if p.Contains(a) && p.Contains(b) {
			return true
		}
	}
	return false
}
