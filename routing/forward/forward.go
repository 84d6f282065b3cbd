// Package forward delivers outbox messages to the external grid platforms a
// city already runs (数字城管 systems and the like): signed JSON webhooks and
// Open311 GeoReport v2 servers. Delivery is at least once with retries,
// exponential backoff and a dead-letter list; receivers stay idempotent with
// the delivery id. Status reported back by an Open311 server becomes events
// on the ticket.
//
// The queue lives in the ticket store (ticketing.DeliveryStore), so it
// survives restarts and is shared by every instance on one database.
package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// Tickets loads a ticket by its public number; *ticketing.Service implements it.
type Tickets interface {
	Ticket(ctx context.Context, number string) (*ticketing.Ticket, error)
}

// Notes records an event that keeps the ticket's state (EventForwarded,
// EventExternalUpdate) on the ticket with that number.
type Notes interface {
	Note(ctx context.Context, number, actor string, typ ticketing.EventType, note, public string) error
}

// Kind is the protocol an endpoint speaks.
type Kind string

const (
	KindWebhook Kind = "webhook" // signed JSON POST per message
	KindOpen311 Kind = "open311" // Open311 GeoReport v2 client
)

// Endpoint configures one external platform.
type Endpoint struct {
	// Name identifies the endpoint's queue in the store; keep it stable.
	Name string `yaml:"name"`
	// Label names the platform to citizens ("区数字城管平台"); when set,
	// forwarding and status notes are also shown on the tracking page.
	Label string `yaml:"label"`
	Kind  Kind   `yaml:"kind"`
	// URL is the webhook's target, or the Open311 base URL (…/open311/v2).
	URL string `yaml:"url"`
	// Secret is the webhook's HMAC-SHA256 key.
	Secret string `yaml:"secret"`
	// APIKey and JurisdictionID are sent to the Open311 server.
	APIKey         string `yaml:"api_key"`
	JurisdictionID string `yaml:"jurisdiction_id"`
	// Topics limits the outbox topics sent (webhook: empty sends all;
	// Open311 looks only at ticket.created and ticket.changed).
	Topics []string `yaml:"topics"`
	// Departments limits forwarding to tickets dispatched to these
	// departments (codes); empty forwards every department. A ticket once
	// forwarded keeps receiving its updates after a re-dispatch elsewhere.
	Departments []string `yaml:"departments"`
	// ServiceCodes maps our category codes to Open311 service_code values;
	// DefaultServiceCode is used for categories not in the map. A ticket
	// whose category maps to nothing goes to the dead-letter list.
	ServiceCodes       map[string]string `yaml:"service_codes"`
	DefaultServiceCode string            `yaml:"default_service_code"`
	// ExternalIDAttribute names the Open311 attribute that carries our ticket
	// number (default "yihao_ticket").
	ExternalIDAttribute string `yaml:"external_id_attribute"`
	// SendContact sends the reporter's name and phone to the Open311 server.
	SendContact bool `yaml:"send_contact"`

	Timeout      time.Duration `yaml:"timeout"`       // per HTTP request (default 10s)
	PollInterval time.Duration `yaml:"poll_interval"` // Open311 status polling (default 5m)
	BackoffBase  time.Duration `yaml:"backoff_base"`  // first retry delay (default 1s)
	BackoffMax   time.Duration `yaml:"backoff_max"`   // longest retry delay (default 5m)
	MaxAttempts  int           `yaml:"max_attempts"`  // dead-letter after this many attempts (default: no limit, MaxAge decides)
	MaxAge       time.Duration `yaml:"max_age"`       // dead-letter a failing message older than this (default 72h)
	BatchSize    int           `yaml:"batch_size"`    // deliveries claimed and sent at once (default 8)
	Idle         time.Duration `yaml:"idle"`          // pause when nothing is due (default 1s)
	// Lease is how long a claimed delivery is held before another instance
	// may take it over (default 4×Timeout + 10s); it must exceed the time to
	// deliver one message.
	Lease time.Duration `yaml:"lease"`
}

const (
	defaultTimeout     = 10 * time.Second
	defaultPoll        = 5 * time.Minute
	defaultBackoffBase = time.Second
	defaultBackoffMax  = 5 * time.Minute
	defaultMaxAge      = 72 * time.Hour
	defaultBatch       = 8
	defaultIdle        = time.Second
	defaultAttribute   = "yihao_ticket"
	maxRetryAfter      = time.Hour
	maxErrorText       = 1000
	// storeTimeout bounds the store writes that record an attempt's result,
	// which run even while the forwarder stops.
	storeTimeout = 10 * time.Second
)

