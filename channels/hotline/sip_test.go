package hotline_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/yihao-city/yihao/channels/hotline"
	"github.com/yihao-city/yihao/channels/hotline/acd"
	"github.com/yihao-city/yihao/channels/hotline/sipptest"
	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing"
)

// triage leaves every ticket for a dispatcher: the phone door's tests are
// about calls, not routing.
type triage struct{}

func (triage) Route(context.Context, ticketing.Report) (ticketing.Assignment, error) {
	return ticketing.Assignment{Priority: ticketing.PriorityNormal, Reason: "test"}, nil
}

// sipEnv is one Yihao SIP instance on loopback (UDP and TCP on one port)
// over a real store, with sipp as every other party.
type sipEnv struct {
	store    ticketing.Store
	svc      *ticketing.Service
	presence acd.Presence
	bus      pubsub.Bus
	sip      *hotline.SIP
	addr     string // 127.0.0.1:port
	started  time.Time
	metrics  *prometheus.Registry // the proxy's SIPMetrics
}

// metric is the value of the proxy's metric name whose labels include
// labels (name, value pairs), 0 when none has.
func (e *sipEnv) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := e.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue next
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

var demoLines = []hotline.Line{
	{Number: "12345", Label: "12345 政务服务便民热线"},
	{Number: "12319", Label: "12319 城建服务热线", Domain: "01"},
	{Number: "96310", Label: "96310 交通服务热线"},
	{Number: "12315", Label: "12315 消费者投诉举报热线"},
}

