package desks_test

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yihao-city/yihao/desks"
	"github.com/yihao-city/yihao/limit"
	"github.com/yihao-city/yihao/ticketing"
)

// forEachStore runs test on each store.
func forEachStore(t *testing.T, test func(t *testing.T, open func(testing.TB) ticketing.Store)) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { test(t, st.open) })
	}
}

func TestNewNeedsSessionKey(t *testing.T) {
	t.Parallel()
	if _, err := desks.New(desks.Config{SessionKey: []byte("short")}, nil, nil, nil, nil); err == nil ||
		!strings.Contains(err.Error(), "session key") {
		t.Errorf("New with a 5-byte key: %v, want an error naming the session key", err)
	}
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.anonymous()

	r := c.post(t, "/login", url.Values{"name": {"disp"}, "password": {password}, "next": {"/desk/audit"}})
	sess := r.cookie("yihao_desk")
	if r.code != http.StatusSeeOther || sess == nil || r.header.Get("Location") != "/desk/audit" {
		t.Fatalf("sign-in: %d to %q, cookie %v", r.code, r.header.Get("Location"), sess)
	}
	if !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != "/" || sess.Secure {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Lax, Path=/, not Secure (InsecureCookies)", sess)
	}
	if es, _ := e.store.Audit(context.Background(), ticketing.AuditFilter{Actor: "disp", Action: "sign_in"}); len(es) != 1 || es[0].Source != "127.0.0.1" {
		t.Errorf("audit of the sign-in: %+v", es)
	}

	var refused []string
	for _, tc := range []struct{ name, password string }{
		{"disp", "wrong password!"},
		{"nobody", password},
		{"", password},
		{"disp", ""},
	} {
		r := c.post(t, "/login", url.Values{"name": {tc.name}, "password": {tc.password}})
		if r.code != http.StatusUnauthorized || r.cookie("yihao_desk") != nil {
			t.Errorf("sign-in %q/%q: %d, want 401 and no session", tc.name, tc.password, r.code)
		}
		refused = append(refused, errorText(r.body))
	}
	for _, m := range refused {
		if m != refused[0] || !strings.Contains(m, "用户名或密码不正确") {
			t.Errorf("refusals say %q; want one message for wrong names and passwords", refused)
			break
		}
	}

	// A disabled user cannot sign in, with the right password either.
	e.putUser(t, &ticketing.User{Name: "gone", Role: ticketing.RoleDispatcher, Disabled: true})
	if r := c.post(t, "/login", url.Values{"name": {"gone"}, "password": {password}}); r.code != http.StatusUnauthorized {
		t.Errorf("disabled user's sign-in: %d, want 401", r.code)
	}

	// Sign-ins at once all get through the password checks' two slots:
	// twice as many as there are slots (under -race on a loaded machine an
	// argon2id check takes seconds, and a sign-in waits at most 10 s).
	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range codes {
		wg.Go(func() {
			cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := cl.PostForm(e.srv.URL+"/login", url.Values{"name": {"li.jt"}, "password": {password}})
			if err == nil {
				codes[i] = resp.StatusCode
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusSeeOther {
			t.Errorf("concurrent sign-in %d: %d", i, code)
		}
	}

	// Default cookies are Secure.
	e2 := newEnv(t, func(c *desks.Config) { c.InsecureCookies = false })
	if r := e2.anonymous().post(t, "/login", url.Values{"name": {"disp"}, "password": {password}}); !r.cookie("yihao_desk").Secure {
		t.Error("without InsecureCookies the session cookie must be Secure")
	}
}

func TestSignInThrottled(t *testing.T) {
	t.Parallel()
	l := &limiter{Local: limit.NewLocal(limit.Rate{Events: 1, Period: time.Hour, Burst: 2})}
	e := newEnv(t, func(c *desks.Config) { c.LoginLimiter = l })
	c := e.anonymous()
	for i := range 3 {
		if r := c.post(t, "/login", url.Values{"name": {"disp"}, "password": {"wrong password " + string(rune('a'+i))}}); r.code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d, want 401", i+1, r.code)
		}
	}
	// The right password now is refused too, before it is checked.
	r := c.post(t, "/login", url.Values{"name": {"disp"}, "password": {password}})
	if r.code != http.StatusTooManyRequests || r.cookie("yihao_desk") != nil || r.header.Get("Retry-After") == "" {
		t.Fatalf("throttled sign-in: %d, Retry-After %q", r.code, r.header.Get("Retry-After"))
	}
	l.mu.Lock()
	keys := slices.Clone(l.keys)
	l.mu.Unlock()
	if !slices.Contains(keys, "desk-login:ip:127.0.0.1") || !slices.Contains(keys, "desk-login:name:disp") {
		t.Errorf("limiter keys %q: want the client address and the name", keys)
	}
}

func TestNoCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tk := e.submit(t, "roads", "路面塌陷")
	c := e.anonymous()

	for _, p := range []string{"/desk", "/desk/dispatch", "/desk/inbox", "/desk/tickets/" + tk.Number, "/desk/audit", "/desk/indicators"} {
		r := c.get(t, p)
		if r.code != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login?next=") {
			t.Errorf("GET %s without a session: %d to %q, want the sign-in page", p, r.code, r.header.Get("Location"))
		}
	}
	if r := c.post(t, "/desk/tickets/"+tk.Number+"/accept", nil); r.code != http.StatusUnauthorized {
		t.Errorf("POST accept without a session: %d, want 401", r.code)
	}
	if r := c.get(t, "/desk/events"); r.code != http.StatusSeeOther {
		t.Errorf("events without a session: %d", r.code)
	}
	for _, tc := range []struct{ method, path, auth string }{
		{"GET", "/api/v1/desk/queue", ""},
		{"GET", "/api/v1/desk/tickets/" + tk.Number, ""},
		{"POST", "/api/v1/desk/tickets/" + tk.Number + "/accept", ""},
		{"GET", "/api/v1/desk/queue", "Bearer yh_notatoken"},
		{"GET", "/api/v1/desk/queue", "Basic ZGlzcDpwdw=="},
	} {
		r := c.do(t, tc.method, tc.path, nil, "Authorization", tc.auth)
		code, _ := r.errorOf(t)
		if r.code != http.StatusUnauthorized || code != "unauthorized" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s %s (%q): %d %s, WWW-Authenticate %q", tc.method, tc.path, tc.auth, r.code, r.body, r.header.Get("WWW-Authenticate"))
		}
	}
	// A tampered session is no session.
	li := e.login(t, "li.jt")
	forged := *li.session
	forged.Value = strings.Replace(forged.Value, forged.Value[:4], "ZGlz", 1)
	if r := (&client{e: e, session: &forged}).get(t, "/desk/inbox"); r.code != http.StatusSeeOther {
		t.Errorf("tampered session: %d, want the sign-in page", r.code)
	}
	if tk := e.ticket(t, tk.Number); tk.Status != ticketing.StatusDispatched {
		t.Errorf("ticket is %s after refused requests", tk.Status)
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tk := e.submit(t, "roads", "路灯不亮")
	li := e.login(t, "li.jt")

	for _, tc := range []struct {
		what string
		do   func() response
	}{
		{"form without a token", func() response {
			return li.do(t, "POST", "/desk/tickets/"+tk.Number+"/accept", strings.NewReader(""), "Content-Type", "application/x-www-form-urlencoded")
		}},
		{"form with a forged token", func() response {
			return li.post(t, "/desk/tickets/"+tk.Number+"/accept", url.Values{"csrf": {strings.Repeat("0", 64)}})
		}},
		{"another session's token", func() response {
			other := e.login(t, "li.jt")
			return li.post(t, "/desk/tickets/"+tk.Number+"/accept", url.Values{"csrf": {other.csrf}})
		}},
		{"API without the header", func() response {
			return li.do(t, "POST", "/api/v1/desk/tickets/"+tk.Number+"/accept", strings.NewReader("{}"), "Content-Type", "application/json")
		}},
		{"sign-out without a token", func() response {
			return li.do(t, "POST", "/logout", nil)
		}},
	} {
		if r := tc.do(); r.code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tc.what, r.code)
		}
	}
	// A cross-site form post is refused even with the token.
	if r := li.do(t, "POST", "/desk/tickets/"+tk.Number+"/accept", strings.NewReader("csrf="+li.csrf),
		"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site"); r.code != http.StatusForbidden {
		t.Errorf("cross-site post: %d, want 403", r.code)
	}
	if got := e.ticket(t, tk.Number); got.Status != ticketing.StatusDispatched {
		t.Fatalf("after refused posts the ticket is %s", got.Status)
	}
	if len(e.audited(t, tk.Number, "accept")) != 0 {
		t.Error("a refused action was audited as done")
	}
	li.act(t, tk.Number, "accept", nil)
	if got := e.ticket(t, tk.Number); got.Status != ticketing.StatusAccepted {
		t.Errorf("with the token: %s", got.Status)
	}
}

