// Package httpapi is Yihao's one HTTP stack: the gin engine every HTTP door
// mounts its routes on, the middleware each request passes once (request
// id, access log, bounded metrics, recovery, the client's address behind
// trusted proxies), and the JSON API's answer to an error.
//
// It is named for what it is, the HTTP plumbing the doors share, rather
// than for the doors: no door owns it, and no door imports another to
// reach it. Doors keep their own routes, pages and answer shapes; each
// exposes Register(gin.IRouter) and mounts its routes in a group there.
package httpapi

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Config is the stack's settings.
type Config struct {
	// TrustedProxies are the reverse proxies (addresses or CIDR prefixes)
	// whose X-Forwarded-For names the client; empty trusts nobody.
	TrustedProxies []string
	// Log receives the access log (debug; server errors at warn) and
	// panics. nil discards.
	Log *slog.Logger
	// Metrics records every request by method, route pattern and status.
	// nil records nothing.
	Metrics *Metrics
}

// Engine is the gin engine of every HTTP door, with the shared middleware
// in front and, for paths no route has, the fallbacks the doors declare.
type Engine struct {
	*gin.Engine
	log       *slog.Logger
	metrics   *Metrics
	fallbacks []fallback
}

// fallback answers what no route does under prefix: a subtree when prefix
// ends in "/", else that path alone (net/http's pattern rule).
type fallback struct {
	prefix string
	h      gin.HandlersChain
}

// New builds the engine. Routes answer exactly their path: the engine
// redirects to no path with or without a trailing slash and guesses at no
// case (a door's fallback may, for its own paths). A known path asked
// with another method reaches the fallbacks with 405 set
// (MethodNotAllowed), an unknown one with 404.
func New(cfg Config) (*Engine, error) {
	gin.SetMode(gin.ReleaseMode)
	g := gin.New()
	g.RedirectTrailingSlash = false
	g.RedirectFixedPath = false
	g.HandleMethodNotAllowed = true
	if err := trustProxies(g, cfg.TrustedProxies); err != nil {
		return nil, err
	}
	e := &Engine{Engine: g, log: cfg.Log, metrics: cfg.Metrics}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	g.Use(begin, clientAddr, e.observe, e.recover)
	g.NoRoute(e.fallback)
	g.NoMethod(e.fallback)
	return e, nil
}

// Alone is an engine serving one door by itself, trusting no proxy, for
// a door tested or run on its own: mount adds the door's routes and
// fallbacks.
func Alone(log *slog.Logger, m *Metrics, mount func(e *Engine)) http.Handler {
	e, err := New(Config{Log: log, Metrics: m})
	if err != nil {
		panic(err) // no proxies to get wrong
	}
	mount(e)
	return e
}

// Fallback makes h (after middleware, if any) the answer for paths under
// prefix that no route serves, or serve with another method; the longest
// prefix wins. Without one, gin's plain 404 or 405.
func (e *Engine) Fallback(prefix string, h ...gin.HandlerFunc) {
	e.fallbacks = append(e.fallbacks, fallback{prefix: prefix, h: h})
	sort.SliceStable(e.fallbacks, func(i, j int) bool { return len(e.fallbacks[i].prefix) > len(e.fallbacks[j].prefix) })
}

func (e *Engine) fallback(c *gin.Context) {
	p := c.Request.URL.Path
	for _, f := range e.fallbacks {
		if p == f.prefix || strings.HasSuffix(f.prefix, "/") && strings.HasPrefix(p, f.prefix) {
			for _, h := range f.h {
				if c.IsAborted() {
					return
				}
				h(c)
			}
			return
		}
	}
}

// MethodNotAllowed reports whether a fallback runs for a known path asked
// with a method it does not serve (gin has set 405 and Allow).
func MethodNotAllowed(c *gin.Context) bool { return c.Writer.Status() == http.StatusMethodNotAllowed }

// Matches reports whether path is one gin's route pattern matches
// (":name" one segment, "*name" the rest), for a fallback that must tell
// its own door's paths from others'.
func Matches(pattern, path string) bool {
	for {
		p, rest, more := strings.Cut(pattern, "/")
		if strings.HasPrefix(p, "*") {
			return true
		}
		s, prest, pmore := strings.Cut(path, "/")
		if more != pmore || !strings.HasPrefix(p, ":") && p != s || strings.HasPrefix(p, ":") && s == "" {
			return false
		}
		if !more {
			return true
		}
		pattern, path = rest, prest
	}
}

// requestInfo is what the middleware knows of a request, for handlers
// behind it that see only the *http.Request.
type requestInfo struct {
	id    string
	route string
	fail  func(w http.ResponseWriter, r *http.Request, err error)
	quiet bool
}

type infoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	i, _ := r.Context().Value(infoKey{}).(*requestInfo)
	return i
}

// begin names the request (X-Request-Id, in the access log) and notes its
// route pattern.
func begin(c *gin.Context) {
	i := &requestInfo{id: rand.Text()[:16], route: c.FullPath()}
	c.Header("X-Request-Id", i.id)
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), infoKey{}, i))
	c.Next()
}

