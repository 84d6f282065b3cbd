package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yihao-city/yihao/channels/hotline"
	"github.com/yihao-city/yihao/channels/hotline/acd"
	"github.com/yihao-city/yihao/channels/hotline/sipauth"
	"github.com/yihao-city/yihao/limit"
	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/redis"
	"github.com/yihao-city/yihao/ticketing"
)

// phone is the phone door as wired: SIP, the agent page and the shared
// presence and live bus they use.
type phone struct {
	sip      *hotline.SIP // nil when SIP is off
	presence acd.Presence
	bus      pubsub.Bus
	lines    *hotline.Lines
	addrs    []string // what SIP listens on, for the banner
	secret   []byte   // shared signing secret (sipSecret); the desks derive theirs from it
}

// keeperEvery is how often each instance reads the agents' presence, to
// put them back should Redis lose them: the longest the phone door can
// go without agents after Redis restarts empty.
const keeperEvery = 2 * time.Second

// startPhone wires the phone door onto the engine and starts SIP. With Redis,
// presence (which agent is free), screen pops and the signing secret are
// shared, so several instances serve one set of agents.
func (a *app) startPhone(ctx context.Context, metrics *hotline.SIPMetrics) (*phone, error) {
	cfg, store, svc, rdb, log, mux := a.cfg, a.store, a.svc, a.rdb, a.log, a.engine
	sc := cfg.SIP
	secret, err := sipSecret(ctx, sc.Secret, rdb, cfg.RedisPrefix)
	if err != nil {
		return nil, err
	}
	if sc.Secret == "" && rdb == nil && cfg.DatabaseURL != "" {
		// A shared database suggests several instances; with a secret of
		// their own each would refuse the calls the others proxied.
		log.Warn("sip: no sip.secret and no Redis: nonces and the dialog tokens of calls are this instance's alone; " +
			"set YIHAO_SIP_SECRET (the same on every instance) or YIHAO_REDIS_URL to run more than one")
	}
	p := &phone{secret: secret}
	strategy := acd.Strategy(sc.Strategy)
	if rdb != nil {
		keeper := acd.NewKeeper(redis.NewPresence(a.rcmd, cfg.RedisPrefix+"acd:", strategy), log)
		go keeper.Run(ctx, keeperEvery, time.Now)
		p.presence = keeper
		p.bus = redis.NewBus(rdb, cfg.RedisPrefix+"live:")
	} else {
		p.presence = acd.NewMemory(strategy)
		p.bus = pubsub.NewMemory()
	}
	lines := make([]hotline.Line, len(sc.Lines))
	for i, l := range sc.Lines {
		lines[i] = hotline.Line{Number: l.Number, Label: l.Label, Skills: l.Skills, Domain: l.Domain}
	}
	if p.lines, err = hotline.NewLines(lines, sc.DefaultCountry); err != nil {
		return nil, err
	}
	if err := putConfiguredAgents(ctx, store, sc); err != nil {
		return nil, err
	}
	// Wrong passwords count per extension wherever they are tried (the
	// registrar, the agent page) and on every instance; nonces' uses too.
	policy := sipauth.Policy{Failures: sc.AuthFailures, Window: sc.AuthWindow, Lockout: sc.AuthLockout}
	var lockout sipauth.Lockout
	var nonces sipauth.NonceLedger
	if rdb != nil {
		lockout = redis.NewLockout(a.rcmd, cfg.RedisPrefix+"sip:auth:", policy)
		nonces = redis.NewNonceLedger(a.rcmd, cfg.RedisPrefix+"sip:auth:")
	} else {
		lockout = sipauth.NewMemoryLockout(policy, 0)
		nonces = sipauth.NewMemoryNonceLedger(0)
	}

	// The agent page's sign-in limit is shared like the desks' one.
	var agentLogin hotline.Limiter = limit.NewLocal(limit.PerMinute(10, 5))
	if rdb != nil {
		agentLogin = redis.NewLimiter(a.rcmd, cfg.RedisPrefix+"agent-login:", limit.PerMinute(10, 5))
	}
	agentPage, err := hotline.NewAgentPage(hotline.AgentPageConfig{
		Lockout: lockout, Realm: sc.Realm, SessionKey: secret, DefaultCountry: sc.DefaultCountry,
		LoginLimiter: agentLogin, SecureCookies: cfg.SecureCookies(), Knowledge: a.kb,
	}, store, svc, p.presence, p.bus, p.lines, log)
	if err != nil {
		return nil, err
	}
	agentPage.Register(mux)

	if sc.Addr == "off" {
		return p, nil
	}
	var limiter hotline.Limiter
	if sc.RateLimit > 0 {
		rate := limit.PerMinute(sc.RateLimit, sc.RateBurst)
		if rdb != nil {
			limiter = redis.NewLimiter(a.rcmd, cfg.RedisPrefix+"sip:", rate)
		} else {
			limiter = limit.NewLocal(rate)
		}
	}
	trunks, gateways, err := sipTrunks(sc)
	if err != nil {
		return nil, err
	}
	advertise := sc.Advertise
	if advertise == "" {
		advertise = "127.0.0.1"
		if h, _, err := net.SplitHostPort(sc.Addr); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
			advertise = h
		}
	}
	hc := hotline.SIPConfig{
		Advertise: advertise, Realm: sc.Realm, NonceSecret: secret,
		Redirect: sc.Mode == "redirect", SkillsByLine: sc.SkillsByLine,
		WrapUp: sc.WrapUp, QueueWait: sc.QueueWait, MaxQueued: sc.MaxQueued, MaxCallRate: sc.MaxCallRate, RingTimeout: sc.RingTimeout, MaxExpires: sc.MaxExpires,
		Fallback:       hotline.Fallback{Code: sc.Fallback.Code, RetryAfter: sc.Fallback.RetryAfter, Redirect: sc.Fallback.Redirect},
		DefaultCountry: sc.DefaultCountry, Limiter: limiter, Trunks: trunks, Gateways: gateways,
		Lockout: lockout, Nonces: nonces, TextsByNotifier: cfg.Texts.Gateway != "",
	}
	if hc.LinesOpen() {
		log.Warn("sip: no trunks or gateways configured: calls and texts to the lines, and the caller identity they carry, are taken from any address, and ticket numbers are texted back wherever a text came from; set sip.trunks and sip.gateways (YIHAO_SIP_TRUNKS, YIHAO_SIP_GATEWAYS) before SIP faces the internet")
	}
	// 2 s, not 5: at full call and intake load together the finished
	// transactions were half the live heap (BENCHMARKS.md, "A fourth
	// pass"); later repeats go on by the dialog token.
	hotline.KeepFinished(2 * time.Second)
	if p.sip, err = hotline.NewSIP(hc, hotline.SIPParts{Lines: p.lines, Store: store, Tickets: svc, Presence: p.presence, Bus: p.bus, Log: log, Metrics: metrics, Replies: a.textReplies()}); err != nil {
		return nil, err
	}
	transports := sc.Transports
	if len(transports) == 0 {
		transports = []string{"udp", "tcp"}
	}
	addr := sc.Addr
	if h, port, err := net.SplitHostPort(addr); err == nil && port == "0" {
		// Any port (tests): one that is free for both transports, as phones expect.
		if addr, err = freePort(h); err != nil {
			return nil, err
		}
	}
	for _, t := range transports {
		var a net.Addr
		switch strings.ToLower(t) {
		case "udp":
			a, err = p.sip.ListenUDP(addr)
		case "tcp":
			a, err = p.sip.ListenTCP(addr)
		default:
			err = fmt.Errorf("sip: transport %q; udp or tcp (TLS: set tls_cert and tls_key)", t)
		}
		if err != nil {
			_ = p.sip.Close()
			return nil, err
		}
		p.addrs = append(p.addrs, strings.ToLower(t)+" "+a.String())
	}
	if sc.TLSCert != "" && sc.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(sc.TLSCert, sc.TLSKey)
		if err != nil {
			_ = p.sip.Close()
			return nil, fmt.Errorf("sip tls: %w", err)
		}
		addr := sc.TLSAddr
		if addr == "" {
			addr = ":5061"
		}
		a, err := p.sip.ListenTLS(addr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if err != nil {
			_ = p.sip.Close()
			return nil, err
		}
		p.addrs = append(p.addrs, "tls "+a.String())
	}
	log.Info("sip listening", "on", strings.Join(p.addrs, ", "), "advertise", advertise, "mode", sc.Mode, "lines", len(lines))
	return p, nil
}

