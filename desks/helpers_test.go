package desks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yihao-city/yihao/desks"
	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/limit"
	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
	"github.com/yihao-city/yihao/ticketing/sqlite"
)

// The desks are tested over HTTP on a real SQLite store and the real
// ticketing service, with a small routing catalogue of three departments.

// 水务局 here is the district's (110101), so the district's centre may
// dispatch to it; the others are the city's.
var departments = []desks.Department{{Code: "jt", Name: "交通运输局"}, {Code: "sw", Name: "水务局", Areas: []string{"110101"}},
	{Code: "cg", Name: "城管局"}}

var categories = []desks.Category{{Code: "roads", Name: "道路破损"}, {Code: "water", Name: "供水问题"}, {Code: "litter", Name: "垃圾清运"}}

// catalogue is the test router's: category -> department and time limit.
var catalogue = map[string]struct {
	dept, deptName, name string
	within               time.Duration
}{
	"roads":  {"jt", "交通运输局", "道路破损", 7 * 24 * time.Hour},
	"water":  {"sw", "水务局", "供水问题", 2 * 24 * time.Hour},
	"litter": {"cg", "城管局", "垃圾清运", 24 * time.Hour},
}

// router dispatches known categories at once ("triage-" + category only
// suggests one) and leaves reports without a category to a dispatcher.
type router struct{}

func (router) Route(_ context.Context, r ticketing.Report) (ticketing.Assignment, error) {
	cat, suggest := strings.CutPrefix(r.Category, "triage-")
	c, ok := catalogue[cat]
	if !ok {
		if r.Category == "" {
			return ticketing.Assignment{Priority: ticketing.PriorityNormal, Reason: "待人工派单"}, nil
		}
		return ticketing.Assignment{}, ticketing.Invalid("category", "unknown category %q", r.Category)
	}
	return ticketing.Assignment{Category: cat, CategoryName: c.name, Department: c.dept, DepartmentName: c.deptName,
		Priority: ticketing.PriorityNormal, Deadline: r.ReceivedAt.Add(c.within), Confidence: 0.9,
		AutoDispatch: !suggest, Rule: "test-" + cat, Reason: "派单目录：" + c.name + "→" + c.deptName}, nil
}

const (
	password   = "correct horse battery"
	phone      = "13812345678"
	phoneE164  = "+8613812345678"
	phoneMask  = "138****5678"
	sessionKey = "the desks' test session key, 32+"
)

// env is one desks server over a fresh store.
type env struct {
	store ticketing.Store
	svc   *ticketing.Service
	bus   *pubsub.Memory
	srv   *httptest.Server
	n     atomic.Int64 // external ids
	// proxies are the reverse proxies the engine trusts to name the
	// client, as the binary's trusted_proxies.
	proxies []string
	// router routes the env's reports; nil is the test catalogue's router.
	router ticketing.Router
}

type envOption func(*desks.Config)

// stores are the stores the queue, audit and workflow tests run on.
var stores = []struct {
	name string
	open func(testing.TB) ticketing.Store
}{{"sqlite", sqliteStore}, {"postgres", postgresStore}}

func sqliteStore(t testing.TB) ticketing.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "yihao.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// postgresStore is a store in a schema of its own ($YIHAO_TEST_DATABASE_URL).
func postgresStore(t testing.TB) ticketing.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), pgtest.SchemaURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// newEnv serves the desks over a fresh SQLite store.
func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	return newEnvOn(t, sqliteStore(t), opts...)
}

func newEnvOn(t *testing.T, st ticketing.Store, opts ...envOption) *env {
	t.Helper()
	e := &env{store: st, bus: pubsub.NewMemory()}
	return e.serve(t, e.bus, opts...)
}

