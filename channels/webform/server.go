// Package webform is the web door of Yihao: the citizen's report form and
// tracking page, and the JSON API for reports and tickets. It owns "/":
// what no door serves gets its not-found answer (NotFound).
package webform

import (
	"context"
	"crypto/rand"
	"embed"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/media"
	"github.com/yihao-city/yihao/ticketing"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Tickets is what the web door needs from the ticketing service.
type Tickets interface {
	Submit(ctx context.Context, r ticketing.Report) (*ticketing.Ticket, bool, error)
	Track(ctx context.Context, number, token string) (*ticketing.Ticket, []ticketing.Event, error)
	// ReissueTrackToken gives a replayed report's answer a tracking link:
	// only the digest of the first one is stored.
	ReissueTrackToken(ctx context.Context, t *ticketing.Ticket) (string, error)
	Rate(ctx context.Context, number, token, actor string, score int, comment string) (*ticketing.Ticket, error)
	Ticket(ctx context.Context, number string) (*ticketing.Ticket, error)
	Events(ctx context.Context, t *ticketing.Ticket) ([]ticketing.Event, error)
}

// Photos prepares and keeps uploaded photos.
type Photos interface {
	Prepare(r io.Reader) (*media.Photo, error)
	Save(p *media.Photo) (ticketing.Attachment, error)
	Remove(atts []ticketing.Attachment)
}

// Tokens finds staff API tokens by the digest of their secret and the
// users they act for, and keeps the audit log of staff views.
type Tokens interface {
	ticketing.TokenUsers
	AppendAudit(ctx context.Context, e *ticketing.AuditEntry) error
}

// Limiter says whether one more report from key is allowed now; when not,
// it says how long to wait.
type Limiter interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// Category is one choice in the form's category list.
type Category struct {
	Code, Name, Group string
}

// Config is the web door's settings.
type Config struct {
	City string
	// Categories lists the form's choices; it is asked on every render so
	// the list follows a catalogue reload.
	Categories func() []Category
	// MaxJSONBytes caps a JSON request body.
	MaxJSONBytes int64
	// Location is the city's time zone for times shown on pages.
	Location *time.Location
	// Knowledge answers the public questions page (/faq); nil: the page
	// says the knowledge base is not open.
	Knowledge Knowledge
	// Misses keeps the page's questions no article answered; nil: not kept.
	Misses Misses
}

// Server serves the form, the tracking page and the API.
type Server struct {
	cfg     Config
	tickets Tickets
	photos  Photos
	tokens  Tokens
	limiter Limiter
	log     *slog.Logger
	metrics *httpapi.Metrics
	tmpl    *template.Template
	cop     *http.CrossOriginProtection
	own     gin.RoutesInfo // what Register adds, for NotFound
}

// New builds the server. metrics may be nil.
func New(cfg Config, tickets Tickets, photos Photos, tokens Tokens, limiter Limiter, log *slog.Logger, metrics *httpapi.Metrics) (*Server, error) {
	if cfg.MaxJSONBytes == 0 {
		cfg.MaxJSONBytes = 64 << 10
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	tmpl, err := template.New("").Funcs(template.FuncMap{
		"fmtTime": func(t time.Time) string { return t.In(cfg.Location).Format("2006-01-02 15:04") },
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, tickets: tickets, photos: photos, tokens: tokens, limiter: limiter, log: log, metrics: metrics, tmpl: tmpl}
	s.cop = http.NewCrossOriginProtection()
	s.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"error":{"code":"forbidden","message":"cross-origin request refused"}}`))
	}))
	s.own = s.routes()
	return s, nil
}

// Register adds the form, the tracking pages and the API to r, in a group
// behind cross-origin protection and the pages' security headers.
func (s *Server) Register(r gin.IRouter) {
	g := r.Group("", httpapi.CrossOrigin(s.cop), securityHeaders)
	static, _ := fs.Sub(staticFS, "static")
	g.StaticFS("/static", http.FS(static))
	g.GET("/", s.formPage)
	g.POST("/report", s.postForm)
	g.GET("/track", s.trackLookup)
	g.GET("/faq", s.faqPage)
	g.GET("/t/:number", s.trackPage)
	g.POST("/t/:number/rate", s.postRating)
	api := g.Group("/api/v1")
	api.POST("/reports", s.postReport)
	api.GET("/tickets/:number", s.getTicket)
	s.registerOpenAPI(api)
}

// NotFound answers every path no door serves (the web door owns "/"): a
// JSON error under /api/, else the not-found page. One of this door's
// paths with a slash too many is sent to the path without it; asked with
// a method it does not serve, it gets 405; another door's path, as it
// always has, the not-found answer. Mount it with
// httpapi.Engine.Fallback("/", ...).
func (s *Server) NotFound() gin.HandlersChain {
	return gin.HandlersChain{httpapi.CrossOrigin(s.cop), securityHeaders, func(c *gin.Context) {
		p := c.Request.URL.Path
		mine := httpapi.MethodNotAllowed(c) && s.serves("", p)
		if !mine {
			c.Writer.Header().Del("Allow")
		}
		switch {
		case len(p) > 1 && strings.HasSuffix(p, "/") && s.serves(c.Request.Method, strings.TrimSuffix(p, "/")):
			// A link with a slash too many ("/track/") still reaches the page.
			u := *c.Request.URL
			u.Path = strings.TrimSuffix(p, "/")
			code := http.StatusMovedPermanently
			if c.Request.Method != http.MethodGet {
				code = http.StatusTemporaryRedirect
			}
			c.Redirect(code, u.String())
		case mine:
			c.AbortWithStatusJSON(http.StatusMethodNotAllowed, gin.H{"error": apiError{Code: "method_not_allowed", Message: "method not allowed"}})
		case strings.HasPrefix(c.Request.URL.Path, "/api/"):
			s.fail(c, ticketing.Errorf(ticketing.KindNotFound, "", "no such endpoint"))
		default:
			s.render(c, http.StatusNotFound, "notfound.html", nil)
		}
	}}
}

// Patterns lists the routes the server answers ("GET /t/:number"), so a
// test of the access policy can insist that each one is covered.
func (s *Server) Patterns() []string {
	var out []string
	for _, r := range s.routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// serves reports whether path is one of this door's routes', for method
// or ("") any.
func (s *Server) serves(method, path string) bool {
	for _, r := range s.own {
		if (method == "" || r.Method == method) && httpapi.Matches(r.Path, path) {
			return true
		}
	}
	return false
}

// routes are the routes Register adds.
func (s *Server) routes() gin.RoutesInfo {
	e, _ := httpapi.New(httpapi.Config{}) // no proxies to get wrong
	s.Register(e)
	return e.Routes()
}

// Handler is the web door alone on an engine of its own (no trusted
// proxies), for a door tested or run by itself.
func (s *Server) Handler() http.Handler {
	return httpapi.Alone(s.log, s.metrics, func(e *httpapi.Engine) {
		s.Register(e)
		e.Fallback("/", s.NotFound()...)
	})
}

func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	// The tracking link carries a secret: never send it on as a Referer.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'")
	c.Next()
}

// allow applies the per-source intake limit. A limiter that is down lets the
// report through: losing a citizen's report is worse than a burst.
func (s *Server) allow(c *gin.Context) error {
	if s.limiter == nil {
		return nil
	}
	ok, wait, err := s.limiter.Allow(c.Request.Context(), "web:"+sourceKey(httpapi.ClientAddr(c.Request)))
	if err != nil {
		s.log.Warn("rate limiter unavailable; allowing", "err", err)
		return nil
	}
	if !ok {
		secs := int(wait/time.Second) + 1
		c.Header("Retry-After", itoa(secs))
		return &ticketing.Error{Kind: ticketing.KindRateLimited, Message: "too many reports from this address; retry in " + itoa(secs) + " s"}
	}
	return nil
}

// sourceKey is what the rate limit counts by: an IPv4 address, or an IPv6
// /64 (one subscriber's whole prefix, which it can rotate through freely).
func sourceKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// submit stores the photos, submits the report and cleans up the photos if
// the report was refused or was a replay of one already stored.
//
// Once the request is read, the citizen leaving (or a proxy timing out)
// must not cut the write in half: the ticket may be committed while the
// caller sees an error. So the write runs on a context of its own.
func (s *Server) submit(ctx context.Context, r ticketing.Report, photos []*media.Photo) (*ticketing.Ticket, bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), submitTimeout)
	defer cancel()
	for _, p := range photos {
		if r.Location == nil && p.GPS != nil {
			r.Location = p.GPS
		}
	}
	// Refuse bad text before any photo touches the disk.
	check := r
	check.Normalize()
	check.Channel, check.ReceivedAt = ticketing.ChannelWeb, time.Now()
	if err := check.Validate(); err != nil {
		return nil, false, err
	}
	for _, p := range photos {
		a, err := s.photos.Save(p)
		if err != nil {
			s.photos.Remove(r.Attachments)
			return nil, false, err
		}
		r.Attachments = append(r.Attachments, a)
	}
	t, created, err := s.tickets.Submit(ctx, r)
	if (err == nil && !created) || ticketing.Refused(err) {
		// A replay keeps the first copy's photos; a refusal stored nothing.
		// After any other error the ticket may exist: keep the photos.
		s.photos.Remove(r.Attachments)
	}
	s.metrics.Report(r.Channel, created, err)
	if err == nil && !created {
		// The same report again (the answer was lost, or the form sent
		// twice): only the digest of the first tracking token is stored, so
		// the answer carries a new one, which replaces it.
		if _, err := s.tickets.ReissueTrackToken(ctx, t); err != nil {
			return nil, false, err
		}
	}
	return t, created, err
}

// submitTimeout bounds one report's write once its request has been read.
const submitTimeout = 15 * time.Second

func newFormKey() string { return rand.Text() }
