// Package open311 is the Open311 GeoReport v2 door of Yihao: civic apps
// and platforms (FixMyStreet and the like) list the services, submit
// service requests, read their status and exchange updates, in XML (the
// default) or JSON.
//
// # Endpoints (under Config.Base, default /open311/v2; add .xml or .json)
//
//	GET  discovery                   where and what this endpoint is
//	GET  services                    the taxonomy: one service per catalogue leaf
//	GET  services/{code}             a service definition: its attributes
//	POST requests                    submit a report (api_key required)
//	GET  requests                    list requests (ids, service_code, status, dates)
//	GET  requests/{id}, request/{id} one request
//	GET  tokens/{token}              the service_request_id of a token
//	GET  servicerequestupdates       updates since a time (mySociety extension)
//	POST servicerequestupdates       a citizen's update (api_key required)
//
// # Rules
//
// Empty parameters count as absent. Ids are strings (the ticket number).
// Dates are ISO 8601 with a zone, answered in the city's zone. api_key is
// required for POST only: an Open311 role token (yihao token create --role
// open311); missing or wrong answers 403. Only the key that submitted a
// request may post updates to it (or reopen it); any other key gets 403. When Config.Jurisdiction is set,
// a jurisdiction_id other than it answers 404, and a missing one 400 if
// Config.RequireJurisdiction. Errors are
// <errors><error><code>400</code><description>…</description></error></errors>
// (JSON: [{"code":400,"description":"…"}]) with the same HTTP status.
//
// # Idempotency
//
// GeoReport v2 has no idempotency key, so this door takes one of two:
// the Idempotency-Key header or, for clients that can only send form
// fields, attribute[client_id]; the header wins. Keys are 1 to 100 of
// A-Z a-z 0-9 . _ ~ - and are scoped to the api_key that sent them, so two
// clients never collide. The same key with the same report answers the
// same service_request_id (200 instead of 201); with a different report,
// 409. The token in every POST answer is the report's key inside Yihao
// (the client's key, scoped, or a random one): tokens/{token} resolves it.
//
// # Privacy
//
// Only tickets that came in through Open311 are listed or shown (unless
// Config.AllChannels): a phone call's text is no public record. Contact
// fields are never answered back.
package open311

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/ticketing"
)

// Tickets is what this door needs from the ticketing service.
type Tickets interface {
	Submit(ctx context.Context, r ticketing.Report) (*ticketing.Ticket, bool, error)
	Ticket(ctx context.Context, number string) (*ticketing.Ticket, error)
	Events(ctx context.Context, t *ticketing.Ticket) ([]ticketing.Event, error)
	Act(ctx context.Context, number string, act func(t *ticketing.Ticket, now time.Time) error) (*ticketing.Ticket, error)
	Note(ctx context.Context, number, actor string, typ ticketing.EventType, note, public string) error
}

// Records are the store's reads this door lists from, and its API keys.
type Records interface {
	List(ctx context.Context, f ticketing.ListFilter) ([]*ticketing.Ticket, error)
	EventsBetween(ctx context.Context, f ticketing.EventFilter) ([]ticketing.NumberedEvent, error)
	LatestPublic(ctx context.Context, ticketIDs []int64) (map[int64]string, error)
	ByExternalID(ctx context.Context, ch ticketing.Channel, externalID string) (*ticketing.Ticket, error)
	TokenByHash(ctx context.Context, hash string) (*ticketing.Token, error)
}

// Service is one Open311 service: a leaf of the routing catalogue.
type Service struct {
	Code, Name, Group string
	Keywords          []string
	Attributes        []Attribute
}

// Attribute is one extra question of a service (service definition).
type Attribute struct {
	Code        string
	Description string
	Datatype    string // string, number, datetime, text, singlevaluelist, multivaluelist
	Required    bool
	Hint        string // datatype_description
	Values      []Value
}

// Value is one choice of a list attribute.
type Value struct{ Key, Name string }

// Config is the door's settings.
type Config struct {
	// Base is the path the endpoint is served under (default /open311/v2).
	Base string
	// Jurisdiction is this endpoint's jurisdiction_id; empty accepts any.
	Jurisdiction string
	// RequireJurisdiction makes jurisdiction_id mandatory (400 without it).
	RequireJurisdiction bool
	Services            []Service
	// Contact is shown in discovery.
	Contact string
	// Location is the city's time zone for the dates answered.
	Location *time.Location
	// AllChannels lists tickets of every channel, not only Open311's.
	AllChannels bool
	// MaxBodyBytes caps a POST body (default 64 KiB).
	MaxBodyBytes int64
	// Now is the clock (tests set it).
	Now func() time.Time
}

