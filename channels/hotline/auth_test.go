package hotline_test

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/hotline"
	"github.com/yihao-city/yihao/channels/hotline/acd"
	"github.com/yihao-city/yihao/channels/hotline/sipauth"
	"github.com/yihao-city/yihao/channels/hotline/sipptest"
	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/redis"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
)

// phone is a softphone of the test's own speaking raw SIP over UDP, so
// that it can do what a real one never would: send one Authorization
// twice, guess passwords.
type phone struct {
	t    *testing.T
	conn *net.UDPConn
	seq  int
}

func newPhone(t *testing.T) *phone { return &phone{t: t, conn: udpSocket(t, "127.0.0.1:0")} }

var nonceRE = regexp.MustCompile(`nonce="([^"]+)"`)

// register sends a REGISTER for ext to server with auth (may be "") and
// returns the final answer's status line and, for a 401, its nonce.
func (p *phone) register(server, ext, auth string) (status, nonce string) {
	p.t.Helper()
	p.seq++
	local := p.conn.LocalAddr().String()
	if auth != "" {
		auth = "Authorization: " + auth + "\n"
	}
	msg := fmt.Sprintf("REGISTER sip:%s SIP/2.0\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-reg-%d-%s;rport\n"+
		"Max-Forwards: 70\n"+
		"From: <sip:%s@127.0.0.1>;tag=ph%d\n"+
		"To: <sip:%s@127.0.0.1>\n"+
		"Call-ID: phone-%s-%s@test\n"+
		"CSeq: %d REGISTER\n"+
		"Contact: <sip:%s@%s>\n"+
		"Expires: 600\n%s"+
		"Content-Length: 0\n\n", server, local, p.seq, rand.Text()[:8], ext, p.seq, ext, ext, local, p.seq, ext, local, auth)
	raddr, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDP([]byte(strings.ReplaceAll(msg, "\n", "\r\n")), raddr); err != nil {
		p.t.Fatal(err)
	}
	buf := make([]byte, 65535)
	p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return "", ""
		}
		res := string(buf[:n])
		if strings.HasPrefix(res, "SIP/2.0 1") {
			continue
		}
		if m := nonceRE.FindStringSubmatch(res); m != nil {
			nonce = m[1]
		}
		status = firstLine(res)
		if strings.HasPrefix(status, "SIP/2.0 503") {
			for _, l := range strings.Split(res, "\r\n") {
				if strings.HasPrefix(l, "Retry-After:") {
					status += " (" + l + ")"
				}
			}
		}
		return status, nonce
	}
}

// digestAuth is the Authorization a phone sends for ext with password pw
// on nonce, nonce-count nc (RFC 2617, MD5, qop auth).
func digestAuth(server, ext, pw, nonce string, nc int) string {
	h := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	uri := "sip:" + server
	ha1 := ticketing.HA1(ext, "yihao", pw)
	cnonce := "c0ffee"
	resp := h(fmt.Sprintf("%s:%s:%08x:%s:auth:%s", ha1, nonce, nc, cnonce, h("REGISTER:"+uri)))
	return fmt.Sprintf(`Digest username="%s",realm="yihao",nonce="%s",uri="%s",response="%s",algorithm=MD5,qop=auth,nc=%08x,cnonce="%s"`,
		ext, nonce, uri, resp, nc, cnonce)
}

