package wechat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/yihao-city/yihao/ticketing"
)

// actorKnowledge is who answers a citizen from the knowledge base.
const actorKnowledge = "kb"

// answeredPrefix marks a conversation that holds an answer from the
// knowledge base rather than a ticket being reported.
const answeredPrefix = "kb:"

// answer replies to a citizen's question from the knowledge base when an
// article answers it well (Score ≥ AnswerScore): the contact is recorded
// as a ticket answered on contact with the article linked, and the
// citizen told to reply 1 for a person. ok is false when no article
// answers well enough, or the base cannot be asked: then the message is a
// ticket as always, never lost to a search. err is set only when the hub
// is at capacity (ticketing.ErrBusy): WeChat is answered 503 and sends
// the push again.
func (c *Channel) answer(ctx context.Context, m *Inbound, r ticketing.Report) (*Reply, bool, error) {
	if c.kb == nil {
		return nil, false, nil
	}
	// Where the citizen is is not known yet: only city-wide answers go out
	// unseen by staff.
	hits, err := c.kb.Search(ctx, r.Text, ticketing.ArticleQuery{Now: c.cfg.Now(), Limit: 1, Areas: []string{}})
	if err != nil {
		c.log.Warn("wechat: knowledge base unavailable; the message is a ticket", "err", err)
		return nil, false, nil
	}
	if len(hits) == 0 || hits[0].Score < c.cfg.AnswerScore {
		c.missed(ctx, r.Text, hits)
		return nil, false, nil
	}
	h := hits[0]
	r.Article = h.ID
	t, _, err := c.tickets.SubmitResolved(ctx, r, actorKnowledge, "知识库答复："+h.Answer)
	if errors.Is(err, ticketing.ErrBusy) {
		// At capacity a ticket would be refused too: WeChat sends the
		// push again after the 503, and it is answered then.
		return nil, false, err
	}
	if err != nil {
		c.log.Warn("wechat: answer from the knowledge base not recorded; the message is a ticket", "article", h.ID, "err", err)
		return nil, false, nil
	}
	// The conversation holds the answered contact, marked: "1" within the
	// window asks for a person (help); anything else starts afresh.
	c.keep(ctx, m.FromUserName, answeredPrefix+t.Number)
	c.log.Info("wechat: answered from the knowledge base", "number", t.Number, "article", h.ID)
	return &Reply{Text: fmt.Sprintf("%s\n\n（以上答复来自 12345 知识库：%s）\n仍需人工帮助？请在 %s 内回复「1」，我们将为您登记诉求。",
		shorten(h.Answer, maxAnswerRunes), shorten(h.Question, 60), minutes(c.cfg.Window)), number: t.Number}, true, nil
}

// maxAnswerRunes keeps an answer within one WeChat text message (2,048
// bytes) with the lines around it.
const maxAnswerRunes = 400

// shorten cuts s to n characters, marking the cut.
func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// help is a citizen's "1" after an answer from the knowledge base: the
// question becomes a ticket after all, with the article kept (counted as
// 看过知识库仍立单), and the conversation moves to it. ok is false when the
// conversation holds no such answer (then "1" is what it otherwise is).
func (c *Channel) help(ctx context.Context, m *Inbound) (*Reply, bool, error) {
	number, open, err := c.convs.Open(ctx, m.FromUserName)
	number, ok := strings.CutPrefix(number, answeredPrefix)
	if err != nil || !open || !ok {
		return nil, false, nil
	}
	answered, err := c.finder.ByNumber(ctx, number)
	if err != nil || answered.Status != ticketing.StatusResolvedOnContact || answered.Article == 0 ||
		answered.Reporter.OpenID != m.FromUserName {
		return nil, false, nil
	}
	// One ticket per answer, however often 1 is sent: its key is the answer's.
	t, _, err := c.tickets.Submit(ctx, ticketing.Report{
		Channel: ticketing.ChannelWeChat, ExternalID: "kb-help:" + answered.Number,
		Reporter: ticketing.Contact{OpenID: m.FromUserName}, Text: answered.Text, Article: answered.Article,
		ReceivedAt: c.cfg.Now(),
	})
	if err != nil {
		return nil, true, err
	}
	c.keep(ctx, m.FromUserName, t.Number)
	c.log.Info("wechat ticket after a knowledge-base answer", "number", t.Number, "article", answered.Article)
	return &Reply{Text: fmt.Sprintf("已为您登记诉求，工单号：%s。\n%s 内继续发送的文字、照片、位置会补充到此工单，发送「完成」结束。\n查询进度请发送「查询 %s」。",
		t.Number, minutes(c.cfg.Window), t.Number), number: t.Number}, true, nil
}

// askingWords mark a message that asks rather than reports.
var askingWords = []string{"?", "？", "吗", "怎么", "如何", "哪里", "哪儿", "什么", "能不能", "可不可以", "是否", "咋", "啥", "多少", "几"}

// missed records a question (a message with a word of asking: a report of
// a broken streetlight is no miss) that no article answered well.
func (c *Channel) missed(ctx context.Context, text string, hits []ticketing.ArticleHit) {
	if c.misses == nil || (len(hits) > 0 && hits[0].Score >= ticketing.MissScore) ||
		!slices.ContainsFunc(askingWords, func(w string) bool { return strings.Contains(text, w) }) {
		return
	}
	m := &ticketing.ArticleMiss{At: c.cfg.Now(), Source: "wechat", Question: text}
	if len(hits) > 0 {
		m.Article, m.Score = hits[0].ID, hits[0].Score
	}
	if err := c.misses.AddArticleMiss(context.WithoutCancel(ctx), m); err != nil {
		c.log.Warn("wechat: a missed question not recorded", "err", err)
	}
}
