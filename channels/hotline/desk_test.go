package hotline_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yihao-city/yihao/channels/hotline"
	"github.com/yihao-city/yihao/channels/hotline/acd"
	"github.com/yihao-city/yihao/channels/hotline/sipptest"
	"github.com/yihao-city/yihao/internal/browsertest"
	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing"
)

// The agent page (坐席工作台): sign-in and its session cookie, the agent's
// state, tickets logged from a call, cross-origin protection and the
// event stream over HTTP; then one call end to end in a real headless
// Chromium, with sipp as the citizen and the agent's softphone.

// deskEnv serves the agent page over a real store.
type deskEnv struct {
	store    ticketing.Store
	svc      *ticketing.Service
	presence acd.Presence
	bus      pubsub.Bus
	srv      *httptest.Server

	mu   sync.Mutex
	skew time.Duration // the desk's clock runs this far ahead of the wall clock
}

func (e *deskEnv) now() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return time.Now().Add(e.skew) }

func (e *deskEnv) advance(d time.Duration) { e.mu.Lock(); e.skew += d; e.mu.Unlock() }

// newDesk serves the agent page on store, svc, presence and bus, as serve
// wires it next to the SIP door; nil svc, presence and bus get their own.
func newDesk(t *testing.T, store ticketing.Store, svc *ticketing.Service, presence acd.Presence, bus pubsub.Bus) *deskEnv {
	t.Helper()
	return newDeskWith(t, store, svc, presence, bus, hotline.AgentPageConfig{}, nil)
}

