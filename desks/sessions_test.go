package desks_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yihao-city/yihao/desks"
	"github.com/yihao-city/yihao/limit"
	"github.com/yihao-city/yihao/ticketing"
)

// holds says whether the desks take c's session cookie.
func holds(t *testing.T, c *client) bool {
	t.Helper()
	r := c.api(t, http.MethodGet, "/api/v1/desk/queue", nil)
	if r.code != http.StatusOK && r.code != http.StatusUnauthorized {
		t.Fatalf("queue: %d %.200s", r.code, r.body)
	}
	return r.code == http.StatusOK
}

// Signing out ends the session on the server: a copy of the cookie taken
// before (a shared computer, a proxy's log) no longer works, on either
// store, for pages and the API alike.
func TestSignOutKillsCopiedCookie(t *testing.T) {
	t.Parallel()
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			e := newEnvOn(t, st.open(t))
			c := e.login(t, "disp")
			copied := &client{e: e, session: &http.Cookie{Name: c.session.Name, Value: c.session.Value}, csrf: c.csrf}
			if !holds(t, copied) {
				t.Fatal("the copy must work before the sign-out")
			}
			if r := c.post(t, "/logout", nil); r.code != http.StatusSeeOther {
				t.Fatalf("sign-out: %d", r.code)
			}
			if holds(t, copied) {
				t.Error("the copied cookie still holds after the sign-out")
			}
			if r := copied.get(t, "/desk/search"); r.code != http.StatusSeeOther || r.header.Get("Location") == "/desk/search" {
				t.Errorf("a page with the copied cookie: %d %s, want the sign-in redirect", r.code, r.header.Get("Location"))
			}
			if r := copied.post(t, "/desk/tickets/"+e.submit(t, "", "路灯不亮").Number+"/note", url.Values{"note": {"x"}}); r.code != http.StatusUnauthorized && r.code != http.StatusSeeOther {
				t.Errorf("an action with the copied cookie: %d", r.code)
			}
			if again := e.login(t, "disp"); !holds(t, again) {
				t.Error("signing in again does not hold")
			}
		})
	}
}

// A new password ends the sessions begun with the old one.
func TestPasswordChangeEndsSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.login(t, "admin")
	u, err := e.store.UserByName(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	u.PasswordHash, u.UpdatedAt = passwordHash()+"x", time.Now() // another hash
	if err := e.store.PutUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if holds(t, c) {
		t.Error("the session outlived a password change")
	}
	if other := e.login(t, "disp"); !holds(t, other) {
		t.Error("another user's session ended too")
	}
}

// Behind a reverse proxy the sign-in throttle and the audit log see the
// client the trusted proxy names; a peer that is no trusted proxy cannot
// choose its address with X-Forwarded-For.
func TestThrottleAndAuditSeeTheClient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		trusted []string
		want    string
	}{
		{"untrusted peer", nil, "127.0.0.1"},
		{"trusted proxy", []string{"127.0.0.0/8"}, "203.0.113.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &limiter{Local: limit.NewLocal(limit.PerMinute(10, 5))}
			e := &env{store: sqliteStore(t), proxies: tc.trusted}
			e.serve(t, nil, func(c *desks.Config) { c.LoginLimiter = l })
			tk := e.submit(t, "roads", "路面塌陷")
			anon := &client{e: e, headers: []string{"X-Forwarded-For", "203.0.113.7"}}
			if r := anon.post(t, "/login", url.Values{"name": {"disp"}, "password": {password}}); r.code != http.StatusSeeOther {
				t.Fatalf("sign-in: %d", r.code)
			}
			l.mu.Lock()
			keys := slices.Clone(l.keys)
			l.mu.Unlock()
			if !slices.Contains(keys, "desk-login:ip:"+tc.want) {
				t.Errorf("limiter keys %q, want the address %s", keys, tc.want)
			}
			c := e.login(t, "disp")
			c.headers = []string{"X-Forwarded-For", "203.0.113.7"}
			if r := c.post(t, "/desk/tickets/"+tk.Number+"/reveal", nil); r.code != http.StatusOK && r.code != http.StatusSeeOther {
				t.Fatalf("reveal: %d %.200s", r.code, r.body)
			}
			for _, act := range []string{"reveal_phone"} {
				es := e.audited(t, tk.Number, act)
				if len(es) == 0 || es[0].Source != tc.want {
					t.Errorf("audit %s: %+v, want source %s", act, es, tc.want)
				}
			}
			es, err := e.store.Audit(context.Background(), ticketing.AuditFilter{Action: "sign_in"})
			if err != nil || len(es) == 0 || es[len(es)-1].Source != tc.want {
				t.Errorf("sign-in audit %+v (%v), want source %s", es, err, tc.want)
			}
		})
	}
}

