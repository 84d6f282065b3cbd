package sms

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// Actor is who the notices and the replies' changes are recorded as.
const Actor = "sms"

// Tickets is what the Notifier needs of the ticket service.
type Tickets interface {
	Ticket(ctx context.Context, number string) (*ticketing.Ticket, error)
	Events(ctx context.Context, t *ticketing.Ticket) ([]ticketing.Event, error)
	Note(ctx context.Context, number, actor string, typ ticketing.EventType, note, public string) error
	// TrackCode is the code of the ticket's tracking link; "" for none.
	TrackCode(number string) string
}

// OptOuts says who asked for no more texts.
type OptOuts interface {
	OptedOut(ctx context.Context, address string) (bool, error)
}

// Config is what citizens are told, and when.
type Config struct {
	// Endpoint is the outbox queue's name (default "sms").
	Endpoint string
	// Sign is the signature every text starts with, 【Sign】, as the
	// carriers require of a sender (default 12345).
	Sign string
	// TrackURL is the tracking page's site (https://12345.example.gov.cn);
	// a text links to TrackURL/t/NUMBER?token=CODE. Empty: no link.
	TrackURL string
	// QuietFrom and QuietUntil are the night, as times of day in Location
	// (21:00 to 08:00 is usual; `yihao serve` defaults to it): only urgent
	// and emergency tickets' texts go out in it, the others wait for its
	// end. Equal (zero): no night.
	QuietFrom, QuietUntil time.Duration
	Location              *time.Location // the city's time zone (default Local)
	// GiveUp is how long a text is retried while the gateway fails
	// (default 48 hours); after that it goes to the dead letters, where
	// `yihao outbox` shows it.
	GiveUp time.Duration
	// MaxBackoff caps the wait between tries while the gateway fails
	// (default 5 minutes): a gateway back up is used within it.
	MaxBackoff time.Duration
	Poll       time.Duration // idle wait between claims (default 1 s)
	Now        func() time.Time
}