func newSIPEnv(t *testing.T, store ticketing.Store, presence acd.Presence, bus pubsub.Bus, cfg hotline.SIPConfig) *sipEnv {
	t.Helper()
	lines, err := hotline.NewLines(demoLines, "86")
	if err != nil {
		t.Fatal(err)
	}
	if presence == nil {
		presence = acd.NewMemory(acd.LongestIdle)
	}
	if bus == nil {
		bus = pubsub.NewMemory()
	}
	if cfg.NonceSecret == nil {
		cfg.NonceSecret = []byte("test secret shared by instances")
	}
	svc := ticketing.NewService(store, triage{})
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	// UDP and TCP on one port, as phones expect: a port free for UDP may
	// be taken for TCP, so try a few.
	for attempt := 0; ; attempt++ {
		reg := prometheus.NewRegistry()
		metrics := hotline.NewSIPMetrics(reg, "12345", "12319", "96310", "12315")
		s, err := hotline.NewSIP(cfg, hotline.SIPParts{Lines: lines, Store: store, Tickets: svc, Presence: presence, Bus: bus, Log: log, Metrics: metrics})
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.ListenUDP("127.0.0.1:0")
		if err == nil {
			_, err = s.ListenTCP(a.String())
		}
		if err != nil {
			s.Close()
			if attempt < 10 {
				continue
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return &sipEnv{store: store, svc: svc, presence: presence, bus: bus, sip: s, addr: a.String(), started: time.Now().Add(-time.Second), metrics: reg}
	}
}

// addAgents creates agents ext with password "pw-"+ext in the store.
func (e *sipEnv) addAgents(t *testing.T, exts ...string) {
	t.Helper()
	for _, ext := range exts {
		now := time.Now()
		a := &ticketing.Agent{Ext: ext, Name: "坐席" + ext, Realm: "yihao", HA1: ticketing.HA1(ext, "yihao", "pw-"+ext), CreatedAt: now, UpdatedAt: now}
		if err := e.store.PutAgent(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
}

// register registers agents with sipp (digest auth) over transport, with
// Contacts on port (where an agent_uas.xml will listen).
func (e *sipEnv) register(t *testing.T, transport string, port int, exts ...string) {
	t.Helper()
	rows := make([][]string, len(exts))
	for i, ext := range exts {
		rows[i] = []string{ext, "pw-" + ext}
	}
	res := sipptest.Run(t, "register.xml", e.addr, "-inf", sipptest.InjectionFile(t, rows...),
		"-m", strconv.Itoa(len(exts)), "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", sipT(transport, false), "-timeout", "20s")
	if res.Successful != len(exts) || res.Failed != 0 {
		t.Fatalf("registering %v: %s", exts, res)
	}
}

// sipT is sipp's -t for a transport: one socket, or one per call.
func sipT(transport string, perCall bool) string {
	p := "1"
	if perCall {
		p = "n"
	}
	if transport == "tcp" {
		return "t" + p
	}
	return "u" + p
}

// calls returns the call log since the env started, by call id.
func (e *sipEnv) calls(t *testing.T) map[string]*ticketing.Call {
	t.Helper()
	cs, err := e.store.Calls(context.Background(), ticketing.CallFilter{From: e.started, To: time.Now().Add(time.Hour), Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*ticketing.Call{}
	for _, c := range cs {
		if out[c.CallID] != nil {
			t.Fatalf("call %s logged twice", c.CallID)
		}
		out[c.CallID] = c
	}
	return out
}

// waitCalls waits until n calls have ended (the last BYE's bookkeeping
// may trail sipp's exit by a moment).
func (e *sipEnv) waitCalls(t *testing.T, n int) map[string]*ticketing.Call {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cs := e.calls(t)
		ended := endedCalls(cs)
		if ended >= n || time.Now().After(deadline) {
			if ended != n || len(cs) != n {
				t.Fatalf("%d calls logged, %d ended; want %d", len(cs), ended, n)
			}
			return cs
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// endedCalls counts the calls that have ended.
func endedCalls(cs map[string]*ticketing.Call) int {
	n := 0
	for _, c := range cs {
		if c.Ended() {
			n++
		}
	}
	return n
}

// The merged lines, over UDP and TCP: agents register with digest auth,
// citizens call every number, agents answer, citizens hang up. Each call
// is in the log once, answered by a registered agent, with its line and
// the caller's number in E.164 and times in order.
func TestCallsThroughTheProxy(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{})
			agents := []string{"2001", "2002", "2003"}
			e.addAgents(t, agents...)
			port := sipptest.FreePort(t)
			e.register(t, transport, port, agents...)
			uas := sipptest.Start(t, "agent_uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", sipT(transport, false), "-d", "100")

			for i, line := range []string{"12345", "12319", "96310", "12315"} {
				caller := fmt.Sprintf("1380013%04d", i)
				res := sipptest.Run(t, "caller_uac.xml", e.addr, "-s", line, "-set", "caller", caller, "-d", "200",
					"-m", "3", "-r", "10", "-i", "127.0.0.1", "-t", sipT(transport, true), "-timeout", "30s")
				if res.Successful != 3 || res.Failed != 0 {
					t.Fatalf("line %s: %s", line, res)
				}
			}
			cs := e.waitCalls(t, 12)
			perLine := map[string]int{}
			for id, c := range cs {
				if c.Cause != ticketing.CauseAnswered || !contains(agents, c.Agent) {
					t.Errorf("call %s: cause %q agent %q", id, c.Cause, c.Agent)
				}
				if !strings.HasPrefix(c.Caller, "+861380013") || c.Direction != ticketing.DirectionIn {
					t.Errorf("call %s: caller %q direction %q", id, c.Caller, c.Direction)
				}
				if c.AnsweredAt.Before(c.ArrivedAt) || c.EndedAt.Before(c.AnsweredAt) || c.Talk() < 150*time.Millisecond {
					t.Errorf("call %s: times out of order: arrived %v answered %v ended %v", id, c.ArrivedAt, c.AnsweredAt, c.EndedAt)
				}
				perLine[c.Line]++
			}
			for _, line := range []string{"12345", "12319", "96310", "12315"} {
				if perLine[line] != 3 {
					t.Errorf("line %s: %d calls, want 3", line, perLine[line])
				}
			}
			if res := uas.Stop(); res.Successful != 12 || res.Failed != 0 {
				t.Errorf("agents' phones: %s", res)
			}
			// Every agent is free again (no wrap-up configured).
			for _, a := range agents {
				st, err := e.presence.Status(context.Background(), a, time.Now())
				if err != nil || st.State != acd.Available {
					t.Errorf("agent %s after the calls: %v %v", a, st.State, err)
				}
			}
		})
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// A caller who hangs up while the agent's phone rings is abandoned (放弃),
// the agent's phone stops ringing, and the agent is free at once.
func TestCallerHangsUpBeforeAnswer(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{WrapUp: time.Minute})
			e.addAgents(t, "2001")
			port := sipptest.FreePort(t)
			e.register(t, transport, port, "2001")
			uas := sipptest.Start(t, "agent_uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", sipT(transport, false), "-d", "5000")
			res := sipptest.Run(t, "caller_cancel.xml", e.addr, "-s", "12345", "-d", "400", "-m", "2", "-r", "1",
				"-i", "127.0.0.1", "-t", sipT(transport, true), "-timeout", "30s")
			if res.Successful != 2 || res.Failed != 0 {
				t.Fatalf("callers: %s", res)
			}
			cs := e.waitCalls(t, 2)
			for id, c := range cs {
				if c.Cause != ticketing.CauseAbandoned || c.Answered() || !c.Missed() {
					t.Errorf("call %s: cause %q answered %v missed %v", id, c.Cause, c.Answered(), c.Missed())
				}
				if w := c.Wait(); w < 300*time.Millisecond || w > 3*time.Second {
					t.Errorf("call %s: wait %v, want about 0.4 s", id, w)
				}
			}
			st, err := e.presence.Status(context.Background(), "2001", time.Now())
			if err != nil || st.State != acd.Available {
				t.Errorf("agent after abandoned calls: %v %v (no wrap-up without a talk)", st.State, err)
			}
			if res := uas.Stop(); res.Successful != 2 {
				t.Errorf("agent's phone: %s", res)
			}
		})
	}
}

// No agent free: the caller waits QueueWait, then hears the fallback (486
// with Retry-After, or a 302 to voicemail); the call is a missed call on
// the callback list.
func TestNoAgentFree(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fallback hotline.Fallback
		scenario string
	}{
		{"busy", hotline.Fallback{Code: 486, RetryAfter: time.Minute}, "caller_noagent.xml"},
		{"unavailable", hotline.Fallback{Code: 480}, "caller_noagent.xml"},
		{"voicemail", hotline.Fallback{Code: 302, Redirect: "sip:voicemail@ivr.example"}, "caller_redirect.xml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{QueueWait: 700 * time.Millisecond, Fallback: tc.fallback})
			e.addAgents(t, "2001") // known, never registered: logged out
			res := sipptest.Run(t, tc.scenario, e.addr, "-s", "12319", "-m", "3", "-r", "10",
				"-i", "127.0.0.1", "-t", "un", "-timeout", "20s")
			if res.Successful != 3 || res.Failed != 0 {
				t.Fatalf("callers: %s", res)
			}
			cs := e.waitCalls(t, 3)
			for id, c := range cs {
				if c.Cause != ticketing.CauseNoAgent || !c.Missed() || c.Line != "12319" {
					t.Errorf("call %s: cause %q missed %v line %q", id, c.Cause, c.Missed(), c.Line)
				}
				if w := c.Wait(); w < 600*time.Millisecond || w > 3*time.Second {
					t.Errorf("call %s: waited %v, want the queue wait", id, w)
				}
			}
			back, err := e.store.Calls(context.Background(), ticketing.CallFilter{From: e.started, To: time.Now().Add(time.Hour), CallbackOnly: true})
			if err != nil || len(back) != 3 {
				t.Fatalf("callback list: %d calls, err %v", len(back), err)
			}
		})
	}
}

