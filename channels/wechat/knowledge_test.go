package wechat_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/wechat"
	"github.com/yihao-city/yihao/ticketing"
)

// A question the knowledge base answers well is answered at once: the
// contact is recorded as answered on contact with the article, and no
// ticket waits for a dispatcher. "1" asks for a person: the question
// becomes a ticket, once, with the article kept. A problem the base does
// not answer is a ticket as always; so is everything while the base is
// still loading.
func TestKnowledgeAnswers(t *testing.T) {
	ctx := context.Background()
	e := newChannelEnv(t, envOpts{knowledge: true})
	const citizen = "oAsker0001"
	// Before the first sync the base is loading: the message is a ticket.
	first := e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "text", MsgID: 1, Content: "社保关系怎么转到外地"})
	if !strings.Contains(first, "已受理") {
		t.Fatalf("while the base loads: %q", first)
	}
	e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "text", MsgID: 2, Content: "完成"})

	transfer := &ticketing.Article{Question: "社保关系跨省转移怎么办理？", Aliases: []string{"社保怎么转到外地"},
		Answer: "可在国家社会保险公共服务平台申请转移，也可到转入地社保经办机构办理。", Department: "rsj",
		Status: ticketing.ArticlePublished, UpdatedAt: time.Now()}
	if _, err := e.store.PutArticles(ctx, []*ticketing.Article{transfer}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kb.Sync(ctx, e.store); err != nil {
		t.Fatal(err)
	}
	reply := e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "text", MsgID: 3, Content: "我想问下社保怎么转到外地"})
	if !strings.Contains(reply, transfer.Answer) || !strings.Contains(reply, "回复「1」") {
		t.Fatalf("the answer: %q", reply)
	}
	number := numberRE.FindString(first)
	ts, err := e.store.List(ctx, ticketing.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var answered *ticketing.Ticket
	for _, tk := range ts {
		if tk.Number != number {
			answered = tk
		}
	}
	if len(ts) != 2 || answered == nil || answered.Status != ticketing.StatusResolvedOnContact || answered.Article != transfer.ID ||
		answered.Reporter.OpenID != citizen {
		t.Fatalf("after the answer: %d tickets, %+v", len(ts), answered)
	}
	// "1": a person, please. Sent twice, one ticket.
	help := e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "text", MsgID: 4, Content: "1"})
	again := e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "text", MsgID: 5, Content: "1"})
	helped := numberRE.FindString(help)
	if !strings.Contains(help, "已为您登记诉求") || helped == "" {
		t.Fatalf("help: %q", help)
	}
	if strings.Contains(again, "已为您登记诉求") && numberRE.FindString(again) != helped {
		t.Errorf("a second 1 made another ticket: %q", again)
	}
	tk := mustTicket(t, e, helped)
	if tk.Status == ticketing.StatusResolvedOnContact || tk.Article != transfer.ID || tk.Text != answered.Text {
		t.Errorf("the ticket asked for: %s, article %d, text %q", tk.Status, tk.Article, tk.Text)
	}
	e.push(t, wechat.Inbound{FromUserName: citizen, MsgType: "text", MsgID: 6, Content: "完成"})

	// A problem on the street is not answered from the base.
	other := e.push(t, wechat.Inbound{FromUserName: "oAsker0002", MsgType: "text", MsgID: 7, Content: "小区门口路灯坏了三天了"})
	if !strings.Contains(other, "已受理") {
		t.Errorf("a problem answered from the base: %q", other)
	}
}