func (c *Config) defaults() {
	if c.Endpoint == "" {
		c.Endpoint = "sms"
	}
	if c.Sign == "" {
		c.Sign = "12345"
	}
	if c.Location == nil {
		c.Location = time.Local
	}
	if c.GiveUp <= 0 {
		c.GiveUp = 48 * time.Hour
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Minute
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Deliveries is the outbox queue the Notifier consumes.
type Deliveries interface {
	RegisterEndpoint(ctx context.Context, endpoint string, now time.Time) error
	ClaimDeliveries(ctx context.Context, endpoint string, now time.Time, limit int, lease time.Duration) ([]ticketing.Delivery, error)
	MarkDelivered(ctx context.Context, id int64, at time.Time, skipped bool) error
	MarkFailed(ctx context.Context, id int64, attempt int, nextAt time.Time, errText string, dead bool) error
}

// Notifier sends the texts.
type Notifier struct {
	cfg     Config
	ds      Deliveries
	tickets Tickets
	optouts OptOuts
	gw      Gateway
	log     *slog.Logger
}

// NewNotifier wires the texts.
func NewNotifier(cfg Config, ds Deliveries, tickets Tickets, optouts OptOuts, gw Gateway, log *slog.Logger) *Notifier {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{cfg: cfg, ds: ds, tickets: tickets, optouts: optouts, gw: gw, log: log}
}

// Register makes every ticket change from now on a delivery for the
// notifier; call it before the first report is taken.
func (n *Notifier) Register(ctx context.Context) error {
	return n.ds.RegisterEndpoint(ctx, n.cfg.Endpoint, n.cfg.Now())
}

// Run sends texts until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	ticketing.Consume(ctx, n.cfg.Poll, n.Step, func(err error) { n.log.Warn("sms notices: claim", "err", err) })
}

// Step claims the texts due now and sends them, and says how many it
// claimed.
func (n *Notifier) Step(ctx context.Context) (int, error) {
	// A few at a time, leased for longer than all of them can take (a
	// gateway may take 32 s to fail one): a lease that ran out mid-batch
	// would let another instance send the same texts again.
	ds, err := n.ds.ClaimDeliveries(ctx, n.cfg.Endpoint, n.cfg.Now(), claimBatch, claimLease)
	for _, d := range ds {
		n.deliver(ctx, d)
	}
	return len(ds), err
}

// Texts claimed at once, and how long they are held.
const (
	claimBatch = 4
	claimLease = 4 * time.Minute
)

// errNight defers a text to the morning.
var errNight = errors.New("quiet hours: waits for the morning")

func (n *Notifier) deliver(ctx context.Context, d ticketing.Delivery) {
	sent, err := n.notify(ctx, d)
	// What was sent is recorded even when the notifier is stopping: a
	// text the gateway took and that is not marked goes again.
	ctx = context.WithoutCancel(ctx)
	now := n.cfg.Now()
	if err == nil {
		if err := n.ds.MarkDelivered(ctx, d.ID, now, !sent); err != nil {
			n.log.Warn("sms notices: mark delivered", "number", d.Number, "err", err)
		}
		return
	}
	next := now.Add(min(time.Duration(1<<min(d.Attempt, 12))*time.Second, n.cfg.MaxBackoff))
	dead := IsPermanent(err) || now.Sub(d.MessageAt) > n.cfg.GiveUp
	if errors.Is(err, errNight) {
		next, dead = n.morning(now), false
	}
	if err := n.ds.MarkFailed(ctx, d.ID, d.Attempt, next, err.Error(), dead); err != nil && !errors.Is(err, ticketing.ErrLeaseLost) {
		n.log.Warn("sms notices: mark failed", "number", d.Number, "err", err)
	}
	if !errors.Is(err, errNight) {
		n.log.Warn("sms notice not sent", "number", d.Number, "attempt", d.Attempt, "dead", dead, "err", err)
	}
}

// A notice's kind, as its note on the ticket begins.
const (
	kindFiled    = "受理短信"
	kindHandled  = "办结短信"
	kindDeclined = "不予立案短信"
	kindFollower = "并单办结短信" // the case a report was merged into ended
	// ratingAsked ends the note of a handled text that asked for a rating.
	ratingAsked = "（请评价）"
)

// kindOf is the text a change calls for; "" for none.
func kindOf(topic string, status ticketing.Status) string {
	switch status {
	case ticketing.StatusClosed, ticketing.StatusResolvedOnContact:
		return kindHandled
	case ticketing.StatusNotRegistered:
		return kindDeclined
	}
	if topic == "ticket.created" {
		return kindFiled
	}
	return ""
}

// notify sends what a change calls for; sent is false when it calls for
// nothing: another door's citizen (WeChat tells its own), no mobile, an
// opt-out, a change citizens are not told of, or one told already.
func (n *Notifier) notify(ctx context.Context, d ticketing.Delivery) (sent bool, err error) {
	var p struct {
		Number string           `json:"number"`
		Status ticketing.Status `json:"status"`
		Master string           `json:"master"`
	}
	if json.Unmarshal(d.Payload, &p) != nil {
		return false, nil
	}
	kind := kindOf(d.Topic, p.Status)
	switch d.Topic {
	case "ticket.created", "ticket.changed":
	case "ticket.follower_closed":
		// A report merged into a case (a duplicate, a 督办 case): its
		// citizen hears how the case ended.
		kind = kindFollower
	default:
		return false, nil
	}
	if kind == "" {
		return false, nil
	}
	t, err := n.tickets.Ticket(ctx, p.Number)
	if err != nil {
		return false, err
	}
	phone := t.Reporter.Phone
	if t.Channel == ticketing.ChannelWeChat || !Mobile(phone) {
		return false, nil
	}
	// The ticket as it is now decides: a filed text for a ticket already
	// finished, or a handled one for a ticket reopened since, is stale.
	switch {
	case kind == kindFollower:
		if t.Status != ticketing.StatusMerged {
			return false, nil
		}
	case kindOf(d.Topic, t.Status) != kind && !(kind == kindFiled && t.Status.Open()):
		return false, nil
	}
	evs, err := n.tickets.Events(ctx, t)
	if err != nil {
		return false, err
	}
	if told(evs, kind) {
		return false, nil
	}
	if out, err := n.optouts.OptedOut(ctx, phone); err != nil || out {
		return false, err
	}
	if n.night(n.cfg.Now()) && t.Priority != ticketing.PriorityUrgent && t.Priority != ticketing.PriorityEmergency {
		return false, errNight
	}
	text, note := n.text(t, kind, p.Master, p.Status)
	if err := n.gw.SendText(ctx, phone, text); err != nil {
		return false, err
	}
	if err := n.tickets.Note(context.WithoutCancel(ctx), t.Number, Actor, ticketing.EventNotified, note+"，至"+ticketing.MaskPhone(phone), ""); err != nil {
		// Sent: marking it delivered keeps it from going twice; only the
		// ticket's record of it is missing.
		n.log.Warn("sms notice sent but not noted", "number", t.Number, "err", err)
	}
	return true, nil
}

// told reports whether the log holds a text of kind since the ticket last
// changed its state (a reopened ticket's new end is told again).
func told(evs []ticketing.Event, kind string) bool {
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.Type == ticketing.EventNotified && e.Actor == Actor && strings.HasPrefix(e.Note, kind) {
			return true
		}
		if e.From != e.To && kind != kindFiled {
			return false
		}
	}
	return false
}