// A captured REGISTER sent again (same nonce, same nonce-count) is refused
// with a fresh challenge, though its digest is right; the phone's next
// request on the same nonce (nc+1) is taken. The same holds across two
// instances sharing Redis: a pair used on one is refused by the other.
func TestReplayedRegisterRefused(t *testing.T) {
	check := func(t *testing.T, a, b *sipEnv) {
		a.addAgents(t, "2001")
		p := newPhone(t)
		status, nonce := p.register(a.addr, "2001", "")
		if !strings.HasPrefix(status, "SIP/2.0 401") || nonce == "" {
			t.Fatalf("first REGISTER: %q", status)
		}
		auth := digestAuth(a.addr, "2001", "pw-2001", nonce, 1)
		if status, _ := p.register(a.addr, "2001", auth); !strings.HasPrefix(status, "SIP/2.0 200") {
			t.Fatalf("REGISTER with the right digest: %q", status)
		}
		// The attacker replays the captured request: to the same instance,
		// and to the other one (b.addr == a.addr with one instance).
		for _, e := range []*sipEnv{a, b} {
			status, fresh := newPhone(t).register(e.addr, "2001", auth)
			if !strings.HasPrefix(status, "SIP/2.0 401") || fresh == "" || fresh == nonce {
				t.Fatalf("replayed REGISTER: %q (nonce %q), want 401 with a fresh nonce", status, fresh)
			}
		}
		if status, _ := p.register(a.addr, "2001", digestAuth(a.addr, "2001", "pw-2001", nonce, 2)); !strings.HasPrefix(status, "SIP/2.0 200") {
			t.Fatalf("next nonce-count: %q", status)
		}
	}
	t.Run("memory", func(t *testing.T) {
		e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{})
		check(t, e, e)
	})
	t.Run("redis", func(t *testing.T) {
		a, b := sharedInstances(t)
		check(t, a, b)
	})
}

// sharedInstances are two instances over one PostgreSQL schema and one
// Redis prefix: presence, lockout and nonce ledger shared.
func sharedInstances(t *testing.T) (*sipEnv, *sipEnv) {
	t.Helper()
	url := pgtest.SchemaURL(t)
	prefix := "yihao-test:" + rand.Text() + ":"
	var envs [2]*sipEnv
	for i := range envs {
		store, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(store.Close)
		rdb := redisClient(t, prefix)
		envs[i] = newSIPEnv(t, store, redis.NewPresence(rdb, prefix+"acd:", acd.LongestIdle), redis.NewBus(rdb, prefix+"live:"),
			hotline.SIPConfig{
				Lockout: redis.NewLockout(rdb, prefix+"sip:auth:", sipauth.Policy{Failures: 5}),
				Nonces:  redis.NewNonceLedger(rdb, prefix+"sip:auth:"),
			})
	}
	return envs[0], envs[1]
}

// Guessing one extension's password: five wrong guesses, spread over two
// instances and several source addresses, and the extension is refused
// (503 with Retry-After) everywhere, even with the right password, before
// any password is checked. Another extension still registers.
func TestPasswordGuessingLimited(t *testing.T) {
	check := func(t *testing.T, a, b *sipEnv) {
		a.addAgents(t, "2001", "2002")
		envs := []*sipEnv{a, b}
		for i := range 5 {
			e := envs[i%2]
			p := newPhone(t) // a new source each time
			_, nonce := p.register(e.addr, "2001", "")
			if status, _ := p.register(e.addr, "2001", digestAuth(e.addr, "2001", "guess-"+strconv.Itoa(i), nonce, 1)); !strings.HasPrefix(status, "SIP/2.0 403") {
				t.Fatalf("guess %d: %q, want 403", i+1, status)
			}
		}
		for i, e := range envs {
			p := newPhone(t)
			_, nonce := p.register(e.addr, "2001", "")
			status, _ := p.register(e.addr, "2001", digestAuth(e.addr, "2001", "pw-2001", nonce, 1))
			if !strings.HasPrefix(status, "SIP/2.0 503") || !strings.Contains(status, "Retry-After:") {
				t.Fatalf("instance %d, the right password after 5 guesses: %q, want 503 with Retry-After", i, status)
			}
		}
		if st, err := a.presence.Status(context.Background(), "2001", time.Now()); err == nil && st.Binding != nil {
			t.Fatalf("2001 registered while locked out: %+v", st.Binding)
		}
		// Made-up extensions are refused and not counted: the lockout
		// keeps keys for real extensions only.
		for i := range 7 {
			p := newPhone(t)
			_, nonce := p.register(a.addr, "9999", "")
			if status, _ := p.register(a.addr, "9999", digestAuth(a.addr, "9999", "guess-"+strconv.Itoa(i), nonce, 1)); !strings.HasPrefix(status, "SIP/2.0 403") {
				t.Fatalf("unknown extension, try %d: %q, want 403", i+1, status)
			}
		}
		// 2002 is not 2001: sipp registers it through both instances.
		for _, e := range envs {
			e.register(t, "udp", sipptest.FreePort(t), "2002")
		}
	}
	t.Run("memory", func(t *testing.T) {
		e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{})
		check(t, e, e)
	})
	t.Run("redis", func(t *testing.T) {
		a, b := sharedInstances(t)
		check(t, a, b)
	})
}

