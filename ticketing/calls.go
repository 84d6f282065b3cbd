package ticketing

import (
	"strings"
	"time"
)

// Direction says who placed a call.
type Direction string

const (
	DirectionIn  Direction = "in"  // a citizen calls the hotline
	DirectionOut Direction = "out" // the centre calls a citizen (a callback, 回访)
)

// CallCause is how a call ended. Empty while the call is in progress.
type CallCause string

const (
	CauseAnswered  CallCause = "answered"  // an agent took it
	CauseAbandoned CallCause = "abandoned" // the caller hung up before an answer (放弃)
	CauseNoAgent   CallCause = "no_agent"  // nobody answered (no agent free, ring timeout, forwarded away)
	CauseBusy      CallCause = "busy"      // refused busy
	CauseFailed    CallCause = "failed"    // the network could not connect it
)

// Call is one record of the call log (话务记录): one per call, whatever
// number of events described it.
type Call struct {
	ID           int64
	CallID       string    // the PBX's or SIP call id; unique
	Line         string    // the hotline number dialled (12345, 12319, ...)
	Caller       string    // the citizen's number, E.164 when it could be normalised; private
	Agent        string    // who answered (user name or extension)
	Direction    Direction //
	ArrivedAt    time.Time
	AnsweredAt   time.Time // zero if never answered
	EndedAt      time.Time // zero while in progress
	Cause        CallCause // empty while in progress
	Tickets      []string  // numbers of the tickets logged from this call
	CalledBackAt time.Time // when a missed call was called back; zero if not yet
}

// Answered reports whether an agent took the call.
func (c *Call) Answered() bool { return !c.AnsweredAt.IsZero() }

// Ended reports whether the call is over.
func (c *Call) Ended() bool { return !c.EndedAt.IsZero() }

// Wait is how long the caller waited: arrival to answer or, for a call
// never answered, arrival to its end. Zero while it is still ringing.
func (c *Call) Wait() time.Duration {
	switch {
	case c.Answered():
		return c.AnsweredAt.Sub(c.ArrivedAt)
	case c.Ended():
		return c.EndedAt.Sub(c.ArrivedAt)
	}
	return 0
}

// Talk is the time from answer to end (通话时长); zero for a call not
// answered or not yet ended.
func (c *Call) Talk() time.Duration {
	if !c.Answered() || !c.Ended() {
		return 0
	}
	return c.EndedAt.Sub(c.AnsweredAt)
}

// Missed reports whether the call belongs on the callback list: an inbound
// call that ended unanswered, from a known number.
func (c *Call) Missed() bool {
	return c.Direction == DirectionIn && c.Ended() && c.Cause != CauseAnswered && c.Caller != ""
}

// CallEventType is the kind of a telephony event (Zammad's generic CTI names).
type CallEventType string

const (
	CallNew    CallEventType = "newCall"
	CallAnswer CallEventType = "answer"
	CallHangup CallEventType = "hangup"
)

// CallEvent is one telephony event about a call, as a PBX reports it
// (Zammad's generic CTI format) or as the SIP proxy observes it.
type CallEvent struct {
	CallID          string
	Type            CallEventType
	From, To        string    // caller and callee as the PBX gave them
	Direction       Direction // of the call
	User            string    // the agent who answered, by name
	AnsweringNumber string    // the extension that answered
	Cause           string    // hangup cause: normalClearing, busy, cancel, noAnswer, congestion, notFound, forwarded, ...
	At              time.Time
}

// Limits on CTI event fields.
const (
	MaxCallIDLen   = 128
	MaxCallPartLen = 64
)

// Validate checks an event before it touches the log.
func (ev *CallEvent) Validate() error {
	switch ev.Type {
	case CallNew, CallAnswer, CallHangup:
	case "":
		return Invalid("event", "missing; one of newCall, answer, hangup")
	default:
		return Invalid("event", "unknown event %q; one of newCall, answer, hangup", ev.Type)
	}
	if ev.CallID == "" {
		return Invalid("callId", "missing")
	}
	if len(ev.CallID) > MaxCallIDLen || !printable(ev.CallID) {
		return Invalid("callId", "must be at most %d printable characters", MaxCallIDLen)
	}
	switch ev.Direction {
	case DirectionIn, DirectionOut:
	case "":
		if ev.Type == CallNew {
			return Invalid("direction", "missing; in or out")
		}
	default:
		return Invalid("direction", "must be in or out")
	}
	for _, f := range []struct{ name, v string }{
		{"from", ev.From}, {"to", ev.To}, {"user", ev.User}, {"answeringNumber", ev.AnsweringNumber}, {"cause", ev.Cause},
	} {
		if len(f.v) > MaxCallPartLen || !printable(f.v) {
			return Invalid(f.name, "must be at most %d printable characters", MaxCallPartLen)
		}
	}
	if ev.At.IsZero() {
		return Invalid("at", "missing time")
	}
	return nil
}

