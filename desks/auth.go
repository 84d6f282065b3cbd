package desks

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/ticketing"
)

// staff is who a request acts for: a signed-in user, or a bearer token
// (acting for a user, or an integration with a role of its own).
type staff struct {
	Name        string // login name; an integration token's name
	DisplayName string
	Role        ticketing.Role
	Department  string // a liaison's department code
	Area        string // a district or street centre's area; "" is the city (ticketing.User.Area)
	// Actor is who the event log and the audit log name: the user's login
	// name, or "token:<name>" for an integration's token.
	Actor string
	// session is the session id behind the CSRF token; empty for bearer
	// tokens, which a browser never sends by itself and so need none.
	session string
}

type staffKey struct{}

// staffFrom returns who the request acts for. Every handler behind guard
// has one; nil elsewhere.
func staffFrom(ctx context.Context) *staff {
	st, _ := ctx.Value(staffKey{}).(*staff)
	return st
}

const (
	sessionCookie = "yihao_desk"
	sessionMAC    = "desk-session\x00"
	csrfMAC       = "csrf"
	loginFailed   = "用户名或密码不正确。 · Wrong user name or password."
)

// unsafeMethod reports whether a request may change something and so needs
// a CSRF token when it rides on a session cookie.
func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// guard authenticates the request, checks its CSRF token and the role's
// right to need, and hands the staff to h in the context. need "" lets any
// staff through (the handler checks the action itself).
func (s *Server) guard(need action, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, err := s.authenticate(w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if st == nil {
			s.demandSignIn(w, r)
			return
		}
		if unsafeMethod(r.Method) {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			if st.session != "" && !s.csrfOK(r, st.session) {
				s.fail(w, r, ticketing.Errorf(ticketing.KindForbidden, "csrf",
					"missing or invalid CSRF token: reload the page and try again"))
				return
			}
		}
		if need != "" && !can(st, need) {
			s.fail(w, r, forbidden(need))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), staffKey{}, st)))
	}
}

// maxBody caps a form or JSON body.
const maxBody = 64 << 10

