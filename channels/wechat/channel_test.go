package wechat_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/wechat"
	"github.com/yihao-city/yihao/channels/wechat/wechattest"
	"github.com/yihao-city/yihao/knowledge"
	"github.com/yihao-city/yihao/media"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/sqlite"
)

type triage struct{}

func (triage) Route(context.Context, ticketing.Report) (ticketing.Assignment, error) {
	return ticketing.Assignment{Priority: ticketing.PriorityNormal, Reason: "test"}, nil
}

// channelEnv is the WeChat door over a real store, as WeChat's servers
// (the harness) and WeChat's API (the fake) see it.
type channelEnv struct {
	acct    wechattest.Account
	api     *wechattest.FakeAPI
	wx      *wechat.API
	store   ticketing.Store
	svc     *ticketing.Service
	ratings *wechat.MemoryConversations
	kb      *knowledge.Index // with envOpts.knowledge
	ch      *wechat.Channel
	url     string

	mu      sync.Mutex
	running int // handlers under way, answered or not
}

// envOpts varies the env: what stands in front of the ticket service, the
// channel's settings, the server's handler deadline and the log.
type envOpts struct {
	tickets        func(*ticketing.Service) wechat.Tickets
	cfg            wechat.ChannelConfig
	handlerTimeout time.Duration
	log            *slog.Logger
	knowledge      bool // answer from a knowledge base following the store
}

func newChannelEnv(t *testing.T, opts ...envOpts) *channelEnv {
	t.Helper()
	var o envOpts
	if len(opts) > 0 {
		o = opts[0]
	}
	dir := t.TempDir()
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "yihao.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	photos, err := media.NewDisk(filepath.Join(dir, "media"))
	if err != nil {
		t.Fatal(err)
	}
	acct := wechattest.NewAccount()
	fake := wechattest.NewFakeAPI(t, acct.AppID, "secret")
	api, err := wechat.NewAPI(wechat.APIConfig{AppID: acct.AppID, AppSecret: "secret", Base: fake.URL}, &wechat.MemoryTokenCache{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := ticketing.NewService(store, triage{})
	var tickets wechat.Tickets = svc
	if o.tickets != nil {
		tickets = o.tickets(svc)
	}
	log := o.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ratings := wechat.NewMemoryConversations(nil)
	cfg := o.cfg
	cfg.Sender = api
	parts := wechat.ChannelParts{Tickets: tickets, Finder: store, Seen: wechat.NewMemorySeen(time.Hour, nil),
		Conversations: wechat.NewMemoryConversations(nil), Ratings: ratings, Media: api, Photos: photos, Log: log}
	var kb *knowledge.Index
	if o.knowledge {
		an, err := knowledge.NewAnalyzer(nil)
		if err != nil {
			t.Fatal(err)
		}
		if kb, err = knowledge.Open(dir, an); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = kb.Close() })
		parts.Knowledge = kb
	}
	ch := wechat.NewChannel(cfg, parts)
	e := &channelEnv{acct: acct, api: fake, wx: api, store: store, svc: svc, ratings: ratings, kb: kb, ch: ch}
	srv, err := wechat.NewServer(wechat.ServerConfig{AppID: acct.AppID, Token: acct.Token, AESKey: acct.AESKey, HandlerTimeout: o.handlerTimeout},
		func(ctx context.Context, m *wechat.Inbound) (*wechat.Reply, error) {
			e.mu.Lock()
			e.running++
			e.mu.Unlock()
			defer func() {
				e.mu.Lock()
				e.running--
				e.mu.Unlock()
			}()
			return ch.Handle(ctx, m)
		}, log)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	t.Cleanup(func() { e.settle(t) })
	e.url = hs.URL
	return e
}

// settle waits until every handler has returned, also those whose push
// was answered 503 already, and then for the channel's background work.
func (e *channelEnv) settle(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		e.mu.Lock()
		n := e.running
		e.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d handlers still running", n)
		}
	}
	e.ch.Wait()
}

var numberRE = regexp.MustCompile(`\d{14}`)

func (e *channelEnv) push(t *testing.T, m wechat.Inbound) string {
	t.Helper()
	status, reply := e.acct.Push(t, e.url, m, true)
	if status != 200 {
		t.Fatalf("push %s: status %d", m.MsgType, status)
	}
	if reply == nil {
		return ""
	}
	return reply.Content
}

func jpegBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := range 64 {
		for y := range 48 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 90, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A citizen's conversation: the first message makes the ticket and the
// reply carries its number; a photo and the location sent afterwards land
// on the same ticket (the photo fetched from WeChat in the background, the
// location moved from GCJ-02 to WGS-84); "查询" answers with the status;
// "完成" ends it, and the next message starts another ticket.
func TestConversation(t *testing.T) {
	e := newChannelEnv(t)
	const citizen = "oCitizen0001"
	if got := e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "event", Event: "subscribe"}); !strings.Contains(got, "欢迎关注") {
		t.Fatalf("welcome: %q", got)
	}
	reply := e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "text", MsgID: 1001, Content: "和平路12号门口的井盖没了，很危险"})
	number := numberRE.FindString(reply)
	if number == "" || !strings.Contains(reply, "已受理") {
		t.Fatalf("first reply: %q", reply)
	}
	e.api.AddMedia("media-1", "image/jpeg", jpegBytes(t))
	if got := e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "image", MsgID: 1002, MediaID: "media-1", PicURL: "http://x/p.jpg"}); !strings.Contains(got, number) {
		t.Fatalf("photo reply: %q", got)
	}
	if got := e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "location", MsgID: 1003,
		LocationX: 39.91543, LocationY: 116.40993, Scale: 15, Label: "北京市东城区和平路12号"}); !strings.Contains(got, number) {
		t.Fatalf("location reply: %q", got)
	}
	if got := e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "voice", MsgID: 1004, MediaID: "v1", Format: "amr",
		Recognition: "旁边就是公交站"}); !strings.Contains(got, "已补充到工单 "+number) {
		t.Fatalf("voice reply: %q", got)
	}
	e.ch.Wait()
	tk, err := e.store.ByNumber(context.Background(), number)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Channel != ticketing.ChannelWeChat || tk.Reporter.OpenID != citizen || !strings.Contains(tk.Text, "井盖") {
		t.Fatalf("ticket: channel %q openid %q text %q", tk.Channel, tk.Reporter.OpenID, tk.Text)
	}
	if len(tk.Attachments) != 1 || tk.Attachments[0].ContentType != "image/jpeg" {
		t.Fatalf("attachments: %+v", tk.Attachments)
	}
	if tk.Location == nil || tk.Address != "北京市东城区和平路12号" {
		t.Fatalf("location %v address %q", tk.Location, tk.Address)
	}
	// GCJ-02 → WGS-84 in Beijing moves the point a few hundred metres south-west.
	if dLat, dLon := 39.91543-tk.Location.Lat, 116.40993-tk.Location.Lon; dLat < 0.0005 || dLat > 0.003 || dLon < 0.003 || dLon > 0.008 {
		t.Fatalf("location not moved to WGS-84: %+v", tk.Location)
	}
	if got := e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "text", MsgID: 1005, Content: "查询 " + number}); !strings.Contains(got, number) || !strings.Contains(got, "已受理") {
		t.Fatalf("query reply: %q", got)
	}
	// Someone else asking for this number learns nothing.
	if got := e.push(t, wechat.Inbound{FromUserName: "oSomeoneElse", MsgType: "text", MsgID: 1006, Content: "查询 " + number}); !strings.Contains(got, "未找到") {
		t.Fatalf("another citizen's query: %q", got)
	}
	if got := e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "text", MsgID: 1007, Content: "完成"}); !strings.Contains(got, number+" 已提交") {
		t.Fatalf("finish reply: %q", got)
	}
	next := numberRE.FindString(e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "text", MsgID: 1008, Content: "小区路灯不亮"}))
	if next == "" || next == number {
		t.Fatalf("after 完成 a new ticket: %q vs %q", next, number)
	}
	if got := e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "event", Event: "CLICK", EventKey: "MY_TICKETS"}); !strings.Contains(got, number) || !strings.Contains(got, next) {
		t.Fatalf("my tickets: %q", got)
	}
}