// Server serves GeoReport v2.
type Server struct {
	cfg      Config
	tickets  Tickets
	records  Records
	log      *slog.Logger
	metrics  *httpapi.Metrics
	services map[string]*Service
	started  time.Time
	routes   []route
}

// route is one endpoint: its method, its pattern under Base (net/http's
// syntax) and its handler.
type route struct {
	method, pattern string
	h               handler
}

// New builds the server. metrics may be nil.
func New(cfg Config, tickets Tickets, records Records, log *slog.Logger, metrics *httpapi.Metrics) (*Server, error) {
	if cfg.Base == "" {
		cfg.Base = "/open311/v2"
	}
	cfg.Base = "/" + strings.Trim(cfg.Base, "/")
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, tickets: tickets, records: records, log: log, metrics: metrics,
		services: map[string]*Service{}, started: cfg.Now().Truncate(time.Second)}
	for i := range cfg.Services {
		sv := &cfg.Services[i]
		if sv.Code == "" || s.services[sv.Code] != nil {
			return nil, errors.New("open311: every service needs a unique code")
		}
		s.services[sv.Code] = sv
	}
	s.routes = []route{
		{"GET", "/discovery", s.discovery},
		{"GET", "/services", s.listServices},
		{"GET", "/services/{code}", s.serviceDefinition},
		{"POST", "/requests", s.postRequest},
		{"GET", "/requests", s.getRequests},
		{"GET", "/requests/{id}", s.getRequest},
		{"GET", "/request/{id}", s.getRequest},
		{"GET", "/tokens/{token}", s.getToken},
		{"GET", "/servicerequestupdates", s.getUpdates},
		{"POST", "/servicerequestupdates", s.postUpdate},
	}
	return s, nil
}

// Register adds the endpoints to r, each with no extension, .xml and
// .json (a pattern ending in a wildcard takes the extension into the
// wildcard's segment, cut off before the handler sees it). A panic is
// answered in Open311's error shape.
func (s *Server) Register(r gin.IRouter) {
	g := r.Group("", httpapi.OnError(func(w http.ResponseWriter, r *http.Request, err error) {
		s.fail(w, r, formatOf(r.URL.Path), err)
	}))
	for _, rt := range s.routes {
		serve, p := s.serve(rt), rt.method+" "+s.cfg.Base+rt.pattern
		httpapi.Handle(g, p, serve)
		if !strings.HasSuffix(rt.pattern, "}") {
			httpapi.Handle(g, p+".xml", serve)
			httpapi.Handle(g, p+".json", serve)
		}
	}
}

// NotFound answers what no endpoint under Base does, whatever the method,
// with Open311's 404. Mount it with httpapi.Engine.Fallback(Base()+"/", ...).
func (s *Server) NotFound(c *gin.Context) {
	s.fail(c.Writer, c.Request, formatOf(c.Request.URL.Path), &ticketing.Error{Kind: ticketing.KindNotFound, Message: "no such endpoint: see " + s.cfg.Base + "/discovery.xml"})
}

// Patterns lists the patterns the server answers (each also with .xml and
// .json when it ends in no parameter), so a test of the access policy can
// insist that each one is covered.
func (s *Server) Patterns() []string {
	out := make([]string, len(s.routes))
	for i, rt := range s.routes {
		out[i] = rt.method + " " + s.cfg.Base + rt.pattern
	}
	return out
}

// Base is the path the server answers under.
func (s *Server) Base() string { return s.cfg.Base }

// Handler is the door alone on an engine of its own, for a door tested or
// run by itself.
func (s *Server) Handler() http.Handler {
	return httpapi.Alone(s.log, s.metrics, func(e *httpapi.Engine) {
		s.Register(e)
		e.Fallback(s.cfg.Base+"/", s.NotFound)
	})
}

// format is the answer's encoding: the path's extension, XML by default.
type format int

const (
	formatXML format = iota
	formatJSON
)

func formatOf(path string) format {
	if strings.HasSuffix(path, ".json") {
		return formatJSON
	}
	return formatXML
}

// handler answers one endpoint; params holds the path's wildcards with
// the format extension removed.
type handler func(w http.ResponseWriter, r *http.Request, f format, params map[string]string) error