// A liaison sees and touches only the own department's tickets; another
// department's look exactly like tickets that do not exist.
func TestLiaisonOnlyOwnDepartment(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) ticketing.Store) {
		e := newEnvOn(t, open(t))
		own := e.submit(t, "roads", "道路坑洼")
		other := e.submit(t, "water", "停水三天")
		li := e.login(t, "li.jt")

		if r := li.get(t, "/desk/tickets/"+own.Number); r.code != http.StatusOK {
			t.Fatalf("own ticket: %d", r.code)
		}
		missing := ticketing.FormatNumber(999999, time.Now())
		for _, n := range []string{other.Number, missing, "12345"} {
			for _, tc := range []struct{ method, path string }{
				{"GET", "/desk/tickets/" + n},
				{"POST", "/desk/tickets/" + n + "/accept"},
				{"POST", "/desk/tickets/" + n + "/return"},
				{"POST", "/desk/tickets/" + n + "/note"},
				{"POST", "/desk/tickets/" + n + "/reveal"},
			} {
				var r response
				if tc.method == "GET" {
					r = li.get(t, tc.path)
				} else {
					r = li.post(t, tc.path, url.Values{"reason": {"不归我们管"}, "text": {"看看"}})
				}
				if r.code != http.StatusNotFound {
					t.Errorf("%s %s: %d, want 404", tc.method, tc.path, r.code)
				}
			}
			for _, tc := range []struct{ method, path string }{
				{"GET", "/api/v1/desk/tickets/" + n},
				{"POST", "/api/v1/desk/tickets/" + n + "/accept"},
				{"POST", "/api/v1/desk/tickets/" + n + "/reveal"},
			} {
				var body any
				if tc.method == "POST" {
					body = map[string]string{}
				}
				r := li.api(t, tc.method, tc.path, body)
				if code, _ := r.errorOf(t); r.code != http.StatusNotFound || code != "not_found" {
					t.Errorf("API %s %s: %d %s, want 404 not_found", tc.method, tc.path, r.code, r.body)
				}
			}
		}
		// The 404 for another department's ticket is the 404 of no ticket.
		a, b := li.api(t, "GET", "/api/v1/desk/tickets/"+other.Number, nil), li.api(t, "GET", "/api/v1/desk/tickets/"+missing, nil)
		if a.body != b.body {
			t.Errorf("another department's ticket answers %s, a missing one %s", a.body, b.body)
		}

		// Not in the inbox, whatever the query asks.
		for _, q := range []string{"", "?department=sw", "?status=dispatched&department=sw"} {
			r := li.get(t, "/desk/inbox"+q)
			if r.code != http.StatusOK || !strings.Contains(r.body, own.Number) || strings.Contains(r.body, other.Number) {
				t.Errorf("inbox%s: %d, own listed %v, other listed %v", q, r.code, strings.Contains(r.body, own.Number), strings.Contains(r.body, other.Number))
			}
		}
		r := li.api(t, "GET", "/api/v1/desk/queue", nil)
		if r.code != http.StatusOK || !strings.Contains(r.body, own.Number) || strings.Contains(r.body, other.Number) {
			t.Errorf("queue API: %d %.300s", r.code, r.body)
		}
		if r := li.api(t, "GET", "/api/v1/desk/queue?department=sw", nil); r.code != http.StatusNotFound {
			t.Errorf("queue API for another department: %d, want 404", r.code)
		}
		// Nor by the dispatcher's pages.
		for _, p := range []string{"/desk/dispatch", "/desk/audit"} {
			if r := li.get(t, p); r.code != http.StatusForbidden {
				t.Errorf("liaison GET %s: %d, want 403", p, r.code)
			}
		}
		if got := e.ticket(t, other.Number); got.Status != ticketing.StatusDispatched || got.Version != other.Version {
			t.Errorf("the other department's ticket changed: %s v%d", got.Status, got.Version)
		}
	})
}

