package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// Sender sends notices through WeChat's API.
type Sender interface {
	SendText(ctx context.Context, openID, text string) error
	SendTemplate(ctx context.Context, openID, templateID, url string, data map[string]string) error
	SendSubscribe(ctx context.Context, openID, templateID, page string, data map[string]string) error
}

// NotifyConfig is what citizens are told, and how.
type NotifyConfig struct {
	// Endpoint is the outbox queue's name (default "wechat").
	Endpoint string
	// Template ids of the account's template messages for "dispatched" and
	// "finished"; empty sends a customer-service text instead (which only
	// reaches citizens who wrote within the last 48 hours).
	DispatchedTemplate, FinishedTemplate string
	// Subscribe sends the templates as subscribe messages (订阅通知, the
	// kind WeChat now prefers) instead of template messages.
	Subscribe bool
	// TrackURL is the tracking page's base (https://12345.example.gov.cn/t/);
	// the notice links to TrackURL+number.
	TrackURL string
	// RatingWindow is how long a citizen may answer the 1–5 rating request
	// (default 48 hours, WeChat's customer-service window).
	RatingWindow time.Duration
	Poll         time.Duration // idle wait between claims (default 1 s)
	Now          func() time.Time
}

// Notifier tells WeChat citizens how their tickets go: the dispatch, the
// result, and a request for a 1–5 rating, whose answer (Channel reads it)
// becomes the ticket's evaluation. It consumes the ticket outbox as one
// delivery endpoint, so a notice is sent at least once, retried with
// backoff, and never holds up the ticket.
type Notifier struct {
	cfg     NotifyConfig
	ds      ticketing.DeliveryStore
	finder  Finder
	send    Sender
	ratings Conversations // citizen → ticket awaiting a rating
	log     *slog.Logger
}

// NewNotifier wires the notices.
func NewNotifier(cfg NotifyConfig, ds ticketing.DeliveryStore, finder Finder, send Sender, ratings Conversations, log *slog.Logger) *Notifier {
	if cfg.Endpoint == "" {
		cfg.Endpoint = "wechat"
	}
	if cfg.RatingWindow <= 0 {
		cfg.RatingWindow = 48 * time.Hour
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{cfg: cfg, ds: ds, finder: finder, send: send, ratings: ratings, log: log}
}

// Register makes every ticket change from now on a delivery for the
// notifier; call it before the first report is taken.
func (n *Notifier) Register(ctx context.Context) error {
	return n.ds.RegisterEndpoint(ctx, n.cfg.Endpoint, n.cfg.Now())
}

// Run sends notices until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	ticketing.Consume(ctx, n.cfg.Poll, n.step, func(err error) { n.log.Warn("wechat notices: claim", "err", err) })
}

// step claims the notices due now and sends them.
func (n *Notifier) step(ctx context.Context) (int, error) {
	ds, err := n.ds.ClaimDeliveries(ctx, n.cfg.Endpoint, n.cfg.Now(), 32, time.Minute)
	for _, d := range ds {
		n.deliver(ctx, d)
	}
	return len(ds), err
}

func (n *Notifier) deliver(ctx context.Context, d ticketing.Delivery) {
	sent, err := n.notify(ctx, d)
	now := n.cfg.Now()
	if err == nil {
		if err := n.ds.MarkDelivered(ctx, d.ID, now, !sent); err != nil {
			n.log.Warn("wechat notices: mark delivered", "number", d.Number, "err", err)
		}
		return
	}
	dead := !IsRetryable(err) || d.Attempt >= 8
	backoff := time.Duration(1<<min(d.Attempt, 10)) * time.Second
	if err := n.ds.MarkFailed(ctx, d.ID, d.Attempt, now.Add(backoff), err.Error(), dead); err != nil && !errors.Is(err, ticketing.ErrLeaseLost) {
		n.log.Warn("wechat notices: mark failed", "number", d.Number, "err", err)
	}
	n.log.Warn("wechat notice not sent", "number", d.Number, "attempt", d.Attempt, "dead", dead, "err", err)
}

// notify sends what a change calls for; sent is false when it calls for
// nothing (not a WeChat ticket, or a change citizens are not told of).
func (n *Notifier) notify(ctx context.Context, d ticketing.Delivery) (sent bool, err error) {
	if d.Topic != "ticket.changed" {
		return false, nil // ticket.created: the reply carried the number
	}
	var p struct {
		Number string           `json:"number"`
		Status ticketing.Status `json:"status"`
		From   ticketing.Status `json:"from"`
	}
	if err := json.Unmarshal(d.Payload, &p); err != nil {
		return false, nil
	}
	if p.From == p.Status && !p.Status.Open() {
		// A finished ticket changed again (rated, a note): told already.
		return false, nil
	}
	switch p.Status {
	case ticketing.StatusDispatched, ticketing.StatusClosed, ticketing.StatusResolvedOnContact, ticketing.StatusNotRegistered:
	default:
		return false, nil
	}
	t, err := n.finder.ByNumber(ctx, p.Number)
	if err != nil {
		return false, err
	}
	if t.Channel != ticketing.ChannelWeChat || t.Reporter.OpenID == "" {
		return false, nil
	}
	openID := t.Reporter.OpenID
	url := ""
	if n.cfg.TrackURL != "" {
		url = n.cfg.TrackURL + t.Number
	}
	status := statusNames[p.Status]
	when := d.MessageAt.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04")
	switch p.Status {
	case ticketing.StatusDispatched:
		dept := t.DepartmentName
		if dept == "" {
			dept = "承办部门"
		}
		err = n.notice(ctx, openID, n.cfg.DispatchedTemplate, url, map[string]string{
			"number": t.Number, "status": status, "department": dept, "time": when,
		}, "您的工单 "+t.Number+" 已派遣至"+dept+"办理。")
	default:
		err = n.notice(ctx, openID, n.cfg.FinishedTemplate, url, map[string]string{
			"number": t.Number, "status": status, "time": when,
		}, "您的工单 "+t.Number+" "+status+"。")
		if err == nil && t.Can(ticketing.ActEvaluate) {
			err = n.askRating(ctx, openID, t.Number)
		}
	}
	return err == nil, err
}

func (n *Notifier) notice(ctx context.Context, openID, template, url string, data map[string]string, text string) error {
	switch {
	case template != "" && n.cfg.Subscribe:
		return n.send.SendSubscribe(ctx, openID, template, url, data)
	case template != "":
		return n.send.SendTemplate(ctx, openID, template, url, data)
	}
	if url != "" {
		text += "\n详情：" + url
	}
	return n.send.SendText(ctx, openID, text)
}

// askRating asks for a 1–5 rating by customer-service message and
// remembers which ticket the citizen's next digit rates.
func (n *Notifier) askRating(ctx context.Context, openID, number string) error {
	if err := n.ratings.Keep(ctx, openID, number, n.cfg.RatingWindow); err != nil {
		return err
	}
	return n.send.SendText(ctx, openID, "请为工单 "+number+" 的办理打分：回复 1～5 的数字（5 为非常满意）。")
}