// serve is rt's handler: the request's format, the path's wildcard with
// the extension cut off, the jurisdiction checked, and errors answered in
// the format. Logs and metrics name the route without its extension.
func (s *Server) serve(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		httpapi.SetRoute(r, s.cfg.Base+rt.pattern)
		f := formatOf(r.URL.Path)
		params := map[string]string{}
		if i := strings.LastIndex(rt.pattern, "{"); i >= 0 {
			name := strings.Trim(rt.pattern[i:], "{}")
			v := r.PathValue(name)
			v = strings.TrimSuffix(strings.TrimSuffix(v, ".json"), ".xml")
			params[name] = v
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if err := s.jurisdiction(r); err != nil {
			s.fail(w, r, f, err)
			return
		}
		if err := rt.h(w, r, f, params); err != nil {
			s.fail(w, r, f, err)
		}
	}
}

// param reads a parameter: from the form body on POST, else the query.
// Empty (or blank) counts as absent.
func param(r *http.Request, name string) string {
	if r.Method == http.MethodPost && r.PostForm != nil {
		if v := strings.TrimSpace(r.PostForm.Get(name)); v != "" {
			return v
		}
	}
	return strings.TrimSpace(r.URL.Query().Get(name))
}

// jurisdiction checks jurisdiction_id against the configured one.
func (s *Server) jurisdiction(r *http.Request) error {
	if r.Method == http.MethodPost {
		if err := s.parseForm(r); err != nil {
			return err
		}
	}
	v := param(r, "jurisdiction_id")
	switch {
	case v == "" && s.cfg.RequireJurisdiction:
		return ticketing.Invalid("jurisdiction_id", "is required (this endpoint's is %q)", s.cfg.Jurisdiction)
	case v != "" && s.cfg.Jurisdiction != "" && v != s.cfg.Jurisdiction:
		return &ticketing.Error{Kind: ticketing.KindNotFound, Field: "jurisdiction_id", Message: "unknown jurisdiction " + quote(v)}
	}
	return nil
}

// parseForm reads a form-encoded POST body within the size cap.
func (s *Server) parseForm(r *http.Request) error {
	if r.PostForm != nil {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(strings.ToLower(ct))
	if ct != "application/x-www-form-urlencoded" && ct != "" {
		return &ticketing.Error{Kind: ticketing.KindUnsupported, Field: "Content-Type", Message: "send application/x-www-form-urlencoded"}
	}
	r.Body = http.MaxBytesReader(nil, r.Body, s.cfg.MaxBodyBytes)
	if ct == "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &ticketing.Error{Kind: ticketing.KindTooLarge, Message: "the request body is over " + itoa(int(mbe.Limit)) + " bytes"}
		}
		return ticketing.Invalid("", "the body is not form-encoded: %v", err)
	}
	return nil
}

// client checks api_key: an Open311 role token.
func (s *Server) client(r *http.Request) (*ticketing.Token, error) {
	key := param(r, "api_key")
	forbidden := &ticketing.Error{Kind: ticketing.KindForbidden, Field: "api_key", Message: "a valid api_key is required"}
	if key == "" {
		return nil, forbidden
	}
	tok, err := s.records.TokenByHash(r.Context(), ticketing.HashToken(key))
	if errors.Is(err, ticketing.ErrNotFound) {
		return nil, forbidden
	}
	if err != nil {
		return nil, err
	}
	if tok.Role != ticketing.RoleOpen311 {
		return nil, &ticketing.Error{Kind: ticketing.KindForbidden, Field: "api_key", Message: "this key is not an Open311 key"}
	}
	return tok, nil
}

// actor names a client in the event log.
func actor(tok *ticketing.Token) string {
	if tok.Name != "" {
		return "open311:" + tok.Name
	}
	return "open311:key" + itoa(int(tok.ID))
}

// keyPrefix starts the external id of every request tok submits.
func keyPrefix(tok *ticketing.Token) string { return "k" + itoa(int(tok.ID)) + "." }

// owns reports whether tok submitted t: updates and reopenings are the
// submitting client's alone (its citizens' tickets), not any client's.
// Tickets from before keys were recorded on every request, and tickets of
// other doors, are owned by no key.
func owns(tok *ticketing.Token, t *ticketing.Ticket) bool {
	return t.Channel == ticketing.ChannelOpen311 && strings.HasPrefix(t.ExternalID, keyPrefix(tok))
}

// channels is the channel filter of listings.
func (s *Server) channel() ticketing.Channel {
	if s.cfg.AllChannels {
		return ""
	}
	return ticketing.ChannelOpen311
}

// visible reports whether t may be shown through this door.
func (s *Server) visible(t *ticketing.Ticket) bool {
	return s.cfg.AllChannels || t.Channel == ticketing.ChannelOpen311
}

func (s *Server) now() time.Time { return s.cfg.Now() }

func newKey() string { return rand.Text() }
