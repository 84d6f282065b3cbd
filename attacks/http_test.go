package attacks

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// The HTTP doors' attacks: series flooding through invented methods,
// addresses claimed through X-Forwarded-For, sessions that outlive their
// sign-out, and configuration that undoes an administrator's decision.

const (
	metricsToken  = "attacks-metrics-token-0123"
	staffPassword = "staff-password-2026"
	agentPassword = "Agent-Passw0rd-Kestrel!"
)

// form is a header for a form-encoded body, with the extra headers given
// as name, value pairs.
func form(kv ...string) http.Header {
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// httpSeries is the HTTP request series /metrics lists, one line each.
func httpSeries(t *testing.T, s *Server) []string {
	t.Helper()
	resp, body := s.Do(t, http.MethodGet, "/metrics", Bearer(metricsToken), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics with the token: %d", resp.StatusCode)
	}
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "yihao_http_request_duration_seconds_count{") {
			out = append(out, line[:strings.LastIndex(line, " ")])
		}
	}
	return out
}

// Ten thousand requests with invented methods, to every kind of door,
// leave /metrics with the series it had; /metrics itself answers only to
// its token.
func TestMetricsFloodWithInventedMethods(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		s := Start(t, store, Options{NoSIP: true, Env: map[string]string{"YIHAO_METRICS_TOKEN": metricsToken}})
		if resp, body := s.Do(t, http.MethodGet, "/metrics", nil, nil); resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(body), "go_goroutines") {
			t.Errorf("/metrics without the token: %d", resp.StatusCode)
		}
		paths := []string{"/", "/api/v1/reports", "/api/v1/tickets/20261125000010", "/open311/v2/services.json",
			"/api/v1/cti/not-a-token", "/no/such/page"}
		for _, p := range paths {
			s.Do(t, "WARMUP", p, nil, nil)
		}
		before := httpSeries(t, s)
		const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~!"
		work := make(chan int)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for i := range work {
					b := make([]byte, 3+rand.IntN(24))
					for j := range b {
						b[j] = letters[rand.IntN(len(letters))]
					}
					req, err := http.NewRequest(fmt.Sprintf("%s%d", b, i), s.Base+paths[i%len(paths)], nil)
					if err != nil {
						t.Error(err)
						continue
					}
					resp, err := httpClient.Do(req)
					if err != nil {
						t.Error(err)
						continue
					}
					resp.Body.Close()
				}
			})
		}
		for i := range 10_000 {
			work <- i
		}
		close(work)
		wg.Wait()
		after := httpSeries(t, s)
		if len(after) != len(before) {
			t.Fatalf("10,000 invented methods took the HTTP series from %d to %d:\n%s", len(before), len(after), strings.Join(after, "\n"))
		}
		for _, line := range after {
			if strings.Contains(line, "WARMUP") {
				t.Errorf("an invented method is a label value: %s", line)
			}
		}
		// A real report is still measured under its own method and route.
		s.Report(t, "路灯不亮", "13800138000")
		found := false
		for _, line := range httpSeries(t, s) {
			found = found || strings.Contains(line, `method="POST"`) && strings.Contains(line, `route="/api/v1/reports"`)
		}
		if !found {
			t.Error("the report's POST is not measured")
		}
	})
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf" content="([^"]+)">`)

// guessUntilThrottled sends wrong sign-ins, each claiming the address
// xff(i), until one is throttled (429); it fails the test if thirty are
// not. Thirty is far past the limit (ten a minute, five at once), whatever
// the machine's speed.
func guessUntilThrottled(t *testing.T, s *Server, xff func(i int) string) {
	t.Helper()
	for i := range 30 {
		resp, _ := s.Do(t, http.MethodPost, "/login", form("X-Forwarded-For", xff(i)),
			strings.NewReader(url.Values{"name": {fmt.Sprintf("Guess %d", i)}, "password": {"guess"}}.Encode()))
		if resp.StatusCode == http.StatusTooManyRequests {
			return
		}
	}
	t.Fatal("thirty wrong sign-ins and none throttled")
}

// cookieOf is the session cookie a response sets, and whether it is Secure.
func cookieOf(t *testing.T, resp *http.Response, name string) (value string, secure bool) {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c.Value, c.Secure
		}
	}
	t.Fatalf("no %s cookie in %d %v", name, resp.StatusCode, resp.Header["Set-Cookie"])
	return "", false
}

// signIn signs a member of staff in to the desks from the client address
// xff claims ("" for none) and returns the session cookie's value.
func signIn(t *testing.T, s *Server, name, xff string) (*http.Response, string) {
	t.Helper()
	h := form()
	if xff != "" {
		h.Set("X-Forwarded-For", xff)
	}
	resp, _ := s.Do(t, http.MethodPost, "/login", h, strings.NewReader(url.Values{"name": {name}, "password": {staffPassword}}.Encode()))
	if resp.StatusCode != http.StatusSeeOther {
		return resp, ""
	}
	v, _ := cookieOf(t, resp, "yihao_desk")
	return resp, v
}

func withCookie(name, value string, h http.Header) http.Header {
	if h == nil {
		h = http.Header{}
	}
	h.Set("Cookie", name+"="+value)
	return h
}

// Behind a TLS reverse proxy, the desks' sign-in throttle, the intake limit
// and the audit log see the client the proxy names: a guesser locks out
// only itself, not every member of staff behind the proxy. From a peer that
// is no trusted proxy X-Forwarded-For changes nothing: a guesser cannot
// rotate its way past the throttle. Staff cookies keep Secure.
func TestProxiedClientAddress(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		setup := func(s *Server) {
			s.MustCommand(t, staffPassword+"\n", "user", "add", "--name", "disp", "--role", "dispatcher", "--password", "-")
			s.MustCommand(t, agentPassword+"\n", "agent", "add", "--ext", "2001", "--password", "-")
		}
		proxied := Start(t, store, Options{NoSIP: true, Setup: setup, Env: map[string]string{
			"YIHAO_TRUSTED_PROXIES": "127.0.0.1", "YIHAO_RATE_LIMIT": "6", "YIHAO_RATE_BURST": "1"}})

		// One client behind the proxy guesses until it is throttled.
		guessUntilThrottled(t, proxied, func(int) string { return "198.51.100.66" })
		resp, cookie := signIn(t, proxied, "disp", "203.0.113.7")
		if cookie == "" {
			t.Fatalf("a colleague behind the same proxy: %d, want 303 and a session", resp.StatusCode)
		}
		if _, secure := cookieOf(t, resp, "yihao_desk"); !secure {
			t.Error("the desk cookie lost Secure")
		}
		resp, body := proxied.Do(t, http.MethodGet, "/desk/audit", withCookie("yihao_desk", cookie, nil), nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "203.0.113.7") {
			t.Errorf("the audit log does not name the client 203.0.113.7 (%d)", resp.StatusCode)
		}
		resp, _ = proxied.Do(t, http.MethodPost, "/agent/login", form("X-Forwarded-For", "203.0.113.8"),
			strings.NewReader(url.Values{"ext": {"2001"}, "password": {agentPassword}}.Encode()))
		if _, secure := cookieOf(t, resp, "yihao_agent"); !secure {
			t.Error("the agent cookie lost Secure behind the proxy")
		}

		// Intake: one citizen's burst does not stop another's.
		report := func(xff string) int {
			resp, _ := proxied.Do(t, http.MethodPost, "/api/v1/reports",
				http.Header{"Content-Type": {"application/json"}, "X-Forwarded-For": {xff}}, strings.NewReader(`{"text":"井盖缺失"}`))
			return resp.StatusCode
		}
		for range 3 {
			report("198.51.100.66")
		}
		if code := report("198.51.100.66"); code != http.StatusTooManyRequests {
			t.Errorf("the flooding citizen: %d, want 429", code)
		}
		if code := report("203.0.113.9"); code != http.StatusCreated {
			t.Errorf("another citizen behind the proxy: %d, want 201", code)
		}

		// No trusted proxy: the header is the attacker's own claim.
		direct := Start(t, store, Options{NoSIP: true, Setup: setup})
		_, cookie = signIn(t, direct, "disp", "203.0.113.7")
		if cookie == "" {
			t.Fatal("sign-in without a proxy failed")
		}
		_, body = direct.Do(t, http.MethodGet, "/desk/audit", withCookie("yihao_desk", cookie, nil), nil)
		if strings.Contains(string(body), "203.0.113.7") || !strings.Contains(string(body), "127.0.0.1") {
			t.Error("the audit log took an untrusted X-Forwarded-For")
		}
		guessUntilThrottled(t, direct, func(i int) string { return fmt.Sprintf("192.0.2.%d", i+1) })
	})
}

// A session cookie copied before its owner signed out (a shared computer,
// a proxy log) is dead after the sign-out, on the desks and on the agent
// page, and stays dead across a restart.
func TestCopiedCookieDiesWithSignOut(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		s := Start(t, store, Options{NoSIP: true, Setup: func(s *Server) {
			s.MustCommand(t, staffPassword+"\n", "user", "add", "--name", "disp", "--role", "dispatcher", "--password", "-")
			s.MustCommand(t, agentPassword+"\n", "agent", "add", "--ext", "2001", "--password", "-")
		}})
		_, desk := signIn(t, s, "disp", "")
		if desk == "" {
			t.Fatal("sign-in failed")
		}
		queue := func(cookie string) int {
			resp, _ := s.Do(t, http.MethodGet, "/api/v1/desk/queue", withCookie("yihao_desk", cookie, nil), nil)
			return resp.StatusCode
		}
		if code := queue(desk); code != http.StatusOK {
			t.Fatalf("the session before sign-out: %d", code)
		}
		_, page := s.Do(t, http.MethodGet, "/desk/search", withCookie("yihao_desk", desk, nil), nil)
		m := csrfMeta.FindSubmatch(page)
		if m == nil {
			t.Fatal("no CSRF token on the desk page")
		}
		resp, _ := s.Do(t, http.MethodPost, "/logout", withCookie("yihao_desk", desk, form()),
			strings.NewReader(url.Values{"csrf": {string(m[1])}}.Encode()))
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-out: %d", resp.StatusCode)
		}
		if code := queue(desk); code != http.StatusUnauthorized {
			t.Errorf("the copied desk cookie after sign-out: %d, want 401", code)
		}

		resp, _ = s.Do(t, http.MethodPost, "/agent/login", form(),
			strings.NewReader(url.Values{"ext": {"2001"}, "password": {agentPassword}}.Encode()))
		agent, _ := cookieOf(t, resp, "yihao_agent")
		state := func(cookie string) int {
			resp, _ := s.Do(t, http.MethodPost, "/agent/state", withCookie("yihao_agent", cookie, form()),
				strings.NewReader("state=available"))
			return resp.StatusCode
		}
		if code := state(agent); code == http.StatusUnauthorized {
			t.Fatalf("the agent session before sign-out: %d", code)
		}
		if resp, _ := s.Do(t, http.MethodPost, "/agent/logout", withCookie("yihao_agent", agent, form()), strings.NewReader("")); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("agent sign-out: %d", resp.StatusCode)
		}
		if code := state(agent); code != http.StatusUnauthorized {
			t.Errorf("the copied agent cookie after sign-out: %d, want 401", code)
		}

		s.Restart(t)
		if code := queue(desk); code != http.StatusUnauthorized {
			t.Errorf("the copied desk cookie after a restart: %d, want 401", code)
		}
		if code := state(agent); code != http.StatusUnauthorized {
			t.Errorf("the copied agent cookie after a restart: %d, want 401", code)
		}
		if _, again := signIn(t, s, "disp", ""); again == "" || queue(again) != http.StatusOK {
			t.Error("signing in again does not work")
		}
	})
}

// A configured user an administrator disabled stays disabled when the
// server starts again.
func TestDisabledConfiguredUserStaysDisabled(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		s := Start(t, store, Options{NoSIP: true,
			Config: "users:\n  - {name: cfg.disp, role: dispatcher, password: " + staffPassword + "}\n"})
		if _, c := signIn(t, s, "cfg.disp", ""); c == "" {
			t.Fatal("the configured user cannot sign in")
		}
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
		s.MustCommand(t, "", "user", "disable", "--name", "cfg.disp")
		s.Start(t)
		if resp, c := signIn(t, s, "cfg.disp", ""); c != "" || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("the disabled configured user after a restart: %d, want 401", resp.StatusCode)
		}
	})
}

// A WeChat token without an AES key and without plaintext asked for stops
// the server at start, saying how to fix it.
func TestWeChatPlaintextRefusedAtStart(t *testing.T) {
	s := Prepare(t, SQLite, Options{NoSIP: true, Env: map[string]string{"YIHAO_WECHAT_TOKEN": "a-wechat-token"}})
	_, errOut, err := s.Command("", "serve")
	if err == nil || !strings.Contains(errOut, "YIHAO_WECHAT_PLAINTEXT=true") {
		t.Errorf("serve with a WeChat token and no AES key: %v\n%s", err, errOut)
	}
}
