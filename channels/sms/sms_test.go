package sms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/sms"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/sqlite"
)

// gateway is an SMS platform on loopback speaking HTTPGateway's protocol:
// it checks each request's signature, keeps what it took, and can be down.
type gateway struct {
	t      testing.TB
	secret string
	mu     sync.Mutex
	down   int // answer 503 while > 0
	refuse bool
	texts  []sms.GatewayRequest
	tries  int
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req sms.GatewayRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tries++
	if req.Sign != sms.GatewaySign(g.secret, req.Account, req.Mobile, req.Content, req.Timestamp) {
		g.t.Errorf("gateway: bad signature on %+v", req)
		_ = json.NewEncoder(w).Encode(map[string]string{"code": "bad_sign", "message": "signature"})
		return
	}
	switch {
	case g.down > 0:
		http.Error(w, "down", http.StatusServiceUnavailable)
	case g.refuse:
		_ = json.NewEncoder(w).Encode(map[string]string{"code": "invalid_mobile", "message": "no such number"})
	default:
		g.texts = append(g.texts, req)
		_ = json.NewEncoder(w).Encode(map[string]string{"code": "0", "msgid": "m1"})
	}
}

func (g *gateway) sent() []sms.GatewayRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]sms.GatewayRequest(nil), g.texts...)
}

func (g *gateway) set(f func(*gateway)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g)
}

// router files every report as a city-appearance case, handled in 3 days.
type router struct{}

func (router) Route(_ context.Context, r ticketing.Report) (ticketing.Assignment, error) {
	return ticketing.Assignment{Category: "lights", CategoryName: "路灯", Department: "cgw", DepartmentName: "城管委",
		Deadline: r.ReceivedAt.Add(72 * time.Hour), AutoDispatch: true, Rule: "test", Reason: "测试", Priority: priority(r.Text)}, nil
}

// priority reads the test's reports: an urgent one says so.
func priority(text string) ticketing.Priority {
	if strings.Contains(text, "紧急") {
		return ticketing.PriorityUrgent
	}
	return ticketing.PriorityNormal
}

type env struct {
	gwURL string
	ctx   context.Context
	clock *clock
	store *sqlite.Store
	svc   *ticketing.Service
	gw    *gateway
	n     *sms.Notifier
	r     *sms.Replies
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var cst = time.FixedZone("CST", 8*3600)

func newEnv(t testing.TB, at time.Time) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "yihao.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{now: at}
	svc := ticketing.NewService(st, router{}, ticketing.WithClock(c.Now), ticketing.WithLocation(cst),
		ticketing.WithTrackKey([]byte(strings.Repeat("k", ticketing.MinTrackKey))))
	g := &gateway{t: t, secret: "gw-secret"}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	hg := &sms.HTTPGateway{URL: srv.URL, Account: "yihao", Secret: g.secret, Now: c.Now}
	n := sms.NewNotifier(sms.Config{Sign: "北京12345", TrackURL: "https://12345.example.gov.cn/", Location: cst, Now: c.Now,
		QuietFrom: 21 * time.Hour, QuietUntil: 8 * time.Hour}, st, svc, st, hg, nil)
	if err := n.Register(ctx); err != nil {
		t.Fatal(err)
	}
	return &env{gwURL: srv.URL, ctx: ctx, clock: c, store: st, svc: svc, gw: g, n: n, r: sms.NewReplies(lister{st, svc}, st, 0, c.Now, nil)}
}

type lister struct {
	*sqlite.Store
	svc *ticketing.Service
}

func (l lister) Events(ctx context.Context, t *ticketing.Ticket) ([]ticketing.Event, error) {
	return l.svc.Events(ctx, t)
}

func (l lister) Act(ctx context.Context, number string, act func(*ticketing.Ticket, time.Time) error) (*ticketing.Ticket, error) {
	return l.svc.Act(ctx, number, act)
}

