package sms

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// ReplyTickets is what Replies needs of the ticket service and the store.
type ReplyTickets interface {
	List(ctx context.Context, f ticketing.ListFilter) ([]*ticketing.Ticket, error)
	Events(ctx context.Context, t *ticketing.Ticket) ([]ticketing.Event, error)
	Act(ctx context.Context, number string, act func(t *ticketing.Ticket, now time.Time) error) (*ticketing.Ticket, error)
}

// OptOutStore records opt-outs.
type OptOutStore interface {
	OptOut(ctx context.Context, address, via string, at time.Time) error
}

// Replies reads the citizens' short answers to the texts: a rating of the
// ticket whose handled text asked for one, or an opt-out. It keeps no state
// of its own: the rating request is the note on the ticket, so an answer
// days later, to another instance, after a restart, still finds it.
type Replies struct {
	tickets ReplyTickets
	optouts OptOutStore
	window  time.Duration
	now     func() time.Time
	log     *slog.Logger

	// answered remembers the replies handled lately by their gateway key,
	// so a gateway that sends one again (its acknowledgement was lost)
	// gets the same answer, and its "3" is not then taken as a report.
	mu       sync.Mutex
	answered map[string]answered
}

type answered struct {
	text string
	at   time.Time
}

// replyMemory is how long a handled reply is remembered: gateways resend
// within minutes.
const replyMemory = time.Hour

// NewReplies wires the replies; window is how long a rating request may
// be answered (default 7 days).
func NewReplies(tickets ReplyTickets, optouts OptOutStore, window time.Duration, now func() time.Time, log *slog.Logger) *Replies {
	if window <= 0 {
		window = 7 * 24 * time.Hour
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Replies{tickets: tickets, optouts: optouts, window: window, now: now, log: log, answered: map[string]answered{}}
}

// Reasons a reopened ticket gives.
const reopenReason = "市民短信回访不满意"

// Answer reads a text from phone (E.164); key is the gateway's identity
// of the text (Call-ID and CSeq, the platform's msgid), the same when it
// is sent again. ok is false when the text is a report, to be made a
// ticket as any other; otherwise answer is what to text back. A rating
// with no request waiting for it is a report too.
func (r *Replies) Answer(ctx context.Context, key, phone, text string) (answer string, ok bool, err error) {
	if a, seen := r.seen(key); seen {
		return a, true, nil
	}
	answer, ok, err = r.answer(ctx, phone, text)
	if ok && err == nil {
		r.remember(key, answer)
	}
	return answer, ok, err
}

func (r *Replies) seen(key string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.answered[key]
	return a.text, ok && r.now().Sub(a.at) < replyMemory
}

func (r *Replies) remember(key, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for k, a := range r.answered {
		if now.Sub(a.at) >= replyMemory {
			delete(r.answered, k)
		}
	}
	r.answered[key] = answered{text: text, at: now}
}

func (r *Replies) answer(ctx context.Context, phone, text string) (answer string, ok bool, err error) {
	reply := ParseReply(text)
	switch reply {
	case ReplyNone:
		return "", false, nil
	case ReplyOptOut:
		if err := r.optouts.OptOut(ctx, phone, Actor, r.now()); err != nil {
			return "", true, err
		}
		r.log.Info("sms: opted out", "phone", ticketing.MaskPhone(phone))
		return "您已退订12345短信通知，此后不再向本号码发送工单进度。如需恢复请致电12345。", true, nil
	}
	t, err := r.awaiting(ctx, phone)
	if err != nil || t == nil {
		return "", false, err
	}
	e := evaluation(reply)
	got, err := r.tickets.Act(ctx, t.Number, func(t *ticketing.Ticket, now time.Time) error {
		if err := t.Evaluate(now, "citizen:sms", e); err != nil {
			return err
		}
		if e.Satisfaction == ticketing.Unsatisfied && t.Can(ticketing.ActReopen) {
			return t.Reopen(now, Actor, reopenReason)
		}
		return nil
	})
	var te *ticketing.Error
	switch {
	case err == nil:
	case errors.As(err, &te) && te.Code == "already_evaluated":
		return "工单" + t.Number + "已评价过，感谢您的反馈。", true, nil
	default:
		return "", true, err
	}
	if got.Status.Open() {
		return "收到您的评价（不满意），工单" + t.Number + "已重新办理，办结后将再次告知您。", true, nil
	}
	return "感谢您对工单" + t.Number + "的评价。", true, nil
}

// awaiting finds the ticket of phone whose rating request is the latest
// within the window and not answered yet: the text the citizen is
// answering is the last one that asked.
func (r *Replies) awaiting(ctx context.Context, phone string) (*ticketing.Ticket, error) {
	now := r.now()
	open := false
	// A case can take months; a year bounds the listing for a citizen
	// who calls often, and the limit keeps the latest.
	ts, err := r.tickets.List(ctx, ticketing.ListFilter{Phones: []string{phone}, Open: &open, From: now.AddDate(-1, 0, 0), Newest: true})
	if err != nil {
		return nil, err
	}
	var best *ticketing.Ticket
	var asked time.Time
	for _, t := range ts {
		if !t.Can(ticketing.ActEvaluate) || t.UpdatedAt.Before(now.Add(-r.window)) {
			continue // not rateable, or finished before the window
		}
		evs, err := r.tickets.Events(ctx, t)
		if err != nil {
			return nil, err
		}
		for j := len(evs) - 1; j >= 0; j-- {
			e := evs[j]
			if e.Type == ticketing.EventNotified && e.Actor == Actor && strings.HasPrefix(e.Note, kindHandled+ratingAsked) {
				if now.Sub(e.At) <= r.window && e.At.After(asked) {
					best, asked = t, e.At
				}
				break
			}
		}
	}
	return best, nil
}