// withDefaults checks e and fills in its defaults.
func (e Endpoint) withDefaults() (Endpoint, error) {
	bad := func(field, format string, args ...any) (Endpoint, error) {
		return e, fmt.Errorf("forward: endpoint %q: %s: %s", e.Name, field, fmt.Sprintf(format, args...))
	}
	if e.Name == "" {
		return bad("name", "is required")
	}
	u, err := url.Parse(e.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("url", "%q is not an absolute http(s) URL", e.URL)
	}
	switch e.Kind {
	case KindWebhook:
		if e.Secret == "" {
			return bad("secret", "is required to sign webhook requests")
		}
	case KindOpen311:
		if e.ExternalIDAttribute == "" {
			e.ExternalIDAttribute = defaultAttribute
		}
		if len(e.Topics) == 0 {
			e.Topics = []string{"ticket.created", "ticket.changed"}
		}
	default:
		return bad("kind", "%q is not webhook or open311", e.Kind)
	}
	for field, d := range map[string]time.Duration{"timeout": e.Timeout, "poll_interval": e.PollInterval,
		"backoff_base": e.BackoffBase, "backoff_max": e.BackoffMax, "max_age": e.MaxAge, "idle": e.Idle, "lease": e.Lease} {
		if d < 0 {
			return bad(field, "must not be negative")
		}
	}
	if e.MaxAttempts < 0 || e.BatchSize < 0 {
		return bad("max_attempts/batch_size", "must not be negative")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&e.Timeout, defaultTimeout)
	def(&e.PollInterval, defaultPoll)
	def(&e.BackoffBase, defaultBackoffBase)
	def(&e.BackoffMax, defaultBackoffMax)
	def(&e.MaxAge, defaultMaxAge)
	def(&e.Idle, defaultIdle)
	def(&e.Lease, 4*e.Timeout+10*time.Second)

	if e.BatchSize == 0 {
		e.BatchSize = defaultBatch
	}
	if e.BackoffMax < e.BackoffBase {
		return bad("backoff_max", "%s is shorter than backoff_base %s", e.BackoffMax, e.BackoffBase)
	}
	if e.Lease <= e.Timeout {
		return bad("lease", "%s must be longer than the timeout %s", e.Lease, e.Timeout)
	}
	return e, nil
}

// Forwarder runs the delivery loops of its endpoints.
type Forwarder struct {
	store     ticketing.DeliveryStore
	endpoints []*endpoint
	now       func() time.Time
	log       *slog.Logger
}

// Option configures a Forwarder.
type Option func(*options)

type options struct {
	now       func() time.Time
	log       *slog.Logger
	transport http.RoundTripper
}

