package hotline

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/yihao-city/yihao/channels/hotline/acd"
	"github.com/yihao-city/yihao/ticketing"
)

// onRegister is the registrar for agents' softphones (RFC 3261 §10):
// digest authentication against the agent's HA1, one binding per agent
// kept with the address the REGISTER came from (so a phone behind NAT is
// reached where it really is), and presence updated for the ACD.
//
// Answers: 401 with a fresh challenge (stale=true for an expired nonce, or
// for a nonce and nonce-count already used: a replay); 403 for a wrong
// password, an unknown agent, or an agent registering someone else's
// extension; 503 with Retry-After for an extension locked out after too
// many wrong passwords (sipauth.Policy), whatever the source; 423 for too
// short an expiry; 400 for a REGISTER without a usable To or Contact.
func (s *SIP) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	now := s.cfg.Now()
	to := req.To()
	if to == nil || to.Address.User == "" {
		s.respond(tx, req, 400, "Bad Request: To names no extension")
		return
	}
	ext := to.Address.User

	h := req.GetHeader("Authorization")
	if h == nil {
		s.challenge(tx, req, now, false)
		return
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil {
		s.respond(tx, req, 400, "Bad Request: malformed Authorization")
		return
	}
	nonceExpires, err := s.nonces.check(cred.Nonce, now)
	switch {
	case errors.Is(err, errNonceStale):
		s.challenge(tx, req, now, true)
		return
	case err != nil:
		s.challenge(tx, req, now, false)
		return
	}
	user := cred.Username
	if !isExtension(user) {
		// No agent can have this name: refused like a wrong password.
		s.refuseRegister(tx, req, user, "unknown agent")
		return
	}
	// An extension with too many failures is refused before its password
	// is looked at, whichever instance and source the guesses came from:
	// except the phone that holds the extension's live binding, refreshing
	// it from the address it registered from, so that a guesser cannot
	// knock a working agent off the ACD. Over UDP that address can be
	// spoofed, but the answer goes to the phone, not to the spoofer.
	switch wait, err := s.cfg.Lockout.Locked(ctx, user, now); {
	case err != nil:
		s.log.Error("sip register: lockout", "err", err)
		s.refuse(tx, req, registrarFault(err))
		return
	case wait > 0 && !s.boundHere(ctx, user, req, now):
		s.lockedOut(tx, req, user, wait)
		return
	}
	agent, err := s.store.AgentByExt(ctx, user)
	switch {
	case errors.Is(err, ticketing.ErrNotFound):
		// Not counted: the lockout holds only real extensions, so its keys
		// are bounded by the agents, not by what guessers make up. (A
		// guesser can tell an extension exists once it is locked out;
		// extensions are no secret.)
		s.refuseRegister(tx, req, user, "unknown agent")
		return
	case err != nil:
		s.log.Error("sip register: agent lookup", "err", err)
		s.refuse(tx, req, registrarFault(err))
		return
	}
	want, err := digestResponse(agent.HA1, string(req.Method), cred)
	if err != nil || cred.Realm != s.cfg.Realm || agent.Realm != s.cfg.Realm || !digestMatches(want, cred.Response) {
		s.failRegister(ctx, tx, req, user, now, "wrong credentials")
		return
	}
	if user != ext {
		s.refuseRegister(tx, req, user, "registering another extension")
		return
	}
	// The digest is right; it must also be new. A (nonce, nc) pair is
	// accepted once: a replayed REGISTER gets a fresh challenge.
	switch fresh, err := s.cfg.Nonces.Use(ctx, cred.Nonce, uint32(cred.Nc), nonceExpires, now); {
	case err != nil:
		s.log.Error("sip register: nonce ledger", "err", err)
		s.refuse(tx, req, registrarFault(err))
		return
	case !fresh:
		s.log.Warn("sip register: nonce and count used before; challenged again", "user", user, "source", req.Source())
		s.challenge(tx, req, now, true)
		return
	}

	contact := req.Contact()
	if contact == nil {
		// A query: RFC 3261 §10.3 step 6 answers with the current bindings.
		s.respond(tx, req, 200, "OK")
		return
	}
	expires := s.cfg.MaxExpires
	if e := req.GetHeader("Expires"); e != nil {
		if n, err := strconv.Atoi(e.Value()); err == nil && n >= 0 {
			expires = time.Duration(n) * time.Second
		}
	}
	if v, ok := contact.Params.Get("expires"); ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			expires = time.Duration(n) * time.Second
		}
	}
	if contact.Address.Wildcard || expires == 0 {
		if err := s.presence.Unregister(ctx, ext, now); err != nil && !errors.Is(err, acd.ErrUnknownAgent) {
			s.log.Error("sip register: presence", "err", err)
			s.refuse(tx, req, registrarFault(err))
			return
		}
		s.log.Info("agent unregistered", "agent", ext)
		s.metrics.request(req.Method, 200)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil)) // best effort
		return
	}
	if expires < s.cfg.MinExpires {
		s.respond(tx, req, 423, "Interval Too Brief", sip.NewHeader("Min-Expires", strconv.Itoa(int(s.cfg.MinExpires.Seconds()))))
		return
	}
	expires = min(expires, s.cfg.MaxExpires)
	b := acd.Binding{
		Agent:     ext,
		Contact:   contact.Address.String(),
		Source:    reachAt(contact.Address, req.Source()),
		Transport: sip.NetworkToLower(req.Transport()),
		Expires:   now.Add(expires),
	}
	if err := s.presence.Register(ctx, b, agent.Skills, now); err != nil {
		s.log.Error("sip register: presence", "err", err)
		s.refuse(tx, req, registrarFault(err))
		return
	}
	s.log.Info("agent registered", "agent", ext, "source", b.Source, "transport", b.Transport, "expires", expires)
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	c := contact.Clone()
	c.Params = sip.NewParams()
	c.Params.Add("expires", strconv.Itoa(int(expires.Seconds())))
	res.AppendHeader(c)
	res.AppendHeader(sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	s.metrics.request(req.Method, 200)
	_ = tx.Respond(res) // the phone retries
}

