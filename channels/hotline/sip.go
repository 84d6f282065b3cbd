package hotline

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/yihao-city/yihao/channels/hotline/acd"
	"github.com/yihao-city/yihao/channels/hotline/sipauth"
	"github.com/yihao-city/yihao/limit"
	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing"
)

// SIPStore is what the SIP side needs of the store: the call log, the
// agents' accounts and the caller's earlier tickets.
type SIPStore interface {
	BatchStore
	AgentByExt(ctx context.Context, ext string) (*ticketing.Agent, error)
	Earlier
}

// Submitter turns a report into a ticket (ticketing.Service).
type Submitter interface {
	Submit(ctx context.Context, r ticketing.Report) (*ticketing.Ticket, bool, error)
}

// Limiter admits or refuses one more request from a source.
type Limiter interface {
	Allow(ctx context.Context, key string) (bool, time.Duration, error)
}

// Fallback is what a caller hears when no agent became free in time.
type Fallback struct {
	// Code is 486 (Busy Here, the default), 480 (Temporarily Unavailable)
	// or 302 (to Redirect: a voicemail box or an IVR).
	Code int
	// RetryAfter is sent with 486 and 480 (default 60 s).
	RetryAfter time.Duration
	// Redirect is the URI for 302 (sip:voicemail@ivr.example).
	Redirect string
}

