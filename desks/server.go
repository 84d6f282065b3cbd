// Package desks is the staff side of Yihao: the dispatcher's desk (派单台)
// with triage, extension requests, verification and the overdue board; the
// department liaison's inbox (联络员待办); the ticket page with the
// workflow actions each role may take; the audit log; a live event stream;
// and the same workflow as a JSON API for integrations.
//
// Pages are rendered on the server (html/template) with a little
// hand-written JavaScript for live updates and the phone reveal; templates,
// styles and script are embedded, so the desks work with no network.
// Chinese comes first; ?lang=en (kept in a cookie) or a browser asking for
// English switches to English.
//
// Who may do what is one table (policy.go). Sessions are signed cookies
// checked against the stored user on every request, so a disabled user or a
// changed role takes effect at once; integrations use bearer tokens.
package desks

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/media"
	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing"
)

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Store is what the desks read and write directly; workflow changes go
// through Tickets.
type Store interface {
	UserByName(ctx context.Context, name string) (*ticketing.User, error)
	// Users names the supervisors on their indicators, Article the
	// knowledge base's articles.
	Users(ctx context.Context) ([]*ticketing.User, error)
	Article(ctx context.Context, id int64) (*ticketing.Article, error)
	// The knowledge base's page: the articles, the questions it missed.
	Articles(ctx context.Context, f ticketing.ArticleFilter) ([]*ticketing.Article, error)
	ArticleMisses(ctx context.Context, since time.Time, limit int) ([]*ticketing.ArticleMiss, error)
	// EndUserSessions ends every desk session of the user (signing out).
	EndUserSessions(ctx context.Context, name string) error
	TokenByHash(ctx context.Context, hash string) (*ticketing.Token, error)
	Queue(ctx context.Context, f ticketing.QueueFilter) ([]*ticketing.Ticket, error)
	AppendAudit(ctx context.Context, e *ticketing.AuditEntry) error
	Audit(ctx context.Context, f ticketing.AuditFilter) ([]ticketing.AuditEntry, error)
	// The indicators page (indicators.go) reads the daily sums.
	ticketing.IndicatorStore
	// The patrol page (patrol.go) reads the supervisors' positions.
	Patrol(ctx context.Context, area string, since time.Time) ([]ticketing.Position, error)
	Visited(ctx context.Context, area, day string) ([]string, error)
	// The hotspots page (hotspots.go) counts by place and lists a hotspot's tickets.
	ticketing.HotspotStore
	ticketing.ListStore
}

// Tickets is the workflow (ticketing.Service): every change to a ticket
// goes through it, in one transaction with its events and outbox rows.
type Tickets interface {
	Ticket(ctx context.Context, number string) (*ticketing.Ticket, error)
	Events(ctx context.Context, t *ticketing.Ticket) ([]ticketing.Event, error)
	Act(ctx context.Context, number string, act func(t *ticketing.Ticket, now time.Time) error) (*ticketing.Ticket, error)
	// Note appends a staff note without queuing an outbox message: nothing
	// changed that a forwarder must pass on.
	Note(ctx context.Context, number, actor string, typ ticketing.EventType, note, public string) error
	Dispatch(ctx context.Context, number, actor string, o ticketing.DispatchOrder) (*ticketing.Ticket, error)
	Preview(ctx context.Context, t *ticketing.Ticket, category string) (ticketing.Assignment, error)
	// Clocks are the levels' centre clocks, for moving a case between them.
	Clocks() ticketing.Clocks
	// OpenHotspotCase opens a 督办 case on a hotspot and merges its reports.
	OpenHotspotCase(ctx context.Context, list ticketing.ListStore, actor string, h ticketing.Hotspot, at *ticketing.Point, why string) (ticketing.HotspotCase, error)
}

// Limiter says whether one more attempt for key is allowed now; when not,
// how long to wait (limit.Local, or the Redis limiter).
type Limiter interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// Department is one choice in the dispatch form. Areas are the codes of
// the area the department serves and of every area above it (a city
// department has none): a district or street centre dispatches only to
// the departments of its own area.
type Department struct {
	Code, Name string
	Areas      []string
}