func TestAgentHasNoApprovals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	triage := e.submit(t, "", "不知道归谁管")
	ag := e.login(t, "agent")
	for _, act := range []string{"dispatch", "verify", "decide_extension", "refuse_return", "decline", "merge", "register", "accept", "handle"} {
		r := ag.post(t, "/desk/tickets/"+triage.Number+"/"+act, url.Values{"department": {"jt"}, "pass": {"yes"},
			"approve": {"yes"}, "reason": {"x"}, "note": {"x"}, "master": {triage.Number}, "result": {"x"}})
		if r.code != http.StatusForbidden {
			t.Errorf("agent %s: %d, want 403", act, r.code)
		}
		if r := ag.api(t, "POST", "/api/v1/desk/tickets/"+triage.Number+"/"+act, map[string]any{"department": "jt"}); r.code != http.StatusForbidden {
			t.Errorf("agent API %s: %d, want 403", act, r.code)
		}
	}
	for _, p := range []string{"/desk/dispatch", "/desk/audit"} {
		if r := ag.get(t, p); r.code != http.StatusForbidden {
			t.Errorf("agent GET %s: %d, want 403", p, r.code)
		}
	}
	if got := e.ticket(t, triage.Number); got.Status != ticketing.StatusReceived {
		t.Errorf("ticket is %s after the agent's attempts", got.Status)
	}
	// An agent may look tickets up and note what a caller said.
	if r := ag.get(t, "/desk/tickets/"+triage.Number); r.code != http.StatusOK {
		t.Errorf("agent view: %d", r.code)
	}
	ag.act(t, triage.Number, "note", url.Values{"text": {"市民来电催办"}})
	if r := ag.get(t, "/desk"); r.header.Get("Location") != "/desk/search" {
		t.Errorf("agent's home: %q", r.header.Get("Location"))
	}
}