// WithClock sets the clock.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithTransport sets the HTTP transport every endpoint uses (default: one
// per endpoint with connection, TLS and response-header timeouts).
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// New checks the endpoints and wires a Forwarder. tickets is needed only for
// Open311 endpoints (the request carries the ticket's text and place).
func New(store ticketing.DeliveryStore, tickets Tickets, notes Notes, endpoints []Endpoint, opts ...Option) (*Forwarder, error) {
	o := options{now: time.Now, log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if store == nil || notes == nil {
		return nil, errors.New("forward: a store and notes are required")
	}
	now := func() time.Time { return o.now().Truncate(time.Microsecond) }
	f := &Forwarder{store: store, now: now, log: o.log}
	seen := map[string]bool{}
	for _, cfg := range endpoints {
		cfg, err := cfg.withDefaults()
		if err != nil {
			return nil, err
		}
		if seen[cfg.Name] {
			return nil, fmt.Errorf("forward: endpoint %q is configured twice", cfg.Name)
		}
		seen[cfg.Name] = true
		if cfg.Kind == KindOpen311 && tickets == nil {
			return nil, fmt.Errorf("forward: endpoint %q: Open311 needs a ticket source", cfg.Name)
		}
		rt := o.transport
		if rt == nil {
			rt = newTransport(cfg)
		}
		e := &endpoint{cfg: cfg, store: store, notes: notes, now: now,
			log: o.log.With("endpoint", cfg.Name),
			client: &http.Client{Transport: rt, Timeout: cfg.Timeout,
				// A redirect of a POST is a configuration error, not something to follow.
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
			topics: map[string]bool{}, depts: map[string]bool{}}
		for _, t := range cfg.Topics {
			e.topics[t] = true
		}
		for _, d := range cfg.Departments {
			e.depts[d] = true
		}
		switch cfg.Kind {
		case KindWebhook:
			e.sender = &webhook{e: e}
		case KindOpen311:
			e.sender = &open311{e: e, tickets: tickets}
		}
		f.endpoints = append(f.endpoints, e)
	}
	return f, nil
}

func newTransport(cfg Endpoint) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: min(cfg.Timeout, 5*time.Second), KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = min(cfg.Timeout, 5*time.Second)
	t.ResponseHeaderTimeout = cfg.Timeout
	t.MaxIdleConnsPerHost = cfg.BatchSize
	return t
}

// Register makes every message written from now on produce a delivery for
// each endpoint. Call it before the server accepts reports, so that none
// written before the first Run is missed; Run calls it too.
func (f *Forwarder) Register(ctx context.Context) error {
	for _, e := range f.endpoints {
		if err := f.store.RegisterEndpoint(ctx, e.cfg.Name, f.now()); err != nil {
			return fmt.Errorf("forward: register %s: %w", e.cfg.Name, err)
		}
	}
	return nil
}

// Run delivers until ctx is cancelled, then gives back what it claimed but
// did not send and returns nil. Store and endpoint failures are logged and
// retried, never returned.
func (f *Forwarder) Run(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		err := f.Register(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		f.log.Warn("forwarding endpoints not registered yet; retrying", "err", err)
		if !sleep(ctx, backoff(time.Second, time.Minute, attempt)) {
			return nil
		}
	}
	var wg sync.WaitGroup
	for _, e := range f.endpoints {
		wg.Go(func() { e.deliverLoop(ctx) })
		if p, ok := e.sender.(poller); ok {
			wg.Go(func() { e.pollLoop(ctx, p) })
		}
	}
	wg.Wait()
	return nil
}

// endpoint is one configured platform and its loops.
type endpoint struct {
	cfg    Endpoint
	store  ticketing.DeliveryStore
	notes  Notes
	client *http.Client
	sender sender
	now    func() time.Time
	log    *slog.Logger
	topics map[string]bool
	depts  map[string]bool
}

// sender delivers one message.
type sender interface {
	send(ctx context.Context, d ticketing.Delivery) outcome
}

// poller follows what became of forwarded tickets.
type poller interface {
	poll(ctx context.Context, ref ticketing.ExternalRef)
}

// outcome is the result of one attempt.
type outcome struct {
	skipped    bool          // not for this endpoint: done without sending
	err        error         // nil: delivered
	permanent  bool          // retrying cannot help: dead-letter now
	retryAfter time.Duration // the receiver asked to wait at least this long
}

func delivered() outcome { return outcome{} }
func skipped() outcome   { return outcome{skipped: true} }

// retry is a transient failure.
func retry(err error) outcome { return outcome{err: err} }

// permanent is a failure retrying cannot fix.
func permanent(err error) outcome { return outcome{err: err, permanent: true} }

// storeFailure classifies a store or Notes error: missing or invalid data
// is permanent, anything else (the database is down) is retried.
func storeFailure(what string, err error) outcome {
	switch ticketing.KindOf(err) {
	case ticketing.KindNotFound, ticketing.KindInvalid:
		return permanent(fmt.Errorf("%s: %w", what, err))
	}
	return retry(fmt.Errorf("%s: %w", what, err))
}

// payload is what Service.Submit and Service.Act put in a message.
type payload struct {
	Number     string           `json:"number"`
	Status     ticketing.Status `json:"status"`
	Category   string           `json:"category"`
	Department string           `json:"department"`
}

func decodePayload(d ticketing.Delivery) (payload, error) {
	var p payload
	if err := json.Unmarshal(d.Payload, &p); err != nil {
		return p, fmt.Errorf("message %d: payload: %w", d.MessageID, err)
	}
	return p, nil
}

func (e *endpoint) actor() string { return "forward:" + e.cfg.Name }

// display is how notes name the platform.
func (e *endpoint) display() string {
	if e.cfg.Label != "" {
		return e.cfg.Label
	}
	return e.cfg.Name
}

// forwardedPublic is the citizen's line for a forwarded ticket; empty
// (internal only) when the endpoint has no label.
func (e *endpoint) forwardedPublic() string {
	if e.cfg.Label == "" {
		return ""
	}
	return "已转送" + e.cfg.Label + "办理"
}

func (e *endpoint) deliverLoop(ctx context.Context) {
	for {
		n, err := e.deliverBatch(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			e.log.Warn("claiming deliveries failed", "err", err)
		}
		if (err != nil || n < e.cfg.BatchSize) && !sleep(ctx, e.cfg.Idle) {
			return
		}
	}
}

// deliverBatch claims due deliveries and sends them in parallel: a claim
// holds at most one message per ticket, so order per ticket is kept.
func (e *endpoint) deliverBatch(ctx context.Context) (int, error) {
	ds, err := e.store.ClaimDeliveries(ctx, e.cfg.Name, e.now(), e.cfg.BatchSize, e.cfg.Lease)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Go(func() { e.deliver(ctx, d) })
	}
	wg.Wait()
	return len(ds), nil
}

// detach returns a context that outlives ctx's cancellation (but not its
// values) for the store writes that record what already happened outside.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
}

