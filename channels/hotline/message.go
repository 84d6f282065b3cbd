package hotline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/yihao-city/yihao/ticketing"
)

// MaxMessageBytes caps a SIP MESSAGE body (RFC 3428 keeps pager-mode
// messages under 1300 bytes; SMS gateways concatenate long texts).
const MaxMessageBytes = 8 << 10

// onMessage takes a text to a hotline number (SMS gateways deliver texts
// this way, RFC 3428): it becomes a ticket, answered 202 once stored, and
// the ticket number goes back to the sender by MESSAGE. The gateway's
// retransmissions are absorbed by the transaction layer; a resend in a new
// transaction carries the same Call-ID and CSeq and finds the same ticket.
func (s *SIP) onMessage(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s.onInDialog(req, tx)
		return
	}
	line := s.lineOf(req, tx)
	if line == nil {
		return
	}
	if ct := req.ContentType(); ct == nil || !strings.HasPrefix(strings.ToLower(ct.Value()), "text/plain") {
		s.respond(tx, req, 415, "Unsupported Media Type", sip.NewHeader("Accept", "text/plain"))
		return
	}
	body := req.Body()
	switch {
	case len(body) > MaxMessageBytes:
		s.respond(tx, req, 413, "Request Entity Too Large")
		return
	case !utf8.Valid(body):
		s.respond(tx, req, 400, "Bad Request: text is not UTF-8")
		return
	}
	sender := CallerID(req, s.cfg.DefaultCountry)
	cseq := req.CSeq()
	callID := req.CallID()
	if cseq == nil || callID == nil {
		s.respond(tx, req, 400, "Bad Request")
		return
	}
	// Cut at shutdown: a text not yet answered 202 is the gateway's to
	// send again, and finds the same ticket if it was stored.
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if s.replies != nil {
		answer, ok, err := s.replies.Answer(ctx, fmt.Sprintf("%s#%d", callID.Value(), cseq.SeqNo), sender, string(body))
		if err != nil {
			// Not a report either until the answer can be read: the gateway
			// sends it again.
			s.log.Error("sip message: reply", "err", err)
			s.respond(tx, req, 500, "Server Internal Error")
			return
		}
		if ok {
			s.respond(tx, req, 202, "Accepted")
			go s.replyText(req, line, answer, "")
			return
		}
	}
	t, _, err := s.tickets.Submit(ctx, ticketing.Report{
		Channel:    ticketing.ChannelSMS,
		ExternalID: fmt.Sprintf("%s#%d", callID.Value(), cseq.SeqNo),
		Line:       line.Number,
		Reporter:   ticketing.Contact{Phone: sender},
		Text:       string(body),
	})
	if err != nil {
		if a := answerFor(err); a.code >= 500 && !a.busy {
			s.log.Error("sip message: submit", "err", err)
		}
		s.refuse(tx, req, err)
		return
	}
	s.respond(tx, req, 202, "Accepted")
	s.log.Info("sms ticket", "number", t.Number, "line", line.Number)
	if !s.cfg.TextsByNotifier {
		go s.replyText(req, line, fmt.Sprintf("您的诉求已受理（%s），工单号 %s。可凭工单号查询办理进度。", line.Label, t.Number), t.Number)
	}
}

// replyText answers the sender (their ticket number, or the answer to
// their reply), back through the gateway the text came from. With gateways configured (or trunks), the
// reply goes only to the configured gateway at the text's source address,
// at its configured port and transport: a text's From, Via and Contact
// are the sender's word, and a reply (retransmitted up to ten times over
// UDP) sent where they say would let a spoofed text aim the hub at anyone.
// With nothing configured (a demo) it goes back where the text came from.
func (s *SIP) replyText(req *sip.Request, line *Line, text, number string) {
	from := req.From()
	if from == nil {
		return
	}
	to, dest, transport := from.Address, req.Source(), req.Transport()
	if !s.cfg.LinesOpen() {
		gw, ok := s.gateway(hostOf(req.Source()))
		if !ok {
			s.log.Info("sms reply not sent: the text came from a trunk that is no gateway", "number", number)
			return
		}
		dest, transport = gw.Addr.String(), strings.ToUpper(gw.Transport)
		to = sip.Uri{Scheme: "sip", User: from.Address.User, Host: gw.Addr.Addr().String(), Port: int(gw.Addr.Port())}
	}
	ctx, cancel := context.WithTimeout(s.ctx, 32*time.Second)
	defer cancel()
	if err := s.sendMessage(ctx, line.Number, to, dest, transport, text); err != nil {
		s.log.Warn("sms reply not delivered", "number", number, "err", err)
	}
}

// sendMessage sends one text by MESSAGE from a line's number.
func (s *SIP) sendMessage(ctx context.Context, from string, to sip.Uri, dest, transport, text string) error {
	m := sip.NewRequest(sip.MESSAGE, to)
	params := sip.NewParams()
	params.Add("tag", sip.GenerateTagN(16))
	m.AppendHeader(&sip.FromHeader{
		Address: sip.Uri{Scheme: "sip", User: from, Host: s.cfg.Advertise},
		Params:  params,
	})
	m.AppendHeader(&sip.ToHeader{Address: to})
	m.AppendHeader(sip.NewHeader("Content-Type", "text/plain;charset=UTF-8"))
	m.SetBody([]byte(text))
	m.SetTransport(transport)
	m.SetDestination(dest)
	res, err := s.client.Do(ctx, m, sipgo.ClientRequestBuild, s.fromListener)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		return &TextRefused{Code: res.StatusCode, Reason: res.Reason}
	}
	return nil
}

// TextRefused is a gateway's final answer other than 2xx to a MESSAGE.
type TextRefused struct {
	Code   int
	Reason string
}

func (e *TextRefused) Error() string {
	return fmt.Sprintf("sms gateway answered %d %s", e.Code, e.Reason)
}

// Permanent: a 4xx or 6xx says the text itself is refused (a number that
// does not exist, 404/604); a timeout, a busy or failing gateway (408,
// 480, 486, 5xx) is worth another try.
func (e *TextRefused) Permanent() bool {
	switch e.Code {
	case 408, 429, 480, 486, 491:
		return false
	}
	return (e.Code >= 400 && e.Code < 500) || e.Code >= 600
}

// SendText sends a text to a mobile (E.164) through the first SMS gateway,
// from the first line's number: the notices of channels/sms leave this way.
func (s *SIP) SendText(ctx context.Context, to, text string) error {
	if len(s.cfg.Gateways) == 0 {
		return errors.New("hotline: no sms gateway configured")
	}
	gw := s.cfg.Gateways[0]
	from := "12345"
	if ns := s.lines.Numbers(); s.lines.Lookup(from) == nil && len(ns) > 0 {
		from = slices.Min(ns)
	}
	user := strings.TrimPrefix(to, "+"+s.cfg.DefaultCountry)
	uri := sip.Uri{Scheme: "sip", User: user, Host: gw.Addr.Addr().String(), Port: int(gw.Addr.Port())}
	ctx, cancel := context.WithTimeout(ctx, 32*time.Second)
	defer cancel()
	return s.sendMessage(ctx, from, uri, gw.Addr.String(), strings.ToUpper(gw.Transport), text)
}