// sipTrunks reads sip.trunks (addresses or prefixes) and sip.gateways.
func sipTrunks(sc SIPConfig) ([]netip.Prefix, []hotline.Gateway, error) {
	var trunks []netip.Prefix
	for _, t := range sc.Trunks {
		pre, err := netip.ParsePrefix(t)
		if err != nil {
			a, aerr := netip.ParseAddr(t)
			if aerr != nil {
				return nil, nil, fmt.Errorf("config: sip.trunks: %q is neither an address nor a prefix", t)
			}
			pre = netip.PrefixFrom(a, a.BitLen())
		}
		trunks = append(trunks, pre.Masked())
	}
	var gateways []hotline.Gateway
	for _, g := range sc.Gateways {
		gw, err := hotline.ParseGateway(g)
		if err != nil {
			return nil, nil, fmt.Errorf("config: sip.gateways: %w", err)
		}
		gateways = append(gateways, gw)
	}
	return trunks, gateways, nil
}

// Close stops SIP.
func (p *phone) Close() {
	if p.sip != nil {
		_ = p.sip.Close()
	}
}

// sipSecret is the key that signs digest nonces and agents' sessions:
// configured, else one random key shared through Redis (the first
// instance sets it), else random for this process alone.
func sipSecret(ctx context.Context, configured string, rdb *goredis.Client, prefix string) ([]byte, error) {
	if configured != "" {
		if len(configured) < 16 {
			return nil, fmt.Errorf("config: sip.secret must be at least 16 characters")
		}
		return []byte(configured), nil
	}
	b := make([]byte, 32)
	rand.Read(b) // never fails on Linux
	fresh := hex.EncodeToString(b)
	if rdb == nil {
		return []byte(fresh), nil
	}
	key := prefix + "sip:secret"
	if err := rdb.SetNX(ctx, key, fresh, 0).Err(); err != nil {
		return nil, fmt.Errorf("sip secret: %w", err)
	}
	s, err := rdb.Get(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("sip secret: %w", err)
	}
	return []byte(s), nil
}