// SIPConfig is the SIP side's settings.
type SIPConfig struct {
	// Advertise is the host other parties reach this instance at: it goes
	// into Via, Record-Route and Contact (default 127.0.0.1).
	Advertise string
	// Realm of digest authentication (default "yihao"); agents' HA1 are
	// computed for it.
	Realm string
	// NonceSecret signs digest nonces. Instances that share agents must
	// share it; empty: a random one per process.
	NonceSecret []byte
	NonceTTL    time.Duration // default 5 minutes
	// Redirect answers an INVITE with 302 to the chosen agent's contact
	// instead of proxying it (for a PBX in front of Yihao).
	Redirect bool
	// SkillsByLine asks the ACD for an agent with the line's skill;
	// otherwise any available agent takes any line.
	SkillsByLine bool
	WrapUp       time.Duration // after a call, before the next (default 0: none)
	QueueWait    time.Duration // longest a caller waits for a free agent (default 30 s)
	// MaxQueued bounds the callers waiting on this instance (default
	// 2,000): past it a new caller gets the fallback at once and is on the
	// callback list, so a flood of calls cannot pile up goroutines and
	// transactions without end.
	MaxQueued int
	// MaxCallRate bounds the new calls this instance takes a second,
	// trunks' included (default 1,000; negative: no bound). Past it the
	// excess is answered at once with 503 (with Retry-After: 1 but from a
	// trunk), before any work (no call log, no ACD): a proxy asked for more
	// than its cores can set up would otherwise fall behind on every call,
	// retransmissions would add to the load, and it would complete fewer
	// calls than it can. The carrier routes a refused call to another
	// instance or tries again; it was never acknowledged, so it is not in
	// the call log. Set it under the rate bench.sh measures for the machine.
	MaxCallRate int
	RingTimeout time.Duration // ringing one agent before trying another (default 20 s)
	Fallback    Fallback
	// Registration lifetimes: asked-for expiries are clamped into
	// [MinExpires, MaxExpires]; below MinExpires is 423 (default 60 s, 600 s).
	MinExpires, MaxExpires time.Duration
	// MaxCall ends the log's record of an answered call whose BYE never
	// came (a phone that lost power, a dropped link) and frees its agent
	// (default 4 hours).
	MaxCall time.Duration
	// HoldFor is how long a call holds its agent in the ACD unless this
	// instance renews it (every third of it, while the call lasts). Should
	// the instance die mid-call, other instances see the agent free again
	// this long after, instead of never (default 90 s; longer than
	// RingTimeout).
	HoldFor        time.Duration
	DefaultCountry string // default 86
	// Limiter, if set, caps INVITE, REGISTER, MESSAGE and OPTIONS per
	// source address, except from Trunks and Gateways: a carrier's trunk or
	// an SBC brings every caller's calls from one address.
	Limiter Limiter
	// Trunks are the carriers' trunks and SBCs. When Trunks or Gateways
	// are set, line traffic (an INVITE or MESSAGE outside a dialog) is
	// taken from them only, and with it the headers that say who calls and
	// which line was dialled (P-Asserted-Identity, Diversion,
	// History-Info): anyone else gets 403. Empty, with no Gateways (a demo,
	// a lab): line traffic from any address, as if from a trunk.
	Trunks []netip.Prefix
	// Gateways are the SMS gateways. A text's ticket number goes back only
	// to the gateway the text came from, at the gateway's configured port
	// and transport: never to an address the text names. A gateway's
	// address is a trunk too.
	Gateways []Gateway
	// TextsByNotifier leaves telling a text's sender the ticket number to
	// the texts of channels/sms (which carry a tracking link), instead of
	// the immediate reply.
	TextsByNotifier bool
	// Lockout counts wrong passwords per extension and refuses an
	// extension past its policy (default: in-process with the sipauth
	// defaults). Nonces records each (nonce, nonce-count) accepted so none
	// is accepted twice (default: in-process). Instances sharing agents
	// share both (package redis).
	Lockout sipauth.Lockout
	Nonces  sipauth.NonceLedger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *SIPConfig) defaults() {
	if c.Advertise == "" {
		c.Advertise = "127.0.0.1"
	}
	if c.Realm == "" {
		c.Realm = "yihao"
	}
	if len(c.NonceSecret) == 0 {
		c.NonceSecret = make([]byte, 32)
		rand.Read(c.NonceSecret) // never fails (crypto/rand.Read panics rather than return an error)
	}
	if c.NonceTTL <= 0 {
		c.NonceTTL = 5 * time.Minute
	}
	if c.MaxQueued <= 0 {
		c.MaxQueued = 2000
	}
	if c.MaxCallRate == 0 {
		c.MaxCallRate = 1000
	}
	if c.QueueWait <= 0 {
		c.QueueWait = 30 * time.Second
	}
	if c.RingTimeout <= 0 {
		c.RingTimeout = 20 * time.Second
	}
	if c.Fallback.Code == 0 {
		c.Fallback.Code = 486
	}
	if c.Fallback.RetryAfter <= 0 {
		c.Fallback.RetryAfter = time.Minute
	}
	if c.MinExpires <= 0 {
		c.MinExpires = time.Minute
	}
	if c.MaxExpires <= 0 {
		// Ten minutes: phones re-register often enough that presence
		// rebuilt from nothing (a Redis that restarted empty) is whole
		// again soon, and NAT mappings stay open.
		c.MaxExpires = 10 * time.Minute
	}
	if c.DefaultCountry == "" {
		c.DefaultCountry = "86"
	}
	if c.MaxCall <= 0 {
		c.MaxCall = 4 * time.Hour
	}
	if c.HoldFor <= 0 {
		c.HoldFor = max(90*time.Second, 2*c.RingTimeout)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Lockout == nil {
		c.Lockout = sipauth.NewMemoryLockout(sipauth.Policy{}, 0)
	}
	if c.Nonces == nil {
		c.Nonces = sipauth.NewMemoryNonceLedger(0)
	}
}

// LinesOpen says whether line traffic is taken from any address: no
// trunk and no gateway is configured.
func (c *SIPConfig) LinesOpen() bool { return len(c.Trunks) == 0 && len(c.Gateways) == 0 }

// Gateway is an SMS gateway's SIP address.
type Gateway struct {
	Addr      netip.AddrPort
	Transport string // udp, tcp or tls
}

// ParseGateway reads a gateway's address: host:port, or a SIP URI with
// an optional transport (sip:10.0.0.20:5060;transport=tcp). The host must
// be an IP address (no DNS on the reply path); the port defaults to 5060.
func ParseGateway(v string) (Gateway, error) {
	g := Gateway{Transport: "udp"}
	rest := strings.TrimSpace(v)
	if r, ok := strings.CutPrefix(strings.ToLower(rest), "sip:"); ok {
		rest = r
		if host, params, ok := strings.Cut(rest, ";"); ok {
			rest = host
			for _, p := range strings.Split(params, ";") {
				if t, ok := strings.CutPrefix(p, "transport="); ok {
					g.Transport = t
				}
			}
		}
	}
	switch g.Transport {
	case "udp", "tcp", "tls":
	default:
		return g, fmt.Errorf("sip gateway %q: transport %q; udp, tcp or tls", v, g.Transport)
	}
	if ap, err := netip.ParseAddrPort(rest); err == nil {
		g.Addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	} else if a, err := netip.ParseAddr(strings.Trim(rest, "[]")); err == nil {
		g.Addr = netip.AddrPortFrom(a.Unmap(), 5060)
	} else {
		return g, fmt.Errorf("sip gateway %q: want an IP address with an optional port (10.0.0.20:5060) or sip:10.0.0.20:5060;transport=tcp", v)
	}
	if g.Addr.Port() == 0 {
		return g, fmt.Errorf("sip gateway %q: port 0", v)
	}
	return g, nil
}

// Check refuses settings that cannot work.
func (c *SIPConfig) Check() error {
	switch c.Fallback.Code {
	case 0, 480, 486:
	case 302:
		if _, err := parseURI(c.Fallback.Redirect); err != nil {
			return fmt.Errorf("hotline fallback: 302 needs a redirect URI: %w", err)
		}
	default:
		return fmt.Errorf("hotline fallback: code %d; one of 486, 480, 302", c.Fallback.Code)
	}
	if c.MinExpires > 0 && c.MaxExpires > 0 && c.MinExpires > c.MaxExpires {
		return errors.New("hotline: min_expires is above max_expires")
	}
	if c.HoldFor > 0 && c.HoldFor <= c.RingTimeout {
		return errors.New("hotline: hold_for must be longer than ring_timeout, or a ringing call loses its agent")
	}
	return nil
}

// SIP is the phone door: registrar for agents' softphones, ACD and
// stateful proxy (or redirect server) for the merged lines, SIP MESSAGE
// intake, and the call log and screen pops that follow from them.
type SIP struct {
	cfg      SIPConfig
	lines    *Lines
	store    SIPStore
	tickets  Submitter
	presence acd.Presence
	pops     *popRelay // nil: no screen pops
	log      *slog.Logger
	metrics  *SIPMetrics
	nonces   nonces
	replies  TextReplies

	ua     *sipgo.UserAgent
	server *sipgo.Server
	client *sipgo.Client

	mu      sync.Mutex
	dialogs map[string]*dialog // answered calls by Call-ID, until BYE
	freed   chan struct{}      // closed and replaced when this instance frees an agent
	queue   *queue             // callers waiting for an agent, in order
	calls   *callLog           // the call log's writer
	// callRate admits new calls up to MaxCallRate (nil: no bound).
	callRate *limit.Local
	// sock refuses calls past callRate at the UDP sockets (shed.go).
	sock *shedder

	// ctx is the base of everything this side starts; Close cancels it
	// (stop), which cuts what may be cut. What must finish at shutdown
	// (call log writes, agents' releases) runs on context.WithoutCancel(ctx).
	ctx       context.Context
	stop      context.CancelFunc
	closeOnce sync.Once

	// retrying counts the call log writes retried in the background; once
	// closed, a failed write is tried once more at once instead.
	retryMu  sync.Mutex
	closed   bool
	retrying sync.WaitGroup

	listenMu sync.Mutex
	ports    map[string]int // transport → port we listen on
	udpAddr  sip.Addr       // the first UDP socket we listen on (fromListener)
	closers  []func() error
}

// dialog is an answered call this instance proxies: where each side is
// reached, so in-dialog requests get through NAT whatever their URIs say.
type dialog struct {
	callID    string
	agent     string
	callerTag string // From tag of the INVITE
	caller    hop
	callee    hop
	line      string
	number    string    // the caller's number (E.164), for the screen pop
	answered  time.Time // when the 200 went to the caller
}

type hop struct{ addr, transport string }

// SIPParts are what the SIP side works with, beside its settings.
type SIPParts struct {
	// Lines are the hotline numbers callers dial (required).
	Lines *Lines
	// Store keeps the call log and the agents' accounts and finds the
	// caller's earlier tickets (required).
	Store SIPStore
	// Tickets turns a text to a line into a ticket (required).
	Tickets Submitter
	// Presence is the ACD: agents' bindings, states and calls (required).
	Presence acd.Presence
	// Bus carries screen pops to the agents' desks; nil: no screen pops.
	Bus pubsub.Bus
	// Log is where the side reports; nil: discarded.
	Log *slog.Logger
	// Metrics counts requests and calls; nil: not counted.
	Metrics *SIPMetrics
	// Replies reads a text that answers an earlier text (a rating, TD)
	// before it is taken as a report; nil: every text is a report.
	Replies TextReplies
}

// TextReplies tells whether a citizen's text answers an earlier text of
// the hub's (channels/sms.Replies): ok false means it is a report. key is
// the text's identity, the same when the gateway sends it again.
type TextReplies interface {
	Answer(ctx context.Context, key, phone, text string) (answer string, ok bool, err error)
}

// NewSIP wires the SIP side.
func NewSIP(cfg SIPConfig, parts SIPParts) (*SIP, error) {
	cfg.defaults()
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if parts.Lines == nil || parts.Store == nil || parts.Tickets == nil || parts.Presence == nil {
		return nil, errors.New("hotline: sip needs lines, a store, a ticket service and an acd")
	}
	log := parts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// sipgo logs whole messages at debug and unmatched retransmissions at
	// info; messages carry callers' numbers, so it only gets warnings.
	quiet := slog.New(levelFloor{log.Handler(), slog.LevelWarn})
	// Set below, before any socket is served.
	var (
		shed  *shedder
		stray func(*sip.Response)
	)
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("Yihao"),
		sipgo.WithUserAgentHostname(cfg.Advertise),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(quiet),
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				if stray != nil {
					stray(r)
				}
			}),
		),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet), sip.WithTransportLayerReadFilter(func(p sip.TransportReadProps, data []byte) ([]byte, error) {
			if shed == nil {
				return data, nil
			}
			return shed.filter(p, data)
		})),
	)
	if err != nil {
		return nil, fmt.Errorf("hotline: sip user agent: %w", err)
	}
	server, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		return nil, fmt.Errorf("hotline: sip server: %w", err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientLogger(quiet), sipgo.WithClientHostname(cfg.Advertise))
	if err != nil {
		return nil, fmt.Errorf("hotline: sip client: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &SIP{
		ctx: ctx, stop: stop,
		cfg: cfg, lines: parts.Lines, store: parts.Store, tickets: parts.Tickets, presence: parts.Presence,
		log: log, metrics: parts.Metrics, replies: parts.Replies, nonces: nonces{secret: cfg.NonceSecret, ttl: cfg.NonceTTL},
		ua: ua, server: server, client: client,
		dialogs: map[string]*dialog{}, freed: make(chan struct{}), queue: newQueue(), calls: newCallLog(ctx, parts.Store), ports: map[string]int{},
	}
	if parts.Bus != nil {
		s.pops = newPopRelay(parts.Bus, parts.Store, cfg.DefaultCountry, log, s.metrics.popDropped)
	}
	if n := cfg.MaxCallRate; n > 0 {
		// A twentieth of a second's calls may come at once.
		s.callRate = limit.NewLocal(limit.Rate{Events: n, Period: time.Second, Burst: max(1, n/20)})
	}
	shed, stray = newShedder(s), s.onStrayAnswer
	s.sock = shed
	server.OnRegister(s.limited(s.onRegister))
	server.OnInvite(s.limited(s.fromTrunk(s.onInvite)))
	server.OnMessage(s.limited(s.fromTrunk(s.onMessage)))
	server.OnAck(s.onAck)
	server.OnBye(s.onInDialog)
	server.OnCancel(s.onStrayCancel)
	server.OnOptions(s.limited(s.onOptions))
	for _, m := range []sip.RequestMethod{sip.INFO, sip.UPDATE, sip.PRACK, sip.REFER, sip.NOTIFY} {
		server.OnRequest(m, s.onInDialog)
	}
	go s.sweep()
	server.OnNoRoute(func(req *sip.Request, tx sip.ServerTransaction) {
		s.respond(tx, req, 405, "Method Not Allowed", sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE, INFO, UPDATE"))
	})
	return s, nil
}

// levelFloor passes records at or above min only, without the raw
// message: sipgo logs an unparsable packet whole, numbers and all, under
// "data".
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelFloor) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "data", "msg", "req", "res", "request", "response":
			out.AddAttrs(slog.Int(a.Key+"_bytes", len(a.Value.String())))
		default:
			out.AddAttrs(a)
		}
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(a), h.min}
}