// RequestID is the id the engine gave r ("" behind no engine).
func RequestID(r *http.Request) string {
	if i := infoOf(r); i != nil {
		return i.id
	}
	return ""
}

// Route is r's route pattern, for logs and metrics: never the URL, which
// carries ticket numbers, tracking tokens and CTI secrets. "" when no
// route matched.
func Route(r *http.Request) string {
	if i := infoOf(r); i != nil {
		return i.route
	}
	return strings.TrimPrefix(r.Pattern, r.Method+" ")
}

// SetRoute names r's route for logs and metrics, where a door serves one
// route under several patterns (Open311's .xml and .json).
func SetRoute(r *http.Request, route string) {
	if i := infoOf(r); i != nil {
		i.route = route
	}
}

// OnError is a group's middleware naming how its door answers an error,
// for recovery to answer a panic in the door's shape; without it, the
// JSON API's (Fail).
func OnError(fail func(w http.ResponseWriter, r *http.Request, err error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		if i := infoOf(c.Request); i != nil {
			i.fail = fail
		}
		c.Next()
	}
}

// Quiet is a group's middleware for the health checks and the metrics
// scrape: asked every few seconds by machines, they are neither measured
// nor in the access log.
func Quiet(c *gin.Context) {
	if i := infoOf(c.Request); i != nil {
		i.quiet = true
	}
	c.Next()
}

// observe measures and logs each request by its route pattern. The access
// log holds no URL, query or body: those carry phone numbers, OpenIDs,
// tracking tokens and the citizen's words.
func (e *Engine) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	if i := infoOf(c.Request); i != nil && i.quiet {
		return
	}
	d := time.Since(start)
	route := Route(c.Request)
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	e.metrics.ObserveHTTP(c.Request.Method, route, status, d)
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelWarn
	}
	if e.log.Enabled(c.Request.Context(), level) {
		e.log.Log(c.Request.Context(), level, "http", "id", RequestID(c.Request), "method", MethodLabel(c.Request.Method),
			"route", route, "status", status, "bytes", c.Writer.Size(), "dur", d, "client", ClientAddr(c.Request))
	}
}

// recover turns a panic into a 500 in the door's shape, without echoing
// the request. http.ErrAbortHandler goes on up: it means abort, quietly.
func (e *Engine) recover(c *gin.Context) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v)
		}
		e.log.Error("panic", "id", RequestID(c.Request), "route", Route(c.Request), "panic", v)
		c.Abort()
		if c.Writer.Written() {
			return
		}
		err := errPanic
		if i := infoOf(c.Request); i != nil && i.fail != nil {
			i.fail(c.Writer, c.Request, err)
			return
		}
		Fail(c.Writer, c.Request, e.log, err)
	}()
	c.Next()
}

// errPanic is the cause logged for a panic's 500.
var errPanic = panicError{}

type panicError struct{}

func (panicError) Error() string { return "panic" }

// CrossOrigin is http.CrossOriginProtection as a group's middleware: a
// refused request gets cop's deny handler (or its 403) and goes no further.
func CrossOrigin(cop *http.CrossOriginProtection) gin.HandlerFunc {
	return func(c *gin.Context) {
		passed := false
		cop.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { passed = true })).ServeHTTP(c.Writer, c.Request)
		if !passed {
			c.Abort()
			return
		}
		c.Next()
	}
}

// Handle mounts h on r at a net/http pattern ("GET /desk/tickets/{number}"),
// for doors whose handlers are http.Handlers: the wildcards become gin's
// (":number", "*id" for "{id...}"), a trailing "/" a subtree, "{$}" the
// path with its slash, and h reads them with r.PathValue as before. Like
// net/http, a GET route answers HEAD, and a pattern with no method every
// method. The pattern, less its method, is the route in logs and metrics.
func Handle(r gin.IRoutes, pattern string, h http.Handler) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	route := path
	var segs []string
	for _, s := range strings.Split(path, "/") {
		switch {
		case s == "{$}":
			s = ""
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "...}"):
			s = "*" + strings.TrimSuffix(s[1:], "...}")
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			s = ":" + s[1:len(s)-1]
		}
		segs = append(segs, s)
	}
	path = strings.Join(segs, "/")
	if strings.HasSuffix(pattern, "/") && path != "/" {
		path += "*rest"
	}
	serve := func(c *gin.Context) {
		req := c.Request
		req.Pattern = pattern
		for _, p := range c.Params {
			req.SetPathValue(p.Key, strings.TrimPrefix(p.Value, "/"))
		}
		SetRoute(req, route)
		h.ServeHTTP(c.Writer, req)
	}
	switch method {
	case "":
		r.Any(path, serve)
	case http.MethodGet:
		r.GET(path, serve)
		r.HEAD(path, serve)
	default:
		r.Handle(method, path, serve)
	}
}
