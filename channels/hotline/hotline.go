// Package hotline is the phone door of Yihao. This part needs no SIP: the
// call log fed by the generic CTI webhook that PBX setups speak for Zammad,
// the callback list, and the hotline figures with their staff API.
//
// # Endpoints
//
//	POST /api/v1/cti/{token}     a PBX's call event: event (newCall, answer, hangup), callId,
//	                             from, to, direction (in, out), user, answeringNumber, cause;
//	                             JSON or form-encoded. token: a cti role token.
//	GET  /api/v1/calls           the call log, newest first (staff bearer token)
//	GET  /api/v1/hotline/stats   the hotline figures (staff bearer token)
//	POST /api/v1/calls/{callId}/callback   mark a missed call called back (agents)
//	POST /api/v1/calls/{callId}/tickets    link a ticket number to the call (agents)
//
// Both GETs take from and to (RFC 3339; default the last 24 hours, at most
// 31 days), line and agent; /calls also cause and callback=1 (the callback
// list: missed inbound calls not yet called back) and limit. Who reads and
// how is the ticket policy's (ticketing.Viewer): admin, agent and
// dispatcher; callers' numbers are masked (138****8000) except for admin
// and agent, whose reads are audited before the answer leaves. Errors are {"error":{"code","message","field"}}
// as in the web API.
//
// Events carry no time in Zammad's format: an event happens when it
// arrives. Callers' numbers are normalised to E.164 and never logged at info.
package hotline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing"
)

// Store is what this door needs: the call log and the API tokens.
type Store interface {
	ApplyCallEvent(ctx context.Context, ev ticketing.CallEvent) (*ticketing.Call, error)
	Calls(ctx context.Context, f ticketing.CallFilter) ([]*ticketing.Call, error)
	HotlineStats(ctx context.Context, f ticketing.StatsFilter) (ticketing.HotlineStats, error)
	MarkCalledBack(ctx context.Context, callID string, at time.Time) error
	LinkTicket(ctx context.Context, callID, number string) error
	// Staff tokens, the users they act for, and the audit log of reads of
	// callers' full numbers.
	ticketing.TokenUsers
	AppendAudit(ctx context.Context, e *ticketing.AuditEntry) error
}

// Config is the door's settings.
type Config struct {
	// DefaultCountry is the country code of numbers dialled without one (default 86).
	DefaultCountry string
	// Location is the zone times are answered in (default UTC).
	Location *time.Location
	// MaxBodyBytes caps a CTI body (default 16 KiB).
	MaxBodyBytes int64
	// Now is the clock (tests set it).
	Now func() time.Time
	// Pops, if set, carries screen pops for CTI events that name an agent
	// (newCall and answer with user or answeringNumber; the hangup of a
	// call an agent answered), as the SIP side sends them; Lines labels
	// them and Earlier finds the caller's earlier tickets.
	Pops    pubsub.Bus
	Lines   *Lines
	Earlier Earlier
	// Calls counts ended calls in the hotline series (may be nil).
	Calls *SIPMetrics
}

// Limits of the staff API.
const (
	DefaultRange = 24 * time.Hour
	MaxRange     = 31 * 24 * time.Hour
)

// Server serves the CTI webhook and the staff API.
type Server struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	metrics *httpapi.Metrics
}

// New wires a Server; m may be nil.
func New(cfg Config, store Store, log *slog.Logger, m *httpapi.Metrics) *Server {
	if cfg.DefaultCountry == "" {
		cfg.DefaultCountry = "86"
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, store: store, log: log, metrics: m}
}

// routes are the door's routes.
func (s *Server) routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST /api/v1/cti/{token}":             s.postEvent,
		"GET /api/v1/calls":                    s.getCalls,
		"GET /api/v1/hotline/stats":            s.getStats,
		"POST /api/v1/calls/{callId}/callback": s.postCallback,
		"POST /api/v1/calls/{callId}/tickets":  s.postTicketLink,
	}
}