func (h levelFloor) WithGroup(n string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(n), h.min}
}

// ListenUDP serves SIP over UDP on addr (":5060"); it returns once
// listening, with the address taken.
func (s *SIP) ListenUDP(addr string) (net.Addr, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("hotline: sip udp: %w", err)
	}
	if u, ok := pc.(*net.UDPConn); ok {
		// Bursts of a busy hour outrun the default 208 KiB buffer, and a
		// datagram dropped there costs a retransmission timer (0.5 s+).
		_ = u.SetReadBuffer(4 << 20)  // capped by net.core.rmem_max; best effort
		_ = u.SetWriteBuffer(4 << 20) // likewise
	}
	s.sock.add(pc)
	// sip.Addr has no zone: a link-local listener is left to sipgo.
	if a, ok := pc.LocalAddr().(*net.UDPAddr); ok && a.Zone == "" {
		s.listenMu.Lock()
		if s.udpAddr.IP == nil {
			s.udpAddr = sip.Addr{IP: a.IP, Port: a.Port}
		}
		s.listenMu.Unlock()
	}
	s.track("udp", pc.LocalAddr(), func() error {
		s.sock.remove(pc)
		return pc.Close()
	})
	go func() { _ = s.server.ServeUDP(pc) }() // ends when closed
	return pc.LocalAddr(), nil
}