// A retransmitted INVITE is one call: absorbed by the transaction, never a
// second offer to an agent or a second line in the log.
func TestRetransmittedInviteIsOneCall(t *testing.T) {
	e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{})
	e.addAgents(t, "2001", "2002")
	port := sipptest.FreePort(t)
	e.register(t, "udp", port, "2001", "2002")
	uas := sipptest.Start(t, "agent_uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "u1", "-d", "1000")
	res := sipptest.Run(t, "caller_retrans.xml", e.addr, "-s", "12345", "-d", "100", "-m", "2", "-r", "5",
		"-i", "127.0.0.1", "-t", "u1", "-timeout", "30s")
	if res.Successful != 2 || res.Failed != 0 || res.Retransmissions < 2 {
		t.Fatalf("callers (want 2 calls with an INVITE sent again each): %s", res)
	}
	cs := e.waitCalls(t, 2)
	for id, c := range cs {
		if c.Cause != ticketing.CauseAnswered {
			t.Errorf("call %s: cause %q", id, c.Cause)
		}
	}
	if res := uas.Stop(); res.Successful != 2 || res.Retransmissions != 0 {
		t.Errorf("agents' phone saw one INVITE per call? %s", res)
	}
}

// sendUDP sends one datagram from a fresh socket (bound to from, if set)
// and returns the first reply, or "" after wait.
func sendUDP(t *testing.T, from, to, msg string, wait time.Duration) string {
	t.Helper()
	laddr, _ := net.ResolveUDPAddr("udp", from)
	raddr, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", laddr, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.ReplaceAll(msg, "\n", "\r\n"))); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 8192)
	n, err := c.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// rawRequest is a request from user@local to ruri; a REGISTER's To is
// the user's own address.
func rawRequest(method, ruri, user string, n int, local string) string {
	to := ruri
	if method == "REGISTER" {
		to = "sip:" + user + "@127.0.0.1"
	}
	return fmt.Sprintf("%s %s SIP/2.0\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-raw-%s-%d;rport\n"+
		"From: <sip:%s@127.0.0.1>;tag=raw%d\n"+
		"To: <%s>\n"+
		"Call-ID: raw-%s-%d@test\n"+
		"CSeq: 1 %s\n"+
		"Max-Forwards: 70\n"+
		"Contact: <sip:%s@%s>\n"+
		"Content-Length: 0\n\n", method, ruri, local, method, n, user, n, to, method, n, method, user, local)
}

// Bad input is refused with the right code and disturbs nothing: garbage,
// an INVITE to a number that is no line, a wrong password, a flood from
// one source (while another source is still served).
func TestBadInput(t *testing.T) {
	flood := rateLimiter{max: 5}
	e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{Limiter: &flood, Trunks: []netip.Prefix{netip.MustParsePrefix("127.0.0.5/32")}})
	e.addAgents(t, "2001")

	// Garbage, and a request with no Via: no answer worth having, no crash.
	for _, junk := range []string{"\x00\x01\x02 hello", "INVITE sip:12345@x SIP/2.0\nContent-Length: 0\n\n", strings.Repeat("A", 4000)} {
		sendUDP(t, "", e.addr, junk, 200*time.Millisecond)
	}
	// A number that is no hotline line, from the trunk: 404.
	if got := sendUDP(t, "127.0.0.5:0", e.addr, rawRequest("INVITE", "sip:110@127.0.0.1", "13800138000", 1, "127.0.0.5:9"), 2*time.Second); !strings.HasPrefix(got, "SIP/2.0 404") {
		t.Errorf("INVITE to 110: %q", firstLine(got))
	}
	// A wrong password, and an unknown agent: 403 after the challenge.
	bad := sipptest.InjectionFile(t, []string{"2001", "wrong"}, []string{"9999", "pw-9999"})
	if res := sipptest.Run(t, "register_reject.xml", e.addr, "-inf", bad, "-m", "2", "-i", "127.0.0.1", "-t", "u1", "-timeout", "20s"); res.Successful != 2 {
		t.Errorf("bad registrations: %s", res)
	}
	if st, err := e.presence.Status(context.Background(), "2001", time.Now()); err == nil && st.State != acd.LoggedOut {
		t.Errorf("agent 2001 after a wrong password: %v", st.State)
	}

	// A flood from 127.0.0.3: past its allowance every request is 503 with Retry-After.
	flood.reset()
	refused := 0
	for i := range 20 {
		got := sendUDP(t, "127.0.0.3:0", e.addr, rawRequest("REGISTER", "sip:127.0.0.1", "2001", 100+i, "127.0.0.3:9"), time.Second)
		if strings.HasPrefix(got, "SIP/2.0 503") {
			refused++
			if !strings.Contains(got, "Retry-After:") {
				t.Errorf("503 without Retry-After: %q", got)
			}
		}
	}
	if refused != 15 {
		t.Errorf("%d of 20 flooding requests refused, want 15", refused)
	}
	// A carrier's trunk brings everyone's calls from one address: never limited.
	for i := range 20 {
		if got := sendUDP(t, "127.0.0.5:0", e.addr, rawRequest("REGISTER", "sip:127.0.0.1", "2001", 300+i, "127.0.0.5:9"), time.Second); !strings.HasPrefix(got, "SIP/2.0 401") {
			t.Fatalf("request %d from the trunk: %q", i, firstLine(got))
		}
	}
	// ... while another source is still challenged as usual.
	if got := sendUDP(t, "127.0.0.4:0", e.addr, rawRequest("REGISTER", "sip:127.0.0.1", "2001", 200, "127.0.0.4:9"), time.Second); !strings.HasPrefix(got, "SIP/2.0 401") {
		t.Errorf("REGISTER from another source during the flood: %q", firstLine(got))
	}
	// And after all that, a call still goes through.
	port := sipptest.FreePort(t)
	flood.reset()
	e.register(t, "udp", port, "2001")
	sipptest.Start(t, "agent_uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "u1")
	if res := sipptest.Run(t, "caller_uac.xml", e.addr, "-s", "12345", "-m", "1", "-i", "127.0.0.5", "-t", "u1", "-timeout", "20s"); res.Successful != 1 {
		t.Errorf("call after bad input: %s", res)
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\r'); i >= 0 {
		return s[:i]
	}
	return s
}

// rateLimiter admits max requests per source address.
type rateLimiter struct {
	mu   sync.Mutex
	max  int
	seen map[string]int
}

func (l *rateLimiter) reset() { l.mu.Lock(); l.seen = nil; l.mu.Unlock() }

func (l *rateLimiter) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]int{}
	}
	l.seen[key]++
	return l.seen[key] <= l.max, 30 * time.Second, nil
}