// Register adds the door's routes to r.
func (s *Server) Register(r gin.IRouter) {
	for p, h := range s.routes() {
		httpapi.Handle(r, p, h)
	}
}

// Patterns lists the door's patterns, so a test of the access policy can
// insist that each one is covered.
func (s *Server) Patterns() []string {
	out := make([]string, 0, len(s.routes()))
	for p := range s.routes() {
		out = append(out, p)
	}
	return out
}

// postCallback is POST /api/v1/calls/{callId}/callback: an agent called the
// citizen back, and the call leaves the callback list.
func (s *Server) postCallback(w http.ResponseWriter, r *http.Request) {
	if err := s.agent(r); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.store.MarkCalledBack(r.Context(), r.PathValue("callId"), s.cfg.Now()); err != nil {
		s.fail(w, r, notFoundCall(err))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"call_id": r.PathValue("callId"), "status": "called_back"})
}

// postTicketLink is POST /api/v1/calls/{callId}/tickets with {"number": ...}:
// the ticket was logged from this call.
func (s *Server) postTicketLink(w http.ResponseWriter, r *http.Request) {
	if err := s.agent(r); err != nil {
		s.fail(w, r, err)
		return
	}
	var body struct {
		Number string `json:"number"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		s.fail(w, r, &ticketing.Error{Kind: ticketing.KindInvalid, Code: "malformed_json", Message: "send {\"number\": \"…\"}"})
		return
	}
	if !ticketing.ValidNumber(body.Number) {
		s.fail(w, r, ticketing.Invalid("number", "is not a ticket number (14 digits with a valid check digit)"))
		return
	}
	if err := s.store.LinkTicket(r.Context(), r.PathValue("callId"), body.Number); err != nil {
		s.fail(w, r, notFoundCall(err))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"call_id": r.PathValue("callId"), "number": body.Number})
}

// agent admits the roles that work the phones (ticketing.Viewer.WorksCallbacks).
func (s *Server) agent(r *http.Request) error {
	b, err := s.staff(r)
	if err != nil {
		return err
	}
	if !b.WorksCallbacks() {
		return &ticketing.Error{Kind: ticketing.KindForbidden, Message: "only agents mark callbacks and link tickets"}
	}
	return nil
}

func notFoundCall(err error) error {
	if errors.Is(err, ticketing.ErrNotFound) {
		return &ticketing.Error{Kind: ticketing.KindNotFound, Field: "callId", Message: "no call with this id"}
	}
	return err
}

// Handler is the door alone on an engine of its own.
func (s *Server) Handler() http.Handler {
	return httpapi.Alone(s.log, s.metrics, func(e *httpapi.Engine) { s.Register(e) })
}

// fail answers {"error": {"code", "message", "field"}}.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.Fail(w, r, s.log, err)
}

// token resolves a secret to its stored token; unknown secrets are 401.
func (s *Server) token(ctx context.Context, secret string) (*ticketing.Token, error) {
	unauthorized := &ticketing.Error{Kind: ticketing.KindUnauthorized, Message: "invalid token"}
	if secret == "" {
		return nil, unauthorized
	}
	tok, err := s.store.TokenByHash(ctx, ticketing.HashToken(secret))
	if errors.Is(err, ticketing.ErrNotFound) {
		return nil, unauthorized
	}
	return tok, err
}

// ctiRequest is Zammad's generic CTI event. user may be a string or a list.
type ctiRequest struct {
	Event           string          `json:"event"`
	From            string          `json:"from"`
	To              string          `json:"to"`
	Direction       string          `json:"direction"`
	CallID          string          `json:"callId"`
	User            json.RawMessage `json:"user"`
	AnsweringNumber string          `json:"answeringNumber"`
	Cause           string          `json:"cause"`
}

// postEvent is POST /api/v1/cti/{token}.
func (s *Server) postEvent(w http.ResponseWriter, r *http.Request) {
	tok, err := s.token(r.Context(), r.PathValue("token"))
	if err != nil {
		if ticketing.KindOf(err) == ticketing.KindUnauthorized {
			s.log.Warn("cti event refused: unknown token", "source", httpapi.ClientAddr(r))
		}
		s.fail(w, r, err)
		return
	}
	if tok.Role != ticketing.RoleCTI {
		s.fail(w, r, &ticketing.Error{Kind: ticketing.KindForbidden, Message: "only a cti token may post call events"})
		return
	}
	ev, err := s.readEvent(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ev.At = s.cfg.Now().Truncate(time.Microsecond)
	ev.Normalize(s.cfg.DefaultCountry)
	if err := ev.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.store.ApplyCallEvent(r.Context(), ev)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ev.Type == ticketing.CallHangup {
		s.log.Info("call ended", "call_id", c.CallID, "line", c.Line, "agent", c.Agent, "cause", c.Cause,
			"wait", c.Wait(), "talk", c.Talk())
	}
	s.cfg.Calls.observeCall(ev, c)
	s.pop(r.Context(), ev, c)
	s.log.Debug("cti event", "event", ev.Type, "call_id", ev.CallID)
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"call_id": c.CallID, "cause": string(c.Cause)})
}

func (s *Server) readEvent(w http.ResponseWriter, r *http.Request) (ticketing.CallEvent, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		return ticketing.CallEvent{}, err
	}
	var req ctiRequest
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&req); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return ticketing.CallEvent{}, ticketing.Invalid(te.Field, "must be a string")
			}
			return ticketing.CallEvent{}, &ticketing.Error{Kind: ticketing.KindInvalid, Code: "malformed_json", Message: "the body is not a JSON object"}
		}
	case "application/x-www-form-urlencoded", "":
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return ticketing.CallEvent{}, &ticketing.Error{Kind: ticketing.KindInvalid, Code: "malformed_form", Message: "the body is not form-encoded"}
		}
		req = ctiRequest{Event: q.Get("event"), From: q.Get("from"), To: q.Get("to"), Direction: q.Get("direction"),
			CallID: q.Get("callId"), AnsweringNumber: q.Get("answeringNumber"), Cause: q.Get("cause")}
		users := append(q["user"], q["user[]"]...)
		if len(users) > 0 {
			req.User, _ = json.Marshal(users)
		}
	default:
		return ticketing.CallEvent{}, &ticketing.Error{Kind: ticketing.KindUnsupported, Field: "Content-Type",
			Message: "send application/json or application/x-www-form-urlencoded"}
	}
	user, err := userOf(req.User)
	if err != nil {
		return ticketing.CallEvent{}, err
	}
	return ticketing.CallEvent{CallID: req.CallID, Type: ticketing.CallEventType(req.Event), From: req.From, To: req.To,
		Direction: ticketing.Direction(req.Direction), User: user, AnsweringNumber: req.AnsweringNumber, Cause: req.Cause}, nil
}

// userOf reads user: a name or a list of names (the first is kept).
func userOf(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one, nil
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		if len(many) == 0 {
			return "", nil
		}
		return many[0], nil
	}
	return "", ticketing.Invalid("user", "must be a string or a list of strings")
}

// staff checks the bearer token of a staff request against the ticket
// policy: only roles that read the call log (ticketing.Viewer.ReadsCallLog).
func (s *Server) staff(r *http.Request) (*ticketing.Bearer, error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return nil, &ticketing.Error{Kind: ticketing.KindUnauthorized, Message: "give a staff bearer token"}
	}
	b, err := ticketing.Authenticate(r.Context(), s.store, auth)
	if err != nil {
		return nil, err
	}
	if !b.ReadsCallLog() {
		return nil, &ticketing.Error{Kind: ticketing.KindForbidden, Message: "this token cannot read the call log"}
	}
	return b, nil
}

// timeRange reads from and to: RFC 3339, default the last 24 hours, at most 31 days.
func (s *Server) timeRange(q url.Values) (from, to time.Time, err error) {
	parse := func(name string) (time.Time, error) {
		v := q.Get(name)
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return time.Time{}, ticketing.Invalid(name, "must be an RFC 3339 time such as 2026-11-25T09:30:00+08:00")
		}
		return t, nil
	}
	if from, err = parse("from"); err != nil {
		return
	}
	if to, err = parse("to"); err != nil {
		return
	}
	switch {
	case to.IsZero() && from.IsZero():
		to = s.cfg.Now()
		from = to.Add(-DefaultRange)
	case to.IsZero():
		to = from.Add(DefaultRange)
	case from.IsZero():
		from = to.Add(-DefaultRange)
	}
	if !to.After(from) {
		return from, to, ticketing.Invalid("to", "must be after from")
	}
	if to.Sub(from) > MaxRange {
		return from, to, ticketing.Invalid("to", "the range is at most 31 days")
	}
	return from, to, nil
}

type callView struct {
	CallID       string     `json:"call_id"`
	Line         string     `json:"line"`
	Caller       string     `json:"caller"`
	Agent        string     `json:"agent,omitempty"`
	Direction    string     `json:"direction"`
	ArrivedAt    time.Time  `json:"arrived_at"`
	AnsweredAt   *time.Time `json:"answered_at,omitempty"`
	EndedAt      *time.Time `json:"ended_at,omitempty"`
	Cause        string     `json:"cause,omitempty"`
	WaitSeconds  float64    `json:"wait_seconds"`
	TalkSeconds  float64    `json:"talk_seconds"`
	Tickets      []string   `json:"tickets"`
	CalledBackAt *time.Time `json:"called_back_at,omitempty"`
}

func (s *Server) opt(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.In(s.cfg.Location)
	return &t
}

// maskCaller shows 138****8000 for +8613800138000: the national number, masked.
func (s *Server) maskCaller(p string) string {
	return ticketing.MaskPhone(strings.TrimPrefix(p, "+"+strings.TrimPrefix(s.cfg.DefaultCountry, "+")))
}

// getCalls is GET /api/v1/calls.
func (s *Server) getCalls(w http.ResponseWriter, r *http.Request) {
	b, err := s.staff(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	from, to, err := s.timeRange(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := ticketing.CallFilter{From: from, To: to, Line: q.Get("line"), Agent: q.Get("agent"), Cause: ticketing.CallCause(q.Get("cause"))}
	switch f.Cause {
	case "", ticketing.CauseAnswered, ticketing.CauseAbandoned, ticketing.CauseNoAgent, ticketing.CauseBusy, ticketing.CauseFailed:
	default:
		s.fail(w, r, ticketing.Invalid("cause", "one of answered, abandoned, no_agent, busy, failed"))
		return
	}
	switch q.Get("callback") {
	case "", "0", "false":
	case "1", "true":
		f.CallbackOnly = true
	default:
		s.fail(w, r, ticketing.Invalid("callback", "must be 1 or 0"))
		return
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > ticketing.DefaultCallLimit {
			s.fail(w, r, ticketing.Invalid("limit", "must be 1 to %d", ticketing.DefaultCallLimit))
			return
		}
	}
	calls, err := s.store.Calls(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	full := b.CallerNumbers() == ticketing.Shown
	if full && len(calls) > 0 {
		// Callers' full numbers leave only once their reading is audited.
		e := ticketing.ViewAudit(b.Actor, b.Role, "calls", "", []ticketing.Field{ticketing.FieldPhone}, clientAddr(r), s.cfg.Now())
		e.Action = "view_calls"
		e.Detail += " calls=" + strconv.Itoa(len(calls)) + " " + r.URL.Query().Encode()
		if err := s.store.AppendAudit(r.Context(), e); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	out := make([]callView, 0, len(calls))
	for _, c := range calls {
		v := callView{CallID: c.CallID, Line: c.Line, Caller: c.Caller, Agent: c.Agent, Direction: string(c.Direction),
			ArrivedAt: c.ArrivedAt.In(s.cfg.Location), AnsweredAt: s.opt(c.AnsweredAt), EndedAt: s.opt(c.EndedAt), Cause: string(c.Cause),
			WaitSeconds: c.Wait().Seconds(), TalkSeconds: c.Talk().Seconds(), Tickets: c.Tickets, CalledBackAt: s.opt(c.CalledBackAt)}
		if v.Tickets == nil {
			v.Tickets = []string{}
		}
		if !full {
			v.Caller = s.maskCaller(c.Caller)
		}
		out = append(out, v)
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"from": from.In(s.cfg.Location), "to": to.In(s.cfg.Location), "calls": out})
}

type figuresView struct {
	Line           string  `json:"line,omitempty"`
	Agent          string  `json:"agent,omitempty"`
	Offered        int     `json:"offered"`
	Answered       int     `json:"answered"`
	AnsweredIn15s  int     `json:"answered_within_15s"`
	Abandoned      int     `json:"abandoned"`
	AnswerRate     float64 `json:"answer_rate"`
	ServiceLevel   float64 `json:"answer_rate_15s"`
	AbandonRate    float64 `json:"abandon_rate"`
	AvgWaitSeconds float64 `json:"avg_wait_seconds"`
	AvgTalkSeconds float64 `json:"avg_talk_seconds"`
}

func figures(f ticketing.CallFigures) figuresView {
	return figuresView{Offered: f.Offered, Answered: f.Answered, AnsweredIn15s: f.AnsweredIn15s, Abandoned: f.Abandoned,
		AnswerRate: f.AnswerRate(), ServiceLevel: f.ServiceLevel(), AbandonRate: f.AbandonRate(),
		AvgWaitSeconds: f.AvgWait().Seconds(), AvgTalkSeconds: f.AvgTalk().Seconds()}
}

// getStats is GET /api/v1/hotline/stats.
func (s *Server) getStats(w http.ResponseWriter, r *http.Request) {
	if _, err := s.staff(r); err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	from, to, err := s.timeRange(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.store.HotlineStats(r.Context(), ticketing.StatsFilter{From: from, To: to, Line: q.Get("line"), Agent: q.Get("agent")})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lines, agents := make([]figuresView, 0, len(st.Lines)), make([]figuresView, 0, len(st.Agents))
	for _, f := range st.Lines {
		v := figures(f)
		v.Line = f.Key
		lines = append(lines, v)
	}
	for _, f := range st.Agents {
		v := figures(f)
		v.Agent = f.Key
		agents = append(agents, v)
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"from": from.In(s.cfg.Location), "to": to.In(s.cfg.Location),
		"total": figures(st.Total), "lines": lines, "agents": agents})
}

// pop sends the screen pop a CTI event calls for, if pops are wired.
func (s *Server) pop(ctx context.Context, ev ticketing.CallEvent, c *ticketing.Call) {
	if s.cfg.Pops == nil || c.Direction != ticketing.DirectionIn {
		return
	}
	agent, kind := ev.User, ""
	if agent == "" {
		agent = ev.AnsweringNumber
	}
	switch ev.Type {
	case ticketing.CallNew:
		kind = PopRinging
	case ticketing.CallAnswer:
		kind = PopAnswered
	case ticketing.CallHangup:
		kind, agent = PopEnded, c.Agent
	}
	if agent == "" {
		return
	}
	p := Pop{Kind: kind, CallID: c.CallID, Line: c.Line, Caller: c.Caller, Agent: agent, At: ev.At}
	if s.cfg.Lines != nil {
		if l := s.cfg.Lines.Lookup(c.Line); l != nil {
			p.LineLabel, p.Domain = l.Label, l.Domain
		}
	}
	if kind != PopEnded && s.cfg.Earlier != nil {
		p.Earlier = EarlierTickets(ctx, s.cfg.Earlier, c.Caller, s.cfg.DefaultCountry, 5)
	}
	publish(ctx, s.cfg.Pops, s.log, p)
}

// clientAddr is the peer's address for the audit log.
func clientAddr(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}