func TestDisabledUserStops(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	li := e.login(t, "li.jt")
	secret, tok, err := ticketing.NewUserToken(&ticketing.User{Name: "li.jt", Role: ticketing.RoleLiaison}, "script", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	bot := e.withToken(t, tok, secret)
	if r := li.get(t, "/desk/inbox"); r.code != http.StatusOK {
		t.Fatalf("inbox before: %d", r.code)
	}
	if r := bot.api(t, "GET", "/api/v1/desk/queue", nil); r.code != http.StatusOK {
		t.Fatalf("token before: %d %s", r.code, r.body)
	}

	// A changed role takes effect at once: the session is a dispatcher's now.
	e.putUser(t, &ticketing.User{Name: "li.jt", Role: ticketing.RoleDispatcher})
	if r := li.get(t, "/desk/dispatch"); r.code != http.StatusOK {
		t.Errorf("after the role change, the dispatch desk: %d", r.code)
	}
	e.putUser(t, &ticketing.User{Name: "li.jt", Role: ticketing.RoleLiaison, Department: "jt", Disabled: true})
	if r := li.get(t, "/desk/inbox"); r.code != http.StatusSeeOther {
		t.Errorf("disabled user's session: %d, want the sign-in page", r.code)
	}
	if r := li.get(t, "/desk/events"); r.code != http.StatusSeeOther {
		t.Errorf("disabled user's events: %d", r.code)
	}
	if r := bot.api(t, "GET", "/api/v1/desk/queue", nil); r.code != http.StatusUnauthorized {
		t.Errorf("disabled user's token: %d, want 401", r.code)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tk := e.submit(t, "", "井盖丢失")

	// An integration's dispatcher token acts as token:<name>, without CSRF.
	secret, tok, err := ticketing.NewToken(ticketing.RoleDispatcher, "grid-platform", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	bot := e.withToken(t, tok, secret)
	r := bot.api(t, "POST", "/api/v1/desk/tickets/"+tk.Number+"/dispatch", map[string]string{"category": "roads"})
	if r.code != http.StatusOK || r.json(t)["status"] != "dispatched" || r.json(t)["department"] != "jt" {
		t.Fatalf("dispatch by token: %d %s", r.code, r.body)
	}
	if es := e.audited(t, tk.Number, "dispatch"); len(es) != 1 || es[0].Actor != "token:grid-platform" || es[0].Detail != "department=jt" {
		t.Errorf("audit of the token's dispatch: %+v", es)
	}
	evs, _ := e.svc.Events(context.Background(), e.ticket(t, tk.Number))
	if last := evs[len(evs)-1]; last.Actor != "token:grid-platform" {
		t.Errorf("the log names %q", last.Actor)
	}

	// A liaison token without a user and without a department cannot be
	// made at all (authz_test.go refuses one stored before this rule), and
	// roles that are not staff are refused by the desks.
	if _, _, err := ticketing.NewToken(ticketing.RoleLiaison, "int-liaison", time.Now()); !errors.Is(err, ticketing.ErrInvalid) {
		t.Errorf("liaison token without a department: err = %v, want invalid", err)
	}
	secret, tok, err = ticketing.NewDepartmentToken(ticketing.RoleLiaison, "jt", "jt-system", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	jt := e.withToken(t, tok, secret)
	if r := jt.api(t, "GET", "/api/v1/desk/tickets/"+tk.Number, nil); r.code != http.StatusOK {
		t.Errorf("the jt department's token on its own ticket: %d %s", r.code, r.body)
	}
	for _, role := range []ticketing.Role{ticketing.RoleOpen311, ticketing.RoleCTI} {
		secret, tok, _ := ticketing.NewToken(role, "int-"+string(role), time.Now())
		if r := e.withToken(t, tok, secret).api(t, "GET", "/api/v1/desk/queue", nil); r.code != http.StatusForbidden {
			t.Errorf("%s integration token: %d, want 403", role, r.code)
		}
	}
	// A user's token whose user has another role now is refused.
	secret, tok, _ = ticketing.NewToken(ticketing.RoleAdmin, "stale", time.Now())
	tok.User = "disp"
	if r := e.withToken(t, tok, secret).api(t, "GET", "/api/v1/desk/queue", nil); r.code != http.StatusUnauthorized {
		t.Errorf("token with a role its user no longer has: %d, want 401", r.code)
	}
}

// Every step of the workflow through the desk changes the ticket and
// leaves an audit entry; the API takes the same steps.
func TestWorkflow(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) ticketing.Store) {
		e := newEnvOn(t, open(t))
		disp, li := e.login(t, "disp"), e.login(t, "li.jt")
		tk := e.submit(t, "", "人民路与解放路交叉口路面塌陷，车辆绕行。")

		steps := []struct {
			who  *client
			act  string
			form url.Values
			want ticketing.Status
		}{
			{disp, "register", url.Values{"note": {"属实"}}, ticketing.StatusRegistered},
			{disp, "dispatch", url.Values{"category": {"roads"}, "department": {"jt"}}, ticketing.StatusDispatched},
			{li, "return", url.Values{"reason": {"应由城管处理"}}, ticketing.StatusReturned},
			{disp, "refuse_return", url.Values{"note": {"属于道路设施，请办理"}}, ticketing.StatusDispatched},
			{li, "accept", nil, ticketing.StatusAccepted},
			{li, "extend", url.Values{"until": {time.Now().UTC().Add(30 * 24 * time.Hour).Format("2006-01-02T15:04")}, "reason": {"需协调施工"}}, ticketing.StatusAccepted},
			{disp, "decide_extension", url.Values{"approve": {"yes"}, "note": {"同意"}}, ticketing.StatusAccepted},
			{li, "handle", url.Values{"result": {"已修复路面"}}, ticketing.StatusHandled},
			{disp, "verify", url.Values{"pass": {"no"}, "note": {"仍有坑洼"}}, ticketing.StatusAccepted},
			{li, "note", url.Values{"text": {"已安排二次施工"}}, ticketing.StatusAccepted},
			{li, "handle", url.Values{"result": {"二次修复完成"}}, ticketing.StatusHandled},
			{disp, "verify", url.Values{"pass": {"yes"}}, ticketing.StatusClosed},
		}
		for i, s := range steps {
			before := len(e.audited(t, tk.Number, s.act))
			s.who.act(t, tk.Number, s.act, s.form)
			got := e.ticket(t, tk.Number)
			if got.Status != s.want {
				t.Fatalf("step %d %s: ticket is %s, want %s", i+1, s.act, got.Status, s.want)
			}
			if n := len(e.audited(t, tk.Number, s.act)); n != before+1 {
				t.Errorf("step %d %s: %d audit entries, want %d", i+1, s.act, n, before+1)
			}
		}
		got := e.ticket(t, tk.Number)
		if got.ExtensionCount != 1 || got.ReworkCount != 1 || got.Department != "jt" {
			t.Errorf("closed ticket: %d extensions, %d rework, department %q", got.ExtensionCount, got.ReworkCount, got.Department)
		}
		// The flash after the redirect names what was done.
		if r := disp.do(t, "GET", "/desk/tickets/"+tk.Number, nil, "Cookie", "yihao_desk_flash=verify; yihao_desk="+disp.session.Value); !strings.Contains(r.body, "已完成：核查") {
			t.Errorf("flash missing: %.300s", errorText(r.body))
		}

		// Decline and merge, through the API.
		dup, master := e.submit(t, "", "同一处塌陷"), e.submit(t, "", "人民路塌陷")
		if r := disp.api(t, "POST", "/api/v1/desk/tickets/"+dup.Number+"/merge", map[string]string{"master": master.Number}); r.code != http.StatusOK || r.json(t)["status"] != "merged" {
			t.Errorf("merge: %d %s", r.code, r.body)
		}
		if es := e.audited(t, dup.Number, "merge"); len(es) != 1 || es[0].Detail != "master="+master.Number {
			t.Errorf("merge audit: %+v", es)
		}
		if r := disp.api(t, "POST", "/api/v1/desk/tickets/"+master.Number+"/decline", map[string]string{"reason": "不属于受理范围"}); r.code != http.StatusOK || r.json(t)["status"] != "not_registered" {
			t.Errorf("decline: %d %s", r.code, r.body)
		}

		// Errors: each kind to its status, named field, nothing changed.
		pending := e.submit(t, "roads", "路灯不亮")
		for _, tc := range []struct {
			who   *client
			act   string
			body  map[string]any
			code  int
			field string
		}{
			{li, "return", map[string]any{}, http.StatusBadRequest, "reason"},
			{li, "extend", map[string]any{"until": "tomorrow", "reason": "x"}, http.StatusBadRequest, "until"},
			{disp, "verify", map[string]any{"pass": "maybe"}, http.StatusBadRequest, "pass"},
			{disp, "verify", map[string]any{"pass": true}, http.StatusConflict, "status"},
			{li, "handle", map[string]any{"result": "done"}, http.StatusConflict, "status"},
			{disp, "dispatch", map[string]any{"department": "nowhere", "note": "x"}, http.StatusBadRequest, "department"},
			{disp, "merge", map[string]any{"master": "123"}, http.StatusBadRequest, "master"},
			{disp, "fly", map[string]any{}, http.StatusNotFound, "action"},
			{li, "accept", map[string]any{"typo": 1}, http.StatusBadRequest, "body"},
		} {
			r := tc.who.api(t, "POST", "/api/v1/desk/tickets/"+pending.Number+"/"+tc.act, tc.body)
			if _, field := r.errorOf(t); r.code != tc.code || field != tc.field {
				t.Errorf("%s %v: %d field %q, want %d %q (%s)", tc.act, tc.body, r.code, field, tc.code, tc.field, r.body)
			}
		}
		// A form's error shows on the ticket page, with the form filled in again.
		r := li.post(t, "/desk/tickets/"+pending.Number+"/extend", url.Values{"until": {"2000-01-01T00:00"}, "reason": {"材料未到"}})
		if r.code != http.StatusBadRequest || !strings.Contains(errorText(r.body), "until") || !strings.Contains(r.body, "材料未到") {
			t.Errorf("extend with a past date: %d %q", r.code, errorText(r.body))
		}
		if got := e.ticket(t, pending.Number); got.Status != ticketing.StatusDispatched || got.Extension != nil {
			t.Errorf("after refused actions the ticket is %s, extension %v", got.Status, got.Extension)
		}
	})
}

// Liaisons see masked numbers; a reveal shows the number and is audited,
// as is every view with contact details.
func TestPhoneMaskedAndRevealAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *desks.Config) {
		c.RevealRoles = []ticketing.Role{ticketing.RoleLiaison, ticketing.RoleDispatcher}
	})
	tk := e.submit(t, "roads", "路灯不亮")
	li := e.login(t, "li.jt")

	page := li.get(t, "/desk/tickets/"+tk.Number)
	if !strings.Contains(page.body, phoneMask) || strings.Contains(page.body, phoneE164) || strings.Contains(page.body, phone) {
		t.Errorf("ticket page: want only the masked number %s", phoneMask)
	}
	if !strings.Contains(page.body, `id="reveal"`) {
		t.Error("ticket page: no reveal button for a liaison")
	}
	api := li.api(t, "GET", "/api/v1/desk/tickets/"+tk.Number, nil)
	rep, _ := api.json(t)["reporter"].(map[string]any)
	if rep["phone"] != phoneMask || rep["email"] != "w***@example.com" || strings.Contains(api.body, phone) {
		t.Errorf("API reporter %v", rep)
	}
	if es := e.audited(t, tk.Number, "view"); len(es) != 2 || es[0].Actor != "li.jt" || es[0].Detail != "door=desk-api fields=name" || es[1].Detail != "door=desk-page fields=name" {
		t.Errorf("views audited: %+v", es)
	}
	if len(e.audited(t, tk.Number, "reveal_phone")) != 0 {
		t.Fatal("a reveal was audited before any")
	}

	r := li.api(t, "POST", "/api/v1/desk/tickets/"+tk.Number+"/reveal", nil)
	if r.code != http.StatusOK || r.json(t)["phone"] != phoneE164 {
		t.Fatalf("reveal: %d %s", r.code, r.body)
	}
	// The page's form without script re-renders the page with the number.
	if r := li.post(t, "/desk/tickets/"+tk.Number+"/reveal", nil); r.code != http.StatusOK || !strings.Contains(r.body, "&#43;"+phoneE164[1:]) {
		t.Errorf("reveal form: %d", r.code)
	}
	es := e.audited(t, tk.Number, "reveal_phone")
	if len(es) != 2 || es[0].Actor != "li.jt" || es[0].Role != ticketing.RoleLiaison || es[0].Source == "" {
		t.Errorf("reveals audited: %+v", es)
	}

	// A role not in RevealRoles sees no button and may not reveal.
	ag := e.login(t, "agent")
	if p := ag.get(t, "/desk/tickets/"+tk.Number); strings.Contains(p.body, `id="reveal"`) || !strings.Contains(p.body, phoneMask) {
		t.Error("agent's page: want the masked number and no reveal button")
	}
	if r := ag.api(t, "POST", "/api/v1/desk/tickets/"+tk.Number+"/reveal", nil); r.code != http.StatusForbidden {
		t.Errorf("agent reveal: %d, want 403", r.code)
	}
	if n := len(e.audited(t, tk.Number, "reveal_phone")); n != 2 {
		t.Errorf("%d reveals audited after a refused one", n)
	}
}