// WeChat pushes a message again when it hears nothing within 5 seconds, up
// to three times, to any instance. Retries arriving together make one
// ticket, and every attempt gets the same reply (WeChat shows the citizen
// the answer of the attempt it is still waiting on: one reply): an attempt
// never answers "success" for a push another attempt has not finished.
func TestRetriesMakeOneTicket(t *testing.T) {
	e := newChannelEnv(t)
	m := wechat.Inbound{FromUserName: "oRetry", MsgType: "text", MsgID: 7001, Content: "垃圾桶满了没人清理", CreateTime: time.Now().Unix()}
	var wg sync.WaitGroup
	replies := make([]string, 4)
	for i := range replies {
		wg.Go(func() { replies[i] = e.push(t, m) })
	}
	wg.Wait()
	number := numberRE.FindString(replies[0])
	for _, r := range replies {
		if number == "" || r != replies[0] {
			t.Fatalf("replies differ or carry no number: %q", replies)
		}
	}
	ts, err := e.store.List(context.Background(), ticketing.ListFilter{OpenID: "oRetry"})
	if err != nil || len(ts) != 1 || ts[0].Number != number {
		t.Fatalf("%d tickets (err %v)", len(ts), err)
	}
}

// An attempt that died holding a push (its instance was killed between
// claiming the push and storing it) does not swallow it: once its lease
// runs out, WeChat's next retry handles the push.
func TestRetryAfterAnAttemptDied(t *testing.T) {
	e := newChannelEnv(t)
	seen := wechat.NewMemorySeen(time.Hour, nil)
	ch := wechat.NewChannel(wechat.ChannelConfig{Lease: 200 * time.Millisecond}, wechat.ChannelParts{Tickets: e.svc, Finder: e.store,
		Seen: seen, Conversations: wechat.NewMemoryConversations(nil)})
	m := &wechat.Inbound{FromUserName: "oDied", MsgType: "text", MsgID: 7101, Content: "楼道灯坏了"}
	// The attempt that died: it claimed the push and never got further.
	if c, _, _ := seen.Claim(context.Background(), m.DedupKey(), 200*time.Millisecond); c != wechat.Claimed {
		t.Fatal("could not claim")
	}
	// A retry while the lease holds waits, and at its deadline says so (the
	// server answers 503 and WeChat tries again) — never "success".
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	r, err := ch.Handle(ctx, m)
	cancel()
	if err == nil {
		t.Fatalf("retry during the lease answered %v", r)
	}
	// The next retry, after the lease: handled.
	time.Sleep(250 * time.Millisecond)
	r, err = ch.Handle(context.Background(), m)
	if err != nil || r == nil || !numberRE.MatchString(r.Text) {
		t.Fatalf("retry after the lease: %v %v", r, err)
	}
}

// An attempt that died after storing the ticket and opening the
// conversation, before it marked the push done: the retry finds the
// conversation open on the very ticket the message made. It answers with
// that ticket as the first attempt would have, and does not add the
// citizen's words to it a second time.
func TestRetryOfTheMessageThatMadeTheTicket(t *testing.T) {
	e := newChannelEnv(t)
	seen := wechat.NewMemorySeen(time.Hour, nil)
	ch := wechat.NewChannel(wechat.ChannelConfig{Lease: time.Second}, wechat.ChannelParts{Tickets: e.svc, Finder: e.store,
		Seen: seen, Conversations: wechat.NewMemoryConversations(nil)})
	ctx := context.Background()
	m := &wechat.Inbound{FromUserName: "oMidway", MsgType: "text", MsgID: 7201, Content: "小区门口井盖缺失"}
	first, err := ch.Handle(ctx, m)
	if err != nil || first == nil || !numberRE.MatchString(first.Text) {
		t.Fatalf("first attempt: %v %v", first, err)
	}
	// The dedup store never heard that the attempt finished.
	if err := seen.Forget(ctx, m.DedupKey()); err != nil {
		t.Fatal(err)
	}
	again, err := ch.Handle(ctx, m)
	if err != nil || again == nil || again.Text != first.Text {
		t.Fatalf("retry answered %v (err %v), the first attempt %q", again, err, first.Text)
	}
	number := numberRE.FindString(first.Text)
	tk, err := e.svc.Ticket(ctx, number)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := e.svc.Events(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Type == ticketing.EventSupplemented {
			t.Fatalf("the retry was added to its own ticket: %+v", ev)
		}
	}
	// A later message of the conversation is still a supplement.
	next := &wechat.Inbound{FromUserName: "oMidway", MsgType: "text", MsgID: 7202, Content: "晚上很危险"}
	if r, err := ch.Handle(ctx, next); err != nil || r == nil || !strings.Contains(r.Text, number) || r.Text == first.Text {
		t.Fatalf("next message: %v %v", r, err)
	}
	if evs, _ = e.svc.Events(ctx, tk); evs[len(evs)-1].Type != ticketing.EventSupplemented {
		t.Fatalf("next message not added: last event %+v", evs[len(evs)-1])
	}
}

