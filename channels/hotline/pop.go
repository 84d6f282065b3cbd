package hotline

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing"
)

// Kinds of screen pop (来电弹屏) events.
const (
	PopRinging  = "ringing"  // the call is offered to this agent's phone
	PopAnswered = "answered" // the agent took it
	PopMissed   = "missed"   // it rang here and went elsewhere (no answer, declined, caller hung up)
	PopEnded    = "ended"    // the call is over: time to finish the ticket
)

// Pop is what an agent's browser receives about a call on their phone.
type Pop struct {
	Kind      string          `json:"kind"`
	CallID    string          `json:"call_id"`
	Line      string          `json:"line"`
	LineLabel string          `json:"line_label,omitempty"`
	Domain    string          `json:"domain,omitempty"` // the line's default category
	Caller    string          `json:"caller"`           // the citizen's number, in full: agents call back
	Agent     string          `json:"agent"`
	At        time.Time       `json:"at"`
	Earlier   []EarlierTicket `json:"earlier,omitempty"`
}

// EarlierTicket is one of the caller's earlier tickets, so the agent knows
// at once whether this is a follow-up (重复来电).
type EarlierTicket struct {
	Number       string    `json:"number"`
	Status       string    `json:"status"`
	Category     string    `json:"category,omitempty"`
	CategoryName string    `json:"category_name,omitempty"`
	Summary      string    `json:"summary"`
	ReceivedAt   time.Time `json:"received_at"`
}

// AgentTopic is the live-bus topic of one agent's screen pops.
func AgentTopic(agent string) string { return "hotline.agent." + agent }

// pop hands a pop about call c to agent to the relay, which adds the
// caller's earlier tickets.
func (s *SIP) pop(c *call, agent, kind string) {
	s.pops.send(popRequest{Pop: Pop{
		Kind: kind, CallID: c.id, Line: c.line.Number, LineLabel: c.line.Label, Domain: c.line.Domain,
		Caller: c.caller, Agent: agent, At: s.cfg.Now(),
	}, earlier: &c.earlier})
}

// publish sends p to its agent's topic.
func publish(ctx context.Context, bus pubsub.Bus, log *slog.Logger, p Pop) {
	b, err := json.Marshal(p)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := bus.Publish(ctx, AgentTopic(p.Agent), b); err != nil {
		log.Warn("screen pop not delivered", "agent", p.Agent, "kind", p.Kind, "err", err)
	}
}

// popRelay sends the SIP side's screen pops off the call's path: a call
// hands its pop over and goes on, and one goroutine takes what has
// gathered meanwhile, looks up the earlier tickets of all its callers in
// one query and publishes the pops in one batch (pubsub.PublishAll: one
// Redis round trip). A lookup and a publish a pop cost the proxy on
// PostgreSQL and Redis a quarter of its CPU. One goroutine keeps each
// call's pops in the order handed over.
type popRelay struct {
	bus     pubsub.Bus
	store   Earlier
	country string // the default country code, for the numbers' spellings
	log     *slog.Logger
	in      chan popRequest
	stop    chan struct{}
	done    sync.WaitGroup
	// dropped counts a pop refused because the relay is that far behind.
	dropped func()
}

// popRequest is a pop to publish and, for a call's pops, where its
// earlier tickets are kept (nil: none are shown, as when a call ends).
type popRequest struct {
	Pop
	earlier *callEarlier
}

// callEarlier is a call's earlier tickets, looked up for its first pop
// and shown again on the rest. Only the relay's goroutine touches it.
type callEarlier struct {
	looked  bool
	tickets []EarlierTicket
}

// popQueue is how many pops wait for the relay: over a second of a busy
// hour's calls, three pops each. Past it (the bus or the store that slow)
// a pop is dropped, as a slow desk drops them (pubsub.Buffer): the phone
// still rings, and no call waits on a screen. Pops handed over once the
// relay has stopped (calls cut at shutdown) are dropped too.
const popQueue = 8192

// popLinger is how long the relay lets pops gather after the first: a
// desk sees its pop that much later, and under load a batch holds that
// much more (one lookup, one publish).
const popLinger = 5 * time.Millisecond

// popLookup bounds the earlier tickets' lookup: past it the batch's pops
// go without them rather than hold every desk's pops back.
const popLookup = 500 * time.Millisecond

// popDrain bounds how long a stopping relay goes on publishing what was
// queued.
const popDrain = 3 * time.Second

func newPopRelay(bus pubsub.Bus, store Earlier, country string, log *slog.Logger, dropped func()) *popRelay {
	r := &popRelay{bus: bus, store: store, country: country, log: log, in: make(chan popRequest, popQueue), stop: make(chan struct{}), dropped: dropped}
	r.done.Add(1)
	go r.run()
	return r
}

// send queues p, or drops it when the queue is full. A nil relay (no
// bus) sends nothing.
func (r *popRelay) send(p popRequest) {
	if r == nil {
		return
	}
	select {
	case r.in <- p:
	default:
		r.dropped()
		r.log.Debug("screen pop dropped: the relay is behind", "kind", p.Kind)
	}
}