// ListenTCP serves SIP over TCP on addr.
func (s *SIP) ListenTCP(addr string) (net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("hotline: sip tcp: %w", err)
	}
	s.track("tcp", l.Addr(), l.Close)
	go func() { _ = s.server.ServeTCP(l) }() // ends when closed
	return l.Addr(), nil
}

// ListenTLS serves SIP over TLS on addr with the given certificates.
func (s *SIP) ListenTLS(addr string, conf *tls.Config) (net.Addr, error) {
	l, err := tls.Listen("tcp", addr, conf)
	if err != nil {
		return nil, fmt.Errorf("hotline: sip tls: %w", err)
	}
	s.track("tls", l.Addr(), l.Close)
	go func() { _ = s.server.ServeTLS(l) }() // ends when closed
	return l.Addr(), nil
}

func (s *SIP) track(transport string, a net.Addr, closer func() error) {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	_, port, _ := net.SplitHostPort(a.String())
	s.ports[transport], _ = strconv.Atoi(port)
	s.closers = append(s.closers, closer)
}

// Close stops listening and ends the SIP stack. Calls in progress are cut;
// their agents stay held until their holds lapse. What the log was told
// is written before Close returns: the group being committed, and one last
// try of each write being retried. A second Close does nothing.
func (s *SIP) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.listenMu.Lock()
		closers := s.closers
		s.closers = nil
		s.listenMu.Unlock()
		for _, c := range closers {
			_ = c() // closing anyway
		}
		s.retryMu.Lock()
		s.closed = true
		s.retryMu.Unlock()
		s.stop()
		err = s.ua.Close()
		s.retrying.Wait()
		s.calls.close()
		s.pops.close()
	})
	return err
}