func TestInboxPages(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) ticketing.Store) {
		e := newEnvOn(t, open(t))
		var want []string
		for i := range 5 {
			want = append(want, e.submit(t, "roads", "第"+string(rune('1'+i))+"处路面破损").Number)
		}
		e.submit(t, "water", "水管爆裂") // another department's
		li := e.login(t, "li.jt")

		// Pages of the inbox: 2, 2, 1, nearest deadline first, none twice.
		var got []string
		next := "/desk/inbox?limit=2"
		for pages := 0; next != ""; pages++ {
			if pages > 3 {
				t.Fatal("more pages than tickets")
			}
			r := li.get(t, next)
			if r.code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", next, r.code, errorText(r.body))
			}
			got = append(got, rowNumbers(r.body)...)
			next = ""
			if m := nextLink.FindStringSubmatch(r.body); m != nil {
				next = strings.ReplaceAll(m[1], "&amp;", "&")
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("inbox pages list %v, want %v", got, want)
		}

		// The same through the API.
		got = nil
		after := ""
		for range 4 {
			r := li.api(t, "GET", "/api/v1/desk/queue?limit=2&status=dispatched&after="+url.QueryEscape(after), nil)
			if r.code != http.StatusOK {
				t.Fatalf("queue: %d %s", r.code, r.body)
			}
			m := r.json(t)
			for _, x := range m["tickets"].([]any) {
				tk := x.(map[string]any)
				if _, ok := tk["reporter"]; ok {
					t.Error("a queue row carries the reporter")
				}
				got = append(got, tk["number"].(string))
			}
			after, _ = m["next"].(string)
			if after == "" {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("queue pages list %v, want %v", got, want)
		}

		for _, tc := range []struct{ query, field string }{
			{"after=abc", "after"},
			{"after=1-0", "after"},
			{"after=-5-3", "after"},
			{"after=01-3", "after"},
			{"after=1-2-3", "after"},
			{"status=lost", "status"},
			{"due=later", "due"},
			{"limit=0", "limit"},
			{"limit=9999", "limit"},
			{"sort=random", "sort"},
		} {
			r := li.api(t, "GET", "/api/v1/desk/queue?"+tc.query, nil)
			if _, field := r.errorOf(t); r.code != http.StatusBadRequest || field != tc.field {
				t.Errorf("queue?%s: %d field %q, want 400 %q", tc.query, r.code, field, tc.field)
			}
			if r := li.get(t, "/desk/inbox?"+tc.query); r.code != http.StatusBadRequest || !strings.Contains(errorText(r.body), tc.field) {
				t.Errorf("inbox?%s: %d %q, want 400 naming %s", tc.query, r.code, errorText(r.body), tc.field)
			}
		}

		// Deadline filters: nothing is overdue; all are due within 8 days.
		if r := li.get(t, "/desk/inbox?due=overdue"); len(rowNumbers(r.body)) != 0 {
			t.Errorf("overdue: %v", rowNumbers(r.body))
		}
		e2 := newEnvOn(t, open(t), func(c *desks.Config) { c.DueSoon = 8 * 24 * time.Hour })
		e2.submit(t, "roads", "路面破损")
		if r := e2.login(t, "li.jt").get(t, "/desk/inbox?due=yellow"); len(rowNumbers(r.body)) != 1 {
			t.Errorf("due soon: %v", rowNumbers(r.body))
		}
	})
}