func (r *popRelay) run() {
	defer r.done.Done()
	batch := make([]popRequest, 0, maxBatch)
	for {
		select {
		case p := <-r.in:
			batch = append(batch[:0], p)
		case <-r.stop:
			// What the calls handed over before the end, for at most
			// popDrain: a stuck bus must not hold the shutdown.
			end := time.Now().Add(popDrain)
			for batch = gather(r.in, batch[:0]); len(batch) > 0 && time.Now().Before(end); batch = gather(r.in, batch[:0]) {
				r.publish(batch)
				clear(batch)
			}
			return
		}
		if len(r.in) < maxBatch-1 {
			time.Sleep(popLinger)
		}
		batch = gather(r.in, batch)
		r.publish(batch)
		clear(batch) // a pop holds its call; let the call go
	}
}

func (r *popRelay) publish(batch []popRequest) {
	if len(batch) == 0 {
		return
	}
	var callers []string
	for _, p := range batch {
		if p.earlier != nil && !p.earlier.looked {
			callers = append(callers, p.Caller)
		}
	}
	var found map[string][]EarlierTicket
	if len(callers) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), popLookup)
		var err error
		found, err = earlierOf(ctx, r.store, callers, r.country, 5)
		cancel()
		if err != nil {
			r.log.Warn("screen pops without the callers' earlier tickets", "pops", len(batch), "err", err)
		}
	}
	msgs := make([]pubsub.Message, 0, len(batch))
	for _, p := range batch {
		if e := p.earlier; e != nil {
			if !e.looked {
				e.looked, e.tickets = true, found[p.Caller]
			}
			p.Earlier = e.tickets
		}
		b, err := json.Marshal(p.Pop)
		if err != nil {
			continue
		}
		msgs = append(msgs, pubsub.Message{Topic: AgentTopic(p.Agent), Data: b})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := pubsub.PublishAll(ctx, r.bus, msgs); err != nil {
		r.log.Warn("screen pops not delivered", "pops", len(msgs), "err", err)
	}
}

// close publishes what is queued (for at most popDrain) and stops the
// relay.
func (r *popRelay) close() {
	if r == nil {
		return
	}
	close(r.stop)
	r.done.Wait()
}

// Earlier finds callers' earlier tickets (the store).
type Earlier interface {
	LatestByPhone(ctx context.Context, phones []string, from time.Time, n int) (map[string][]*ticketing.Ticket, error)
}

// Lister finds tickets (the store).
type Lister interface {
	List(ctx context.Context, f ticketing.ListFilter) ([]*ticketing.Ticket, error)
}

// EarlierTickets are the caller's most recent tickets of the last year,
// newest first, at most n, matched on the number as the tickets stored it
// (E.164 from the phone door, often national digits from the web form).
func EarlierTickets(ctx context.Context, store Earlier, caller, defaultCountry string, n int) []EarlierTicket {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	found, _ := earlierOf(ctx, store, []string{caller}, defaultCountry, n) // none found: the pop goes without
	return found[caller]
}

// earlierOf is EarlierTickets for many callers in one query.
func earlierOf(ctx context.Context, store Earlier, callers []string, defaultCountry string, n int) (map[string][]EarlierTicket, error) {
	if n <= 0 {
		return nil, nil
	}
	variants := make(map[string][]string, len(callers))
	var phones []string
	for _, c := range callers {
		if _, ok := variants[c]; ok || c == "" {
			continue
		}
		variants[c] = PhoneVariants(c, defaultCountry)
		phones = append(phones, variants[c]...)
	}
	if len(phones) == 0 {
		return nil, nil
	}
	got, err := store.LatestByPhone(ctx, phones, time.Now().AddDate(-1, 0, 0), n)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]EarlierTicket, len(variants))
	for caller, vs := range variants {
		var ts []*ticketing.Ticket
		for _, v := range vs {
			ts = append(ts, got[v]...)
		}
		if len(ts) == 0 {
			continue
		}
		// Each spelling's newest n, newest first across them.
		slices.SortStableFunc(ts, func(a, b *ticketing.Ticket) int {
			if c := b.ReceivedAt.Compare(a.ReceivedAt); c != 0 {
				return c
			}
			return cmp.Compare(b.ID, a.ID)
		})
		ts = ts[:min(len(ts), n)]
		es := make([]EarlierTicket, 0, len(ts))
		for _, t := range ts {
			es = append(es, EarlierTicket{
				Number: t.Number, Status: string(t.Status), Category: t.Category, CategoryName: t.CategoryName,
				Summary: summary(t.Text, 60), ReceivedAt: t.ReceivedAt,
			})
		}
		out[caller] = es
	}
	return out, nil
}

// PhoneVariants are the spellings one number may be stored under:
// +8613800138000, 13800138000, 8613800138000; +861065123456 and
// 01065123456 for a fixed line.
func PhoneVariants(e164, defaultCountry string) []string {
	out := []string{e164}
	cc := "+" + strings.TrimPrefix(defaultCountry, "+")
	if rest, ok := strings.CutPrefix(e164, cc); ok && rest != "" {
		if rest[0] == '1' && len(rest) == 11 {
			out = append(out, rest, cc[1:]+rest)
		} else {
			out = append(out, "0"+rest)
		}
	}
	return out
}

func summary(s string, n int) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n]) + "…"
}