// Apply returns c with ev applied. It is pure and safe for events that come
// twice or out of order:
//
//   - any event fills what the call does not know yet (line, caller,
//     direction), and an earlier time moves the arrival back;
//   - answer records the first answer and its agent. An answer stored
//     after the hangup (its write retried once the store came back) counts
//     when it happened before the end, and the call ends answered; an
//     answer after the end is ignored;
//   - hangup ends the call once: a repeated hangup changes nothing. An
//     answered call ends answered. An unanswered inbound call ends by its
//     cause: cancel, normalClearing or none → abandoned; busy → busy;
//     congestion, notFound → failed; noAnswer, forwarded or any other →
//     no_agent. An unanswered outbound call ends busy or failed.
//
// The caller (the citizen's number) is taken as given: normalise it first
// (CallEvent.Normalize).
func (c Call) Apply(ev CallEvent) Call {
	if c.CallID == "" {
		c.CallID = ev.CallID
	}
	if c.Direction == "" {
		c.Direction = ev.Direction
		if c.Direction == "" {
			c.Direction = DirectionIn
		}
	}
	line, caller := ev.To, ev.From
	if c.Direction == DirectionOut {
		line, caller = ev.From, ev.To
	}
	if c.Line == "" {
		c.Line = line
	}
	if c.Caller == "" {
		c.Caller = caller
	}
	if c.ArrivedAt.IsZero() || (ev.Type == CallNew && ev.At.Before(c.ArrivedAt)) {
		c.ArrivedAt = ev.At
	}
	switch ev.Type {
	case CallAnswer:
		if c.Answered() || (c.Ended() && ev.At.After(c.EndedAt)) {
			return c
		}
		c.AnsweredAt = later(ev.At, c.ArrivedAt)
		if c.Ended() {
			c.Cause = CauseAnswered
		}
		if c.Agent == "" {
			c.Agent = ev.User
			if c.Agent == "" {
				c.Agent = ev.AnsweringNumber
			}
		}
	case CallHangup:
		if c.Ended() {
			return c
		}
		c.EndedAt = later(later(ev.At, c.ArrivedAt), c.AnsweredAt)
		c.Cause = hangupCause(c, ev.Cause)
	}
	return c
}

// printable rejects every control character, line breaks included: these
// fields are single tokens.
func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func hangupCause(c Call, cause string) CallCause {
	if c.Answered() {
		return CauseAnswered
	}
	switch cause {
	case "busy":
		return CauseBusy
	case "congestion", "notFound":
		return CauseFailed
	}
	if c.Direction == DirectionOut {
		return CauseFailed
	}
	switch cause {
	case "cancel", "normalClearing", "":
		return CauseAbandoned
	}
	return CauseNoAgent
}

// Normalize trims the event's fields and puts the citizen's side (From of
// an inbound call, To of an outbound one) in E.164 with NormalizePhone.
// The hotline side stays as dialled (12345).
func (ev *CallEvent) Normalize(defaultCountry string) {
	for _, p := range []*string{&ev.CallID, &ev.From, &ev.To, &ev.User, &ev.AnsweringNumber, &ev.Cause} {
		*p = strings.TrimSpace(*p)
	}
	if ev.Direction == DirectionOut {
		ev.To = NormalizePhone(ev.To, defaultCountry)
	} else {
		ev.From = NormalizePhone(ev.From, defaultCountry)
	}
}

