// Package sms tells every citizen who left a mobile number how their
// ticket goes (回访): a text when it is filed, with the ticket number and a
// tracking link, and one when it is handled, asking for a rating the
// citizen answers by reply (1 满意, 2 基本满意, 3 不满意; 不满意 reopens
// the ticket). Replying TD opts out of every later text.
//
// Texts leave through a Gateway: the SMS gateway over SIP MESSAGE (the
// hotline's SIP side, as texts arrive today) or an HTTP gateway in the
// style of the common SMS platforms (HTTPGateway). The Notifier consumes
// the ticket outbox as one delivery endpoint, so a text is sent at least
// once, retried while the gateway is down, and never holds up a ticket;
// what the gateway accepted is noted on the ticket (EventNotified), and
// that note is how a text is not sent twice for one change.
package sms

import (
	"context"
	"errors"
	"strings"
	"unicode"

	"golang.org/x/text/width"

	"github.com/yihao-city/yihao/ticketing"
)

// Gateway hands a text to the phone network. to is a mobile number in
// E.164 (+8613800138000). A nil error means the gateway accepted the text;
// an error whose Permanent method says true (an unknown number, a text
// refused) is not tried again; any other error is.
type Gateway interface {
	SendText(ctx context.Context, to, text string) error
}

// permanent is how a gateway's error says that trying again is useless.
type permanent interface{ Permanent() bool }

// IsPermanent reports whether err says the text will never be accepted.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p) && p.Permanent()
}

// Mobile reports whether an E.164 number takes texts: a Chinese mobile
// (+86 1xx xxxx xxxx). Fixed lines and other countries' numbers get none.
func Mobile(e164 string) bool {
	rest, ok := strings.CutPrefix(e164, "+861")
	if !ok || len(rest) != 10 {
		return false
	}
	for _, r := range rest {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// National is the number a Chinese gateway dials: the 11 digits of a
// mobile without +86.
func National(e164 string) string { return strings.TrimPrefix(e164, "+86") }

// Reply is what a citizen's text to the hotline may mean besides a new
// report.
type Reply int

const (
	ReplyNone        Reply = iota // an ordinary text: a report
	ReplyOptOut                   // TD, 退订: no more texts
	ReplySatisfied                // 1, 满意
	ReplyBasic                    // 2, 基本满意
	ReplyUnsatisfied              // 3, 不满意
)

// ParseReply reads a short reply: the opt-out words and the three ratings,
// in full or half width, with or without punctuation around them.
func ParseReply(text string) Reply {
	t := strings.TrimFunc(width.Fold.String(strings.ToUpper(text)), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r)
	})
	switch t {
	case "TD", "退订", "TD退订", "退订短信":
		return ReplyOptOut
	case "1", "满意", "非常满意":
		return ReplySatisfied
	case "2", "基本满意", "一般":
		return ReplyBasic
	case "3", "不满意", "非常不满意":
		return ReplyUnsatisfied
	}
	return ReplyNone
}

// evaluation is the ticket's evaluation for a rating reply.
func evaluation(r Reply) ticketing.Evaluation {
	switch r {
	case ReplySatisfied:
		return ticketing.Evaluation{Satisfaction: ticketing.Satisfied, Solved: true}
	case ReplyBasic:
		return ticketing.Evaluation{Satisfaction: ticketing.BasicSatisfied, Solved: true}
	}
	return ticketing.Evaluation{Satisfaction: ticketing.Unsatisfied}
}
