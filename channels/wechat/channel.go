package wechat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/yihao-city/yihao/media"
	"github.com/yihao-city/yihao/ticketing"
)

// Tickets is what the WeChat door needs of the ticket service.
type Tickets interface {
	Submit(ctx context.Context, r ticketing.Report) (*ticketing.Ticket, bool, error)
	SubmitResolved(ctx context.Context, r ticketing.Report, actor, answer string) (*ticketing.Ticket, bool, error)
	Supplement(ctx context.Context, number, actor string, s ticketing.Supplement) (*ticketing.Ticket, error)
	Act(ctx context.Context, number string, act func(t *ticketing.Ticket, now time.Time) error) (*ticketing.Ticket, error)
}

// Finder reads tickets (the store).
type Finder interface {
	ByNumber(ctx context.Context, number string) (*ticketing.Ticket, error)
	List(ctx context.Context, f ticketing.ListFilter) ([]*ticketing.Ticket, error)
}

// Dedup coordinates WeChat's retries of a push (WeChat pushes a message
// again when it hears nothing in 5 seconds, up to three times, to any
// instance). One attempt claims the push for a short lease and records its
// reply when done; a retry meanwhile waits for that reply; a retry after
// the lease ran out (the attempt died with its instance) claims the push
// itself. So a push is never answered "success" unless it was handled.
type Dedup interface {
	Claim(ctx context.Context, key string, lease time.Duration) (Claim, string, error)
	// Done records the reply ("" for none) and ends the lease.
	Done(ctx context.Context, key, reply string) error
	// Forget ends the lease of an attempt that failed.
	Forget(ctx context.Context, key string) error
}

// Claim is what Dedup.Claim found.
type Claim int

const (
	Claimed Claim = iota + 1 // this attempt handles the push
	Held                     // another attempt is handling it now
	Done                     // handled; the reply is returned with it
)

// Conversations remember each citizen's open ticket while they keep
// sending: messages within the window go to the same ticket.
type Conversations interface {
	Open(ctx context.Context, openID string) (number string, ok bool, err error)
	Keep(ctx context.Context, openID, number string, ttl time.Duration) error
	End(ctx context.Context, openID string) error
}

// MediaSource downloads a citizen's photo by its MediaId (the API).
type MediaSource interface {
	Media(ctx context.Context, mediaID string, maxBytes int64) ([]byte, string, error)
}

// Photos keeps photos as attachments (media.Disk).
type Photos interface {
	Prepare(r io.Reader) (*media.Photo, error)
	Save(p *media.Photo) (ticketing.Attachment, error)
}

// ChannelConfig is the conversation's settings.
type ChannelConfig struct {
	// Window is how long after a citizen's last message the next one still
	// goes to the same ticket (default 10 minutes).
	Window time.Duration
	// Lease is how long one attempt holds a push before a retry may take
	// it over (default 6 s: the server's 4.5 s handler deadline and margin).
	Lease time.Duration
	// Menu keys of the account's CLICK buttons.
	ReportKey, MyTicketsKey string // default REPORT, MY_TICKETS
	// Limiter, if set, caps each citizen's messages (by OpenID), so one
	// account flooding the door cannot crowd out the rest.
	Limiter Limiter
	// Sender, if set, sends a stored report's reply by customer-service
	// message when the push it answers was already answered 503 (see
	// Handle); nil leaves such a citizen without the reply.
	Sender Sender
	Now    func() time.Time
	// AnswerScore is the knowledge-base score (0–1) from which a question
	// is answered at once from an article rather than made a ticket
	// (default 0.6, the lowest at which every answer to the labelled
	// questions was right; BENCHMARKS.md has each score's figures).
	AnswerScore float64
}

// Knowledge answers questions from the knowledge base (knowledge.Index does).
type Knowledge interface {
	Search(ctx context.Context, q string, o ticketing.ArticleQuery) ([]ticketing.ArticleHit, error)
}

// Limiter admits or refuses one more message from a key.
type Limiter interface {
	Allow(ctx context.Context, key string) (bool, time.Duration, error)
}