var (
	rowNumber = regexp.MustCompile(`<tr data-number="([0-9]+)">`)
	nextLink  = regexp.MustCompile(`<p class="more"><a href="([^"]+)">`)
)

func rowNumbers(body string) []string {
	var out []string
	for _, m := range rowNumber.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestDispatchDesk(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) ticketing.Store) {
		e := newEnvOn(t, open(t))
		triage := e.submit(t, "triage-litter", "小区垃圾三天没人清运")
		running := e.submit(t, "litter", "路边垃圾堆积") // due in 24 h: on the overdue board
		handled := e.submit(t, "roads", "路牌倒了")
		li := e.login(t, "li.jt")
		li.act(t, handled.Number, "accept", nil)
		li.act(t, handled.Number, "handle", url.Values{"result": {"已扶正"}})

		disp := e.login(t, "disp")
		if r := disp.get(t, "/desk"); r.header.Get("Location") != "/desk/dispatch" {
			t.Errorf("dispatcher's home: %q", r.header.Get("Location"))
		}
		r := disp.get(t, "/desk/dispatch")
		if r.code != http.StatusOK {
			t.Fatalf("dispatch desk: %d", r.code)
		}
		sections := map[string][]string{}
		for _, part := range strings.Split(r.body, `<section class="desk-section" id="sec-`)[1:] {
			key, _, _ := strings.Cut(part, `"`)
			sections[key] = rowNumbers(part)
		}
		for key, want := range map[string][]string{"triage": {triage.Number}, "verify": {handled.Number}, "overdue": {running.Number}, "extensions": nil} {
			if !slices.Equal(sections[key], want) {
				t.Errorf("section %s lists %v, want %v", key, sections[key], want)
			}
		}
		if !strings.Contains(r.body, "light-green") {
			t.Error("no light on the overdue board")
		}

		// The ticket page offers the dispatch form with routing's suggestion.
		p := disp.get(t, "/desk/tickets/"+triage.Number)
		if !strings.Contains(p.body, `id="act-dispatch"`) || !strings.Contains(p.body, `id="preview"`) || !strings.Contains(p.body, "城管局") {
			t.Errorf("dispatch form or preview missing: %s", errorText(p.body))
		}
		if r := disp.get(t, "/desk/dispatch?s=nowhere"); r.code != http.StatusBadRequest {
			t.Errorf("unknown section: %d", r.code)
		}
	})
}

