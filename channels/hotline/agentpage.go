package hotline

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/yihao-city/yihao/channels/hotline/acd"
	"github.com/yihao-city/yihao/channels/hotline/sipauth"
	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing"
)

//go:embed desk.html desk.js
var deskFiles embed.FS

// AgentPageStore is what the agent page needs of the store.
type AgentPageStore interface {
	AgentByExt(ctx context.Context, ext string) (*ticketing.Agent, error)
	// EndAgentSessions ends every agent-page session of the agent.
	EndAgentSessions(ctx context.Context, ext string) error
	LinkTicket(ctx context.Context, callID, number string) error
	Lister
	// AppendAudit records each screen pop shown: the caller's number and
	// earlier tickets are personal data read by the agent.
	AppendAudit(ctx context.Context, e *ticketing.AuditEntry) error
}

// AgentTickets logs tickets for agents and shows where one would go before
// it is logged (ticketing.Service).
type AgentTickets interface {
	Submit(ctx context.Context, r ticketing.Report) (*ticketing.Ticket, bool, error)
	SubmitResolved(ctx context.Context, r ticketing.Report, actor, answer string) (*ticketing.Ticket, bool, error)
	PreviewReport(ctx context.Context, r ticketing.Report) (ticketing.Assignment, []ticketing.Duplicate, error)
}

// AgentPageConfig is the agent page's settings.
type AgentPageConfig struct {
	Realm string // the registrar's digest realm: agents sign in with their SIP password
	// SessionKey signs session cookies; instances behind one address share it.
	SessionKey     []byte
	SessionTTL     time.Duration // default 12 hours, one shift
	DefaultCountry string
	// Lockout, if set, is the registrar's count of wrong passwords per
	// extension: the page's sign-in is one more place to guess the same
	// password, so it counts there and is refused while locked.
	Lockout sipauth.Lockout
	// LoginLimiter, if set, caps sign-in attempts per client address.
	LoginLimiter Limiter
	// SecureCookies sets the session cookie's Secure flag (always set on a
	// TLS connection): on behind a TLS reverse proxy.
	SecureCookies bool
	Now           func() time.Time
	// Knowledge answers the callers' questions from the knowledge base
	// beside the form; nil: no answers are offered.
	Knowledge Knowledge
}

// Knowledge searches the knowledge base (knowledge.Index does).
type Knowledge interface {
	Search(ctx context.Context, q string, o ticketing.ArticleQuery) ([]ticketing.ArticleHit, error)
}

// AgentPage is the minimal agent page (坐席工作台): sign in with the SIP
// extension and password, set available or break, see each call pop up
// with the caller's earlier tickets, and log the call as a ticket or close
// it as answered on contact (直办). The full desks build on this.
//
//	GET  /agent              the page (or the sign-in form)
//	POST /agent/login        ext, password
//	POST /agent/logout
//	GET  /agent/events       server-sent events: state, pop
//	POST /agent/state        state = available | break | logged_out
//	POST /agent/tickets      call_id, seq, caller, line, text, category, address, direct, answer
//	POST /agent/preview      text, address, category, line: routing's view, nothing stored
type AgentPage struct {
	cfg      AgentPageConfig
	store    AgentPageStore
	tickets  AgentTickets
	presence acd.Presence
	bus      pubsub.Bus
	lines    *Lines
	log      *slog.Logger
	page     *template.Template
}