// Channel turns a citizen's messages into tickets (Handler for Server).
//
// The first message of a conversation makes the ticket at once, so the
// reply carries its number within WeChat's five seconds; what the citizen
// sends within Window afterwards (more words, photos, where) is added to
// that ticket; "完成" closes the conversation early. Photos are fetched
// in the background and attached when they arrive. "查询 <number>" answers
// with the status of one of the citizen's own tickets.
type Channel struct {
	cfg     ChannelConfig
	tickets Tickets
	finder  Finder
	seen    Dedup
	convs   Conversations
	ratings Conversations // tickets awaiting the citizen's 1–5 rating (the Notifier asks)
	media   MediaSource   // nil: photos are not fetched
	photos  Photos
	kb      Knowledge // nil: no answers from the knowledge base
	misses  Misses    // nil: questions missed are not kept
	log     *slog.Logger

	wg sync.WaitGroup // background downloads and late replies
}

// ChannelParts are what a Channel works with, beside its settings.
type ChannelParts struct {
	Tickets Tickets // required: the ticketing service
	Finder  Finder  // required: looks up a citizen's own tickets
	Seen    Dedup   // required: message ids already handled (WeChat retries)
	// Conversations holds each citizen's open conversation (required).
	Conversations Conversations
	// Ratings holds tickets awaiting the citizen's 1–5 rating; nil when no
	// Notifier asks for ratings.
	Ratings Conversations
	Media   MediaSource  // nil: photos are noted, not fetched
	Photos  Photos       // nil: photos are noted, not stored
	Log     *slog.Logger // nil: discard
	// Knowledge answers questions at once (直办 by the knowledge base);
	// nil: every message is a ticket.
	Knowledge Knowledge
	// Misses keeps the questions no article answered; nil: not kept.
	Misses Misses
}

// Misses keeps the questions the knowledge base did not answer (the store).
type Misses interface {
	AddArticleMiss(ctx context.Context, m *ticketing.ArticleMiss) error
}

