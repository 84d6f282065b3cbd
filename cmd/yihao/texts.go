package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/yihao-city/yihao/channels/hotline"
	"github.com/yihao-city/yihao/channels/sms"
	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/ticketing"
)

// check reads the texts' settings: a gateway that exists, and the night.
func (c *TextsConfig) check(sc SIPConfig) error {
	switch c.Gateway {
	case "":
	case "sip":
		if len(sc.Gateways) == 0 {
			return errors.New("config: texts.gateway sip sends through the first of sip.gateways: set one (YIHAO_SIP_GATEWAYS)")
		}
	case "http":
		if c.HTTPURL == "" || c.HTTPAccount == "" || c.HTTPSecret == "" {
			return errors.New("config: texts.gateway http needs http_url, http_account and http_secret")
		}
	default:
		return fmt.Errorf("config: texts.gateway %q; sip, http or empty", c.Gateway)
	}
	_, _, err := c.quiet()
	return err
}

// quiet reads Quiet: from and until as times of day.
func (c *TextsConfig) quiet() (from, until time.Duration, err error) {
	switch c.Quiet {
	case "":
		return 21 * time.Hour, 8 * time.Hour, nil
	case "off":
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(c.Quiet, "-")
	clock := func(v string) (time.Duration, error) {
		t, err := time.Parse("15:04", strings.TrimSpace(v))
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, err
	}
	if from, err = clock(a); err == nil && ok {
		until, err = clock(b)
	}
	if err != nil || !ok || from == until {
		return 0, 0, fmt.Errorf("config: texts.quiet %q: give the night as 21:00-08:00, or off", c.Quiet)
	}
	return from, until, nil
}

// trackKey is the key of the tracking codes: the configured one, or one
// kept in the data directory (made on the first start).
func (a *app) trackKey() ([]byte, error) {
	if a.cfg.TrackKey != "" {
		return []byte(a.cfg.TrackKey), nil
	}
	path := filepath.Join(a.cfg.DataDir, "track.key")
	if b, err := os.ReadFile(path); err == nil && len(b) >= ticketing.MinTrackKey {
		return b, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("track key: %w", err)
	}
	if err := os.MkdirAll(a.cfg.DataDir, 0o750); err != nil {
		return nil, err
	}
	key := []byte(rand.Text() + rand.Text())
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("track key: %w", err)
	}
	if a.cfg.DatabaseURL != "" {
		a.log.Warn("no track_key configured: made one in " + path + "; instances sharing the database must share it (YIHAO_TRACK_KEY), or the links in texts work on this one only")
	}
	return key, nil
}

// textsEndpoint is the outbox queue of the texts.
const textsEndpoint = "sms"

// textsInboundPath is where an HTTP SMS platform pushes citizens' texts.
const textsInboundPath = "/sms/inbound"

// openTexts readies the texts before any door takes a report: the replies
// the SMS door reads, and the outbox queue registered, so no change misses
// it. The notifier starts with the doors (startTexts), once the SIP side
// it may send through exists.
func (a *app) openTexts(ctx context.Context) error {
	ds, ok := a.store.(ticketing.DeliveryStore)
	if a.cfg.Texts.Gateway != "" {
		a.queues = append(a.queues, textsEndpoint)
	}
	if len(a.queues) > 0 && ok {
		a.reg.MustRegister(newQueueCollector(ds, a.queues))
	}
	if a.cfg.Texts.Gateway == "" {
		return nil
	}
	if !ok {
		return fmt.Errorf("texts: the %s store keeps no delivery queue", a.desc)
	}
	a.replies = sms.NewReplies(replyTickets{a.svc, a.store}, a.store, a.cfg.Texts.RatingWindow, nil, a.log)
	return ds.RegisterEndpoint(ctx, textsEndpoint, time.Now())
}

// startTexts starts sending texts.
func (a *app) startTexts(ctx context.Context) error {
	tc := a.cfg.Texts
	var gw sms.Gateway
	switch tc.Gateway {
	case "":
		return nil
	case "sip":
		if a.phone == nil || a.phone.sip == nil {
			return errors.New("config: texts.gateway sip needs the SIP side (sip.addr is off)")
		}
		gw = a.phone.sip
	case "http":
		hg := &sms.HTTPGateway{URL: tc.HTTPURL, Account: tc.HTTPAccount, Secret: tc.HTTPSecret}
		gw = hg
		// The platform pushes the citizens' texts here, signed as the sends.
		httpapi.Handle(a.engine, "POST "+textsInboundPath, &sms.Inbound{Account: tc.HTTPAccount, Secret: tc.HTTPSecret,
			Replies: a.replies, Tickets: a.svc, Gateway: hg, Log: a.log})
	}
	from, until, _ := tc.quiet()
	n := sms.NewNotifier(sms.Config{Endpoint: textsEndpoint, Sign: tc.Sign, TrackURL: tc.TrackURL, QuietFrom: from, QuietUntil: until, Location: a.loc, Poll: tc.Poll, MaxBackoff: tc.RetryMax},
		a.store.(ticketing.DeliveryStore), a.svc, a.store, gw, a.log)
	run, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); n.Run(run) }()
	a.onClose(func() { stop(); <-done })
	a.log.Info("texts to citizens", "gateway", tc.Gateway)
	return nil
}

// replyTickets is what the replies read and change: the store lists a
// citizen's tickets, the service changes them.
type replyTickets struct {
	svc   *ticketing.Service
	store ticketing.Store
}

func (r replyTickets) List(ctx context.Context, f ticketing.ListFilter) ([]*ticketing.Ticket, error) {
	return r.store.List(ctx, f)
}

func (r replyTickets) Events(ctx context.Context, t *ticketing.Ticket) ([]ticketing.Event, error) {
	return r.svc.Events(ctx, t)
}

func (r replyTickets) Act(ctx context.Context, number string, act func(*ticketing.Ticket, time.Time) error) (*ticketing.Ticket, error) {
	return r.svc.Act(ctx, number, act)
}

// textReplies is what the SMS door asks before taking a text as a report;
// nil when no texts are sent (a nil *sms.Replies must not become a non-nil
// interface).
func (a *app) textReplies() hotline.TextReplies {
	if a.replies == nil {
		return nil
	}
	return a.replies
}