// A text to a hotline number (an SMS gateway's MESSAGE) becomes one ticket
// on the sms channel, answered 202, and the ticket number comes back by
// MESSAGE.
func TestMessageBecomesTicket(t *testing.T) {
	e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{})
	res := sipptest.Run(t, "message_uac.xml", e.addr, "-oocsf", sipptest.Scenario("message_ticket_uas.xml"),
		"-s", "12345", "-d", "1500", "-m", "2", "-r", "5", "-i", "127.0.0.1", "-t", "u1", "-timeout", "20s",
		"-set", "text", "和平路12号门口的路灯坏了，晚上很黑")
	if res.Successful != 2 || res.Failed != 0 || res.AutoAnswered != 2 {
		t.Fatalf("gateway: %s", res)
	}
	ts, err := e.store.List(context.Background(), ticketing.ListFilter{Channel: ticketing.ChannelSMS})
	if err != nil || len(ts) != 2 {
		t.Fatalf("%d sms tickets, err %v", len(ts), err)
	}
	for _, tk := range ts {
		if tk.Line != "12345" || tk.Reporter.Phone != "+8613800138000" || !strings.Contains(tk.Text, "路灯坏了") {
			t.Errorf("ticket %s: line %q phone %q text %q", tk.Number, tk.Line, tk.Reporter.Phone, tk.Text)
		}
	}
}

