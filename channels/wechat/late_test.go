package wechat_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/wechat"
	"github.com/yihao-city/yihao/channels/wechat/wechattest"
	"github.com/yihao-city/yihao/ticketing"
)

// slowTickets is a ticket store slower than the push's deadline, as a
// PostgreSQL that is restarting may be: Submit and Supplement wait delay,
// ignoring ctx, and then store.
type slowTickets struct {
	*ticketing.Service
	delay time.Duration
}

func (s slowTickets) Submit(ctx context.Context, r ticketing.Report) (*ticketing.Ticket, bool, error) {
	time.Sleep(s.delay)
	return s.Service.Submit(context.WithoutCancel(ctx), r)
}

func (s slowTickets) Supplement(ctx context.Context, number, actor string, sup ticketing.Supplement) (*ticketing.Ticket, error) {
	time.Sleep(s.delay)
	return s.Service.Supplement(context.WithoutCancel(ctx), number, actor, sup)
}

// newLateEnv is the door over a store that is slower than the handler
// deadline on every one of WeChat's three tries: each try's lease runs
// out before the next arrives, so the tries store concurrently.
func newLateEnv(t *testing.T, log *slog.Logger) *channelEnv {
	return newChannelEnv(t, envOpts{
		tickets:        func(s *ticketing.Service) wechat.Tickets { return slowTickets{s, 600 * time.Millisecond} },
		cfg:            wechat.ChannelConfig{Lease: 200 * time.Millisecond},
		handlerTimeout: 150 * time.Millisecond,
		log:            log,
	})
}

// pushAllTimeOut pushes m as WeChat does, three tries, each answered 503,
// and waits until every try's handler has returned.
func (e *channelEnv) pushAllTimeOut(t *testing.T, m wechat.Inbound) {
	t.Helper()
	for try := range 3 {
		if status, reply := e.acct.Push(t, e.url, m, true); status != http.StatusServiceUnavailable {
			t.Fatalf("try %d: %d %+v, want 503", try+1, status, reply)
		}
	}
	e.settle(t)
}

func customTexts(e *channelEnv) (openIDs, texts []string) {
	for _, c := range e.api.Calls(wechattest.PathCustomSend) {
		text, _ := c.Body["text"].(map[string]any)
		content, _ := text["content"].(string)
		openIDs, texts = append(openIDs, c.OpenID), append(texts, content)
	}
	return openIDs, texts
}

// A report stored only after WeChat's last try was answered 503 still
// reaches the citizen with its number, by one customer-service message,
// however many tries stored it; a retry arriving afterwards is answered
// passively with the same reply (the number twice, harmless) and sends
// nothing more. A supplement stored late is confirmed the same way.
func TestLateStoreSendsNumberOnce(t *testing.T) {
	e := newLateEnv(t, nil)
	const citizen = "oLate0001"
	m := wechat.Inbound{FromUserName: citizen, MsgType: "text", MsgID: 9101, Content: "小区门口路灯不亮", CreateTime: time.Now().Unix()}
	e.pushAllTimeOut(t, m)

	ts, err := e.store.List(context.Background(), ticketing.ListFilter{OpenID: citizen})
	if err != nil || len(ts) != 1 {
		t.Fatalf("%d tickets (err %v), want 1", len(ts), err)
	}
	number := ts[0].Number
	openIDs, texts := customTexts(e)
	if len(texts) != 1 || openIDs[0] != citizen || numberRE.FindString(texts[0]) != number || !strings.Contains(texts[0], "已受理") {
		t.Fatalf("custom messages to %q: %q, want one to %q with %s", openIDs, texts, citizen, number)
	}
	// A try that comes after the late store: the same reply, passively.
	if got := e.push(t, m); got != texts[0] {
		t.Fatalf("later retry answered %q, want %q", got, texts[0])
	}
	e.ch.Wait()
	if _, texts := customTexts(e); len(texts) != 1 {
		t.Fatalf("%d custom messages after the later retry, want 1", len(texts))
	}

	// The conversation goes on: a supplement stored late is confirmed too.
	e.pushAllTimeOut(t, wechat.Inbound{FromUserName: citizen, MsgType: "text", MsgID: 9102, Content: "已经三天了", CreateTime: time.Now().Unix()})
	openIDs, texts = customTexts(e)
	if len(texts) != 2 || openIDs[1] != citizen || texts[1] != "已补充到工单 "+number+"。" {
		t.Fatalf("custom messages to %q: %q, want a second one confirming %s", openIDs, texts, number)
	}
	// Each try whose lease ran out stored the supplement too, at once; the
	// message's key kept all but one of them out.
	evs, err := e.svc.Events(context.Background(), mustTicket(t, e, number))
	if err != nil {
		t.Fatal(err)
	}
	if n := countType(evs, ticketing.EventSupplemented); n != 1 {
		t.Fatalf("%d supplement events for one message tried 3 times, want 1", n)
	}
}