// serves reports whether d is a department the centre of area may
// dispatch to: every one for the city's centre.
func (d Department) serves(area string) bool { return area == "" || slices.Contains(d.Areas, area) }

// departmentsFor are the departments st's centre dispatches to.
func (s *Server) departmentsFor(st *staff) []Department {
	all := s.cfg.Departments()
	if st.Area == "" {
		return all
	}
	return slices.DeleteFunc(slices.Clone(all), func(d Department) bool { return !d.serves(st.Area) })
}

// withinArea keeps f to a local centre's area, at the area's level when
// the organisation knows it.
func (s *Server) withinArea(f *ticketing.QueueFilter, area string) {
	f.Area = area
	if area != "" && s.cfg.AreaLevel != nil {
		f.AreaLevel = s.cfg.AreaLevel(area)
	}
}

// Category is one choice in the dispatch form.
type Category struct{ Code, Name string }

// Config is the desks' settings.
type Config struct {
	// SessionKey signs session cookies and CSRF tokens; at least 16 bytes,
	// the same on every instance behind one address.
	SessionKey []byte
	// SessionTTL is how long a sign-in lasts; default 10 hours, a shift.
	SessionTTL time.Duration
	// Location is the city's time zone for times shown and entered.
	Location *time.Location
	Now      func() time.Time
	// LoginLimiter caps sign-in attempts per client address and per user
	// name; nil allows all (the password-check semaphore still bounds them).
	LoginLimiter Limiter
	// InsecureCookies drops the Secure flag, for plain-http development
	// and tests only.
	InsecureCookies bool
	// Departments and Categories fill the dispatch form; asked on every
	// render so the lists follow a catalogue reload.
	Departments func() []Department
	Categories  func() []Category
	// RevealRoles may reveal a reporter's masked phone number; each reveal
	// is audited. Default: dispatcher, admin, agent and liaison.
	RevealRoles []ticketing.Role
	// DueSoon is how far ahead the overdue board and the inbox's
	// "yellow" filter look; default 24 hours.
	DueSoon time.Duration
	// AreaLevel is the level of a centre's area code (the organisation's),
	// so its queues ask the one column of that level; nil or "" asks all.
	AreaLevel func(code string) ticketing.Level
	// Areas names districts, streets and grid cells on the indicators page
	// and draws its map; nil shows codes and no map.
	Areas *Areas
	// Hotline gives the call figures for the indicators page; nil leaves
	// them out (no phone door).
	Hotline func(ctx context.Context, f ticketing.StatsFilter) (ticketing.HotlineStats, error)
	// Photos keeps the photos a department sends with its result and
	// serves every photo of a ticket to staff; nil refuses result photos
	// and shows none.
	Photos Photos
	// Knowledge answers staff's questions from the knowledge base; nil:
	// its search answers 503.
	Knowledge Knowledge
}

// Knowledge searches the knowledge base (knowledge.Index does).
type Knowledge interface {
	Search(ctx context.Context, q string, o ticketing.ArticleQuery) ([]ticketing.ArticleHit, error)
}

// Photos is the photo store (media.Disk).
type Photos interface {
	Prepare(r io.Reader) (*media.Photo, error)
	Save(p *media.Photo) (ticketing.Attachment, error)
	Remove(atts []ticketing.Attachment)
	Open(id string) (*os.File, error)
}

// Server serves the desks and their API.
type Server struct {
	cfg     Config
	store   Store
	tickets Tickets
	bus     pubsub.Bus
	log     *slog.Logger
	pages   map[string]*template.Template
	cop     *http.CrossOriginProtection

	// dummyHash is checked for unknown names, so a wrong name costs the
	// same time as a wrong password.
	dummyHash string
	// checks bounds the password checks running at once: each holds
	// 64 MiB for about 60 ms.
	checks chan struct{}
	// hotspots keeps the latest scans (hotspots.go).
	hotspots hotspotCache
}