// Redirect mode (a PBX in front): the INVITE is answered 302 with the
// chosen agent's contact; the arrival is logged, the PBX reports the rest.
func TestRedirectMode(t *testing.T) {
	e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{Redirect: true, RingTimeout: time.Second})
	e.addAgents(t, "2001")
	port := sipptest.FreePort(t)
	e.register(t, "udp", port, "2001")
	res := sipptest.Run(t, "caller_redirect.xml", e.addr, "-s", "12345", "-m", "1", "-i", "127.0.0.1", "-t", "u1", "-timeout", "20s")
	if res.Successful != 1 {
		t.Fatalf("caller: %s", res)
	}
	cs := e.calls(t)
	if len(cs) != 1 {
		t.Fatalf("%d calls logged", len(cs))
	}
	st, err := e.presence.Status(context.Background(), "2001", time.Now())
	if err != nil || st.State != acd.WrapUp {
		t.Fatalf("agent after a redirected call: %v %v (held while the PBX rings them)", st.State, err)
	}
}

// SIP over TLS when certificates are configured: an OPTIONS ping answers.
func TestTLS(t *testing.T) {
	e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{})
	cert := selfSigned(t)
	a, err := e.sip.ListenTLS("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", a.String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // our own test certificate
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	msg := strings.ReplaceAll(rawRequest("OPTIONS", "sip:12345@127.0.0.1", "13800138000", 1, local), "SIP/2.0/UDP", "SIP/2.0/TLS")
	if _, err := conn.Write([]byte(strings.ReplaceAll(msg, "\n", "\r\n"))); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
		t.Fatalf("OPTIONS over TLS: %q %v", buf[:n], err)
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(cryptorand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// An answered call whose BYE never comes (a phone lost power) is ended
// after MaxCall, and its agent freed for the next caller.
func TestStaleCallIsSwept(t *testing.T) {
	e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{MaxCall: time.Minute})
	e.addAgents(t, "2001")
	port := sipptest.FreePort(t)
	e.register(t, "udp", port, "2001")
	sipptest.Start(t, "agent_uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "u1")
	sipptest.Start(t, "caller_uac.xml", e.addr, "-s", "12345", "-d", "60000", "-m", "1", "-i", "127.0.0.1", "-t", "u1")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st, _ := e.presence.Status(context.Background(), "2001", time.Now()); st.State == acd.OnCall && answeredCalls(t, e) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the call was not answered")
		}
	}
	e.sip.SweepOnce(time.Now().Add(30 * time.Second)) // not stale yet
	if st, _ := e.presence.Status(context.Background(), "2001", time.Now()); st.State != acd.OnCall {
		t.Fatalf("agent freed too early: %v", st.State)
	}
	e.sip.SweepOnce(time.Now().Add(2 * time.Minute))
	for _, c := range e.calls(t) {
		if !c.Ended() || c.Cause != ticketing.CauseAnswered {
			t.Fatalf("swept call: ended %v cause %q", c.Ended(), c.Cause)
		}
	}
	if st, _ := e.presence.Status(context.Background(), "2001", time.Now()); st.State != acd.Available {
		t.Fatalf("agent after the sweep: %v", st.State)
	}
}

