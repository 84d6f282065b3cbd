package wechat_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/wechat"
	"github.com/yihao-city/yihao/channels/wechat/wechattest"
	"github.com/yihao-city/yihao/ticketing"
)

// The whole story: a report with photo and location gets its number; the
// dispatch and the closure reach the citizen as template messages; the
// rating request arrives by customer-service message and the citizen's
// "5" becomes the ticket's evaluation. A failing send is retried from the
// outbox; a ticket from another door gets no WeChat notice.
func TestNoticesAndRating(t *testing.T) {
	e := newChannelEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := wechat.NewNotifier(wechat.NotifyConfig{DispatchedTemplate: "tpl-dispatched", FinishedTemplate: "tpl-finished",
		TrackURL: "https://12345.example.gov.cn/t/", Poll: 20 * time.Millisecond},
		e.store.(ticketing.DeliveryStore), e.store, e.wx, e.ratings, nil)
	if err := n.Register(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	const citizen = "oStory"
	number := numberRE.FindString(e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "text", MsgID: 5001, Content: "路口红绿灯坏了"}))
	e.api.AddMedia("m-5002", "image/jpeg", jpegBytes(t))
	e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "image", MsgID: 5002, MediaID: "m-5002"})
	e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "location", MsgID: 5003, LocationX: 39.9, LocationY: 116.4, Label: "长安街路口"})
	e.ch.Wait()
	// A ticket from the web form: no WeChat notices for it.
	web, _, err := e.svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, Text: "网页反映"})
	if err != nil {
		t.Fatal(err)
	}

	e.api.FailNextHTTP(wechattest.PathTemplateSend, 1, 500) // the first send fails; the outbox retries
	act := func(num string, f func(t *ticketing.Ticket, now time.Time) error) {
		t.Helper()
		if _, err := e.svc.Act(ctx, num, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, num := range []string{number, web.Number} {
		act(num, func(tk *ticketing.Ticket, now time.Time) error {
			if err := tk.Register(now, "dispatcher", ""); err != nil {
				return err
			}
			return tk.Dispatch(now, "dispatcher", ticketing.Assignment{Department: "jtw", DepartmentName: "市交通委员会", Deadline: now.Add(48 * time.Hour)}, "")
		})
	}
	calls := e.api.WaitCalls(t, wechattest.PathTemplateSend, 2, 10*time.Second) // the failed one and its retry
	last := calls[len(calls)-1]
	if last.OpenID != citizen || last.Body["template_id"] != "tpl-dispatched" || !strings.HasSuffix(last.Body["url"].(string), number) ||
		!strings.Contains(last.Raw, "市交通委员会") {
		t.Fatalf("dispatched notice: %+v", last)
	}

	act(number, func(tk *ticketing.Ticket, now time.Time) error {
		if err := tk.Accept(now, "jtw"); err != nil {
			return err
		}
		if err := tk.ReportHandled(now, "jtw", "已修复信号灯"); err != nil {
			return err
		}
		return tk.Verify(now, "dispatcher", true, "")
	})
	calls = e.api.WaitCalls(t, wechattest.PathTemplateSend, 3, 10*time.Second)
	if got := calls[2]; got.Body["template_id"] != "tpl-finished" || !strings.Contains(got.Raw, "已办结") {
		t.Fatalf("finished notice: %+v", got)
	}
	ask := e.api.WaitCalls(t, wechattest.PathCustomSend, 1, 10*time.Second)[0]
	if ask.OpenID != citizen || !strings.Contains(ask.Raw, "1～5") {
		t.Fatalf("rating request: %+v", ask)
	}
	if got := e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "text", MsgID: 5004, Content: "5"}); !strings.Contains(got, "感谢您为工单 "+number) {
		t.Fatalf("rating reply: %q", got)
	}
	tk, err := e.store.ByNumber(ctx, number)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Evaluation == nil || tk.Evaluation.Score != 5 || tk.Evaluation.Satisfaction != ticketing.Satisfied || len(tk.Attachments) != 1 || tk.Location == nil {
		t.Fatalf("ticket at the end: evaluation %+v attachments %d location %v", tk.Evaluation, len(tk.Attachments), tk.Location)
	}
	// The rating changed the closed ticket again; once its change has gone
	// through the queue, the citizen was not told of the closure twice.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, err := e.store.(ticketing.DeliveryStore).DeliveryStats(ctx, "wechat")
		if err != nil {
			t.Fatal(err)
		}
		if st.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notices still pending: %+v", st)
		}
	}
	if n := len(e.api.Calls(wechattest.PathTemplateSend)); n != 3 {
		t.Errorf("%d template notices, want 3 (the rating is no new closure)", n)
	}
	// The web ticket's dispatch went nowhere near WeChat.
	for _, c := range e.api.Calls(wechattest.PathTemplateSend) {
		if c.OpenID != citizen {
			t.Fatalf("a notice to %q", c.OpenID)
		}
	}
}

// With Subscribe the same notices go out as subscribe messages.
func TestSubscribeNotices(t *testing.T) {
	e := newChannelEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	n := wechat.NewNotifier(wechat.NotifyConfig{DispatchedTemplate: "sub-dispatched", Subscribe: true, Poll: 20 * time.Millisecond},
		e.store.(ticketing.DeliveryStore), e.store, e.wx, e.ratings, nil)
	if err := n.Register(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	number := numberRE.FindString(e.push(t, wechat.Inbound{FromUserName: "oSub", MsgType: "text", MsgID: 6001, Content: "井盖松动"}))
	if _, err := e.svc.Act(ctx, number, func(tk *ticketing.Ticket, now time.Time) error {
		if err := tk.Register(now, "dispatcher", ""); err != nil {
			return err
		}
		return tk.Dispatch(now, "dispatcher", ticketing.Assignment{Department: "swj", DepartmentName: "市水务局", Deadline: now.Add(time.Hour)}, "")
	}); err != nil {
		t.Fatal(err)
	}
	c := e.api.WaitCalls(t, wechattest.PathSubscribeSend, 1, 10*time.Second)[0]
	if c.OpenID != "oSub" || c.Body["template_id"] != "sub-dispatched" || !strings.Contains(c.Raw, number) {
		t.Fatalf("subscribe notice: %+v", c)
	}
	if got := e.api.Calls(wechattest.PathTemplateSend); len(got) != 0 {
		t.Fatalf("template sends as well: %d", len(got))
	}
}