// NormalizePhone puts a phone number in E.164 (+8613800138000) given the
// default country code (86, with or without +). It drops spaces, dashes,
// dots and brackets; "00" and "+" introduce a country code; a leading 0 is
// the trunk prefix of an area code (010-65123456 → +861065123456); in
// China an 11-digit number starting with 1 is a mobile (13800138000 →
// +8613800138000). Numbers of eight digits or fewer without a prefix
// (local numbers, service numbers such as 12345) come back as digits. A
// value that is not a number (anonymous, unknown) gives "".
func NormalizePhone(raw, defaultCountry string) string {
	cc := strings.TrimPrefix(strings.TrimSpace(defaultCountry), "+")
	var b strings.Builder
	plus := false
	for i, r := range strings.TrimSpace(raw) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			plus = true
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return ""
		}
	}
	d := b.String()
	if len(d) < 3 || len(d) > 20 {
		return ""
	}
	switch {
	case plus:
	case strings.HasPrefix(d, "00"):
		d = d[2:]
	case d[0] == '0':
		d = cc + d[1:]
	case cc == "86" && len(d) == 13 && strings.HasPrefix(d, "861"):
		// a mobile already carrying the country code, without + or 00
	case len(d) <= 8:
		return d
	default:
		d = cc + d
	}
	// "+86 (0)10 6512 3456": a trunk 0 written after the country code.
	if cc == "86" && strings.HasPrefix(d, "860") {
		d = "86" + d[3:]
	}
	// E.164 allows at most 15 digits; fewer than 6 after the + is no
	// subscriber's number ("000" would otherwise come out as "+0").
	if len(d) < 6 || len(d) > 15 || d[0] == '0' {
		return ""
	}
	return "+" + d
}

// CallFilter selects calls from the log; times bound the arrival,
// From inclusive, To exclusive. Empty fields select everything.
type CallFilter struct {
	From, To time.Time
	Line     string
	Agent    string
	Cause    CallCause
	// CallbackOnly keeps the callback list: missed inbound calls (Call.Missed)
	// not yet called back.
	CallbackOnly bool
	Limit        int // at most this many, newest first; 0 means the store's default (1000)
}

// DefaultCallLimit is what a zero CallFilter.Limit means.
const DefaultCallLimit = 1000

// StatsFilter selects the calls the hotline figures are computed over:
// inbound calls that arrived in [From, To) and have ended.
type StatsFilter struct {
	From, To time.Time
	Line     string
	Agent    string
}

// HotlineStats are the hotline figures (话务指标) over a StatsFilter, in
// total and per line and per agent (agents only for calls one answered).
type HotlineStats struct {
	Total  CallFigures
	Lines  []CallFigures // by Key (the line), ascending
	Agents []CallFigures // by Key (the agent), ascending
}

// CallFigures are the counts the store aggregates and the figures derived
// from them. Only ended inbound calls count (a call still ringing has no
// outcome yet). With offered = the number of those calls:
//
//	接通率 AnswerRate         = Answered / Offered
//	15 秒接通率 ServiceLevel  = AnsweredIn15s / Offered (answered no later than 15 s after arrival)
//	放弃率 AbandonRate        = Abandoned / Offered
//	平均等待 AvgWait          = Σ Call.Wait / Offered (arrival → answer, or → end for unanswered)
//	平均通话 AvgTalk          = Σ Call.Talk / Answered
//
// Rates and averages are 0 when their denominator is 0.
type CallFigures struct {
	Key           string // the line or agent; empty in Total
	Offered       int
	Answered      int
	AnsweredIn15s int
	Abandoned     int
	WaitSum       time.Duration
	TalkSum       time.Duration
}

// ServiceLevelWait is the threshold of the 15-second answer rate.
const ServiceLevelWait = 15 * time.Second

func ratio(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// AnswerRate is 接通率.
func (f CallFigures) AnswerRate() float64 { return ratio(f.Answered, f.Offered) }

// ServiceLevel is 15 秒接通率.
func (f CallFigures) ServiceLevel() float64 { return ratio(f.AnsweredIn15s, f.Offered) }

// AbandonRate is 放弃率.
func (f CallFigures) AbandonRate() float64 { return ratio(f.Abandoned, f.Offered) }

// AvgWait is the mean wait of offered calls.
func (f CallFigures) AvgWait() time.Duration {
	if f.Offered == 0 {
		return 0
	}
	return f.WaitSum / time.Duration(f.Offered)
}

// AvgTalk is the mean talk time of answered calls.
func (f CallFigures) AvgTalk() time.Duration {
	if f.Answered == 0 {
		return 0
	}
	return f.TalkSum / time.Duration(f.Answered)
}