func TestAuditPage(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) ticketing.Store) {
		e := newEnvOn(t, open(t))
		tk := e.submit(t, "roads", "路灯")
		li := e.login(t, "li.jt")
		for range 3 {
			li.get(t, "/desk/tickets/"+tk.Number)
		}
		adm := e.login(t, "admin")
		r := adm.get(t, "/desk/audit?actor=li.jt&action=view")
		if r.code != http.StatusOK || strings.Count(r.body, `href="/desk/tickets/`+tk.Number+`"`) != 3 {
			t.Errorf("audit page: %d, %d views listed", r.code, strings.Count(r.body, tk.Number))
		}
		if r := adm.get(t, "/desk/audit?before=x"); r.code != http.StatusBadRequest || !strings.Contains(errorText(r.body), "before") {
			t.Errorf("bad before: %d", r.code)
		}
	})
}

func TestLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.anonymous()
	if r := c.get(t, "/login"); !strings.Contains(r.body, "工作人员登录") {
		t.Error("login page not Chinese by default")
	}
	if r := c.do(t, "GET", "/login", nil, "Accept-Language", "en-GB,en;q=0.9,zh;q=0.5"); !strings.Contains(r.body, "Staff sign-in") {
		t.Error("Accept-Language en: not English")
	}
	if r := c.do(t, "GET", "/login", nil, "Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8"); !strings.Contains(r.body, "工作人员登录") {
		t.Error("Accept-Language zh first: not Chinese")
	}
	r := c.get(t, "/login?lang=en")
	lang := r.cookie("yihao_lang")
	if !strings.Contains(r.body, "Staff sign-in") || lang == nil || lang.Value != "en" {
		t.Fatalf("?lang=en: cookie %v", lang)
	}
	if r := c.do(t, "GET", "/login", nil, "Cookie", "yihao_lang=en"); !strings.Contains(r.body, "Staff sign-in") {
		t.Error("lang cookie ignored")
	}
}