func answeredCalls(t *testing.T, e *sipEnv) int {
	n := 0
	for _, c := range e.calls(t) {
		if c.Answered() {
			n++
		}
	}
	return n
}

// Past MaxCallRate a new call is answered 503 at once, before the call log
// or the ACD see it: with Retry-After: 1 to a phone, without to a trunk
// (which would then send nothing for that long). The calls admitted are
// answered and logged as ever, and only they are in the log. Over UDP the
// socket refuses them (shed.go), over TCP the handler; either 503 carries
// a To tag, which the caller's ACK repeats.
func TestCallRateSheds(t *testing.T) {
	trunk := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	for _, c := range []struct {
		name, transport string
		trunks          []netip.Prefix
	}{{"phone", "u1", nil}, {"trunk", "u1", trunk}, {"phone_tcp", "t1", nil}} {
		trunks := c.trunks
		t.Run(c.name, func(t *testing.T) {
			e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{MaxCallRate: 10, Trunks: trunks})
			agents := []string{"2001", "2002", "2003", "2004"}
			e.addAgents(t, agents...)
			port := sipptest.FreePort(t)
			e.register(t, "udp", port, agents...)
			sipptest.Start(t, "agent_uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "u1")

			// 40 calls at 100 a second: 0.4 s, in which two at once and then
			// 10 a second are admitted, about six; however slow sipp is to
			// send them, no more than the rate allows over the time it took.
			const calls = 40
			began := time.Now()
			res := sipptest.Run(t, "caller_shed.xml", e.addr, "-s", "12345", "-d", "50", "-m", strconv.Itoa(calls), "-r", "100",
				"-i", "127.0.0.1", "-t", c.transport, "-timeout", "30s")
			took := time.Since(began)
			if res.Successful != calls || res.Failed != 0 {
				t.Fatalf("callers: %s", res)
			}
			cs := e.settledCalls(t)
			admitted := len(cs)
			if most := 3 + int(10*took.Seconds()); admitted < 2 || admitted > most {
				t.Fatalf("%d of %d calls admitted at 10 a second over %v; want 2 to %d", admitted, calls, took, most)
			}
			for id, c := range cs {
				if c.Cause != ticketing.CauseAnswered {
					t.Errorf("call %s: cause %q; every admitted call is answered", id, c.Cause)
				}
			}
			// Every other call was refused, each by 503 (counted by Call-ID:
			// a 503 sent again counts once).
			trace, err := os.ReadFile(filepath.Join(res.Dir, "messages.log"))
			if err != nil {
				t.Fatal(err)
			}
			refused := map[string]bool{}
			for _, msg := range strings.Split(string(trace), "\n\n-----") {
				if !strings.Contains(msg, "SIP/2.0 503 Service Unavailable") {
					continue
				}
				if got, want := strings.Contains(msg, "Retry-After: 1"), trunks == nil; got != want {
					t.Errorf("a 503 with Retry-After %v; want %v", got, want)
				}
				for _, line := range strings.Split(msg, "\n") {
					line = strings.TrimSpace(line)
					if id, ok := strings.CutPrefix(line, "Call-ID: "); ok {
						refused[id] = true
					}
					if strings.HasPrefix(line, "To: ") && !strings.Contains(line, ";tag=") {
						t.Errorf("a 503 without a To tag: %s", line)
					}
				}
			}
			if len(refused) != calls-admitted {
				t.Errorf("%d calls refused 503 and %d admitted, of %d", len(refused), admitted, calls)
			}
			// Each refusal counted once (a 503 sent again counts again), and
			// the callers' ACKs of the 503s absorbed, not taken for strays.
			if got := e.metric(t, "yihao_sip_refused_total", "reason", "overload"); got < float64(len(refused)) {
				t.Errorf("refused{overload} = %v; %d calls were refused", got, len(refused))
			}
			if got := e.metric(t, "yihao_sip_refused_total", "reason", "no_dialog"); got != 0 {
				t.Errorf("refused{no_dialog} = %v: the ACKs of the 503s reached the handlers", got)
			}
			t.Logf("%d of %d calls admitted over %v", admitted, calls, took)
		})
	}
}