// Ten bad sign-ins from one client behind the proxy lock that client out,
// not every member of staff behind the same proxy.
func TestOneClientCannotLockOutTheProxy(t *testing.T) {
	t.Parallel()
	e := &env{store: sqliteStore(t), proxies: []string{"127.0.0.1"}}
	// Five at once and one an hour after: the ten guesses outrun the refill
	// however slowly a loaded machine checks them (at ten a minute, ten
	// argon2 checks under -race once took long enough to earn five more).
	e.serve(t, nil, func(c *desks.Config) {
		c.LoginLimiter = limit.NewLocal(limit.Rate{Events: 1, Period: time.Hour, Burst: 5})
	})
	attacker := &client{e: e, headers: []string{"X-Forwarded-For", "198.51.100.66"}}
	var last int
	for range 10 {
		last = attacker.post(t, "/login", url.Values{"name": {"Not A Name"}, "password": {"guess"}}).code
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("the guessing client: %d after ten tries, want 429", last)
	}
	staff := &client{e: e, headers: []string{"X-Forwarded-For", "203.0.113.7"}}
	if r := staff.post(t, "/login", url.Values{"name": {"disp"}, "password": {password}}); r.code != http.StatusSeeOther {
		t.Errorf("a colleague behind the same proxy: %d, want 303", r.code)
	}
}

// A signed-out copy of a session cookie cannot make the server read a
// photo form either: the session is checked against the store before the
// body, so most of a 40 MB upload is never taken from the socket.
func TestCopiedCookieReadsNoPhotoForm(t *testing.T) {
	t.Parallel()
	opt, _ := withPhotos(t)
	e := newEnv(t, opt)
	li := e.login(t, "li.jt")
	tk := accepted(t, e, li, "路灯不亮")
	copied := &http.Cookie{Name: li.session.Name, Value: li.session.Value}
	if r := li.post(t, "/logout", nil); r.code != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", r.code)
	}

	const size = 40 << 20
	boundary := "photo-form-boundary"
	head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + li.csrf +
		"\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"photos\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
	tail := "\r\n--" + boundary + "--\r\n"
	body := &countingReader{r: io.MultiReader(strings.NewReader(head), io.LimitReader(zeros{}, size), strings.NewReader(tail))}
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/desk/tickets/"+tk.Number+"/handle", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	req.AddCookie(copied)
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := cl.Do(req); err == nil {
		// The server may answer and close before the client has sent it
		// all (an error here is that close); an answer must be a refusal.
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusForbidden {
			t.Errorf("a photo form with a signed-out cookie: %d, want a refusal", resp.StatusCode)
		}
	}
	if n := body.n.Load(); n > size/2 {
		t.Errorf("the server took %d MB of a signed-out session's photo form", n>>20)
	}
	if got := e.ticket(t, tk.Number); got.Status != ticketing.StatusAccepted {
		t.Errorf("the ticket is %s after a signed-out session's result form", got.Status)
	}
}

// countingReader counts what the HTTP client took from it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