// The agent page's sign-in takes the same SIP password: guesses there
// count toward the same lockout, which then holds at the page and at the
// registrar alike.
func TestAgentPageGuessesShareTheLockout(t *testing.T) {
	lockout := sipauth.NewMemoryLockout(sipauth.Policy{Failures: 5}, 0)
	e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{Lockout: lockout})
	e.addAgents(t, "2001")
	lines, err := hotline.NewLines(demoLines, "86")
	if err != nil {
		t.Fatal(err)
	}
	d, err := hotline.NewAgentPage(hotline.AgentPageConfig{SessionKey: []byte("agent sessions of the lockout test"), Lockout: lockout},
		e.store, e.svc, e.presence, e.bus, lines, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(httpapi.Config{})
	if err != nil {
		t.Fatal(err)
	}
	d.Register(h)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login := func(pw string) *http.Response {
		t.Helper()
		res, err := client.PostForm(srv.URL+"/agent/login", url.Values{"ext": {"2001"}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for i := range 5 {
		if res := login("guess-" + strconv.Itoa(i)); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i+1, res.StatusCode)
		}
	}
	if res := login("pw-2001"); res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("right password after 5 guesses: %d (Retry-After %q), want 429 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	p := newPhone(t)
	_, nonce := p.register(e.addr, "2001", "")
	if status, _ := p.register(e.addr, "2001", digestAuth(e.addr, "2001", "pw-2001", nonce, 1)); !strings.HasPrefix(status, "SIP/2.0 503") {
		t.Fatalf("REGISTER after guesses on the page: %q, want 503", status)
	}
}

// A guesser cannot knock a working agent off: while the extension is
// locked out, the phone holding its registration refreshes it from where
// it registered, and the right password from anywhere else is refused.
func TestLockedOutPhoneKeepsItsRegistration(t *testing.T) {
	e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{})
	e.addAgents(t, "2001")
	ph := newPhone(t)
	_, nonce := ph.register(e.addr, "2001", "")
	if status, _ := ph.register(e.addr, "2001", digestAuth(e.addr, "2001", "pw-2001", nonce, 1)); !strings.HasPrefix(status, "SIP/2.0 200") {
		t.Fatalf("the agent's phone registers: %q", status)
	}
	for i := range 5 {
		g := newPhone(t)
		_, n := g.register(e.addr, "2001", "")
		g.register(e.addr, "2001", digestAuth(e.addr, "2001", "guess-"+strconv.Itoa(i), n, 1))
	}
	g := newPhone(t)
	_, n := g.register(e.addr, "2001", "")
	if status, _ := g.register(e.addr, "2001", digestAuth(e.addr, "2001", "pw-2001", n, 1)); !strings.HasPrefix(status, "SIP/2.0 503") {
		t.Fatalf("the right password from elsewhere during the lockout: %q, want 503", status)
	}
	if status, _ := ph.register(e.addr, "2001", digestAuth(e.addr, "2001", "pw-2001", nonce, 2)); !strings.HasPrefix(status, "SIP/2.0 200") {
		t.Fatalf("the registered phone refreshing during the lockout: %q, want 200", status)
	}
	if status, _ := ph.register(e.addr, "2001", digestAuth(e.addr, "2001", "wrong-guess", nonce, 3)); !strings.HasPrefix(status, "SIP/2.0 403") {
		t.Fatalf("a wrong password from the phone's address: %q, want 403", status)
	}
}
