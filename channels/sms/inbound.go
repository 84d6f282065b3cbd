package sms

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/yihao-city/yihao/ticketing"
)

// Submitter turns a citizen's text into a ticket.
type Submitter interface {
	Submit(ctx context.Context, r ticketing.Report) (*ticketing.Ticket, bool, error)
}

// InboundRequest is the platform's push of a citizen's text (上行), signed
// like a send: GatewaySign(secret, account, mobile, content, timestamp,
// msgid).
type InboundRequest struct {
	Account   string `json:"account"`
	Mobile    string `json:"mobile"` // the citizen's 11 digits
	Content   string `json:"content"`
	Timestamp string `json:"timestamp"` // Unix seconds
	MsgID     string `json:"msgid"`     // the platform's id of the text: a push again finds the same ticket
	Sign      string `json:"sign"`
}

// Inbound takes the citizens' texts an HTTP SMS platform pushes (POST
// /sms/inbound): an answer to an earlier text (a rating, TD) goes to
// Replies and is answered through the gateway; any other text becomes a
// ticket, whose filed text (number and link) the Notifier sends. A push
// older or newer than five minutes, or not signed with the account's
// secret, is refused and changes nothing.
type Inbound struct {
	Account, Secret string
	Replies         *Replies
	Tickets         Submitter
	Gateway         Gateway // answers the replies
	Now             func() time.Time
	Log             *slog.Logger
}

// inboundWindow is how far a push's timestamp may be from now.
const inboundWindow = 5 * time.Minute

// MaxInboundBytes bounds a push (a long text is a few kilobytes).
const MaxInboundBytes = 16 << 10

type inboundAnswer struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
	Number  string `json:"number,omitempty"` // the ticket a report became
}

func (in *Inbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	answer := func(status int, a inboundAnswer) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(a)
	}
	var req InboundRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxInboundBytes+1))
	if err != nil || len(body) > MaxInboundBytes || json.Unmarshal(body, &req) != nil {
		answer(http.StatusBadRequest, inboundAnswer{Code: "bad_request", Message: "a JSON object of at most 16 KiB"})
		return
	}
	now := time.Now
	if in.Now != nil {
		now = in.Now
	}
	sent, err := strconv.ParseInt(req.Timestamp, 10, 64)
	want := GatewaySign(in.Secret, req.Account, req.Mobile, req.Content, req.Timestamp, req.MsgID)
	if req.Account != in.Account || subtle.ConstantTimeCompare([]byte(want), []byte(req.Sign)) != 1 {
		answer(http.StatusUnauthorized, inboundAnswer{Code: "bad_sign", Message: "account or signature does not match"})
		return
	}
	if err != nil || now().Sub(time.Unix(sent, 0)).Abs() > inboundWindow {
		answer(http.StatusUnauthorized, inboundAnswer{Code: "stale", Message: "timestamp more than 5 minutes from now"})
		return
	}
	phone := "+86" + req.Mobile
	if !Mobile(phone) || req.MsgID == "" || !utf8.ValidString(req.Content) || req.Content == "" {
		answer(http.StatusBadRequest, inboundAnswer{Code: "bad_request", Message: "mobile (11 digits), msgid and content (UTF-8) are required"})
		return
	}
	ctx := r.Context()
	if in.Replies != nil {
		text, ok, err := in.Replies.Answer(ctx, "sms-http:"+req.MsgID, phone, req.Content)
		if err != nil {
			in.logger().Error("sms inbound: reply", "err", err)
			answer(http.StatusServiceUnavailable, inboundAnswer{Code: "busy", Message: "try again"})
			return
		}
		if ok {
			// Acknowledged first: the platform waits for nothing but that.
			answer(http.StatusOK, inboundAnswer{Code: "0"})
			go func() {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				defer cancel()
				if err := in.Gateway.SendText(ctx, phone, text); err != nil {
					in.logger().Warn("sms inbound: answer not sent", "err", err)
				}
			}()
			return
		}
	}
	t, _, err := in.Tickets.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelSMS, ExternalID: "sms-http:" + req.MsgID,
		Reporter: ticketing.Contact{Phone: phone}, Text: req.Content})
	if err != nil {
		var te *ticketing.Error
		if errors.As(err, &te) && te.Kind == ticketing.KindInvalid {
			answer(http.StatusBadRequest, inboundAnswer{Code: "bad_request", Message: te.Error()})
			return
		}
		if errors.Is(err, ticketing.ErrBusy) {
			// At capacity: the platform sends it again in a second.
			w.Header().Set("Retry-After", "1")
		} else {
			in.logger().Error("sms inbound: submit", "err", err)
		}
		answer(http.StatusServiceUnavailable, inboundAnswer{Code: "busy", Message: "try again"})
		return
	}
	in.logger().Info("sms ticket", "number", t.Number, "via", "http")
	answer(http.StatusOK, inboundAnswer{Code: "0", Number: t.Number})
}

func (in *Inbound) logger() *slog.Logger {
	if in.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return in.Log
}