// NewAgentPage wires the agent page.
func NewAgentPage(cfg AgentPageConfig, store AgentPageStore, tickets AgentTickets, presence acd.Presence, bus pubsub.Bus, lines *Lines, log *slog.Logger) (*AgentPage, error) {
	if len(cfg.SessionKey) < 16 {
		return nil, errors.New("hotline agent page: session key of at least 16 bytes required")
	}
	if cfg.Realm == "" {
		cfg.Realm = "yihao"
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.DefaultCountry == "" {
		cfg.DefaultCountry = "86"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	page, err := template.ParseFS(deskFiles, "desk.html")
	if err != nil {
		return nil, err
	}
	return &AgentPage{cfg: cfg, store: store, tickets: tickets, presence: presence, bus: bus, lines: lines, log: log, page: page}, nil
}

// Register adds the page's routes to r, in a group behind cross-origin
// protection.
func (d *AgentPage) Register(r gin.IRouter) {
	g := r.Group("", httpapi.CrossOrigin(http.NewCrossOriginProtection()))
	httpapi.Handle(g, "GET /agent", http.HandlerFunc(d.getPage))
	httpapi.Handle(g, "GET /agent/desk.js", http.HandlerFunc(d.getScript))
	httpapi.Handle(g, "POST /agent/login", http.HandlerFunc(d.postLogin))
	httpapi.Handle(g, "POST /agent/logout", http.HandlerFunc(d.postLogout))
	httpapi.Handle(g, "GET /agent/events", http.HandlerFunc(d.getEvents))
	httpapi.Handle(g, "POST /agent/state", http.HandlerFunc(d.postState))
	httpapi.Handle(g, "POST /agent/tickets", http.HandlerFunc(d.postTicket))
	httpapi.Handle(g, "POST /agent/preview", http.HandlerFunc(d.postPreview))
	httpapi.Handle(g, "POST /agent/kb", http.HandlerFunc(d.postKnowledge))
}

const sessionCookie = "yihao_agent"

// session cookie: base64url(ext) "." expiry-unix "." session epoch "."
// credential "." hex(HMAC-SHA256[:16]). The epoch and the credential (a
// MAC of the agent's HA1 and creation time) tie the session to the agent
// as stored when it began: signing out moves the epoch on, a new password
// changes HA1, removing the agent (and adding it again) changes the rest,
// and each ends the session, copies of the cookie included.
func (d *AgentPage) sign(a *ticketing.Agent, exp time.Time) string {
	body := base64.RawURLEncoding.EncodeToString([]byte(a.Ext)) + "." + strconv.FormatInt(exp.Unix(), 10) +
		"." + strconv.FormatInt(a.SessionEpoch, 10) + "." + d.credential(a)
	return body + "." + d.mac(body)
}

func (d *AgentPage) mac(body string) string {
	m := hmac.New(sha256.New, d.cfg.SessionKey)
	m.Write([]byte("agent-session\x00" + body))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// credential is what a session keeps of the agent's account.
func (d *AgentPage) credential(a *ticketing.Agent) string {
	m := hmac.New(sha256.New, d.cfg.SessionKey)
	m.Write([]byte("agent-credential\x00" + a.Realm + "\x00" + a.HA1 + "\x00" + strconv.FormatInt(a.CreatedAt.UnixMicro(), 10)))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// agent is the signed-in extension, or "". The cookie is checked against
// the agent store on every request, so a removed agent, a changed password
// or a sign-out ends the session at once on every instance.
func (d *AgentPage) agent(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 5 || !hmac.Equal([]byte(parts[4]), []byte(d.mac(strings.Join(parts[:4], ".")))) {
		return ""
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || d.cfg.Now().Unix() >= exp {
		return ""
	}
	ext, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return ""
	}
	a, err := d.store.AgentByExt(r.Context(), string(ext))
	if err != nil {
		if !errors.Is(err, ticketing.ErrNotFound) {
			d.log.Warn("agent session: lookup", "err", err)
		}
		return ""
	}
	if a.Realm != d.cfg.Realm || strconv.FormatInt(a.SessionEpoch, 10) != parts[2] ||
		!hmac.Equal([]byte(parts[3]), []byte(d.credential(a))) {
		return ""
	}
	return a.Ext
}

type pageData struct {
	Agent, Name, Error string
	Lines              []*Line
}

func (d *AgentPage) render(w http.ResponseWriter, code int, data pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	if err := d.page.Execute(w, data); err != nil {
		d.log.Debug("agent page render", "err", err)
	}
}

func (d *AgentPage) getPage(w http.ResponseWriter, r *http.Request) {
	ext := d.agent(r)
	if ext == "" {
		d.render(w, http.StatusOK, pageData{})
		return
	}
	data := pageData{Agent: ext}
	if a, err := d.store.AgentByExt(r.Context(), ext); err == nil {
		data.Name = a.Name
	}
	d.render(w, http.StatusOK, data)
}

func (d *AgentPage) getScript(w http.ResponseWriter, _ *http.Request) {
	b, _ := deskFiles.ReadFile("desk.js")
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b) // the client went away
}

// postLogin checks the extension's SIP password against its HA1 (the
// registrar's own credential: one password per agent) and starts a
// session for one shift. Attempts are limited per client address, and
// wrong passwords count towards the extension's lockout.
func (d *AgentPage) postLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if l := d.cfg.LoginLimiter; l != nil {
		if ok, _, err := l.Allow(r.Context(), "agent-login:"+httpapi.ClientAddr(r)); err == nil && !ok {
			d.log.Warn("agent sign-in throttled", "source", httpapi.ClientAddr(r))
			d.render(w, http.StatusTooManyRequests, pageData{Error: "尝试次数过多，请稍后再试。"})
			return
		}
	}
	ext, pw := strings.TrimSpace(r.PostFormValue("ext")), r.PostFormValue("password")
	if !d.loginAllowed(w, r, ext) {
		return
	}
	a, err := d.store.AgentByExt(r.Context(), ext)
	if err != nil || a.Realm != d.cfg.Realm || !digestMatches(a.HA1, ticketing.HA1(ext, d.cfg.Realm, pw)) {
		if err != nil && !errors.Is(err, ticketing.ErrNotFound) {
			d.log.Error("agent login: lookup", "err", err)
		}
		d.log.Warn("agent login refused", "ext", ext, "source", httpapi.ClientAddr(r))
		d.render(w, http.StatusUnauthorized, pageData{Error: "工号或密码不正确。"})
		d.loginFailed(r, a)
		return
	}
	exp := d.cfg.Now().Add(d.cfg.SessionTTL)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: d.sign(a, exp), Path: "/agent", Expires: exp,
		HttpOnly: true, Secure: d.secure(r), SameSite: http.SameSiteStrictMode})
	d.log.Info("agent signed in", "agent", ext)
	http.Redirect(w, r, "/agent", http.StatusSeeOther)
}