// sweep ends, every minute, the answered calls older than MaxCall: their
// BYE is not coming, and their agents must not stay on a call forever.
// Every third of HoldFor it renews the holds of the calls still going.
func (s *SIP) sweep() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	h := time.NewTicker(s.cfg.HoldFor / 3)
	defer h.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.sweepOnce(s.cfg.Now())
		case <-h.C:
			s.renewHolds(s.cfg.Now())
		}
	}
}

// renewHolds keeps this instance's answered calls holding their agents.
func (s *SIP) renewHolds(now time.Time) {
	type held struct{ agent, callID string }
	var calls []held
	s.mu.Lock()
	for id, d := range s.dialogs {
		calls = append(calls, held{d.agent, id})
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.HoldFor/3)
	defer cancel()
	for _, c := range calls {
		err := s.presence.Hold(ctx, c.agent, c.callID, now.Add(s.cfg.HoldFor), now)
		switch {
		case errors.Is(err, acd.ErrNotOnCall):
			// The agent has left this call: its BYE reached another
			// instance, which logged the end and released the agent.
			s.forgetDialog(c.callID)
		case err != nil:
			s.log.Warn("sip: acd hold not renewed", "agent", c.agent, "call_id", c.callID, "err", err)
		}
	}
}

// forgetDialog drops a call whose end another instance handled. In-dialog
// requests still follow its Record-Route token; a late BYE here finds no
// dialog and settles the log and the agent idempotently.
func (s *SIP) forgetDialog(callID string) {
	s.mu.Lock()
	_, ok := s.dialogs[callID]
	delete(s.dialogs, callID)
	s.mu.Unlock()
	if ok {
		s.metrics.active(-1)
	}
}