// serve starts the desks over e.store with bus (an instance of a cluster
// shares its store and a Redis bus with the others).
func (e *env) serve(t *testing.T, bus pubsub.Bus, opts ...envOption) *env {
	t.Helper()
	st := e.store
	var rt ticketing.Router = router{}
	if e.router != nil {
		rt = e.router
	}
	e.svc = ticketing.NewService(st, rt)
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	cfg := desks.Config{SessionKey: []byte(sessionKey), InsecureCookies: true, Location: time.UTC,
		Departments: func() []desks.Department { return departments },
		Categories:  func() []desks.Category { return categories }}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := desks.New(cfg, st, e.svc, bus, log)
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(httpapi.Config{TrustedProxies: e.proxies, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	s.Register(h)
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	e.addUsers(t)
	return e
}

// The staff of every env: name -> role, department.
var staff = []struct {
	name string
	role ticketing.Role
	dept string
}{
	{"disp", ticketing.RoleDispatcher, ""},
	{"admin", ticketing.RoleAdmin, ""},
	{"agent", ticketing.RoleAgent, ""},
	{"li.jt", ticketing.RoleLiaison, "jt"},
	{"li.sw", ticketing.RoleLiaison, "sw"},
}

// passwordHash is hashed once for all tests: each hash costs 64 MiB.
var passwordHash = sync.OnceValue(func() string {
	h, err := ticketing.HashPassword(password)
	if err != nil {
		panic(err)
	}
	return h
})

func (e *env) addUsers(t *testing.T) {
	t.Helper()
	for _, s := range staff {
		e.putUser(t, &ticketing.User{Name: s.name, DisplayName: "测试" + s.name, Role: s.role, Department: s.dept})
	}
}

func (e *env) putUser(t *testing.T, u *ticketing.User) {
	t.Helper()
	u.PasswordHash, u.UpdatedAt = passwordHash(), time.Now()
	if err := e.store.PutUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
}

// submit files a report; category "" waits for a dispatcher, a known one
// is dispatched at once, "triage-"+category waits with a suggestion.
func (e *env) submit(t *testing.T, category, text string) *ticketing.Ticket {
	t.Helper()
	tk, _, err := e.svc.Submit(context.Background(), ticketing.Report{Channel: ticketing.ChannelWeb,
		ExternalID: fmt.Sprintf("desk-test-%d", e.n.Add(1)), Category: category, Text: text, Address: "和平路12号",
		Reporter: ticketing.Contact{Name: "王女士", Phone: phone, Email: "wang@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func (e *env) ticket(t *testing.T, number string) *ticketing.Ticket {
	t.Helper()
	tk, err := e.svc.Ticket(context.Background(), number)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// audited returns the audit entries for a ticket and action.
func (e *env) audited(t *testing.T, number, act string) []ticketing.AuditEntry {
	t.Helper()
	es, err := e.store.Audit(context.Background(), ticketing.AuditFilter{Ticket: number, Action: act})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// response is a response with its body read.
type response struct {
	code   int
	header http.Header
	body   string
	resp   *http.Response
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("not JSON (%v): %.300s", err, r.body)
	}
	return m
}

// errorOf is the code and field of a JSON error body.
func (r response) errorOf(t *testing.T) (code, field string) {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

func (r response) cookie(name string) *http.Cookie {
	for _, c := range r.resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// client is a member of staff: a session (with its CSRF token) or a
// bearer token, or nothing.
type client struct {
	e       *env
	session *http.Cookie
	csrf    string
	bearer  string
	headers []string
}

func (e *env) anonymous() *client { return &client{e: e} }

var csrfMeta = regexp.MustCompile(`<meta name="csrf" content="([^"]+)">`)

// login signs name in and reads the CSRF token from a page.
func (e *env) login(t *testing.T, name string) *client {
	t.Helper()
	c := &client{e: e}
	r := c.post(t, "/login", url.Values{"name": {name}, "password": {password}})
	if r.code != http.StatusSeeOther || r.cookie("yihao_desk") == nil {
		t.Fatalf("sign-in of %s: %d %.200s", name, r.code, r.body)
	}
	c.session = r.cookie("yihao_desk")
	page := c.get(t, "/desk/search")
	m := csrfMeta.FindStringSubmatch(page.body)
	if page.code != http.StatusOK || m == nil {
		t.Fatalf("%s: search page %d without a CSRF token", name, page.code)
	}
	c.csrf = m[1]
	return c
}

// withToken is a client with a bearer token.
func (e *env) withToken(t *testing.T, tok *ticketing.Token, secret string) *client {
	t.Helper()
	if err := e.store.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return &client{e: e, bearer: secret}
}

func (c *client) do(t *testing.T, method, path string, body io.Reader, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, c.e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.session != nil {
		req.AddCookie(c.session)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	h := append(append([]string{}, c.headers...), headers...)
	for i := 0; i+1 < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: string(b), resp: resp}
}

func (c *client) get(t *testing.T, path string) response {
	t.Helper()
	return c.do(t, http.MethodGet, path, nil)
}

// post sends a form with the session's CSRF token unless the form has a
// csrf of its own.
func (c *client) post(t *testing.T, path string, form url.Values) response {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if c.csrf != "" && !form.Has("csrf") {
		form.Set("csrf", c.csrf)
	}
	return c.do(t, http.MethodPost, path, strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
}

// api sends v as JSON (nil: no body), with the CSRF header on a session.
func (c *client) api(t *testing.T, method, path string, v any) response {
	t.Helper()
	var body io.Reader
	h := []string{"Accept", "application/json"}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		body = strings.NewReader(string(b))
		h = append(h, "Content-Type", "application/json")
	}
	if c.csrf != "" {
		h = append(h, "X-CSRF-Token", c.csrf)
	}
	return c.do(t, method, path, body, h...)
}

// act posts an action's form and expects the redirect back to the ticket.
func (c *client) act(t *testing.T, number, act string, form url.Values) {
	t.Helper()
	r := c.post(t, "/desk/tickets/"+number+"/"+act, form)
	if r.code != http.StatusSeeOther || r.header.Get("Location") != "/desk/tickets/"+number {
		t.Fatalf("%s %s: %d %s\n%.400s", act, number, r.code, r.header.Get("Location"), errorText(r.body))
	}
}

var alert = regexp.MustCompile(`(?s)<p class="error" role="alert">(.*?)</p>`)

// errorText is the error a page shows, or the start of the body.
func errorText(body string) string {
	if m := alert.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	if len(body) > 300 {
		return body[:300]
	}
	return body
}

// limiter is limit.Local that records the keys it is asked about.
type limiter struct {
	*limit.Local
	mu   sync.Mutex
	keys []string
}

func (l *limiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	l.mu.Lock()
	l.keys = append(l.keys, key)
	l.mu.Unlock()
	return l.Local.Allow(ctx, key)
}