func (s *SIP) challenge(tx sip.ServerTransaction, req *sip.Request, now time.Time, stale bool) {
	s.respond(tx, req, 401, "Unauthorized", sip.NewHeader("WWW-Authenticate", s.nonces.challenge(s.cfg.Realm, now, stale)))
}

// refuseRegister answers 403 the same way for every failure, so a guesser
// learns nothing about which extensions exist, and logs it for whoever
// watches for password guessing.
func (s *SIP) refuseRegister(tx sip.ServerTransaction, req *sip.Request, user, why string) {
	s.log.Warn("sip register refused", "user", user, "source", req.Source(), "reason", why)
	s.metrics.registerRefused()
	s.respond(tx, req, 403, "Forbidden")
}

// failRegister counts a failed password for user, then refuses it.
func (s *SIP) failRegister(ctx context.Context, tx sip.ServerTransaction, req *sip.Request, user string, now time.Time, why string) {
	if _, err := s.cfg.Lockout.Fail(ctx, user, now); err != nil {
		s.log.Error("sip register: lockout", "err", err)
	}
	s.refuseRegister(tx, req, user, why)
}

// lockedOut answers a REGISTER for an extension under lockout: 503 with
// Retry-After, so a phone backs off instead of prompting for a password.
func (s *SIP) lockedOut(tx sip.ServerTransaction, req *sip.Request, user string, wait time.Duration) {
	s.log.Warn("sip register refused: extension locked out after failed passwords", "user", user, "source", req.Source(), "for", wait.Round(time.Second))
	s.metrics.registerRefused()
	s.respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", strconv.Itoa(max(1, int(wait.Seconds()+0.5)))))
}

// boundHere says whether req comes from where ext's live binding says
// its phone is.
func (s *SIP) boundHere(ctx context.Context, ext string, req *sip.Request, now time.Time) bool {
	st, err := s.presence.Status(ctx, ext, now)
	if err != nil || st.Binding == nil || !st.Binding.Expires.After(now) {
		return false
	}
	from := req.Source()
	if c := req.Contact(); c != nil {
		from = reachAt(c.Address, from)
	}
	return st.Binding.Source == from
}

// isExtension says whether user has the shape of an extension (what
// ticketing.Agent.Validate accepts).
func isExtension(user string) bool {
	return len(user) >= ticketing.MinExtLen && len(user) <= ticketing.MaxExtLen && strings.Trim(user, "0123456789") == ""
}

// reachAt is where requests for a binding go. A phone behind NAT names a
// private address in its Contact that nobody else can reach, so requests
// go back where its REGISTER came from (the NAT's mapping). A phone whose
// Contact host is the host the REGISTER came from is reachable as it says,
// on the port it says.
func reachAt(contact sip.Uri, source string) string {
	host, _, err := net.SplitHostPort(source)
	if err != nil || contact.Host == "" || !strings.EqualFold(strings.Trim(contact.Host, "[]"), host) {
		return source
	}
	port := contact.Port
	if port == 0 {
		port = 5060
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}