func (s *SIP) sweepOnce(now time.Time) {
	var stale []string
	s.mu.Lock()
	for id, d := range s.dialogs {
		if now.Sub(d.answered) > s.cfg.MaxCall {
			stale = append(stale, id)
		}
	}
	s.mu.Unlock()
	for _, id := range stale {
		s.log.Warn("sip: call ended without a BYE; agent freed", "call_id", id, "after", s.cfg.MaxCall)
		s.endDialog(id)
	}
}

// isMe says whether a Route URI names this instance.
func (s *SIP) isMe(u sip.Uri) bool {
	if !strings.EqualFold(u.Host, s.cfg.Advertise) {
		return false
	}
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	for _, p := range s.ports {
		if u.Port == p || (u.Port == 0 && p == 5060) {
			return true
		}
	}
	return false
}

func (s *SIP) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	s.metrics.request(req.Method, code)
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip: respond", "method", req.Method, "code", code, "err", err)
	}
}

// limited refuses a source over its rate with 503 and Retry-After, so a
// flood from one address does not take agents or the store from others.
func (s *SIP) limited(h sipgo.RequestHandler) sipgo.RequestHandler {
	if s.cfg.Limiter == nil {
		return h
	}
	return func(req *sip.Request, tx sip.ServerTransaction) {
		host := hostOf(req.Source())
		if s.trunk(host) {
			h(req, tx)
			return
		}
		ok, retry, err := s.cfg.Limiter.Allow(s.ctx, "sip:"+host)
		if err != nil {
			// A limiter that cannot answer (Redis down) must not stop the hotline.
			s.log.Warn("sip: rate limiter unavailable; admitting", "err", err)
			ok = true
		}
		if !ok {
			s.metrics.limited()
			s.log.Debug("sip: source over its rate", "source", host, "method", req.Method)
			s.respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", strconv.Itoa(max(1, int(retry.Seconds()+0.5)))))
			return
		}
		h(req, tx)
	}
}