// NewChannel wires the conversation from its settings and its parts.
func NewChannel(cfg ChannelConfig, p ChannelParts) *Channel {
	if cfg.Window <= 0 {
		cfg.Window = 10 * time.Minute
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 6 * time.Second
	}
	if cfg.ReportKey == "" {
		cfg.ReportKey = "REPORT"
	}
	if cfg.MyTicketsKey == "" {
		cfg.MyTicketsKey = "MY_TICKETS"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AnswerScore <= 0 {
		cfg.AnswerScore = 0.6
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	return &Channel{cfg: cfg, tickets: p.Tickets, finder: p.Finder, seen: p.Seen, convs: p.Conversations, ratings: p.Ratings,
		media: p.Media, photos: p.Photos, kb: p.Knowledge, misses: p.Misses, log: p.Log}
}

// Wait waits for background downloads and late replies (tests, shutdown).
func (c *Channel) Wait() { c.wg.Wait() }

// Replies the citizen reads.
const (
	welcome = "欢迎关注！遇到城市管理、环境、交通、民生等问题，直接发送文字、语音、照片或位置即可反映，我们会立即生成工单并告诉您工单号。" +
		"查询进度请发送「查询 工单号」。"
	howTo      = "请直接发送问题描述（文字或语音），可附照片和位置。第一条消息即生成工单，10 分钟内继续发送的内容会补充到同一工单；发送「完成」结束。"
	voiceUnrec = "抱歉，未能识别这段语音，请改发文字。"
	notKind    = "暂只支持文字、语音、照片和位置，请用这些方式反映问题。"
)

var queryRE = regexp.MustCompile(`^(?:查询|查|进度)\s*(\d{14})$`)

// Handle is the Server's Handler.
//
// A report stored after the push's ctx ended (the store was slower than
// the server's HandlerTimeout, on every one of WeChat's tries) has lost its
// passive reply: the server answered 503 and drops it. Its reply, which
// carries the ticket number, is then sent by customer-service message
// instead, once per push (the dedup store remembers it), even when a later
// retry of the same push is still answered passively from the dedup store:
// the number then arrives twice, which is harmless, while a rule that waited
// for a retry could leave the citizen without it.
func (c *Channel) Handle(ctx context.Context, m *Inbound) (*Reply, error) {
	key := m.DedupKey()
	for {
		claim, reply, err := c.seen.Claim(ctx, key, c.cfg.Lease)
		if err != nil {
			// Without the dedup store the ticket's own key (the MsgId) still
			// keeps a retry from making a second ticket.
			c.log.Warn("wechat: dedup store unavailable", "err", err)
			claim = Claimed
		}
		if claim == Done {
			if reply == "" {
				return nil, nil
			}
			return &Reply{Text: reply}, nil // the same answer again: WeChat shows it once
		}
		if claim == Claimed {
			break
		}
		// Another attempt has it: wait for its reply, or for its lease to
		// run out. At the handler's deadline the server answers 503 and
		// WeChat tries again.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if l := c.cfg.Limiter; l != nil && m.MsgType != "event" {
		if ok, _, err := l.Allow(ctx, "wechat:"+m.FromUserName); err == nil && !ok {
			return c.done(ctx, key, &Reply{Text: "您发送得太频繁了，请稍后再试。"}), nil
		}
	}
	r, err := c.handle(ctx, m)
	if err != nil {
		if ferr := c.seen.Forget(context.WithoutCancel(ctx), key); ferr != nil {
			c.log.Warn("wechat: dedup store unavailable", "err", ferr)
		}
		return nil, err
	}
	r = c.done(ctx, key, r)
	if r != nil && r.number != "" && ctx.Err() != nil {
		c.sendLate(m, key, r)
	}
	return r, nil
}

// sendLate sends r, the reply to a stored report whose push has been
// answered already, by customer-service message in the background. The
// dedup store's "late:" key makes it once per push when several attempts
// of the push finish late.
func (c *Channel) sendLate(m *Inbound, key string, r *Reply) {
	if c.cfg.Sender == nil {
		c.log.Warn("wechat: reply missed its push and no API sends it", "number", r.number, "kind", m.MsgType)
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		key := "late:" + key
		claim, _, err := c.seen.Claim(ctx, key, time.Minute)
		if err != nil {
			c.log.Warn("wechat: dedup store unavailable", "err", err)
			claim = Claimed // twice rather than never
		}
		if claim != Claimed {
			return
		}
		err = retry(3, time.Second, IsRetryable, func() error { return c.cfg.Sender.SendText(ctx, m.FromUserName, r.Text) })
		if err != nil {
			c.log.Warn("wechat: late reply not sent", "number", r.number, "kind", m.MsgType, "err", err)
			err = c.seen.Forget(ctx, key)
		} else {
			c.log.Info("wechat: late reply sent", "number", r.number, "kind", m.MsgType)
			err = c.seen.Done(ctx, key, "")
		}
		if err != nil {
			c.log.Warn("wechat: dedup store unavailable", "err", err)
		}
	}()
}

// done records r as the push's reply, for WeChat's retries.
func (c *Channel) done(ctx context.Context, key string, r *Reply) *Reply {
	text := ""
	if r != nil {
		text = r.Text
	}
	if err := c.seen.Done(context.WithoutCancel(ctx), key, text); err != nil {
		c.log.Warn("wechat: dedup store unavailable", "err", err)
	}
	return r
}

func (c *Channel) handle(ctx context.Context, m *Inbound) (*Reply, error) {
	switch m.MsgType {
	case "event":
		return c.event(ctx, m)
	case "text":
		text := strings.TrimSpace(m.Content)
		if q := queryRE.FindStringSubmatch(text); q != nil {
			return c.query(ctx, m.FromUserName, q[1])
		}
		if text == "完成" || text == "提交" || text == "结束" {
			return c.finish(ctx, m.FromUserName)
		}
		if text == "1" {
			if r, ok, err := c.help(ctx, m); ok || err != nil {
				return r, err
			}
		}
		if len(text) == 1 && text[0] >= '1' && text[0] <= '5' {
			if r, ok, err := c.rate(ctx, m.FromUserName, int(text[0]-'0')); ok || err != nil {
				return r, err
			}
		}
		return c.report(ctx, m, ticketing.Supplement{Text: text})
	case "voice":
		text := strings.TrimSpace(m.Recognition)
		if text == "" {
			return &Reply{Text: voiceUnrec}, nil
		}
		return c.report(ctx, m, ticketing.Supplement{Text: text})
	case "image":
		return c.report(ctx, m, ticketing.Supplement{})
	case "location":
		p, err := toWGS84(m.LocationX, m.LocationY)
		if err != nil {
			return &Reply{Text: "位置信息无效，请重新发送。"}, nil
		}
		return c.report(ctx, m, ticketing.Supplement{Location: p, Address: m.Label})
	}
	return &Reply{Text: notKind}, nil
}

func (c *Channel) event(ctx context.Context, m *Inbound) (*Reply, error) {
	switch strings.ToLower(m.Event) {
	case "subscribe":
		return &Reply{Text: welcome}, nil
	case "click":
		switch m.EventKey {
		case c.cfg.ReportKey:
			return &Reply{Text: howTo}, nil
		case c.cfg.MyTicketsKey:
			return c.myTickets(ctx, m.FromUserName)
		}
	}
	return nil, nil // unsubscribe, view, location reports, ...: nothing to say
}

// report starts a ticket with this message, or adds the message to the
// ticket of the conversation under way.
func (c *Channel) report(ctx context.Context, m *Inbound, s ticketing.Supplement) (*Reply, error) {
	number, open, err := c.convs.Open(ctx, m.FromUserName)
	if err != nil {
		c.log.Warn("wechat: conversation store unavailable; starting a new ticket", "err", err)
		open = false
	}
	if strings.HasPrefix(number, answeredPrefix) {
		open = false // an answer from the knowledge base: what follows is new
	}
	if open && m.MsgType == "image" {
		// The photo itself is attached when it has been fetched.
		c.keep(ctx, m.FromUserName, number)
		c.fetchPhoto(m, number)
		return &Reply{Text: supplementReply(m, number), number: number}, nil
	}
	if open {
		s.Key, s.Report = supplementKey(m), m.DedupKey()
		t, err := c.tickets.Supplement(ctx, number, "citizen:wechat", s)
		switch {
		case err == nil && t.ExternalID != s.Report:
			c.keep(ctx, m.FromUserName, number)
			c.fetchPhoto(m, number)
			return &Reply{Text: supplementReply(m, number), number: number}, nil
		case err != nil && !isClosed(err):
			return nil, err
		}
		// The ticket was finished meanwhile: this message starts another.
		// Or this is a retry of the message that made the ticket: Submit
		// finds that ticket by the message's key and answers as before.
	}
	r := ticketing.Report{
		Channel: ticketing.ChannelWeChat, ExternalID: m.DedupKey(),
		Reporter: ticketing.Contact{OpenID: m.FromUserName},
		Text:     s.Text, Location: s.Location, Address: s.Address,
		ReceivedAt: c.cfg.Now(),
	}
	if r.Text == "" {
		r.Text = placeholder(m)
	}
	if s.Text != "" && s.Location == nil {
		reply, ok, err := c.answer(ctx, m, r)
		if err != nil {
			return nil, err
		}
		if ok {
			return reply, nil
		}
	}
	t, _, err := c.tickets.Submit(ctx, r)
	if err != nil {
		var te *ticketing.Error
		if errors.As(err, &te) && (te.Kind == ticketing.KindInvalid || te.Kind == ticketing.KindTooLarge) {
			return &Reply{Text: "未能受理：" + te.Message + "。请修改后重新发送。"}, nil
		}
		return nil, err
	}
	c.keep(ctx, m.FromUserName, t.Number)
	c.fetchPhoto(m, t.Number)
	// Service.Submit logged the new ticket at info already; a push is one line.
	c.log.Debug("wechat ticket", "number", t.Number, "kind", m.MsgType)
	return &Reply{Text: fmt.Sprintf("您的诉求已受理，工单号：%s。\n%s 内继续发送的文字、照片、位置会补充到此工单，发送「完成」结束。\n查询进度请发送「查询 %s」。",
		t.Number, minutes(c.cfg.Window), t.Number), number: t.Number}, nil
}

// supplementKey is the idempotency key of what m adds to a ticket: each of
// WeChat's tries of one push, and the photo it carries, is added once.
func supplementKey(m *Inbound) string { return "wechat:" + m.DedupKey() }

// keep opens or extends the conversation, even past the push's deadline:
// a late reply promises the window too.
func (c *Channel) keep(ctx context.Context, openID, number string) {
	if err := c.convs.Keep(context.WithoutCancel(ctx), openID, number, c.cfg.Window); err != nil {
		c.log.Warn("wechat: conversation store unavailable", "err", err)
	}
}

func isClosed(err error) bool {
	var te *ticketing.TransitionError
	return errors.As(err, &te) || errors.Is(err, ticketing.ErrNotFound)
}

func placeholder(m *Inbound) string {
	switch m.MsgType {
	case "image":
		return "（市民通过微信发送了照片，待补充描述）"
	case "location":
		if m.Label != "" {
			return "（市民通过微信发送了位置：" + m.Label + "）"
		}
		return "（市民通过微信发送了位置）"
	}
	return "（微信留言）"
}

func supplementReply(m *Inbound, number string) string {
	switch m.MsgType {
	case "image":
		return "照片已收到，将补充到工单 " + number + "。"
	case "location":
		return "位置已补充到工单 " + number + "。"
	}
	return "已补充到工单 " + number + "。"
}

func minutes(d time.Duration) string {
	return strconv.Itoa(int(d.Round(time.Minute)/time.Minute)) + " 分钟"
}

// finish ends the conversation: later messages start a new ticket.
func (c *Channel) finish(ctx context.Context, openID string) (*Reply, error) {
	number, open, err := c.convs.Open(ctx, openID)
	if err != nil || !open || strings.HasPrefix(number, answeredPrefix) {
		return &Reply{Text: "当前没有正在反映的问题。" + howTo}, nil
	}
	if err := c.convs.End(ctx, openID); err != nil {
		return nil, err
	}
	return &Reply{Text: "工单 " + number + " 已提交，感谢您的反映。我们会把办理进展发给您。"}, nil
}

// statusNames are the statuses as a citizen reads them.
var statusNames = map[ticketing.Status]string{
	ticketing.StatusReceived: "已受理，待派遣", ticketing.StatusRegistered: "已立案", ticketing.StatusNotRegistered: "不予立案",
	ticketing.StatusResolvedOnContact: "已直接答复", ticketing.StatusDispatched: "已派遣", ticketing.StatusAccepted: "承办部门已签收",
	ticketing.StatusReturned: "重新派遣中", ticketing.StatusHandled: "已处置，待核查", ticketing.StatusClosed: "已办结",
	ticketing.StatusMerged: "已与同类诉求合并办理",
}

func statusLine(t *ticketing.Ticket) string {
	s := statusNames[t.Status]
	if s == "" {
		s = string(t.Status)
	}
	line := "工单 " + t.Number + "：" + s
	if t.DepartmentName != "" && (t.Status == ticketing.StatusDispatched || t.Status == ticketing.StatusAccepted) {
		line += "（" + t.DepartmentName + "）"
	}
	return line
}

// query answers with the status of one of the citizen's own tickets: a
// number alone reveals nothing about anyone else's.
func (c *Channel) query(ctx context.Context, openID, number string) (*Reply, error) {
	t, err := c.finder.ByNumber(ctx, number)
	if errors.Is(err, ticketing.ErrNotFound) || (err == nil && t.Reporter.OpenID != openID) {
		return &Reply{Text: "未找到您反映的工单 " + number + "，请核对工单号。"}, nil
	}
	if err != nil {
		return nil, err
	}
	return &Reply{Text: statusLine(t)}, nil
}

// myTickets lists the citizen's five latest tickets.
func (c *Channel) myTickets(ctx context.Context, openID string) (*Reply, error) {
	ts, err := c.finder.List(ctx, ticketing.ListFilter{OpenID: openID, From: c.cfg.Now().AddDate(-1, 0, 0), Limit: 5, Newest: true})
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return &Reply{Text: "您还没有通过本号反映过问题。" + howTo}, nil
	}
	var b strings.Builder
	b.WriteString("您最近的工单：")
	for _, t := range ts {
		b.WriteString("\n" + statusLine(t))
	}
	return &Reply{Text: b.String()}, nil
}

// rate records a citizen's 1–5 answer to the rating request as the
// ticket's evaluation. ok is false when no rating is awaited (the digit is
// then an ordinary message).
func (c *Channel) rate(ctx context.Context, openID string, score int) (*Reply, bool, error) {
	if c.ratings == nil {
		return nil, false, nil
	}
	number, open, err := c.ratings.Open(ctx, openID)
	if err != nil || !open {
		return nil, false, nil
	}
	e, err := ticketing.EvaluationFromScore(score)
	if err != nil {
		return nil, false, nil
	}
	_, err = c.tickets.Act(ctx, number, func(t *ticketing.Ticket, now time.Time) error {
		if t.Reporter.OpenID != openID {
			return ticketing.ErrNotFound
		}
		return t.Evaluate(now, "citizen:wechat", e)
	})
	var te *ticketing.Error
	switch {
	case err == nil:
	case errors.As(err, &te) && te.Code == "already_evaluated":
		return &Reply{Text: "工单 " + number + " 已评价过，感谢您的反馈。"}, true, nil
	case isClosed(err):
		return nil, false, c.ratings.End(ctx, openID)
	default:
		return nil, true, err
	}
	if err := c.ratings.End(ctx, openID); err != nil {
		c.log.Warn("wechat: rating store unavailable", "err", err)
	}
	return &Reply{Text: "感谢您为工单 " + number + " 打分（" + strconv.Itoa(score) + " 分）。"}, true, nil
}

// MaxPhotoBytes caps a photo fetched from WeChat.
const MaxPhotoBytes = 10 << 20

// fetchPhoto downloads an image message in the background and attaches it
// to the ticket: the reply never waits for it. Every try of the push
// fetches it; the message's key attaches it once.
func (c *Channel) fetchPhoto(m *Inbound, number string) {
	if m.MsgType != "image" || c.media == nil || c.photos == nil || m.MediaID == "" {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		always := func(error) bool { return true }
		if err := retry(5, 2*time.Second, always, func() error { return c.attach(number, m.MediaID, supplementKey(m)) }); err != nil {
			c.log.Warn("wechat: photo not attached", "number", number, "err", err)
		}
	}()
}

// retry calls f up to tries times while it fails with an error again
// accepts, waiting first, then twice as long before each next try; it
// returns f's last error.
func retry(tries int, first time.Duration, again func(error) bool, f func() error) error {
	err := f()
	for wait := first; err != nil && tries > 1 && again(err); tries, wait = tries-1, wait*2 {
		time.Sleep(wait)
		err = f()
	}
	return err
}

func (c *Channel) attach(number, mediaID, key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data, _, err := c.media.Media(ctx, mediaID, MaxPhotoBytes)
	if err != nil {
		return err
	}
	p, err := c.photos.Prepare(bytes.NewReader(data))
	if err != nil {
		c.log.Warn("wechat: photo refused", "number", number, "err", err)
		return nil // not a photo we keep: retrying changes nothing
	}
	att, err := c.photos.Save(p)
	if err != nil {
		return err
	}
	sup := ticketing.Supplement{Attachments: []ticketing.Attachment{att}, Key: key}
	if _, err := c.tickets.Supplement(ctx, number, "citizen:wechat", sup); err != nil {
		if isClosed(err) || ticketing.KindOf(err) == ticketing.KindTooLarge {
			c.log.Info("wechat: photo arrived for a ticket that takes no more", "number", number)
			return nil
		}
		return err
	}
	return nil
}
