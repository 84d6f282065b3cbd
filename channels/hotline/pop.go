package hotline

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
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

// pop publishes a pop about call c to agent.
func (s *SIP) pop(c *call, agent, kind string) {
	if s.bus == nil {
		return
	}
	if !c.lookedUpAt {
		c.lookedUpAt = true
		c.earlier = EarlierTickets(s.ctx, s.store, c.caller, s.cfg.DefaultCountry, 5)
	}
	s.publish(agent, Pop{
		Kind: kind, CallID: c.id, Line: c.line.Number, LineLabel: c.line.Label, Domain: c.line.Domain,
		Caller: c.caller, Agent: agent, At: s.cfg.Now(), Earlier: c.earlier,
	})
}

func (s *SIP) publish(agent string, p Pop) {
	if s.bus == nil {
		return
	}
	p.Agent = agent
	publish(s.ctx, s.bus, s.log, p)
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

// Lister finds tickets (the store).
type Lister interface {
	List(ctx context.Context, f ticketing.ListFilter) ([]*ticketing.Ticket, error)
}

// EarlierTickets are the caller's most recent tickets of the last year,
// newest first, at most n, matched on the number as the tickets stored it
// (E.164 from the phone door, often national digits from the web form).
func EarlierTickets(ctx context.Context, store Lister, caller, defaultCountry string, n int) []EarlierTicket {
	if caller == "" || n <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ts, err := store.List(ctx, ticketing.ListFilter{
		Phones: PhoneVariants(caller, defaultCountry),
		From:   time.Now().AddDate(-1, 0, 0),
		Limit:  n,
		Newest: true, // a caller with hundreds of tickets this year: the latest n
	})
	if err != nil {
		return nil
	}
	out := make([]EarlierTicket, 0, len(ts))
	for _, t := range ts {
		out = append(out, EarlierTicket{
			Number: t.Number, Status: string(t.Status), Category: t.Category, CategoryName: t.CategoryName,
			Summary: summary(t.Text, 60), ReceivedAt: t.ReceivedAt,
		})
	}
	return out
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