// putConfiguredAgents adds the agents listed in the configuration file to
// the store (their passwords become HA1 there; the file keeps them).
func putConfiguredAgents(ctx context.Context, store ticketing.Store, sc SIPConfig) error {
	for _, a := range sc.Agents {
		if a.Password == "" {
			return fmt.Errorf("config: sip agent %s has no password", a.Ext)
		}
		if err := ticketing.CheckAgentPassword(a.Ext, a.Password); err != nil {
			return fmt.Errorf("config: sip agent %s: %w", a.Ext, err)
		}
		now := time.Now()
		ag := &ticketing.Agent{Ext: a.Ext, Name: a.Name, Realm: sc.Realm, HA1: ticketing.HA1(a.Ext, sc.Realm, a.Password),
			Skills: a.Skills, CreatedAt: now, UpdatedAt: now}
		if err := ag.Validate(); err != nil {
			return fmt.Errorf("config: sip agent %s: %w", a.Ext, err)
		}
		if err := store.PutAgent(ctx, ag); err != nil {
			return err
		}
	}
	return nil
}

// freePort finds a port on host free for both TCP and UDP.
func freePort(host string) (string, error) {
	for range 20 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", err
		}
		addr := l.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		_ = l.Close()
		if err == nil {
			_ = pc.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("sip: no port free for both TCP and UDP on %s", host)
}