func (e *endpoint) deliver(ctx context.Context, d ticketing.Delivery) {
	out := e.sender.send(ctx, d)
	// The result is recorded even while stopping: a send that went through
	// must not be sent again for want of a write.
	sctx, cancel := detach(ctx)
	defer cancel()
	now := e.now()
	log := e.log.With("delivery", d.ID, "ticket", d.Number, "topic", d.Topic, "attempt", d.Attempt)
	if out.err == nil {
		if err := e.store.MarkDelivered(sctx, d.ID, now, out.skipped); err != nil {
			log.Error("recording a delivery failed; it will be sent again", "err", err)
			return
		}
		if !out.skipped {
			log.Debug("delivered")
		}
		return
	}
	if ctx.Err() != nil {
		// Stopping: whether the receiver got it is unknown, so it goes out
		// again after the restart, with the same delivery id.
		if err := e.store.Release(sctx, d.ID, d.Attempt); err != nil && !errors.Is(err, ticketing.ErrLeaseLost) {
			log.Warn("releasing a delivery failed; it goes out again when its lease ends", "err", err)
		}
		return
	}
	// An endpoint down for hours must not exhaust its queue: with no attempt
	// limit set, only age (72 h by default) sends a message to the dead letters.
	dead := out.permanent || (e.cfg.MaxAttempts > 0 && d.Attempt >= e.cfg.MaxAttempts) || now.Sub(d.MessageAt) >= e.cfg.MaxAge
	wait := max(backoff(e.cfg.BackoffBase, e.cfg.BackoffMax, d.Attempt), out.retryAfter)
	text := out.err.Error()
	if len(text) > maxErrorText {
		text = text[:maxErrorText]
	}
	if err := e.store.MarkFailed(sctx, d.ID, d.Attempt, now.Add(wait), text, dead); err != nil {
		if !errors.Is(err, ticketing.ErrLeaseLost) {
			log.Error("recording a failed delivery failed; it is retried when its lease ends", "err", err)
		}
		return
	}
	if dead {
		log.Error("delivery dead-lettered", "err", text, "permanent", out.permanent)
	} else {
		log.Warn("delivery failed; will retry", "err", text, "retry_in", wait)
	}
}

func (e *endpoint) pollLoop(ctx context.Context, p poller) {
	for {
		refs, err := e.store.ClaimPolls(ctx, e.cfg.Name, e.now(), e.cfg.BatchSize, e.cfg.Lease)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			e.log.Warn("claiming status polls failed", "err", err)
		}
		var wg sync.WaitGroup
		for _, ref := range refs {
			wg.Go(func() { p.poll(ctx, ref) })
		}
		wg.Wait()
		if len(refs) < e.cfg.BatchSize && !sleep(ctx, e.cfg.Idle) {
			return
		}
	}
}

// relevant reports whether a message of ticket with payload p concerns the
// endpoint: its topic is configured and the ticket belongs to one of its
// departments or was forwarded to it before (ref != nil).
func (e *endpoint) relevant(d ticketing.Delivery, p payload, ref *ticketing.ExternalRef) bool {
	if len(e.topics) > 0 && !e.topics[d.Topic] {
		return false
	}
	return len(e.depts) == 0 || e.depts[p.Department] || ref != nil
}

// ref returns the ticket's reference on the endpoint, nil if there is none.
func (e *endpoint) ref(ctx context.Context, ticketID int64) (*ticketing.ExternalRef, error) {
	ref, err := e.store.ExternalRef(ctx, e.cfg.Name, ticketID)
	if errors.Is(err, ticketing.ErrNotFound) {
		return nil, nil
	}
	return ref, err
}

// backoff is the wait before retry number attempt (1-based): base doubling
// up to max, with equal jitter (half fixed, half random) so that a platform
// coming back is not hit by every retry at once.
func backoff(base, maxWait time.Duration, attempt int) time.Duration {
	d := maxWait
	if attempt < 32 {
		if b := base << (attempt - 1); b > 0 && b < maxWait {
			d = b
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// retryAfter reads a Retry-After header (seconds or an HTTP date).
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		d = time.Duration(min(secs, int(maxRetryAfter/time.Second))) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// sleep waits d or until ctx is done; it reports whether to carry on.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// httpFailure classifies a response status: 408, 429 and 5xx are retried
// (after Retry-After when given); any other status outside 2xx is permanent.
func httpFailure(resp *http.Response, detail string, now time.Time) outcome {
	err := fmt.Errorf("%s %s", resp.Status, detail)
	if detail == "" {
		err = errors.New(resp.Status)
	}
	switch c := resp.StatusCode; {
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return outcome{err: err, retryAfter: retryAfter(resp.Header, now)}
	default:
		return permanent(err)
	}
}