// Voice without recognition, links and videos make no ticket; the citizen
// is told what works.
func TestUnusableMessages(t *testing.T) {
	e := newChannelEnv(t)
	for i, m := range []wechat.Inbound{
		{MsgType: "voice", MediaID: "v", Format: "amr"},
		{MsgType: "link", Title: "t", URL: "http://example.com"},
		{MsgType: "video", MediaID: "v", ThumbMediaID: "th"},
	} {
		m.FromUserName, m.MsgID = "oUnusable", int64(9000+i)
		if got := e.push(t, m); got == "" || numberRE.MatchString(got) {
			t.Errorf("%s: reply %q", m.MsgType, got)
		}
	}
	if got := e.push(t, wechat.Inbound{FromUserName: "oUnusable", MsgType: "event", Event: "unsubscribe"}); got != "" {
		t.Errorf("unsubscribe answered %q", got)
	}
	ts, _ := e.store.List(context.Background(), ticketing.ListFilter{OpenID: "oUnusable"})
	if len(ts) != 0 {
		t.Fatalf("%d tickets from unusable messages", len(ts))
	}
}

// countLimiter admits max messages per key.
type countLimiter struct {
	mu   sync.Mutex
	max  int
	seen map[string]int
}

func (l *countLimiter) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]int{}
	}
	l.seen[key]++
	return l.seen[key] <= l.max, time.Minute, nil
}

// One citizen flooding the door is told to slow down and adds nothing
// more to their ticket; another citizen is served as usual.
func TestFloodFromOneCitizen(t *testing.T) {
	e := newChannelEnv(t)
	lim := &countLimiter{max: 3}
	ch := wechat.NewChannel(wechat.ChannelConfig{Limiter: lim}, wechat.ChannelParts{Tickets: e.svc, Finder: e.store,
		Seen: wechat.NewMemorySeen(time.Hour, nil), Conversations: wechat.NewMemoryConversations(nil)})
	ctx := context.Background()
	var number string
	for i := range 10 {
		r, err := ch.Handle(ctx, &wechat.Inbound{FromUserName: "oFlood", MsgType: "text", MsgID: int64(8000 + i), Content: "刷屏第" + strconv.Itoa(i) + "条"})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case i == 0:
			number = numberRE.FindString(r.Text)
		case i < 3:
			if !strings.Contains(r.Text, number) {
				t.Fatalf("message %d: %q", i, r.Text)
			}
		default:
			if !strings.Contains(r.Text, "太频繁") {
				t.Fatalf("message %d past the limit: %q", i, r.Text)
			}
		}
	}
	evs, err := e.svc.Events(ctx, mustTicket(t, e, number))
	if err != nil {
		t.Fatal(err)
	}
	if n := countType(evs, ticketing.EventSupplemented); n != 2 {
		t.Fatalf("%d supplements recorded, want 2", n)
	}
	if r, _ := ch.Handle(ctx, &wechat.Inbound{FromUserName: "oCalm", MsgType: "text", MsgID: 8100, Content: "路灯坏了"}); !numberRE.MatchString(r.Text) {
		t.Fatalf("another citizen: %q", r.Text)
	}
}

func mustTicket(t *testing.T, e *channelEnv, number string) *ticketing.Ticket {
	t.Helper()
	tk, err := e.store.ByNumber(context.Background(), number)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func countType(evs []ticketing.Event, typ ticketing.EventType) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// "My tickets" lists a citizen's five latest tickets, newest first, however
// many came before them this year.
func TestMyTicketsLatestFive(t *testing.T) {
	e := newChannelEnv(t)
	const citizen = "oManyReports"
	start := time.Now().Add(-24 * time.Hour)
	var numbers []string
	for i := range 8 {
		tk, _, err := e.svc.Submit(context.Background(), ticketing.Report{Channel: ticketing.ChannelWeChat, Text: "楼道灯不亮",
			Reporter: ticketing.Contact{OpenID: citizen}, ReceivedAt: start.Add(time.Duration(i) * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		numbers = append(numbers, tk.Number)
	}
	got := numberRE.FindAllString(e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "event", Event: "CLICK", EventKey: "MY_TICKETS"}), -1)
	want := []string{numbers[7], numbers[6], numbers[5], numbers[4], numbers[3]}
	if !slices.Equal(got, want) {
		t.Errorf("my tickets list %v, want the latest five, newest first: %v", got, want)
	}
}