// demandSignIn answers a request with no credentials: the API with 401 and
// WWW-Authenticate, a page with the sign-in form (GET) or 401.
func (s *Server) demandSignIn(w http.ResponseWriter, r *http.Request) {
	if isAPI(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="yihao"`)
		s.fail(w, r, ticketing.Errorf(ticketing.KindUnauthorized, "", "sign in or send Authorization: Bearer <token>"))
		return
	}
	if r.Method == http.MethodGet {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	s.fail(w, r, ticketing.Errorf(ticketing.KindUnauthorized, "", "your session has ended; sign in again"))
}

// authenticate finds who the request acts for: a bearer token if the
// request has an Authorization header, else the session cookie. No
// credentials, or a session that no longer holds, is (nil, nil); a bad
// token is an error, so an integration learns its token is wrong.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*staff, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		return s.bearer(r.Context(), h)
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, nil
	}
	sess, ok := s.parseSession(c.Value)
	if !ok {
		return nil, nil
	}
	name, sid := sess.name, sess.sid
	u, err := s.store.UserByName(r.Context(), name)
	switch {
	case errors.Is(err, ticketing.ErrNotFound):
		u = nil
	case err != nil:
		return nil, err
	}
	// A session ends with the user: disabled, a role no longer staff, a
	// sign-out (the epoch moved on) or a new password (another hash).
	if u == nil || u.Disabled || !ticketing.StaffRole(u.Role) || u.SessionEpoch != sess.epoch ||
		!hmac.Equal([]byte(sess.cred), []byte(s.credential(u.PasswordHash))) {
		s.clearSession(w)
		return nil, nil
	}
	return &staff{Name: u.Name, DisplayName: u.DisplayName, Role: u.Role, Department: u.Department, Area: u.Area,
		Actor: u.Name, session: sid}, nil
}

// bearer checks an API token with ticketing.Authenticate, the check every
// door shares (a user's token holds while the user is enabled and has its
// role; a liaison token needs a department); the desks also want a staff
// role.
func (s *Server) bearer(ctx context.Context, header string) (*staff, error) {
	b, err := ticketing.Authenticate(ctx, s.store, header)
	if err != nil {
		return nil, err
	}
	if !ticketing.StaffRole(b.Role) {
		return nil, ticketing.Errorf(ticketing.KindForbidden, "Authorization",
			"a %s token cannot use the desks; use a staff user's token", b.Role)
	}
	if b.User == nil {
		return &staff{Name: b.Token.Name, DisplayName: b.Token.Name, Role: b.Role, Department: b.Department, Actor: b.Actor}, nil
	}
	return &staff{Name: b.User.Name, DisplayName: b.User.DisplayName, Role: b.Role, Department: b.Department, Area: b.Area,
		Actor: b.Actor}, nil
}

// A session cookie is base64url(name) "." session id "." expiry (unix
// seconds) "." session epoch "." credential "." hex(HMAC-SHA256(key,
// "desk-session\0" + the rest)). The session id is random; it keys the
// CSRF token. The epoch and the credential (a MAC of the password hash)
// tie the session to the user's state when it began: signing out moves the
// stored epoch on and a new password changes the hash, and either ends
// every session, copied cookies included, on every instance.
func (s *Server) signSession(u *ticketing.User, sid string, exp time.Time) string {
	body := base64.RawURLEncoding.EncodeToString([]byte(u.Name)) + "." + sid + "." + strconv.FormatInt(exp.Unix(), 10) +
		"." + strconv.FormatInt(u.SessionEpoch, 10) + "." + s.credential(u.PasswordHash)
	return body + "." + s.mac(sessionMAC+body)
}

// credential is what a session keeps of the password hash: enough to see
// it changed, nothing to attack it with.
func (s *Server) credential(passwordHash string) string {
	return s.mac("desk-credential\x00" + passwordHash)[:32]
}

// session is a checked session cookie's content.
type session struct {
	name, sid, cred string
	epoch           int64
}

func (s *Server) mac(msg string) string {
	m := hmac.New(sha256.New, s.cfg.SessionKey)
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// parseSession checks a cookie's signature and expiry; the caller checks
// the epoch and credential against the stored user.
func (s *Server) parseSession(v string) (session, bool) {
	parts := strings.Split(v, ".")
	if len(parts) != 6 {
		return session{}, false
	}
	body := strings.Join(parts[:5], ".")
	if !hmac.Equal([]byte(parts[5]), []byte(s.mac(sessionMAC+body))) {
		return session{}, false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || s.cfg.Now().Unix() >= exp {
		return session{}, false
	}
	epoch, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil {
		return session{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || parts[1] == "" {
		return session{}, false
	}
	return session{name: string(b), sid: parts[1], epoch: epoch, cred: parts[4]}, true
}

// csrfToken is HMAC(key, "csrf" + session id): valid for one session only,
// and nothing to store.
func (s *Server) csrfToken(sid string) string { return s.mac(csrfMAC + sid) }

// csrfOK checks the token of the X-CSRF-Token header or the csrf form field.
func (s *Server) csrfOK(r *http.Request, sid string) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	want := s.csrfToken(sid)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (s *Server) setSession(w http.ResponseWriter, value string, exp time.Time) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", Expires: exp,
		HttpOnly: true, Secure: !s.cfg.InsecureCookies, SameSite: http.SameSiteLaxMode})
}

func (s *Server) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: !s.cfg.InsecureCookies, SameSite: http.SameSiteLaxMode})
}

// loginData is the sign-in page's.
type loginData struct{ Name, Next string }

func (s *Server) getLogin(w http.ResponseWriter, r *http.Request) {
	if st, err := s.authenticate(w, r); err == nil && st != nil && r.Header.Get("Authorization") == "" {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login.html", loginData{Next: r.URL.Query().Get("next")}, "")
}

// postLogin signs a member of staff in. Throttling comes before any
// password hashing, per client address and per name; at most
// maxPasswordChecks checks run at once; a wrong name and a wrong password
// get the same answer after the same work.
func (s *Server) postLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	name := strings.ToLower(strings.TrimSpace(r.PostFormValue("name")))
	pw := r.PostFormValue("password")
	data := loginData{Name: name, Next: r.PostFormValue("next")}
	ip := clientIP(r)
	if wait, ok := s.loginAllowed(r.Context(), ip, name); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(wait.Round(time.Second)/time.Second))))
		s.log.Warn("desk sign-in throttled", "user", logName(name), "source", ip)
		s.render(w, r, http.StatusTooManyRequests, "login.html", data, "尝试次数过多，请稍后再试。 · Too many attempts; try again later.")
		return
	}
	u, err := s.store.UserByName(r.Context(), name)
	if err != nil && !errors.Is(err, ticketing.ErrNotFound) {
		s.log.Error("desk sign-in: user lookup", "err", err)
		s.render(w, r, http.StatusServiceUnavailable, "login.html", data, "系统繁忙，请稍后再试。 · Service busy; try again.")
		return
	}
	hash := s.dummyHash
	if u != nil {
		hash = u.PasswordHash
	}
	ok, err := s.checkPassword(r.Context(), hash, pw)
	if err != nil {
		w.Header().Set("Retry-After", "2")
		s.render(w, r, http.StatusServiceUnavailable, "login.html", data, "系统繁忙，请稍后再试。 · Service busy; try again.")
		return
	}
	if !ok || u == nil || u.Disabled || !ticketing.StaffRole(u.Role) {
		s.log.Warn("desk sign-in refused", "user", logName(name), "source", ip)
		s.render(w, r, http.StatusUnauthorized, "login.html", data, loginFailed)
		return
	}
	exp := s.cfg.Now().Add(s.cfg.SessionTTL)
	sid := rand.Text()
	st := &staff{Name: u.Name, Role: u.Role, Actor: u.Name, session: sid}
	if err := s.audit(r, st, "sign_in", "", ""); err != nil {
		s.log.Error("desk sign-in: audit", "user", u.Name, "err", err)
	}
	s.setSession(w, s.signSession(u, sid, exp), exp)
	s.log.Info("desk sign-in", "user", u.Name, "role", u.Role)
	http.Redirect(w, r, safeNext(data.Next), http.StatusSeeOther)
}

// loginAllowed asks the limiter for the address and the name
// (ticketing.AllowSignIn); a limiter that fails is logged and lets the
// attempt through.
func (s *Server) loginAllowed(ctx context.Context, ip, name string) (time.Duration, bool) {
	wait, ok, err := ticketing.AllowSignIn(ctx, s.cfg.LoginLimiter, "desk-login", ip, name)
	if err != nil {
		s.log.Warn("desk sign-in: limiter unavailable", "err", err)
	}
	return wait, ok
}

// checkPassword runs one argon2id check when a slot is free; it gives up
// with the request or after 10 s.
func (s *Server) checkPassword(ctx context.Context, hash, pw string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case s.checks <- struct{}{}:
	case <-ctx.Done():
		return false, ticketing.Unavailable(ctx.Err())
	}
	defer func() { <-s.checks }()
	return ticketing.CheckPassword(hash, pw), nil
}

// postLogout ends the user's sessions everywhere: the epoch moves on, so
// this cookie and any copy of it, or of another of the user's sessions,
// no longer holds on any instance. A store that cannot record it answers
// 503 rather than pretend the session ended.
func (s *Server) postLogout(w http.ResponseWriter, r *http.Request) {
	st := staffFrom(r.Context())
	if st.session != "" {
		if err := s.store.EndUserSessions(r.Context(), st.Name); err != nil && !errors.Is(err, ticketing.ErrNotFound) {
			s.fail(w, r, ticketing.Unavailable(err))
			return
		}
	}
	if err := s.audit(r, st, "sign_out", "", ""); err != nil {
		s.log.Error("desk sign-out: audit", "user", st.Name, "err", err)
	}
	s.clearSession(w)
	s.log.Info("desk sign-out", "user", st.Name)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect on this site.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, "/\\") || u.Host != "" || u.Scheme != "" {
		return "/desk"
	}
	return next
}

// logName is a sign-in name fit for a log line: typed names are not
// personal data, but anything that is not a login name is cut.
func logName(name string) string {
	if ticketing.ValidUserName(name) {
		return name
	}
	return "(not a user name)"
}

// clientIP is the client's address as the door resolved it
// (httpapi.ClientAddr: the peer, or the client a trusted proxy names).
func clientIP(r *http.Request) string { return httpapi.ClientAddr(r) }