// maxPasswordChecks is how many argon2id checks may run at once.
const maxPasswordChecks = 2

// New wires the desks. bus may be nil: then there are no live updates.
func New(cfg Config, store Store, tickets Tickets, bus pubsub.Bus, log *slog.Logger) (*Server, error) {
	if len(cfg.SessionKey) < 16 {
		return nil, errors.New("desks: a session key of at least 16 bytes is required")
	}
	if store == nil || tickets == nil {
		return nil, errors.New("desks: a store and the ticketing service are required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 10 * time.Hour
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Departments == nil {
		cfg.Departments = func() []Department { return nil }
	}
	if cfg.Categories == nil {
		cfg.Categories = func() []Category { return nil }
	}
	if cfg.RevealRoles == nil {
		cfg.RevealRoles = []ticketing.Role{ticketing.RoleDispatcher, ticketing.RoleAdmin, ticketing.RoleAgent, ticketing.RoleLiaison}
	}
	if cfg.DueSoon <= 0 {
		cfg.DueSoon = 24 * time.Hour
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages(templateFS)
	if err != nil {
		return nil, err
	}
	dummy, err := ticketing.HashPassword(rand.Text())
	if err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, store: store, tickets: tickets, bus: bus, log: log, pages: pages,
		cop: http.NewCrossOriginProtection(), dummyHash: dummy, checks: make(chan struct{}, maxPasswordChecks)}, nil
}

// Register adds the desks' routes to r, every one behind cross-origin
// protection. The action each route needs is checked before its handler
// runs; ticket routes check the action and the ticket's department inside.
//
//	GET  /login, POST /login, POST /logout
//	GET  /desk                            by role to the desk below
//	GET  /desk/dispatch                   dispatcher's desk
//	GET  /desk/inbox                      department inbox (a liaison's own)
//	GET  /desk/search                     find a ticket by number
//	GET  /desk/tickets/{number}           ticket page with the actions
//	GET  /desk/tickets/{number}/photos/{id...}  one of the ticket's photos
//	POST /desk/tickets/{number}/reveal    the reporter's phone, audited
//	POST /desk/tickets/{number}/{action}  a workflow action (form; handle's may carry photos)
//	GET  /desk/audit                      audit log
//	GET  /desk/events                     server-sent events: ticket
//	GET  /desk/indicators[.csv]           indicators
//	GET  /desk/kb                         the knowledge base: how its articles fared, what it missed
//	GET  /desk/hotspots                   recurring problems by category and place, on the map
//	POST /desk/hotspots/case              a 督办 case on a hotspot, its reports merged into it
//	GET  /desk/static/                    styles and script
//	GET  /api/v1/desk/queue               a page of a queue (JSON)
//	GET  /api/v1/kb/search?q=             the knowledge base's best answers (JSON)
//	GET  /api/v1/desk/tickets/{number}    a ticket with its log (JSON)
//	POST /api/v1/desk/tickets/{number}/reveal
//	POST /api/v1/desk/tickets/{number}/{action}  JSON body of the form's fields
func (s *Server) Register(r gin.IRouter) {
	g := r.Group("", httpapi.OnError(s.fail))
	open := func(h http.HandlerFunc) http.Handler { return s.cop.Handler(s.withLang(h)) }
	httpapi.Handle(g, "GET /login", open(s.getLogin))
	httpapi.Handle(g, "POST /login", open(s.postLogin))
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/desk/static/", http.FileServerFS(static))
	httpapi.Handle(g, "GET /desk/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))

	for _, rt := range s.routes() {
		httpapi.Handle(g, rt.pattern, s.cop.Handler(s.withLang(s.guard(rt.need, rt.h))))
	}
	// The result form carries photos: it is read, under a cap that fits
	// them, before guard checks the CSRF field in it.
	httpapi.Handle(g, "POST /desk/tickets/{number}/{action}", s.cop.Handler(s.withLang(s.photoForm(s.guard("", s.postAction)))))
}

// route is one guarded route: its pattern, the action its role needs
// ("" lets any staff through; the handler checks the action and the
// ticket against the policy itself) and its handler.
type route struct {
	pattern string
	need    action
	h       http.HandlerFunc
}

// routes are the guarded routes, besides sign-in, static files and the
// result form's photo route (POST /desk/tickets/{number}/{action}).
func (s *Server) routes() []route {
	return []route{
		{"POST /logout", "", s.postLogout},
		{"GET /desk", "", s.getHome},
		{"GET /desk/{$}", "", s.getHome},
		{"GET /desk/dispatch", actDispatchDesk, s.getDispatch},
		{"GET /desk/patrol", actDispatchDesk, s.getPatrol},
		{"GET /desk/hotspots", actDispatchDesk, s.getHotspots},
		{"POST /desk/hotspots/case", actDispatch, s.postHotspotCase},
		{"GET /desk/inbox", actView, s.getInbox},
		{"GET /desk/search", actView, s.getSearch},
		{"GET /desk/tickets/{number}", actView, s.getTicket},
		{"GET /desk/tickets/{number}/photos/{id...}", actView, s.getPhoto},
		{"POST /desk/tickets/{number}/reveal", actView, s.postReveal},
		{"GET /desk/audit", actAudit, s.getAudit},
		{"GET /desk/events", actView, s.getEvents},
		{"GET /desk/indicators", actIndicators, s.getIndicators},
		{"GET /desk/indicators.csv", actIndicators, s.getIndicatorsCSV},
		{"GET /desk/kb", actKnowledge, s.getKB},
		{"GET /api/v1/desk/queue", actView, s.apiQueue},
		{"GET /api/v1/kb/search", actKnowledge, s.apiKBSearch},
		{"GET /api/v1/desk/tickets/{number}", actView, s.apiTicket},
		{"POST /api/v1/desk/tickets/{number}/reveal", actView, s.postReveal},
		{"POST /api/v1/desk/tickets/{number}/{action}", "", s.postAction},
	}
}

// Patterns lists every pattern Register adds, so a test of the access policy
// can insist that each one is covered.
func (s *Server) Patterns() []string {
	out := []string{"GET /login", "POST /login", "GET /desk/static/", "POST /desk/tickets/{number}/{action}"}
	for _, rt := range s.routes() {
		out = append(out, rt.pattern)
	}
	return out
}

// isAPI tells the JSON API from the pages: errors and sign-in demands are
// answered in each one's own way.
func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

// getHome sends each role to its desk.
func (s *Server) getHome(w http.ResponseWriter, r *http.Request) {
	to := "/desk/search"
	switch st := staffFrom(r.Context()); {
	case can(st, actDispatchDesk):
		to = "/desk/dispatch"
	case st.Role == ticketing.RoleLiaison:
		to = "/desk/inbox"
	case st.Role == ticketing.RoleSupervisor:
		to = "/field/" // the supervisors' phone app; the desks show them nothing
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// mayReveal says whether st's role may see a reporter's full phone number.
// RevealRoles narrows the ticket policy; it never widens it.
func (s *Server) mayReveal(st *staff) bool {
	return slices.Contains(s.cfg.RevealRoles, st.Role) && st.viewer().MayReveal(ticketing.FieldPhone)
}

// departmentName is the display name of a department code, or the code.
func (s *Server) departmentName(code string) (string, bool) {
	for _, d := range s.cfg.Departments() {
		if d.Code == code {
			return d.Name, true
		}
	}
	return code, false
}

// audit appends an audit entry for st's request.
func (s *Server) audit(r *http.Request, st *staff, act, ticket, detail string) error {
	e := &ticketing.AuditEntry{At: s.cfg.Now(), Actor: st.Actor, Role: st.Role, Action: act,
		Ticket: ticket, Detail: detail, Source: clientIP(r)}
	return s.store.AppendAudit(r.Context(), e)
}