// call files a phone caller's report.
func (e *env) call(t *testing.T, id, phone string, p ticketing.Priority) *ticketing.Ticket {
	t.Helper()
	text := "和平路14号路灯不亮"
	if p == ticketing.PriorityUrgent {
		text = "紧急：和平路14号井盖丢了"
	}
	tk, _, err := e.svc.Submit(e.ctx, ticketing.Report{Channel: ticketing.ChannelPhone, ExternalID: id, Text: text,
		Reporter: ticketing.Contact{Phone: phone}, ReceivedAt: e.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// drain runs the notifier until nothing is due now.
func (e *env) drain(t *testing.T) {
	t.Helper()
	for range 100 {
		n, err := e.n.Step(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("the notifier never ran dry")
}

// close takes a ticket to 结案.
func (e *env) close(t *testing.T, number string) {
	t.Helper()
	for _, act := range []func(*ticketing.Ticket, time.Time) error{
		func(tk *ticketing.Ticket, now time.Time) error {
			if !tk.Can(ticketing.ActAccept) {
				return nil // accepted already
			}
			return tk.Accept(now, "liaison:cgw")
		},
		func(tk *ticketing.Ticket, now time.Time) error {
			return tk.ReportHandled(now, "liaison:cgw", "已更换灯泡")
		},
		func(tk *ticketing.Ticket, now time.Time) error { return tk.Verify(now, "dispatcher", true, "") },
	} {
		if _, err := e.svc.Act(e.ctx, number, act); err != nil {
			t.Fatal(err)
		}
	}
}

var link = regexp.MustCompile(`/t/([0-9]{14})\?token=([a-z2-7]{16})`)

// A phone caller hears back twice: the filed text with the number and a
// tracking link that opens the ticket, and the handled one asking for a
// rating; 不满意 by reply lands on the ticket and reopens it, and the
// reopened ticket's new end is texted again.
func TestCallerHearsBack(t *testing.T) {
	e := newEnv(t, time.Date(2026, 12, 7, 10, 0, 0, 0, cst))
	tk := e.call(t, "c1", "138 0013 8000", ticketing.PriorityNormal)
	e.drain(t)
	got := e.gw.sent()
	if len(got) != 1 || got[0].Mobile != "13800138000" || !strings.HasPrefix(got[0].Content, "【北京12345】您反映的问题已受理，工单号"+tk.Number) ||
		!strings.HasSuffix(got[0].Content, "回复TD退订") {
		t.Fatalf("filed text: %+v", got)
	}
	m := link.FindStringSubmatch(got[0].Content)
	if m == nil || m[1] != tk.Number {
		t.Fatalf("no tracking link for %s in %q", tk.Number, got[0].Content)
	}
	if _, _, err := e.svc.Track(e.ctx, m[1], m[2]); err != nil {
		t.Fatalf("the text's link does not open the ticket: %v", err)
	}
	// A redelivered change (another dispatch note, a lease run out) sends nothing twice.
	if _, err := e.svc.Act(e.ctx, tk.Number, func(t *ticketing.Ticket, now time.Time) error { return t.Accept(now, "liaison:cgw") }); err != nil {
		t.Fatal(err)
	}
	e.drain(t)
	if n := len(e.gw.sent()); n != 1 {
		t.Fatalf("%d texts after a change citizens are not told of", n)
	}

	// A "3" with no rating asked is a report, not a rating.
	if _, ok, err := e.r.Answer(e.ctx, "k1", "+8613800138000", "3"); ok || err != nil {
		t.Fatalf("a rating before any was asked: ok %v, %v", ok, err)
	}
	e.close(t, tk.Number)
	e.drain(t)
	got = e.gw.sent()
	if len(got) != 2 || !strings.Contains(got[1].Content, "您的工单"+tk.Number+"已办结。请回复数字评价：1满意 2基本满意 3不满意。") {
		t.Fatalf("handled text: %+v", got)
	}
	answer, ok, err := e.r.Answer(e.ctx, "k2", "+8613800138000", " 不满意！")
	if err != nil || !ok || !strings.Contains(answer, "已重新办理") {
		t.Fatalf("不满意: %q, %v, %v", answer, ok, err)
	}
	after, err := e.svc.Ticket(e.ctx, tk.Number)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != ticketing.StatusRegistered {
		t.Fatalf("after 不满意 the ticket is %s, want reopened (registered)", after.Status)
	}
	evs, _ := e.svc.Events(e.ctx, after)
	var evaluated, reopened bool
	for _, ev := range evs {
		evaluated = evaluated || (ev.Type == ticketing.EventEvaluated && ev.Actor == "citizen:sms")
		reopened = reopened || (ev.Type == ticketing.EventReopened && ev.Note == "市民短信回访不满意")
	}
	if !evaluated || !reopened {
		t.Fatalf("log: evaluated %v, reopened %v", evaluated, reopened)
	}
	// The rating was taken: a second answer is a report again.
	if _, ok, _ := e.r.Answer(e.ctx, "k3", "+8613800138000", "1"); ok {
		t.Error("a second rating was taken")
	}

	// Handled again: told again, and this time satisfied.
	for _, act := range []func(*ticketing.Ticket, time.Time) error{
		func(tk *ticketing.Ticket, now time.Time) error {
			return tk.Dispatch(now, "dispatcher", ticketing.Assignment{Category: "lights", Department: "cgw", Deadline: now.Add(72 * time.Hour)}, "")
		},
	} {
		if _, err := e.svc.Act(e.ctx, tk.Number, act); err != nil {
			t.Fatal(err)
		}
	}
	e.close(t, tk.Number)
	e.drain(t)
	if got := e.gw.sent(); len(got) != 3 || !strings.Contains(got[2].Content, "已办结") {
		t.Fatalf("the reopened ticket's end: %+v", got)
	}
	if answer, ok, err := e.r.Answer(e.ctx, "k4", "+8613800138000", "1"); err != nil || !ok || !strings.Contains(answer, "感谢") {
		t.Fatalf("满意: %q, %v, %v", answer, ok, err)
	}
	if final, _ := e.svc.Ticket(e.ctx, tk.Number); final.Status != ticketing.StatusClosed || final.Evaluation == nil ||
		final.Evaluation.Satisfaction != ticketing.Satisfied {
		t.Fatalf("after 满意: %s, %+v", final.Status, final.Evaluation)
	}
	// The rating changed the closed ticket again: no second handled text.
	e.drain(t)
	if n := len(e.gw.sent()); n != 3 {
		t.Errorf("%d texts after the rating, want still 3", n)
	}
}

// A gateway down for half an hour delays the texts and loses none, and
// sends none twice; one that refuses a text for good gives it up at once.
func TestGatewayDown(t *testing.T) {
	e := newEnv(t, time.Date(2026, 12, 7, 10, 0, 0, 0, cst))
	e.gw.set(func(g *gateway) { g.down = 1 })
	var want []string
	for i, phone := range []string{"13800138001", "13800138002", "13800138003"} {
		want = append(want, e.call(t, "d"+phone, phone, ticketing.PriorityNormal).Number)
		_ = i
	}
	for range 30 { // a minute at a time
		e.drain(t)
		e.clock.add(time.Minute)
	}
	if n := len(e.gw.sent()); n != 0 {
		t.Fatalf("%d texts taken by a gateway that is down", n)
	}
	if st, err := e.store.DeliveryStats(e.ctx, "sms"); err != nil || st.Pending != 3 || st.Dead != 0 {
		t.Fatalf("queue while down: %+v, %v", st, err)
	}
	e.gw.set(func(g *gateway) { g.down = 0 })
	for range 6 {
		e.clock.add(time.Minute)
		e.drain(t)
	}
	got := e.gw.sent()
	if len(got) != 3 {
		t.Fatalf("after the gateway came back: %d texts, want 3", len(got))
	}
	for i, n := range want {
		if !strings.Contains(got[i].Content, n) {
			t.Errorf("text %d is %q, want ticket %s", i, got[i].Content, n)
		}
	}
	if st, _ := e.store.DeliveryStats(e.ctx, "sms"); st.Pending != 0 || st.Dead != 0 {
		t.Errorf("queue after: %+v", st)
	}

	e.gw.set(func(g *gateway) { g.refuse = true })
	e.call(t, "bad", "13800138009", ticketing.PriorityNormal)
	e.drain(t)
	if st, _ := e.store.DeliveryStats(e.ctx, "sms"); st.Dead != 1 || st.Pending != 0 {
		t.Errorf("a refused text: %+v, want it dead", st)
	}
}

// At night only an urgent ticket's text goes; the others wait for 08:00.
// TD stops every later text to that number, and only to it.
func TestNightAndOptOut(t *testing.T) {
	e := newEnv(t, time.Date(2026, 12, 7, 23, 30, 0, 0, cst))
	normal := e.call(t, "n1", "13800138011", ticketing.PriorityNormal)
	urgent := e.call(t, "u1", "13800138012", ticketing.PriorityUrgent)
	e.drain(t)
	got := e.gw.sent()
	if len(got) != 1 || !strings.Contains(got[0].Content, urgent.Number) {
		t.Fatalf("at 23:30: %+v, want the urgent ticket's text only", got)
	}
	e.clock.add(8 * time.Hour) // 07:30
	e.drain(t)
	if n := len(e.gw.sent()); n != 1 {
		t.Fatalf("at 07:30: %d texts", n)
	}
	e.clock.add(31 * time.Minute) // 08:01
	e.drain(t)
	if got := e.gw.sent(); len(got) != 2 || !strings.Contains(got[1].Content, normal.Number) {
		t.Fatalf("at 08:01: %+v", got)
	}

	answer, ok, err := e.r.Answer(e.ctx, "k5", "+8613800138011", "ＴＤ")
	if err != nil || !ok || !strings.Contains(answer, "退订") {
		t.Fatalf("TD: %q, %v, %v", answer, ok, err)
	}
	e.close(t, normal.Number)
	e.close(t, urgent.Number)
	e.drain(t)
	got = e.gw.sent()
	if len(got) != 3 || !strings.Contains(got[2].Content, urgent.Number) {
		t.Fatalf("after TD: %+v, want only the other citizen's handled text", got)
	}
}

func TestParseReply(t *testing.T) {
	for text, want := range map[string]sms.Reply{
		"1": sms.ReplySatisfied, "１": sms.ReplySatisfied, "满意": sms.ReplySatisfied, " 满意。": sms.ReplySatisfied,
		"2": sms.ReplyBasic, "基本满意": sms.ReplyBasic, "3": sms.ReplyUnsatisfied, "不满意!": sms.ReplyUnsatisfied,
		"td": sms.ReplyOptOut, "退订": sms.ReplyOptOut, "路灯坏了": sms.ReplyNone, "13": sms.ReplyNone, "": sms.ReplyNone,
	} {
		if got := sms.ParseReply(text); got != want {
			t.Errorf("ParseReply(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestMobile(t *testing.T) {
	for n, want := range map[string]bool{"+8613800138000": true, "+861065123456": false, "+85291234567": false, "13800138000": false, "": false} {
		if sms.Mobile(n) != want {
			t.Errorf("Mobile(%q) = %v", n, !want)
		}
	}
}

// The HTTP platform's pushes of citizens' texts: a report becomes one
// ticket however often it is pushed, TD is answered through the gateway
// and opts out, and a push not signed, or stale, changes nothing.
func TestInbound(t *testing.T) {
	e := newEnv(t, time.Now().Truncate(time.Second))
	hg := &sms.HTTPGateway{URL: e.gwURL, Account: "yihao", Secret: e.gw.secret}
	in := &sms.Inbound{Account: "yihao", Secret: "in-secret", Replies: e.r, Tickets: e.svc, Gateway: hg, Now: e.clock.Now}
	srv := httptest.NewServer(in)
	defer srv.Close()
	push := func(mobile, content, msgid string, at time.Time, secret string) (int, map[string]string) {
		t.Helper()
		ts := strconv.FormatInt(at.Unix(), 10)
		b, _ := json.Marshal(sms.InboundRequest{Account: "yihao", Mobile: mobile, Content: content, Timestamp: ts, MsgID: msgid,
			Sign: sms.GatewaySign(secret, "yihao", mobile, content, ts, msgid)})
		resp, err := http.Post(srv.URL, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	now := e.clock.Now()
	code, out := push("13800138021", "和平路14号路灯不亮", "m-1", now, "in-secret")
	if code != http.StatusOK || out["code"] != "0" || out["number"] == "" {
		t.Fatalf("a report: %d %v", code, out)
	}
	if code, again := push("13800138021", "和平路14号路灯不亮", "m-1", now, "in-secret"); code != http.StatusOK || again["number"] != out["number"] {
		t.Fatalf("the same push again: %d %v, want ticket %s", code, again, out["number"])
	}
	tk, err := e.svc.Ticket(e.ctx, out["number"])
	if err != nil || tk.Channel != ticketing.ChannelSMS || tk.Reporter.Phone != "+8613800138021" {
		t.Fatalf("the text's ticket: %+v, %v", tk, err)
	}
	for name, c := range map[string]struct {
		at     time.Time
		secret string
	}{"unsigned": {now, "wrong"}, "stale": {now.Add(-10 * time.Minute), "in-secret"}} {
		if code, out := push("13800138022", "井盖丢了", "m-"+name, c.at, c.secret); code != http.StatusUnauthorized {
			t.Errorf("%s push: %d %v", name, code, out)
		}
	}
	if ts, _ := e.store.List(e.ctx, ticketing.ListFilter{Phones: []string{"+8613800138022"}}); len(ts) != 0 {
		t.Errorf("a refused push made %d tickets", len(ts))
	}
	if code, out := push("13800138021", "TD", "m-2", now, "in-secret"); code != http.StatusOK || out["number"] != "" {
		t.Fatalf("TD: %d %v", code, out)
	}
	// The answer goes after the acknowledgement.
	for deadline := time.Now().Add(5 * time.Second); len(e.gw.sent()) == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := e.gw.sent(); len(got) != 1 || got[0].Mobile != "13800138021" || !strings.Contains(got[0].Content, "已退订") {
		t.Fatalf("the answer to TD: %+v", got)
	}
	if out, err := e.store.OptedOut(e.ctx, "+8613800138021"); err != nil || !out {
		t.Errorf("TD by the platform did not opt out: %v %v", out, err)
	}
	// The platform pushes the same TD again (our acknowledgement was lost):
	// the same answer, no ticket made of it.
	if code, out := push("13800138021", "TD", "m-2", now, "in-secret"); code != http.StatusOK || out["number"] != "" {
		t.Fatalf("TD again: %d %v", code, out)
	}
}

// BenchmarkTexts: filed texts sent per second from the outbox through the
// HTTP gateway on loopback, on the embedded store: each one reads the
// ticket, its log and the opt-outs, posts, notes the text on the ticket
// and marks the delivery.
func BenchmarkTexts(b *testing.B) {
	e := newEnv(b, time.Date(2026, 12, 7, 10, 0, 0, 0, cst))
	for i := range b.N {
		if _, _, err := e.svc.Submit(e.ctx, ticketing.Report{Channel: ticketing.ChannelPhone, ExternalID: "b" + strconv.Itoa(i),
			Text: "和平路14号路灯不亮", Reporter: ticketing.Contact{Phone: "+86138" + fmt.Sprintf("%08d", i)}, ReceivedAt: e.clock.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for {
		n, err := e.n.Step(e.ctx)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	b.StopTimer()
	if got := len(e.gw.sent()); got != b.N {
		b.Fatalf("%d texts, want %d", got, b.N)
	}
}

// A report merged into another (a duplicate, a 督办 case) hears, once,
// how the case it follows ended.
func TestFollowerHearsTheEnd(t *testing.T) {
	e := newEnv(t, time.Date(2026, 12, 7, 10, 0, 0, 0, cst))
	master := e.call(t, "m", "13800138031", ticketing.PriorityNormal)
	follower := e.call(t, "f", "13800138032", ticketing.PriorityNormal)
	if _, err := e.svc.Act(e.ctx, follower.Number, func(tk *ticketing.Ticket, now time.Time) error {
		m, err := e.store.ByNumber(e.ctx, master.Number)
		if err != nil {
			return err
		}
		return tk.MergeInto(now, "dispatcher", m)
	}); err != nil {
		t.Fatal(err)
	}
	e.close(t, master.Number)
	e.drain(t)
	var got []string
	for _, s := range e.gw.sent() {
		if s.Mobile == "13800138032" {
			got = append(got, s.Content)
		}
	}
	if len(got) != 2 || !strings.Contains(got[1], "已并入工单"+master.Number+"一并办理，现已办结") || !strings.Contains(got[1], follower.Number) {
		t.Fatalf("the follower's texts: %q", got)
	}
}

// Two tickets await a rating: a reply rates the one whose request came
// last, whichever was received first; the same reply sent again by the
// gateway is answered again and changes nothing more (no report of "3").
func TestReplyRatesTheLastAsked(t *testing.T) {
	e := newEnv(t, time.Date(2026, 12, 7, 10, 0, 0, 0, cst))
	older := e.call(t, "o", "13800138041", ticketing.PriorityNormal)
	e.clock.add(time.Hour)
	newer := e.call(t, "n", "13800138041", ticketing.PriorityNormal)
	e.close(t, newer.Number) // the later report is handled first
	e.drain(t)
	e.clock.add(time.Hour)
	e.close(t, older.Number) // the earlier one last: its request is the latest
	e.drain(t)
	answer, ok, err := e.r.Answer(e.ctx, "gw-1", "+8613800138041", "3")
	if err != nil || !ok || !strings.Contains(answer, older.Number) {
		t.Fatalf("the reply: %q, %v, %v; want it to rate %s", answer, ok, err, older.Number)
	}
	if tk, _ := e.svc.Ticket(e.ctx, newer.Number); tk.Evaluation != nil {
		t.Errorf("the other ticket was rated: %+v", tk.Evaluation)
	}
	again, ok, err := e.r.Answer(e.ctx, "gw-1", "+8613800138041", "3")
	if err != nil || !ok || again != answer {
		t.Errorf("the same reply again: %q, %v, %v", again, ok, err)
	}
	if tk, _ := e.svc.Ticket(e.ctx, newer.Number); tk.Evaluation != nil {
		t.Errorf("the repeat rated the other ticket: %+v", tk.Evaluation)
	}
}