// A photo that starts a ticket, stored late on every try, is fetched by
// every try and attached once.
func TestLatePhotoAttachedOnce(t *testing.T) {
	e := newLateEnv(t, nil)
	const citizen = "oLatePhoto"
	e.api.AddMedia("media-late", "image/jpeg", jpegBytes(t))
	e.pushAllTimeOut(t, wechat.Inbound{FromUserName: citizen, MsgType: "image", MsgID: 9401, MediaID: "media-late",
		PicURL: "http://x/p.jpg", CreateTime: time.Now().Unix()})

	ts, err := e.store.List(context.Background(), ticketing.ListFilter{OpenID: citizen})
	if err != nil || len(ts) != 1 {
		t.Fatalf("%d tickets (err %v), want 1", len(ts), err)
	}
	if fetched := len(e.api.Calls(wechattest.PathMedia)); fetched < 2 {
		t.Fatalf("photo fetched %d times; the test needs the tries to fetch it again", fetched)
	}
	evs, err := e.svc.Events(context.Background(), ts[0])
	if err != nil {
		t.Fatal(err)
	}
	if n, photos := countType(evs, ticketing.EventSupplemented), len(ts[0].Attachments); n != 1 || photos != 1 {
		t.Fatalf("%d supplement events and %d photos for one photo tried 3 times, want 1 and 1", n, photos)
	}
}

// A push answered in time carries the number passively: no
// customer-service message is sent.
func TestTimelyReplySendsNoCustomMessage(t *testing.T) {
	e := newChannelEnv(t)
	reply := e.push(t, wechat.Inbound{FromUserName: "oTimely", MsgType: "text", MsgID: 9201, Content: "公交站牌倒了"})
	if !numberRE.MatchString(reply) {
		t.Fatalf("reply %q carries no number", reply)
	}
	if got := e.push(t, wechat.Inbound{FromUserName: "oTimely", MsgType: "text", MsgID: 9202, Content: "在东门"}); !strings.Contains(got, "已补充到工单") {
		t.Fatalf("supplement reply %q", got)
	}
	e.ch.Wait()
	if calls := e.api.Calls(wechattest.PathCustomSend); len(calls) != 0 {
		t.Fatalf("%d customer-service messages sent, want none", len(calls))
	}
}

// A late reply WeChat refuses (the citizen unfollowed, say) is logged at
// warn with the ticket number, never the citizen's OpenID or words (the
// server logs the OpenID at debug only).
func TestLateReplyFailureLogsNoCitizen(t *testing.T) {
	var buf syncBuffer
	e := newLateEnv(t, slog.New(slog.NewTextHandler(&buf, nil)))
	e.api.FailNext(wechattest.PathCustomSend, 3, 43004) // 需要接收者关注: final
	const citizen, words = "oLatePrivate", "我家楼下的井盖丢了"
	e.pushAllTimeOut(t, wechat.Inbound{FromUserName: citizen, MsgType: "text", MsgID: 9301, Content: words, CreateTime: time.Now().Unix()})
	calls := e.api.Calls(wechattest.PathCustomSend)
	if len(calls) == 0 {
		t.Fatal("no custom message tried")
	}
	for _, c := range calls {
		if c.ErrCode != 43004 {
			t.Fatalf("custom send answered %d, want 43004", c.ErrCode)
		}
	}
	var warn string
	for line := range strings.Lines(buf.String()) {
		if strings.Contains(line, "late reply not sent") {
			warn = line
		}
	}
	if !strings.Contains(warn, "level=WARN") || !numberRE.MatchString(warn) {
		t.Fatalf("no warning with the number: %q", buf.String())
	}
	if strings.Contains(buf.String(), citizen) || strings.Contains(buf.String(), words) {
		t.Fatalf("log names the citizen or their words: %q", buf.String())
	}
}