// settledCalls waits until the call log stops changing and every call in
// it has ended, and returns it.
func (e *sipEnv) settledCalls(t *testing.T) map[string]*ticketing.Call {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	last := -1
	for {
		cs := e.calls(t)
		ended := endedCalls(cs)
		if ended == len(cs) && len(cs) == last {
			return cs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the call log did not settle: %d calls, %d ended", len(cs), ended)
		}
		last = len(cs)
		time.Sleep(200 * time.Millisecond)
	}
}

// The waiting line is bounded: with MaxQueued callers waiting already, a
// new caller hears the fallback at once instead of joining, and is on the
// callback list like those who waited.
func TestQueueIsBounded(t *testing.T) {
	e := newSIPEnv(t, sqliteStore(t), nil, nil, hotline.SIPConfig{QueueWait: 6 * time.Second, MaxQueued: 2,
		Fallback: hotline.Fallback{Code: 486, RetryAfter: time.Minute}})
	e.addAgents(t, "2001") // known, never registered: nobody answers
	res := sipptest.Run(t, "caller_noagent.xml", e.addr, "-s", "12345", "-m", "4", "-r", "20",
		"-i", "127.0.0.1", "-t", "un", "-timeout", "30s")
	if res.Successful != 4 || res.Failed != 0 {
		t.Fatalf("callers: %s", res)
	}
	cs := e.waitCalls(t, 4)
	waited, turnedAway := 0, 0
	for id, c := range cs {
		if c.Cause != ticketing.CauseNoAgent || !c.Missed() {
			t.Errorf("call %s: cause %q missed %v", id, c.Cause, c.Missed())
		}
		// Those in line waited out the queue wait; the others were
		// answered as soon as they came.
		switch w := c.Wait(); {
		case w >= 5*time.Second:
			waited++
		case w < 3*time.Second:
			turnedAway++
		default:
			t.Errorf("call %s waited %v: neither the queue wait nor at once", id, w)
		}
	}
	if waited != 2 || turnedAway != 2 {
		t.Errorf("%d callers waited in line and %d were turned away at once; want 2 and 2", waited, turnedAway)
	}
}