// The event stream carries changes to the departments concerned only.
func TestEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	li := e.login(t, "li.jt")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/desk/events", nil)
	req.AddCookie(li.session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	stream := bufio.NewReader(resp.Body)
	if l, _ := stream.ReadString('\n'); !strings.HasPrefix(l, ":") {
		t.Fatalf("first line %q", l)
	}

	water := e.submit(t, "", "停水")
	roads := e.submit(t, "", "路面破损")
	disp := e.login(t, "disp")
	disp.act(t, water.Number, "dispatch", url.Values{"category": {"water"}})
	disp.act(t, roads.Number, "dispatch", url.Values{"category": {"roads"}})

	var ev, data string
	for data == "" {
		l, err := stream.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(l, "event: "):
			ev = strings.TrimSpace(l[7:])
		case strings.HasPrefix(l, "data: "):
			data = strings.TrimSpace(l[6:])
		}
	}
	want := `{"number":"` + roads.Number + `","status":"dispatched","department":"jt"}`
	if ev != "ticket" || data != want {
		t.Errorf("event %q %s, want ticket %s (the water ticket is not jt's)", ev, data, want)
	}
}

func TestPublish(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	all, cancelAll, _ := e.bus.Subscribe(ctx, desks.TopicAll)
	defer cancelAll()
	dept, cancelDept, _ := e.bus.Subscribe(ctx, desks.DepartmentTopic("sw"))
	defer cancelDept()
	tk := e.submit(t, "water", "水压低")
	if err := desks.Publish(ctx, e.bus, tk); err != nil {
		t.Fatal(err)
	}
	want := `{"number":"` + tk.Number + `","status":"dispatched","department":"sw"}`
	for _, ch := range []<-chan []byte{all, dept} {
		select {
		case m := <-ch:
			if string(m) != want {
				t.Errorf("published %s, want %s", m, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("nothing published")
		}
	}
	if err := desks.Publish(ctx, nil, tk); err != nil {
		t.Errorf("Publish without a bus: %v", err)
	}
}