// text is the SMS for kind, and the note that records it.
func (n *Notifier) text(t *ticketing.Ticket, kind, master string, masterStatus ticketing.Status) (text, note string) {
	var b strings.Builder
	b.WriteString("【" + n.cfg.Sign + "】")
	note = kind
	switch kind {
	case kindFiled:
		b.WriteString("您反映的问题已受理，工单号" + t.Number + "。")
	case kindDeclined:
		b.WriteString("您的工单" + t.Number + "经审核不予立案。")
	case kindFollower:
		b.WriteString("您反映的问题（工单" + t.Number + "）已并入工单" + master + "一并办理，")
		if masterStatus == ticketing.StatusNotRegistered {
			b.WriteString("经审核不予立案。")
		} else {
			b.WriteString("现已办结。")
		}
	case kindHandled:
		b.WriteString("您的工单" + t.Number + "已办结。")
		if t.Can(ticketing.ActEvaluate) {
			b.WriteString("请回复数字评价：1满意 2基本满意 3不满意。")
			note += ratingAsked
		}
	}
	if code := n.tickets.TrackCode(t.Number); code != "" && n.cfg.TrackURL != "" {
		b.WriteString("查询：" + strings.TrimSuffix(n.cfg.TrackURL, "/") + "/t/" + t.Number + "?token=" + url.QueryEscape(code) + " ")
	}
	b.WriteString("回复TD退订")
	return b.String(), note
}

// night reports whether at falls in the quiet hours.
func (n *Notifier) night(at time.Time) bool {
	from, until := n.cfg.QuietFrom, n.cfg.QuietUntil
	if from == until {
		return false
	}
	local := at.In(n.cfg.Location)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, n.cfg.Location)
	of := local.Sub(day)
	if from < until {
		return of >= from && of < until
	}
	return of >= from || of < until
}

// morning is the end of the quiet hours that at falls in.
func (n *Notifier) morning(at time.Time) time.Time {
	local := at.In(n.cfg.Location)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, n.cfg.Location)
	end := day.Add(n.cfg.QuietUntil)
	if !end.After(local) {
		end = day.AddDate(0, 0, 1).Add(n.cfg.QuietUntil)
	}
	return end
}