// postLogout ends the agent's sessions everywhere (the epoch moves on), so
// no copy of the cookie outlives it.
func (d *AgentPage) postLogout(w http.ResponseWriter, r *http.Request) {
	if ext := d.agent(r); ext != "" {
		if err := d.store.EndAgentSessions(r.Context(), ext); err != nil && !errors.Is(err, ticketing.ErrNotFound) {
			d.log.Error("agent sign-out", "err", err)
			d.render(w, http.StatusServiceUnavailable, pageData{Error: "系统繁忙，未能退出，请重试。"})
			return
		}
		d.log.Info("agent signed out", "agent", ext)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/agent", MaxAge: -1, HttpOnly: true,
		Secure: d.secure(r), SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/agent", http.StatusSeeOther)
}

// secure says whether the session cookie carries the Secure flag.
func (d *AgentPage) secure(r *http.Request) bool { return d.cfg.SecureCookies || r.TLS != nil }

// deskState is the agent's state as the page shows it.
type deskState struct {
	State      acd.State `json:"state"`
	Registered bool      `json:"registered"`
	CallID     string    `json:"call_id,omitempty"`
	ReadyAt    time.Time `json:"ready_at,omitzero"`
}

func (d *AgentPage) state(ctx context.Context, ext string) deskState {
	st, err := d.presence.Status(ctx, ext, d.cfg.Now())
	if err != nil {
		return deskState{State: acd.LoggedOut}
	}
	return deskState{State: st.State, Registered: st.Binding != nil, CallID: st.CallID, ReadyAt: st.ReadyAt}
}

// getEvents streams the agent's state and screen pops as server-sent
// events; a comment every 15 s keeps proxies from closing it.
func (d *AgentPage) getEvents(w http.ResponseWriter, r *http.Request) {
	ext := d.agent(r)
	if ext == "" {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
	if d.bus == nil {
		http.Error(w, "live events are not configured", http.StatusServiceUnavailable)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	msgs, cancel, err := d.bus.Subscribe(r.Context(), AgentTopic(ext))
	if err != nil {
		d.log.Error("agent events: subscribe", "err", err)
		http.Error(w, "live events unavailable", http.StatusServiceUnavailable)
		return
	}
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	send := func(event string, v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			return true
		}
		_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		fl.Flush()
		return err == nil
	}
	if !send("state", d.state(r.Context(), ext)) {
		return
	}
	beat := time.NewTicker(15 * time.Second)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			fmt.Fprintf(w, "event: pop\ndata: %s\n\n", d.audited(r, ext, m))
			fl.Flush()
			if !send("state", d.state(r.Context(), ext)) {
				return
			}
		case <-beat.C:
			if d.agent(r) != ext {
				return // signed out, removed, or a new password
			}
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// audited writes the audit entry of a screen pop about to be shown to the
// agent at ext (door agent-pop: the caller's number, the earlier tickets)
// and returns the pop. Unaudited personal data never leaves: if the entry
// cannot be written, the pop goes out with the number masked and no
// earlier tickets, so the call is still answered.
func (d *AgentPage) audited(r *http.Request, ext string, msg []byte) []byte {
	var p Pop
	if err := json.Unmarshal(msg, &p); err != nil || p.Caller == "" {
		return msg
	}
	e := ticketing.ViewAudit("agent:"+ext, ticketing.RoleAgent, "agent-pop", "", []ticketing.Field{ticketing.FieldPhone},
		hostOf(r.RemoteAddr), d.cfg.Now())
	e.Detail += " call=" + p.CallID + " kind=" + p.Kind
	if len(p.Earlier) > 0 {
		numbers := make([]string, len(p.Earlier))
		for i, t := range p.Earlier {
			numbers[i] = t.Number
		}
		e.Ticket = numbers[0]
		e.Detail += " earlier=" + strings.Join(numbers, ",")
	}
	if err := d.store.AppendAudit(r.Context(), e); err != nil {
		d.log.Error("agent pop: audit", "agent", ext, "call_id", p.CallID, "err", err)
		p.Caller, p.Earlier = ticketing.MaskPhone(p.Caller), nil
		if b, err := json.Marshal(p); err == nil {
			return b
		}
		return []byte(`{}`)
	}
	return msg
}

// postState is the agent's own choice: available (示闲), break (示忙) or
// logged_out; it drives the ACD.
func (d *AgentPage) postState(w http.ResponseWriter, r *http.Request) {
	ext := d.agent(r)
	if ext == "" {
		httpapi.WriteJSON(w, http.StatusUnauthorized, errorBody("unauthorized", "sign in first", ""))
		return
	}
	st := acd.State(r.PostFormValue("state"))
	switch st {
	case acd.Available, acd.Break, acd.LoggedOut:
	default:
		httpapi.WriteJSON(w, http.StatusBadRequest, errorBody("invalid", "state must be available, break or logged_out", "state"))
		return
	}
	if err := d.presence.SetState(r.Context(), ext, st, d.cfg.Now()); err != nil {
		if errors.Is(err, acd.ErrUnknownAgent) {
			httpapi.WriteJSON(w, http.StatusConflict, errorBody("not_registered", "register your phone first", ""))
			return
		}
		d.log.Error("agent state", "err", err)
		httpapi.WriteJSON(w, http.StatusServiceUnavailable, errorBody("unavailable", "presence unavailable; try again", ""))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, d.state(r.Context(), ext))
}

// signedInForm returns the signed-in agent and a reader of the request's
// form values, trimmed, from a body capped at 64 KiB (a ticket's text and
// answer with room to spare). Without a session it answers 401 and ok is false.
func (d *AgentPage) signedInForm(w http.ResponseWriter, r *http.Request) (ext string, form func(string) string, ok bool) {
	if ext = d.agent(r); ext == "" {
		httpapi.WriteJSON(w, http.StatusUnauthorized, errorBody("unauthorized", "sign in first", ""))
		return "", nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	return ext, func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }, true
}

// postTicket logs the call as a ticket (channel phone, external id = call
// id + "#" + seq, so a retried submit finds the same ticket), or closes it
// at once as answered on contact when direct=1, and links it to the call.
func (d *AgentPage) postTicket(w http.ResponseWriter, r *http.Request) {
	ext, f, ok := d.signedInForm(w, r)
	if !ok {
		return
	}
	callID, seq := f("call_id"), f("seq")
	if n, err := strconv.Atoi(seq); err != nil || n < 1 || n > 99 {
		httpapi.WriteJSON(w, http.StatusBadRequest, errorBody("invalid", "seq must be 1–99: the how-many-th ticket of this call", "seq"))
		return
	}
	externalID := "walkin:" + ext + ":" + strconv.FormatInt(d.cfg.Now().UnixMicro(), 36)
	if callID != "" {
		externalID = callID + "#" + seq
	}
	caller := f("caller")
	if caller != "" {
		if n := ticketing.NormalizePhone(caller, d.cfg.DefaultCountry); n != "" {
			caller = n
		}
	}
	rep := ticketing.Report{
		Channel: ticketing.ChannelPhone, ExternalID: externalID, Line: f("line"),
		Reporter: ticketing.Contact{Phone: caller, Name: f("name")},
		Text:     f("text"), Category: f("category"), Address: f("address"),
	}
	// The article the agent answered with (直办), or, for a ticket, the one
	// the page offered first: the caller needed more than it says.
	direct, key := f("direct") == "1", "shown"
	if direct {
		key = "article"
	} else if f("article") != "" {
		httpapi.WriteJSON(w, http.StatusBadRequest, errorBody("invalid", "an article answers a call closed as 直办 (direct=1)", "article"))
		return
	}
	if v := f(key); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || !ticketing.Decimal(v) {
			httpapi.WriteJSON(w, http.StatusBadRequest, errorBody("invalid", "must be an article's number", key))
			return
		}
		rep.Article = n
	}
	var (
		t   *ticketing.Ticket
		err error
	)
	// Never shed at a peak while the agent has the citizen on the line.
	ctx := r.Context()
	if callID != "" {
		ctx = ticketing.Staffed(ctx)
	}
	if direct {
		t, _, err = d.tickets.SubmitResolved(ctx, rep, "agent:"+ext, f("answer"))
	} else {
		t, _, err = d.tickets.Submit(ctx, rep)
	}
	if err != nil {
		d.fail(w, r, err, "could not store the ticket; try again")
		return
	}
	if callID != "" {
		if err := d.store.LinkTicket(r.Context(), callID, t.Number); err != nil && !errors.Is(err, ticketing.ErrNotFound) {
			d.log.Error("agent ticket: link to call", "err", err)
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"number": t.Number, "status": string(t.Status)})
}

// preview is the JSON of POST /agent/preview.
type preview struct {
	Suggestions    []ticketing.Suggestion `json:"suggestions"`
	Category       string                 `json:"category"`
	CategoryName   string                 `json:"category_name"`
	Department     string                 `json:"department"`
	DepartmentName string                 `json:"department_name"`
	Area           previewArea            `json:"area"`
	Deadline       string                 `json:"deadline"` // RFC 3339; empty when a dispatcher sets it
	Priority       ticketing.Priority     `json:"priority"`
	AutoDispatch   bool                   `json:"auto_dispatch"`
	Reason         string                 `json:"reason"`
	Nearby         []previewNearby        `json:"nearby"`
}

type previewArea struct {
	Grid     string `json:"grid"`
	Street   string `json:"street"`
	District string `json:"district"`
}

// previewNearby is an open ticket the call may repeat.
type previewNearby struct {
	Number      string           `json:"number"`
	Status      ticketing.Status `json:"status"`
	StatusLabel string           `json:"status_label"`
	Summary     string           `json:"summary"`
	DistanceM   int              `json:"distance_m"`
}

// previewNearbyMax is how many similar tickets the panel lists: enough to
// recognise a known problem, few enough to read during a call.
const previewNearbyMax = 5

// postPreview is routing's view of the form while the agent types
// (系统分拨预览): the categories the classifier ranks, the department, grid
// and deadline the report would get, whether it would be dispatched at
// once or wait for a dispatcher, and the open tickets nearby it may repeat.
// The agent can correct the category, or tell the caller the problem is
// already being handled, before logging the call. Nothing is stored; the
// page asks at most every 600 ms.
func (d *AgentPage) postPreview(w http.ResponseWriter, r *http.Request) {
	_, f, ok := d.signedInForm(w, r)
	if !ok {
		return
	}
	a, dups, err := d.tickets.PreviewReport(r.Context(), ticketing.Report{
		Channel: ticketing.ChannelPhone, Line: f("line"), Text: f("text"), Category: f("category"), Address: f("address"),
	})
	if err != nil {
		d.fail(w, r, err, "routing preview unavailable; try again")
		return
	}
	p := preview{
		Suggestions: a.Suggestions, Category: a.Category, CategoryName: a.CategoryName,
		Department: a.Department, DepartmentName: a.DepartmentName,
		Area:     previewArea{Grid: a.Area.Grid, Street: a.Area.Street, District: a.Area.District},
		Priority: a.Priority, AutoDispatch: a.AutoDispatch, Reason: a.Reason,
		Nearby: make([]previewNearby, 0, min(len(dups), previewNearbyMax)),
	}
	if p.Suggestions == nil {
		p.Suggestions = []ticketing.Suggestion{}
	}
	if !a.Deadline.IsZero() {
		p.Deadline = a.Deadline.Format(time.RFC3339)
	}
	for _, dup := range dups[:min(len(dups), previewNearbyMax)] {
		t := dup.Ticket
		p.Nearby = append(p.Nearby, previewNearby{Number: t.Number, Status: t.Status, StatusLabel: t.Status.Label(),
			Summary: summary(t.Text, 40), DistanceM: int(math.Round(dup.Distance))})
	}
	httpapi.WriteJSON(w, http.StatusOK, p)
}

// errorBody is the JSON API's error body for the page's own refusals.
func errorBody(code, msg, field string) map[string]httpapi.Problem {
	return map[string]httpapi.Problem{"error": {Code: code, Message: msg, Field: field}}
}

// fail answers err as every JSON door does (httpapi's status and body),
// except that a failure on the server's side says only busy: the agent
// can try again, not mend it.
func (d *AgentPage) fail(w http.ResponseWriter, r *http.Request, err error, busy string) {
	e := httpapi.Logged(w, r, d.log, err)
	code, body := httpapi.Status(e.Kind), httpapi.Body(e)
	if code >= 500 {
		body = errorBody("unavailable", busy, "")
	}
	httpapi.WriteJSON(w, code, body)
}

// loginAllowed refuses a sign-in for an extension locked out after wrong
// passwords (here or at the registrar), before the password is looked at.
func (d *AgentPage) loginAllowed(w http.ResponseWriter, r *http.Request, ext string) bool {
	if d.cfg.Lockout == nil || !isExtension(ext) {
		return true
	}
	wait, err := d.cfg.Lockout.Locked(r.Context(), ext, d.cfg.Now())
	if err != nil {
		d.log.Error("agent login: lockout", "err", err)
		w.Header().Set("Retry-After", "5")
		d.render(w, http.StatusServiceUnavailable, pageData{Error: "暂时无法登录，请稍后再试。"})
		return false
	}
	if wait > 0 {
		d.log.Warn("agent login refused: extension locked out after failed passwords", "ext", ext)
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(wait.Seconds()+0.5))))
		d.render(w, http.StatusTooManyRequests, pageData{Error: "尝试次数过多，请稍后再试。"})
		return false
	}
	return true
}