// trunk says whether host is a configured trunk or gateway.
func (s *SIP) trunk(host string) bool {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.cfg.Trunks {
		if p.Contains(a) {
			return true
		}
	}
	for _, g := range s.cfg.Gateways {
		if g.Addr.Addr() == a {
			return true
		}
	}
	return false
}

// fromTrunk lets line traffic (an INVITE or MESSAGE outside a dialog)
// through only from a trunk or gateway when any is configured; anyone
// else gets 403 before the request is looked at further, so a forged
// caller identity, a forged diverted line or a spoofed text never makes a
// call, a ticket or a reply. In-dialog requests (a To tag) go on to the
// dialog's own checks.
func (s *SIP) fromTrunk(h sipgo.RequestHandler) sipgo.RequestHandler {
	if s.cfg.LinesOpen() {
		return h
	}
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if to := req.To(); to != nil && to.Params.Has("tag") {
			h(req, tx)
			return
		}
		if host := hostOf(req.Source()); !s.trunk(host) {
			s.log.Debug("sip: line traffic from no trunk refused", "method", req.Method, "source", host)
			s.respond(tx, req, 403, "Forbidden")
			return
		}
		h(req, tx)
	}
}

// gateway is the configured gateway at host, if any.
func (s *SIP) gateway(host string) (Gateway, bool) {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return Gateway{}, false
	}
	for _, g := range s.cfg.Gateways {
		if g.Addr.Addr() == a.Unmap() {
			return g, true
		}
	}
	return Gateway{}, false
}

// lineOf finds the line a request is for, or answers 404. The number is
// logged as dialled when it is a short service number, masked otherwise
// (a misrouted call may carry a person's number).
func (s *SIP) lineOf(req *sip.Request, tx sip.ServerTransaction) *Line {
	if l := s.lines.Resolve(req); l != nil {
		return l
	}
	n := req.Recipient.User
	if len(n) > 8 {
		n = ticketing.MaskPhone(n)
	}
	s.log.Warn("sip request to a number that is no hotline line", "method", req.Method, "number", n, "source", req.Source())
	s.respond(tx, req, 404, "Not Found")
	return nil
}

func (s *SIP) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(tx, req, 200, "OK", sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE"))
}

// onStrayCancel answers a CANCEL that matches no INVITE in progress (the
// transaction layer answers those that do, with 200 and 487).
func (s *SIP) onStrayCancel(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
}

func parseURI(v string) (sip.Uri, error) {
	var u sip.Uri
	if err := sip.ParseUri(v, &u); err != nil {
		return u, err
	}
	if u.Host == "" {
		return u, errors.New("no host")
	}
	return u, nil
}

// KeepFinished sets how long a finished transaction stays in memory to
// absorb late retransmissions: requests for a BYE's repeats (timer J) and
// an INVITE's after its 2xx (L), answers for an agent's repeated 2xx (M).
// RFC 3261 and sipgo say 64×T1, 32 s; Kamailio's tm keeps them 5 s
// (wt_timer). At 2,000 calls a second 32 s held some 64,000 calls'
// messages, over a gigabyte, and the collector's work grew with it. 2 s
// absorbs a message's first two repeats (0.5 and 1.5 s after it), and a
// later one is no loss: an in-dialog request is routed by the signed token
// in its Route, so a BYE repeated at 3.5 s is forwarded again and the
// agent's phone, which keeps its own transaction 32 s, answers it; an
// agent's 2xx repeated past its transaction is passed on by the token in
// its Record-Route (onStrayAnswer). sipgo's timers are process-wide: set
// them once, before the stack starts.
func KeepFinished(d time.Duration) {
	sip.Timer_J, sip.Timer_L, sip.Timer_M = d, d, d
}
