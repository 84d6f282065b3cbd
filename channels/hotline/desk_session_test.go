package hotline_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/hotline"
	"github.com/yihao-city/yihao/ticketing"
)

// signedIn says whether the agent page takes cookie as a session.
func (e *deskEnv) signedIn(t *testing.T, c *http.Cookie) bool {
	t.Helper()
	// Signed in but no phone registered: 409; not signed in: 401.
	r := e.do(t, "POST", "/agent/state", c, url.Values{"state": {"available"}})
	if r.code != http.StatusConflict && r.code != http.StatusUnauthorized {
		t.Fatalf("POST /agent/state: %d", r.code)
	}
	return r.code == http.StatusConflict
}

// A copy of the agent's cookie taken before the agent signed out (a shared
// PC, a proxy log) is dead after the sign-out, on both stores.
func TestAgentSignOutKillsCopiedCookie(t *testing.T) {
	for _, st := range bothStores {
		t.Run(st.name, func(t *testing.T) {
			e := newDesk(t, st.open(t), nil, nil, nil)
			addDeskAgents(t, e.store, "2001")
			c := e.login(t, "2001")
			copied := &http.Cookie{Name: c.Name, Value: c.Value}
			if !e.signedIn(t, copied) {
				t.Fatal("the copy works before the sign-out, as the original does")
			}
			if r := e.do(t, "POST", "/agent/logout", c, url.Values{}); r.code != http.StatusSeeOther {
				t.Fatalf("sign-out: %d", r.code)
			}
			if e.signedIn(t, copied) {
				t.Error("the copied cookie still holds after the sign-out")
			}
			if page := e.do(t, "GET", "/agent", copied, nil); page.code != http.StatusOK || !strings.Contains(page.body, `action="/agent/login"`) {
				t.Error("the copied cookie still shows the desk")
			}
			// Signing in again works.
			if again := e.login(t, "2001"); !e.signedIn(t, again) {
				t.Error("a new sign-in does not hold")
			}
		})
	}
}

// Sessions are checked against the agent store: a new password or a
// removed agent ends them, and adding the agent again with the same
// password does not bring the old cookie back.
func TestAgentSessionFollowsTheAgentStore(t *testing.T) {
	e := newDesk(t, sqliteStore(t), nil, nil, nil)
	ctx := context.Background()
	addDeskAgents(t, e.store, "2001", "2002")

	c := e.login(t, "2001")
	a, err := e.store.AgentByExt(ctx, "2001")
	if err != nil {
		t.Fatal(err)
	}
	a.HA1, a.UpdatedAt = ticketing.HA1("2001", "yihao", "a new password"), time.Now()
	if err := e.store.PutAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	if e.signedIn(t, c) {
		t.Error("the session outlived a password change")
	}

	c = e.login(t, "2002")
	if err := e.store.DeleteAgent(ctx, "2002"); err != nil {
		t.Fatal(err)
	}
	if e.signedIn(t, c) {
		t.Error("the session outlived the agent's removal")
	}
	time.Sleep(2 * time.Millisecond) // a new creation time
	addDeskAgents(t, e.store, "2002")
	if e.signedIn(t, c) {
		t.Error("the removed agent's cookie came back with the agent")
	}
	if fresh := e.login(t, "2002"); !e.signedIn(t, fresh) {
		t.Error("the agent added again cannot sign in")
	}
}

// Behind a TLS proxy the cookie keeps Secure when configured, on sign-in
// and sign-out alike.
func TestAgentCookieSecureWhenConfigured(t *testing.T) {
	for _, secure := range []bool{false, true} {
		e := newDeskWith(t, sqliteStore(t), nil, nil, nil, hotline.AgentPageConfig{SecureCookies: secure}, nil)
		addDeskAgents(t, e.store, "2001")
		r := e.do(t, "POST", "/agent/login", nil, url.Values{"ext": {"2001"}, "password": {"pw-2001"}})
		c := r.cookie()
		if c == nil || c.Secure != secure || !c.HttpOnly {
			t.Fatalf("SecureCookies %v: sign-in cookie %+v", secure, c)
		}
		out := e.do(t, "POST", "/agent/logout", c, url.Values{})
		if gone := out.cookie(); gone == nil || gone.Secure != secure {
			t.Errorf("SecureCookies %v: sign-out cookie %+v", secure, gone)
		}
	}
}

// keyLimiter records the keys it is asked about and allows everything.
type keyLimiter struct {
	mu   sync.Mutex
	keys []string
}

func (l *keyLimiter) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = append(l.keys, key)
	return true, 0, nil
}

// The sign-in limit keys on the peer unless the peer is a trusted proxy;
// then on the client the proxy names.
func TestAgentLoginLimitKeysOnTheClient(t *testing.T) {
	untrusted, trusted := []string(nil), []string{"127.0.0.1"}
	for _, tc := range []struct {
		proxies []string
		want    string
	}{{untrusted, "agent-login:127.0.0.1"}, {trusted, "agent-login:203.0.113.7"}} {
		l := &keyLimiter{}
		e := newDeskWith(t, sqliteStore(t), nil, nil, nil, hotline.AgentPageConfig{LoginLimiter: l}, tc.proxies)
		e.do(t, "POST", "/agent/login", nil, url.Values{"ext": {"2001"}, "password": {"wrong"}}, "X-Forwarded-For", "203.0.113.7")
		if len(l.keys) != 1 || l.keys[0] != tc.want {
			t.Errorf("limiter keys %q, want %q", l.keys, tc.want)
		}
	}
}