// loginFailed counts a wrong password for agent a (nil: no such agent,
// not counted, as at the registrar).
func (d *AgentPage) loginFailed(r *http.Request, a *ticketing.Agent) {
	if d.cfg.Lockout == nil || a == nil {
		return
	}
	if _, err := d.cfg.Lockout.Fail(r.Context(), a.Ext, d.cfg.Now()); err != nil {
		d.log.Error("agent login: lockout", "err", err)
	}
}

// kbAnswers is how many articles the page offers beside the form.
const kbAnswers = 3

// kbAnswer is one article of POST /agent/kb.
type kbAnswer struct {
	ID       int64   `json:"id"`
	Question string  `json:"question"`
	Answer   string  `json:"answer"`
	Score    float64 `json:"score"`
}

// postKnowledge is the knowledge base beside the form (知识库推荐): the
// articles that best answer what the agent has typed of the caller's
// question (text), asked a few keystrokes in. "答复并直办" on one closes
// the call as answered on contact with the article linked.
func (d *AgentPage) postKnowledge(w http.ResponseWriter, r *http.Request) {
	_, f, ok := d.signedInForm(w, r)
	if !ok {
		return
	}
	out := struct {
		Articles []kbAnswer `json:"articles"`
	}{Articles: []kbAnswer{}}
	q := f("text")
	if d.cfg.Knowledge == nil || q == "" {
		httpapi.WriteJSON(w, http.StatusOK, out)
		return
	}
	if utf8.RuneCountInString(q) > ticketing.MaxTextRunes {
		httpapi.WriteJSON(w, http.StatusBadRequest, errorBody("invalid", "the text is too long", "text"))
		return
	}
	hits, err := d.cfg.Knowledge.Search(r.Context(), q, ticketing.ArticleQuery{Now: d.cfg.Now(), Limit: kbAnswers})
	if err != nil {
		d.fail(w, r, err, "knowledge base unavailable; try again")
		return
	}
	for _, h := range hits {
		out.Articles = append(out.Articles, kbAnswer{ID: h.ID, Question: h.Question, Answer: h.Answer, Score: math.Round(h.Score*100) / 100})
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}