// newDeskWith is newDesk with settings (SessionKey and Now are the test's)
// and the reverse proxies the engine trusts (none if nil).
func newDeskWith(t *testing.T, store ticketing.Store, svc *ticketing.Service, presence acd.Presence, bus pubsub.Bus,
	cfg hotline.AgentPageConfig, trusted []string) *deskEnv {
	t.Helper()
	if svc == nil {
		svc = ticketing.NewService(store, triage{})
	}
	if presence == nil {
		presence = acd.NewMemory(acd.LongestIdle)
	}
	if bus == nil {
		bus = pubsub.NewMemory()
	}
	lines, err := hotline.NewLines(demoLines, "86")
	if err != nil {
		t.Fatal(err)
	}
	e := &deskEnv{store: store, svc: svc, presence: presence, bus: bus}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	cfg.SessionKey, cfg.Now = []byte("agent sessions of the desk tests"), e.now
	d, err := hotline.NewAgentPage(cfg, store, svc, presence, bus, lines, log)
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(httpapi.Config{TrustedProxies: trusted, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	d.Register(h)
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// addDeskAgents creates agents ext with password "pw-"+ext, as
// sipEnv.addAgents does.
func addDeskAgents(t *testing.T, store ticketing.Store, exts ...string) {
	t.Helper()
	for _, ext := range exts {
		now := time.Now()
		a := &ticketing.Agent{Ext: ext, Name: "坐席" + ext, Realm: "yihao", HA1: ticketing.HA1(ext, "yihao", "pw-"+ext), CreatedAt: now, UpdatedAt: now}
		if err := store.PutAgent(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
}

// deskResponse is a response of the desk, body read.
type deskResponse struct {
	code   int
	header http.Header
	body   string
	resp   *http.Response
}

// json decodes the body as an object (nil if it is none).
func (r deskResponse) json() map[string]any {
	var m map[string]any
	json.Unmarshal([]byte(r.body), &m) // nil is the answer
	return m
}

// errorField returns the code and field of a JSON error body.
func (r deskResponse) errorField() (code, field string) {
	e, _ := r.json()["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

func (r deskResponse) cookie() *http.Cookie {
	for _, c := range r.resp.Cookies() {
		if c.Name == "yihao_agent" {
			return c
		}
	}
	return nil
}

// do sends a request with the session (if any), form (as the body of a
// POST) and headers (name, value, ...); it does not follow redirects.
func (e *deskEnv) do(t *testing.T, method, path string, session *http.Cookie, form url.Values, headers ...string) deskResponse {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if session != nil {
		req.AddCookie(session)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return deskResponse{code: resp.StatusCode, header: resp.Header, body: string(b), resp: resp}
}

// login signs ext in with its password and returns the session cookie.
func (e *deskEnv) login(t *testing.T, ext string) *http.Cookie {
	t.Helper()
	r := e.do(t, "POST", "/agent/login", nil, url.Values{"ext": {ext}, "password": {"pw-" + ext}})
	c := r.cookie()
	if r.code != http.StatusSeeOther || c == nil {
		t.Fatalf("sign-in of %s: %d, cookie %v", ext, r.code, c)
	}
	return c
}

// registerPhone registers ext's softphone with presence, as the
// registrar does: a first registration makes the agent available.
func registerPhone(t *testing.T, p acd.Presence, ext string) {
	t.Helper()
	now := time.Now()
	b := acd.Binding{Agent: ext, Contact: "sip:" + ext + "@127.0.0.1:5062", Source: "127.0.0.1:5062", Transport: "udp", Expires: now.Add(time.Hour)}
	if err := p.Register(context.Background(), b, nil, now); err != nil {
		t.Fatal(err)
	}
}

func TestDeskLogin(t *testing.T) {
	e := newDesk(t, sqliteStore(t), nil, nil, nil)
	addDeskAgents(t, e.store, "2001")

	for _, tc := range []struct {
		name, ext, password string
	}{
		{"wrong password", "2001", "pw-2002"},
		{"empty password", "2001", ""},
		{"unknown extension", "9999", "pw-9999"},
		{"no extension", "", "pw-2001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, "POST", "/agent/login", nil, url.Values{"ext": {tc.ext}, "password": {tc.password}})
			if r.code != http.StatusUnauthorized || r.header.Get("Set-Cookie") != "" {
				t.Errorf("%d, Set-Cookie %q; want 401 and no cookie", r.code, r.header.Get("Set-Cookie"))
			}
			if !strings.Contains(r.body, "工号或密码不正确") || !strings.Contains(r.body, `action="/agent/login"`) {
				t.Errorf("the sign-in form again with the error, got:\n%s", r.body)
			}
		})
	}

	t.Run("right password", func(t *testing.T) {
		r := e.do(t, "POST", "/agent/login", nil, url.Values{"ext": {" 2001 "}, "password": {"pw-2001"}})
		c := r.cookie()
		if r.code != http.StatusSeeOther || r.header.Get("Location") != "/agent" || c == nil {
			t.Fatalf("%d to %q, cookie %v; want 303 to /agent with a session", r.code, r.header.Get("Location"), c)
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/agent" || c.Secure {
			t.Errorf("cookie HttpOnly %v SameSite %v Path %q Secure %v; want HttpOnly, Strict, /agent, not Secure over plain HTTP",
				c.HttpOnly, c.SameSite, c.Path, c.Secure)
		}
		if until := time.Until(c.Expires); until < 11*time.Hour || until > 13*time.Hour {
			t.Errorf("session expires in %v, want one shift (12 h)", until)
		}
		page := e.do(t, "GET", "/agent", c, nil)
		if page.code != http.StatusOK || !strings.Contains(page.body, `<b id="agent">2001</b> 坐席2001`) || !strings.Contains(page.body, `src="/agent/desk.js"`) {
			t.Errorf("the desk of 2001: %d\n%s", page.code, page.body)
		}
		if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("Content-Security-Policy %q", csp)
		}
		// Signing out clears the cookie.
		out := e.do(t, "POST", "/agent/logout", c, url.Values{})
		if gone := out.cookie(); out.code != http.StatusSeeOther || gone == nil || gone.MaxAge >= 0 {
			t.Errorf("sign-out: %d, cookie %v", out.code, gone)
		}
	})

	t.Run("no session", func(t *testing.T) {
		page := e.do(t, "GET", "/agent", nil, nil)
		if page.code != http.StatusOK || !strings.Contains(page.body, `action="/agent/login"`) || strings.Contains(page.body, "desk.js") {
			t.Errorf("without a session the sign-in form, got %d:\n%s", page.code, page.body)
		}
	})
}

// Only a cookie the desk signed, for the extension it signed, before it
// expires, is a session.
func TestDeskSessionCookie(t *testing.T) {
	e := newDesk(t, sqliteStore(t), nil, nil, nil)
	addDeskAgents(t, e.store, "2001", "2002")
	good := e.login(t, "2001")
	parts := strings.Split(good.Value, ".")
	if len(parts) != 5 {
		t.Fatalf("session cookie %q: want ext.expiry.epoch.credential.mac", good.Value)
	}
	exp, _ := strconv.ParseInt(parts[1], 10, 64)
	flip := func(s string) string { // change the last character
		last := s[len(s)-1]
		if last == '0' {
			return s[:len(s)-1] + "1"
		}
		return s[:len(s)-1] + "0"
	}
	join := func(p ...string) string { return strings.Join(p, ".") }
	for _, tc := range []struct {
		name  string
		value string
		ok    bool
	}{
		{"as signed", good.Value, true},
		{"other extension", join(base64.RawURLEncoding.EncodeToString([]byte("2002")), parts[1], parts[2], parts[3], parts[4]), false},
		{"later expiry", join(parts[0], strconv.FormatInt(exp+86400, 10), parts[2], parts[3], parts[4]), false},
		{"other epoch", join(parts[0], parts[1], "7", parts[3], parts[4]), false},
		{"mac changed", join(parts[0], parts[1], parts[2], parts[3], flip(parts[4])), false},
		{"mac missing", join(parts[0], parts[1], parts[2], parts[3]), false},
		{"mac empty", join(parts[0], parts[1], parts[2], parts[3], ""), false},
		{"old format", join(parts[0], parts[1], parts[4]), false},
		{"garbage", "not-a-session", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &http.Cookie{Name: "yihao_agent", Value: tc.value}
			// Signed in but never registered: 409; not signed in: 401.
			want := http.StatusUnauthorized
			if tc.ok {
				want = http.StatusConflict
			}
			if r := e.do(t, "POST", "/agent/state", c, url.Values{"state": {"available"}}); r.code != want {
				t.Errorf("POST /agent/state: %d, want %d", r.code, want)
			}
			page := e.do(t, "GET", "/agent", c, nil)
			if signedIn := strings.Contains(page.body, `id="agent"`); signedIn != tc.ok {
				t.Errorf("GET /agent shows the desk: %v, want %v", signedIn, tc.ok)
			}
		})
	}
	t.Run("after the shift", func(t *testing.T) {
		e.advance(12*time.Hour + time.Second)
		t.Cleanup(func() { e.advance(-12*time.Hour - time.Second) })
		if r := e.do(t, "POST", "/agent/state", good, url.Values{"state": {"available"}}); r.code != http.StatusUnauthorized {
			t.Errorf("expired session: %d, want 401", r.code)
		}
	})
}

// The agent's own state: available (示闲) and break (示忙) drive the ACD,
// once the agent's phone has registered.
func TestDeskAgentState(t *testing.T) {
	e := newDesk(t, sqliteStore(t), nil, nil, nil)
	addDeskAgents(t, e.store, "2001")
	session := e.login(t, "2001")

	for _, step := range []struct {
		name      string
		session   *http.Cookie
		register  bool // register the phone before this step
		state     string
		code      int
		errCode   string
		wantState acd.State // in presence after a 200
	}{
		{name: "no session", state: "available", code: http.StatusUnauthorized, errCode: "unauthorized"},
		{name: "phone never registered", session: session, state: "available", code: http.StatusConflict, errCode: "not_registered"},
		{name: "unknown state", session: session, register: true, state: "on_call", code: http.StatusBadRequest, errCode: "invalid"},
		{name: "no state", session: session, state: "", code: http.StatusBadRequest, errCode: "invalid"},
		{name: "break", session: session, state: "break", code: http.StatusOK, wantState: acd.Break},
		{name: "available", session: session, state: "available", code: http.StatusOK, wantState: acd.Available},
		{name: "logged out", session: session, state: "logged_out", code: http.StatusOK, wantState: acd.LoggedOut},
		{name: "available again", session: session, state: "available", code: http.StatusOK, wantState: acd.Available},
	} {
		if step.register {
			registerPhone(t, e.presence, "2001")
		}
		r := e.do(t, "POST", "/agent/state", step.session, url.Values{"state": {step.state}})
		if r.code != step.code {
			t.Errorf("%s: %d, want %d: %s", step.name, r.code, step.code, r.body)
			continue
		}
		if step.code != http.StatusOK {
			if code, _ := r.errorField(); code != step.errCode {
				t.Errorf("%s: error code %q, want %q: %s", step.name, code, step.errCode, r.body)
			}
			continue
		}
		got := r.json()
		if got["state"] != string(step.wantState) || got["registered"] != true {
			t.Errorf("%s: answered %s", step.name, r.body)
		}
		st, err := e.presence.Status(context.Background(), "2001", time.Now())
		if err != nil || st.State != step.wantState {
			t.Errorf("%s: presence has %q (%v), want %q", step.name, st.State, err, step.wantState)
		}
	}
}

var ticketNumber = regexp.MustCompile(`^[0-9]{14}$`)

// Tickets logged from a call: phone channel, external id call id + "#" +
// seq so a retry is the same ticket, 直办 needs the answer, and every
// ticket is linked to the call in the call log.
func TestDeskTickets(t *testing.T) {
	e := newDesk(t, sqliteStore(t), nil, nil, nil)
	addDeskAgents(t, e.store, "2001")
	session := e.login(t, "2001")
	ctx := context.Background()
	const callID = "desk-call-1@test"
	if _, err := e.store.ApplyCallEvent(ctx, ticketing.CallEvent{CallID: callID, Type: ticketing.CallNew,
		From: "+8613800138000", To: "12345", Direction: ticketing.DirectionIn, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	form := func(kv ...string) url.Values {
		v := url.Values{"call_id": {callID}, "seq": {"1"}, "caller": {"13800138000"}, "line": {"12345"},
			"text": {"和平路12号门口的路灯坏了，晚上很黑。"}, "name": {"李先生"}, "address": {"和平路12号"}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v
	}

	numbers := map[string]string{} // step -> ticket number
	for _, step := range []struct {
		name    string
		session *http.Cookie
		form    url.Values
		code    int
		field   string           // of a 400
		status  ticketing.Status // of a 200
		same    string           // a 200 must repeat this step's number
	}{
		{name: "no session", form: form(), code: http.StatusUnauthorized},
		{name: "logged", session: session, form: form(), code: http.StatusOK, status: ticketing.StatusReceived},
		{name: "retried", session: session, form: form(), code: http.StatusOK, status: ticketing.StatusReceived, same: "logged"},
		{name: "same seq, other text", session: session, form: form("text", "另一件事：楼道灯也不亮"), code: http.StatusConflict},
		{name: "direct", session: session, form: form("seq", "2", "direct", "1", "answer", "社保卡补办请到区政务服务中心3号窗口。", "text", "咨询社保卡补办"),
			code: http.StatusOK, status: ticketing.StatusResolvedOnContact},
		{name: "direct retried", session: session, form: form("seq", "2", "direct", "1", "answer", "社保卡补办请到区政务服务中心3号窗口。", "text", "咨询社保卡补办"),
			code: http.StatusOK, status: ticketing.StatusResolvedOnContact, same: "direct"},
		{name: "direct without answer", session: session, form: form("seq", "3", "direct", "1", "answer", "  "), code: http.StatusBadRequest, field: "answer"},
		{name: "no text", session: session, form: form("seq", "3", "text", ""), code: http.StatusBadRequest, field: "text"},
		{name: "seq 0", session: session, form: form("seq", "0"), code: http.StatusBadRequest, field: "seq"},
		{name: "seq missing", session: session, form: form("seq", ""), code: http.StatusBadRequest, field: "seq"},
		{name: "call not in the log", session: session, form: form("call_id", "desk-call-unknown@test"), code: http.StatusOK, status: ticketing.StatusReceived},
	} {
		r := e.do(t, "POST", "/agent/tickets", step.session, step.form)
		if r.code != step.code {
			t.Errorf("%s: %d, want %d: %s", step.name, r.code, step.code, r.body)
			continue
		}
		switch step.code {
		case http.StatusOK:
		case http.StatusBadRequest:
			if _, field := r.errorField(); field != step.field {
				t.Errorf("%s: error on field %q, want %q: %s", step.name, field, step.field, r.body)
			}
			continue
		default:
			continue
		}
		got := r.json()
		n, _ := got["number"].(string)
		if !ticketNumber.MatchString(n) || got["status"] != string(step.status) {
			t.Errorf("%s: answered %s, want a 14-digit number and status %s", step.name, r.body, step.status)
		}
		if step.same != "" && n != numbers[step.same] {
			t.Errorf("%s: number %s, want %s again (same call and seq)", step.name, n, numbers[step.same])
		}
		numbers[step.name] = n
	}

	// The first ticket as stored.
	tk, err := e.store.ByExternalID(ctx, ticketing.ChannelPhone, callID+"#1")
	if err != nil {
		t.Fatalf("ticket %s#1: %v", callID, err)
	}
	if tk.Number != numbers["logged"] || tk.Line != "12345" || tk.Reporter.Phone != "+8613800138000" || tk.Reporter.Name != "李先生" ||
		tk.Address != "和平路12号" || tk.Status != ticketing.StatusReceived {
		t.Errorf("stored ticket: number %s line %q reporter %+v address %q status %s", tk.Number, tk.Line, tk.Reporter, tk.Address, tk.Status)
	}
	if d, err := e.store.ByExternalID(ctx, ticketing.ChannelPhone, callID+"#2"); err != nil || d.Number != numbers["direct"] || d.Status != ticketing.StatusResolvedOnContact {
		t.Errorf("直办 ticket %s#2: %v %v", callID, d, err)
	}
	if phone, err := e.store.List(ctx, ticketing.ListFilter{Channel: ticketing.ChannelPhone}); err != nil || len(phone) != 3 {
		t.Errorf("%d phone tickets (%v), want 3: the two of the call and the one of an unknown call", len(phone), err)
	}

	// The call log has both tickets of the call, each once.
	calls, err := e.store.Calls(ctx, ticketing.CallFilter{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)})
	if err != nil || len(calls) != 1 {
		t.Fatalf("%d calls (%v), want 1", len(calls), err)
	}
	want := []string{numbers["logged"], numbers["direct"]}
	slices.Sort(want)
	if got := slices.Sorted(slices.Values(calls[0].Tickets)); !slices.Equal(got, want) {
		t.Errorf("call %s links tickets %v, want %v", calls[0].CallID, got, want)
	}
}

// A request from another site is refused before it does anything; a
// plain GET (a link from elsewhere) still gets the page.
func TestDeskRefusesCrossOrigin(t *testing.T) {
	e := newDesk(t, sqliteStore(t), nil, nil, nil)
	addDeskAgents(t, e.store, "2001")
	registerPhone(t, e.presence, "2001")
	session := e.login(t, "2001")
	ticket := url.Values{"call_id": {"desk-xo@test"}, "seq": {"1"}, "caller": {"13800138000"}, "line": {"12345"}, "text": {"路灯坏了"}}

	for _, origin := range []struct {
		name    string
		headers []string
	}{
		{"cross-site", []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}},
		{"same-site", []string{"Origin", "https://www.yihao.example", "Sec-Fetch-Site", "same-site"}},
		{"Origin only", []string{"Origin", "https://evil.example"}},
	} {
		for _, req := range []struct {
			path    string
			session *http.Cookie
			form    url.Values
		}{
			{"/agent/login", nil, url.Values{"ext": {"2001"}, "password": {"pw-2001"}}},
			{"/agent/state", session, url.Values{"state": {"break"}}},
			{"/agent/tickets", session, ticket},
			{"/agent/preview", session, url.Values{"text": {"和平路12号路灯不亮"}}},
			{"/agent/logout", session, url.Values{}},
		} {
			t.Run(origin.name+req.path, func(t *testing.T) {
				r := e.do(t, "POST", req.path, req.session, req.form, origin.headers...)
				if r.code != http.StatusForbidden || r.cookie() != nil {
					t.Errorf("%d, cookie %v; want 403 and no cookie", r.code, r.cookie())
				}
			})
		}
		t.Run(origin.name+" GET", func(t *testing.T) {
			if r := e.do(t, "GET", "/agent", session, nil, origin.headers...); r.code != http.StatusOK {
				t.Errorf("GET /agent: %d", r.code)
			}
		})
	}
	// Nothing happened: the agent is still available, no ticket exists.
	if st, err := e.presence.Status(context.Background(), "2001", time.Now()); err != nil || st.State != acd.Available {
		t.Errorf("agent after refused requests: %q %v", st.State, err)
	}
	if ts, err := e.store.List(context.Background(), ticketing.ListFilter{}); err != nil || len(ts) != 0 {
		t.Errorf("%d tickets after refused requests (%v)", len(ts), err)
	}
	// The same requests from the page itself pass.
	same := []string{"Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin"}
	if r := e.do(t, "POST", "/agent/state", session, url.Values{"state": {"break"}}, same...); r.code != http.StatusOK {
		t.Errorf("same-origin state: %d %s", r.code, r.body)
	}
	if r := e.do(t, "POST", "/agent/tickets", session, ticket, same...); r.code != http.StatusOK {
		t.Errorf("same-origin ticket: %d %s", r.code, r.body)
	}
}

// previewRouter is a small catalogue for the routing preview: street
// lights (路灯) go to 城管委 at once, a 0102 hint to 交通委, anything else
// waits for a dispatcher; 和平路 addresses are on the map.
type previewRouter struct{}

var previewPlaces = map[string]ticketing.Point{
	"和平路12号": {Lat: 39.9000, Lon: 116.4000},
	"和平路14号": {Lat: 39.9002, Lon: 116.4001}, // about 25 m on
}

func (previewRouter) Route(_ context.Context, r ticketing.Report) (ticketing.Assignment, error) {
	a := ticketing.Assignment{Priority: ticketing.PriorityNormal, Suggestions: []ticketing.Suggestion{
		{Category: "0101", Name: "路灯", Confidence: 0.2}, {Category: "0102", Name: "道路坑洼", Confidence: 0.1}}}
	if p, ok := previewPlaces[r.Address]; ok {
		a.Location, a.Area = &p, ticketing.Area{Grid: "110101001001", Street: "110101001", District: "110101"}
	}
	cat := r.Category
	if cat == "" && strings.Contains(r.Text, "路灯") {
		cat = "0101"
	}
	switch cat {
	case "":
		a.Reason = "未能自动确定分类，转人工派单"
		return a, nil
	case "0101":
		a.Category, a.CategoryName, a.Department, a.DepartmentName = cat, "路灯", "cgw", "城管委"
		a.Suggestions[0].Confidence = 0.8
	case "0102":
		a.Category, a.CategoryName, a.Department, a.DepartmentName = cat, "道路坑洼", "jtw", "交通委"
		a.Priority = ticketing.PriorityUrgent
	default:
		return ticketing.Assignment{}, ticketing.Invalid("category", "unknown category %q", cat)
	}
	a.Deadline = r.ReceivedAt.Add(48 * time.Hour)
	a.AutoDispatch, a.Rule, a.Reason = true, "category:"+cat, "分类“"+a.CategoryName+"”；由"+a.DepartmentName+"主办；时限2天"
	return a, nil
}

// previewService is the ticketing service over store with previewRouter
// and duplicate detection within 100 m.
func previewService(store ticketing.Store) *ticketing.Service {
	return ticketing.NewService(store, previewRouter{},
		ticketing.WithDuplicates(ticketing.DuplicatePolicy{Radius: 100, Window: 72 * time.Hour}))
}

// deskPreview is the JSON of POST /agent/preview.
type deskPreview struct {
	Suggestions []ticketing.Suggestion `json:"suggestions"`
	Category    string                 `json:"category"`
	Department  string                 `json:"department"`
	DeptName    string                 `json:"department_name"`
	Area        struct {
		Grid, Street, District string
	} `json:"area"`
	Deadline     string             `json:"deadline"`
	Priority     ticketing.Priority `json:"priority"`
	AutoDispatch bool               `json:"auto_dispatch"`
	Reason       string             `json:"reason"`
	Nearby       []struct {
		Number      string  `json:"number"`
		Status      string  `json:"status"`
		StatusLabel string  `json:"status_label"`
		Summary     string  `json:"summary"`
		DistanceM   float64 `json:"distance_m"`
	} `json:"nearby"`
}

// The routing preview: only for a signed-in agent, bad input named by
// field, routing's answer for a valid text, and an open ticket of the
// same category nearby listed; nothing is stored.
func TestDeskPreview(t *testing.T) {
	store := sqliteStore(t)
	e := newDesk(t, store, previewService(store), nil, nil)
	addDeskAgents(t, e.store, "2001")
	session := e.login(t, "2001")

	for _, tc := range []struct {
		name    string
		session *http.Cookie
		form    url.Values
		code    int
		field   string // of a 400 or 413
	}{
		{"no session", nil, url.Values{"text": {"和平路12号路灯不亮"}}, http.StatusUnauthorized, ""},
		{"text too long", session, url.Values{"text": {strings.Repeat("灯", ticketing.MaxTextRunes+1)}}, http.StatusRequestEntityTooLarge, "text"},
		{"no text", session, url.Values{"text": {"  "}, "address": {"和平路12号"}}, http.StatusBadRequest, "text"},
		{"unknown category", session, url.Values{"text": {"和平路12号路灯不亮"}, "category": {"9999"}}, http.StatusBadRequest, "category"},
		{"address too long", session, url.Values{"text": {"路灯不亮"}, "address": {strings.Repeat("路", ticketing.MaxAddressRunes+1)}},
			http.StatusBadRequest, "address"},
		{"control characters", session, url.Values{"text": {"路灯\x00不亮"}}, http.StatusBadRequest, "text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, "POST", "/agent/preview", tc.session, tc.form)
			if r.code != tc.code {
				t.Fatalf("%d, want %d: %s", r.code, tc.code, r.body)
			}
			want := map[int]string{http.StatusUnauthorized: "unauthorized", http.StatusBadRequest: "invalid", http.StatusRequestEntityTooLarge: "too_large"}[tc.code]
			if code, field := r.errorField(); code != want || field != tc.field {
				t.Errorf("error %q on field %q, want %q on %q: %s", code, field, want, tc.field, r.body)
			}
		})
	}

	preview := func(t *testing.T, form url.Values) deskPreview {
		t.Helper()
		r := e.do(t, "POST", "/agent/preview", session, form)
		var p deskPreview
		if err := json.Unmarshal([]byte(r.body), &p); r.code != http.StatusOK || err != nil {
			t.Fatalf("preview: %d %s (%v)", r.code, r.body, err)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q", ct)
		}
		return p
	}

	t.Run("routed", func(t *testing.T) {
		before := time.Now()
		p := preview(t, url.Values{"text": {"和平路12号门口的路灯坏了"}, "address": {"和平路12号"}})
		if p.Department != "cgw" || p.DeptName != "城管委" || p.Category != "0101" || !p.AutoDispatch || !strings.Contains(p.Reason, "城管委主办") {
			t.Errorf("preview %+v, want 城管委 dispatched at once with the reason", p)
		}
		if p.Area.Grid != "110101001001" || p.Area.Street != "110101001" || len(p.Suggestions) != 2 || p.Suggestions[0].Name != "路灯" {
			t.Errorf("area %+v, suggestions %+v", p.Area, p.Suggestions)
		}
		if d, err := time.Parse(time.RFC3339, p.Deadline); err != nil || d.Before(before.Add(48*time.Hour-time.Second)) {
			t.Errorf("deadline %q (%v), want RFC 3339, 48 h from now", p.Deadline, err)
		}
		if p.Nearby == nil || len(p.Nearby) != 0 {
			t.Errorf("nearby %+v, want [] with no tickets yet", p.Nearby)
		}
	})

	t.Run("unclassified waits for a dispatcher", func(t *testing.T) {
		p := preview(t, url.Values{"text": {"想咨询一下公积金提取"}})
		if p.Department != "" || p.AutoDispatch || p.Deadline != "" || !strings.Contains(p.Reason, "人工派单") {
			t.Errorf("preview %+v, want no department, no deadline, triage", p)
		}
	})

	// Logged earlier: a street light next door; a second call about the
	// same street light lists it, a pothole there does not.
	first := e.do(t, "POST", "/agent/tickets", session, url.Values{"seq": {"1"}, "text": {"和平路14号路灯不亮，晚上一片漆黑，老人出门不方便。"},
		"address": {"和平路14号"}})
	number, _ := first.json()["number"].(string)
	if first.code != http.StatusOK || number == "" {
		t.Fatalf("logging the first ticket: %d %s", first.code, first.body)
	}
	t.Run("nearby", func(t *testing.T) {
		p := preview(t, url.Values{"text": {"和平路12号门口的路灯坏了"}, "address": {"和平路12号"}})
		if len(p.Nearby) != 1 {
			t.Fatalf("nearby %+v, want %s", p.Nearby, number)
		}
		n := p.Nearby[0]
		if n.Number != number || n.Status != "dispatched" || n.StatusLabel != "已派遣" || n.DistanceM < 15 || n.DistanceM > 35 ||
			n.Summary != "和平路14号路灯不亮，晚上一片漆黑，老人出门不方便。" {
			t.Errorf("nearby %+v", n)
		}
		if p := preview(t, url.Values{"text": {"和平路12号门口的路灯坏了"}, "address": {"和平路12号"}, "category": {"0102"}}); len(p.Nearby) != 0 ||
			p.Department != "jtw" || p.Priority != ticketing.PriorityUrgent {
			t.Errorf("as a pothole: %+v, want 交通委, urgent, nothing nearby", p)
		}
	})

	if ts, err := e.store.List(context.Background(), ticketing.ListFilter{}); err != nil || len(ts) != 1 {
		t.Errorf("%d tickets after the previews (%v), want only the one logged", len(ts), err)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

// readEvent reads the next event, skipping comments (keep-alives).
func readEvent(t *testing.T, r *bufio.Reader) sseEvent {
	t.Helper()
	var ev sseEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream: %v (event so far %+v)", err, ev)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if ev.name != "" || ev.data != "" {
				return ev
			}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data += strings.TrimPrefix(line, "data: ")
		default:
			t.Fatalf("event stream: unexpected line %q", line)
		}
	}
}

// The event stream starts with the agent's state; then each screen pop
// for this agent (and only this agent) arrives as a pop, followed by the
// state again.
func TestDeskEvents(t *testing.T) {
	e := newDesk(t, sqliteStore(t), nil, nil, nil)
	addDeskAgents(t, e.store, "2001", "2002")
	registerPhone(t, e.presence, "2001")

	if r := e.do(t, "GET", "/agent/events", nil, nil); r.code != http.StatusUnauthorized {
		t.Errorf("events without a session: %d, want 401", r.code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/agent/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(e.login(t, "2001"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("events: %d %q", resp.StatusCode, ct)
	}
	stream := bufio.NewReader(resp.Body)

	// The state comes first; the stream listens for pops from then on.
	ev := readEvent(t, stream)
	var st struct {
		State      acd.State `json:"state"`
		Registered bool      `json:"registered"`
	}
	if err := json.Unmarshal([]byte(ev.data), &st); ev.name != "state" || err != nil || st.State != acd.Available || !st.Registered {
		t.Fatalf("first event %q %s (%v); want the state, available and registered", ev.name, ev.data, err)
	}

	at := time.Now().UTC().Truncate(time.Second)
	publish := func(agent string, p hotline.Pop) {
		t.Helper()
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.bus.Publish(ctx, hotline.AgentTopic(agent), b); err != nil {
			t.Fatal(err)
		}
	}
	// A pop for another agent first: 2001 must not see it.
	publish("2002", hotline.Pop{Kind: hotline.PopRinging, CallID: "for-2002@test", Line: "12345", Caller: "+8613700137000", Agent: "2002", At: at})
	want := hotline.Pop{Kind: hotline.PopRinging, CallID: "for-2001@test", Line: "12319", LineLabel: "12319 城建服务热线", Domain: "01",
		Caller: "+8613912345678", Agent: "2001", At: at,
		Earlier: []hotline.EarlierTicket{{Number: "20261125000001", Status: "received", Summary: "路灯坏了", ReceivedAt: at.Add(-time.Hour)}}}
	publish("2001", want)

	ev = readEvent(t, stream)
	var got hotline.Pop
	if err := json.Unmarshal([]byte(ev.data), &got); ev.name != "pop" || err != nil {
		t.Fatalf("after the pop: event %q %s (%v)", ev.name, ev.data, err)
	}
	if g, w := mustJSON(got), mustJSON(want); g != w {
		t.Errorf("pop:\n got %s\nwant %s", g, w)
	}
	if ev = readEvent(t, stream); ev.name != "state" {
		t.Errorf("after a pop: event %q %s, want the state", ev.name, ev.data)
	}
	// The pop shown was audited: who, the caller's number, the earlier
	// tickets; the other agent's pop was not shown here.
	es, err := e.store.Audit(ctx, ticketing.AuditFilter{Action: "view"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Actor != "agent:2001" || es[0].Ticket != "20261125000001" ||
		es[0].Detail != "door=agent-pop fields=phone call=for-2001@test kind=ringing earlier=20261125000001" {
		t.Errorf("audit of the pops = %+v", es)
	}
}

// One call in a real browser: agent 2001 signs in, the citizen calls
// 12319, the page pops the caller's number, the line and the caller's
// earlier ticket, shows the call answered, and the agent logs it; the
// ticket is the phone's and linked to the call.
func TestDeskInBrowser(t *testing.T) {
	browsertest.Need(t)
	deadline := time.Now().Add(90 * time.Second)
	if d, ok := t.Deadline(); ok && d.Add(-5*time.Second).Before(deadline) {
		deadline = d.Add(-5 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)

	const caller, callerE164 = "13912345678", "+8613912345678"
	e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{})
	e.addAgents(t, "2001")
	desk := newDesk(t, e.store, e.svc, e.presence, e.bus)

	// The caller wrote in through the web form before.
	before, _, err := e.svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "desk-earlier-1",
		Reporter: ticketing.Contact{Phone: caller, Name: "王女士"}, Text: "小区门口井盖缺失，晚上很危险。", Address: "和平路12号"})
	if err != nil {
		t.Fatal(err)
	}

	// The agent's softphone registers and rings 1.5 s before answering.
	port := sipptest.FreePort(t)
	e.register(t, "udp", port, "2001")
	phone := sipptest.Start(t, "agent_uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "u1", "-d", "1500")

	b := deskBrowser(ctx, t)
	deskSignIn(t, b, desk.srv.URL, "2001")
	// The state arrives over the event stream, which then listens for pops.
	browsertest.Run(t, b, "state 示闲", chromedp.Poll[bool](`document.getElementById("state").textContent === "示闲"`,
		chromedp.WithPollingTimeout(10*time.Second)))
	// Keep every call state the page shows: the call moves on by itself.
	browsertest.Run(t, b, "watch #callstate", chromedp.Evaluate[bool](`(function () {
		window.deskSeen = [];
		const el = document.getElementById("callstate");
		new MutationObserver(() => window.deskSeen.push(el.textContent)).observe(el, {childList: true, characterData: true, subtree: true});
		return true;
	})()`))

	// The citizen calls 12319 and talks 3 s after the agent answers; sipp
	// plays the caller in the background while the test drives the page
	// (Start rather than Run in a goroutine: its cleanup stops sipp in
	// order, and nothing calls t.Fatal off the test's goroutine).
	call := sipptest.Start(t, "caller_uac.xml", e.addr, "-s", "12319", "-d", "3000", "-set", "caller", caller,
		"-m", "1", "-i", "127.0.0.1", "-t", "u1")

	browsertest.Run(t, b, "#caller pops", chromedp.Poll[bool](
		`document.getElementById("caller").textContent === "`+callerE164+`"`, chromedp.WithPollingTimeout(10*time.Second)))
	if got := browsertest.Run(t, b, "#line", chromedp.Text(chromedp.ID("line"))); got != "12319 城建服务热线" {
		t.Errorf("#line = %q, want the line's label", got)
	}
	if got := browsertest.Run(t, b, "#earlier", chromedp.Text(chromedp.ID("earlier"))); !strings.Contains(got, before.Number) || !strings.Contains(got, "井盖缺失") {
		t.Errorf("以往工单 = %q, want %s", got, before.Number)
	}
	browsertest.Run(t, b, "answered: 通话中", chromedp.Poll[bool](`window.deskSeen.includes("通话中")`, chromedp.WithPollingTimeout(10*time.Second)))
	if got := browsertest.Run(t, b, "#f_caller", chromedp.Value(chromedp.ID("f_caller"))); got != callerE164 {
		t.Errorf("the form's caller = %q, want %q", got, callerE164)
	}

	// The agent logs the call while talking.
	const text = "和平路12号路灯不亮已经一周，晚上行人看不清路。"
	browsertest.Do(t, b, "fill in and submit",
		chromedp.SendKeys(chromedp.ID("f_name"), "王女士"),
		chromedp.SendKeys(chromedp.ID("f_text"), text),
		chromedp.SendKeys(chromedp.ID("f_address"), "和平路12号"),
		chromedp.Click(chromedp.CSS(`#ticket button[type="submit"]`)),
	)
	result := browsertest.Run(t, b, "#result", chromedp.Poll[string](`(function () {
		const t = document.getElementById("result").textContent;
		return /^工单号 [0-9]{14}/.test(t) || t.startsWith("未能提交") ? t : "";
	})()`, chromedp.WithPollingTimeout(10*time.Second)))
	number := regexp.MustCompile(`[0-9]{14}`).FindString(result)
	if !strings.HasPrefix(result, "工单号 ") || number == "" || number == before.Number {
		t.Fatalf("#result = %q, want 工单号 and a new 14-digit number", result)
	}

	// The caller hangs up; the page keeps the call's details for the agent.
	sippFinished(t, call, 1)
	if res := call.Stop(); res.Successful != 1 || res.Failed != 0 {
		t.Errorf("caller: %s", res)
	}
	browsertest.Run(t, b, "hung up: 已挂机", chromedp.Poll[bool](`document.getElementById("callstate").textContent === "已挂机"`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if got := browsertest.Run(t, b, "#line after the call", chromedp.Text(chromedp.ID("line"))); got != "12319 城建服务热线" {
		t.Errorf("#line after the call = %q, want the line's label still", got)
	}
	if got := browsertest.Run(t, b, "#earlier after the call", chromedp.Text(chromedp.ID("earlier"))); !strings.Contains(got, before.Number) {
		t.Errorf("以往工单 after the call = %q, want %s still", got, before.Number)
	}
	// Ringing, answered, hung up: in that order, whatever else came between.
	seen := browsertest.Run(t, b, "call states seen", chromedp.Evaluate[[]string](`window.deskSeen`))
	want := []string{"振铃中", "通话中", "已挂机"}
	rest := seen
	for _, w := range want {
		i := slices.Index(rest, w)
		if i < 0 {
			t.Errorf("the page showed the call as %q; want %q in that order", seen, want)
			break
		}
		rest = rest[i+1:]
	}
	deskShot(t, b, "desk.png")
	if res := phone.Stop(); res.Successful != 1 || res.Failed != 0 {
		t.Errorf("agent's phone: %s", res)
	}

	// The store: a phone ticket on 12319 from the caller, linked to the call.
	ts, err := e.store.List(ctx, ticketing.ListFilter{Numbers: []string{number}})
	if err != nil || len(ts) != 1 {
		t.Fatalf("ticket %s: %d found (%v)", number, len(ts), err)
	}
	tk := ts[0]
	if tk.Channel != ticketing.ChannelPhone || tk.Line != "12319" || tk.Reporter.Phone != callerE164 || tk.Reporter.Name != "王女士" || tk.Text != text {
		t.Errorf("ticket %s: channel %s line %q reporter %+v text %q", number, tk.Channel, tk.Line, tk.Reporter, tk.Text)
	}
	cs := e.waitCalls(t, 1)
	for id, c := range cs {
		if tk.ExternalID != id+"#1" {
			t.Errorf("ticket external id %q, want %q", tk.ExternalID, id+"#1")
		}
		if c.Line != "12319" || c.Caller != callerE164 || c.Agent != "2001" || c.Cause != ticketing.CauseAnswered || !slices.Equal(c.Tickets, []string{number}) {
			t.Errorf("call %s: line %q caller %q agent %q cause %q tickets %v; want answered by 2001 with ticket %s",
				id, c.Line, c.Caller, c.Agent, c.Cause, c.Tickets, number)
		}
	}
}

// The routing preview in a real browser: typing the caller's problem
// shows where it would go and the open ticket nearby; clicking a
// suggested category fills the form's category and the preview follows.
func TestDeskPreviewInBrowser(t *testing.T) {
	browsertest.Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	store := sqliteStore(t)
	svc := previewService(store)
	desk := newDesk(t, store, svc, nil, nil)
	addDeskAgents(t, store, "2001")
	earlier, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "preview-earlier",
		Text: "和平路14号路灯不亮，晚上一片漆黑。", Address: "和平路14号"})
	if err != nil {
		t.Fatal(err)
	}

	b := deskBrowser(ctx, t)
	deskSignIn(t, b, desk.srv.URL, "2001")
	// Count the page's calls: typing a sentence must not ask once per key.
	browsertest.Run(t, b, "count previews", chromedp.Evaluate[bool](`(function () {
		window.previews = 0;
		const f = window.fetch;
		window.fetch = function (url, opts) { if (url === "/agent/preview") window.previews++; return f(url, opts); };
		return true;
	})()`))
	const text = "和平路12号门口的路灯坏了，晚上很黑。"
	browsertest.Do(t, b, "type the problem",
		chromedp.SendKeys(chromedp.ID("f_address"), "和平路12号"),
		chromedp.SendKeys(chromedp.ID("f_text"), text),
	)
	browsertest.Run(t, b, "preview shows 城管委", chromedp.Poll[bool](`document.getElementById("pv_department").textContent === "城管委"`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if got := browsertest.Run(t, b, "#pv_dispatch", chromedp.Text(chromedp.ID("pv_dispatch"))); got != "提交后自动派单" {
		t.Errorf("#pv_dispatch = %q, want 提交后自动派单", got)
	}
	if got := browsertest.Run(t, b, "#pv_area", chromedp.Text(chromedp.ID("pv_area"))); !strings.Contains(got, "110101001001") {
		t.Errorf("#pv_area = %q, want the grid cell", got)
	}
	if got := browsertest.Run(t, b, "#pv_reason", chromedp.Text(chromedp.ID("pv_reason"))); !strings.Contains(got, "城管委主办") {
		t.Errorf("#pv_reason = %q", got)
	}
	if got := browsertest.Run(t, b, "#pv_nearby", chromedp.Text(chromedp.ID("pv_nearby"))); !strings.Contains(got, earlier.Number) || !strings.Contains(got, "已派遣") {
		t.Errorf("附近相似工单 = %q, want %s", got, earlier.Number)
	}
	href := browsertest.Run(t, b, "nearby link", chromedp.Evaluate[string](`document.querySelector("#pv_nearby a").getAttribute("href")`))
	if href != "/desk/tickets/"+earlier.Number {
		t.Errorf("nearby link %q", href)
	}
	if n := browsertest.Run(t, b, "previews asked", chromedp.Evaluate[int](`window.previews`)); n < 1 || n > 3 {
		t.Errorf("%d previews for %d keys typed, want one or two (600 ms after the last key)", n, len([]rune(text)))
	}

	// The agent picks 道路坑洼 instead: the category is filled in and the
	// preview shows its department, waiting for no more keys.
	browsertest.Do(t, b, "click 道路坑洼", chromedp.Click(chromedp.CSS(`#pv_suggestions button[data-category="0102"]`)))
	if got := browsertest.Run(t, b, "#f_category", chromedp.Value(chromedp.ID("f_category"))); got != "0102" {
		t.Errorf("category field = %q after the click, want 0102", got)
	}
	browsertest.Run(t, b, "preview shows 交通委", chromedp.Poll[bool](`document.getElementById("pv_department").textContent === "交通委"`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if got := browsertest.Run(t, b, "#pv_priority", chromedp.Text(chromedp.ID("pv_priority"))); got != "紧急" {
		t.Errorf("#pv_priority = %q, want 紧急", got)
	}
	if got := browsertest.Run(t, b, "chosen chip", chromedp.Evaluate[string](`document.querySelector("#pv_suggestions button.on").dataset.category`)); got != "0102" {
		t.Errorf("highlighted suggestion %q, want 0102", got)
	}

	deskShot(t, b, "desk-preview.png")

	// A category the catalogue does not know is named in the panel.
	browsertest.Run(t, b, "clear the category", chromedp.Evaluate[bool](`(document.getElementById("f_category").value = "") === ""`))
	browsertest.Do(t, b, "bad category", chromedp.SendKeys(chromedp.ID("f_category"), "99"))
	browsertest.Run(t, b, "error shown", chromedp.Poll[bool](`document.getElementById("pv_error").textContent.startsWith("无法预览分拨：分类代码")`,
		chromedp.WithPollingTimeout(10*time.Second)))
}

// sippFinished waits until sipp has finished n calls, successful or not
// (it writes its counters once a second).
func sippFinished(t *testing.T, p *sipptest.Process, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := p.Stats()
		if r.Successful+r.Failed >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sipp: %d of %d calls finished after 20 s: %s", r.Successful+r.Failed, n, r)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deskBrowser starts a headless Chromium with one tab, which leaves a
// screenshot when the test fails.
func deskBrowser(ctx context.Context, t *testing.T) context.Context {
	t.Helper()
	bctx := browsertest.Start(ctx, t, 1200, 800)
	t.Cleanup(func() {
		if t.Failed() {
			deskShot(t, bctx, "desk-failure.png")
		}
	})
	return bctx
}

// deskSignIn signs ext in on the page at base with its password, as
// addDeskAgents set it, and waits for the desk.
func deskSignIn(t *testing.T, b context.Context, base, ext string) {
	t.Helper()
	browsertest.Do(t, b, "sign in",
		chromedp.Navigate(base+"/agent"),
		chromedp.WaitVisible(chromedp.ID("ext")),
		chromedp.SendKeys(chromedp.ID("ext"), ext),
		chromedp.SendKeys(chromedp.ID("password"), "pw-"+ext),
		browsertest.Leave(chromedp.Submit(chromedp.ID("password"))),
		chromedp.WaitVisible(chromedp.ID("state")),
		// Load the desk once more by navigation, which waits for the load
		// event: typing into the page the form's redirect produced could
		// meet nodes Chromium renumbered while that document settled.
		chromedp.Navigate(base+"/agent"),
		chromedp.WaitVisible(chromedp.ID("state")),
	)
}

// deskShot writes a screenshot of the page as name to $YIHAO_E2E_SHOTS,
// or, when the test failed, to a directory that outlives the test.
func deskShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("YIHAO_E2E_SHOTS")
	if dir == "" && !t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "yihao-desk-"); err != nil {
			t.Logf("screenshot: %v", err)
			return
		}
	} else if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o640); err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", p)
}
