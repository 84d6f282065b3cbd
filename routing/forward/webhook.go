package forward

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// Webhook headers. X-Yihao-Delivery is the receiver's idempotency key: a
// message is delivered at least once, and every attempt of one delivery
// carries the same id.
const (
	HeaderDelivery  = "X-Yihao-Delivery"
	HeaderTopic     = "X-Yihao-Topic"
	HeaderTimestamp = "X-Yihao-Timestamp" // Unix seconds
	HeaderSignature = "X-Yihao-Signature" // "sha256=" + hex HMAC-SHA256 of timestamp + "." + body
)

// WebhookMessage is the JSON body of a webhook request.
type WebhookMessage struct {
	ID        int64           `json:"id"`       // the outbox message
	Delivery  int64           `json:"delivery"` // equals X-Yihao-Delivery
	Topic     string          `json:"topic"`    // ticket.created, ticket.changed
	Ticket    string          `json:"ticket"`   // public ticket number
	Attempt   int             `json:"attempt"`  // 1 for the first
	CreatedAt time.Time       `json:"created_at"`
	Payload   json.RawMessage `json:"payload"` // {number, status, from, category, department, due_at, area, assisting}
}

// Sign returns the X-Yihao-Signature value for a body sent at timestamp.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Errors from VerifySignature.
var (
	ErrBadSignature = errors.New("forward: webhook signature does not match")
	ErrStale        = errors.New("forward: webhook timestamp outside the allowed window")
)

// VerifySignature checks a received webhook request: the signature over its
// timestamp and body, in constant time, and a timestamp within tolerance of
// now (a replay guard; receivers still deduplicate on X-Yihao-Delivery).
func VerifySignature(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad %s %q", ErrBadSignature, HeaderTimestamp, ts)
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(secs, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}

// webhook POSTs each relevant message as a signed WebhookMessage.
type webhook struct{ e *endpoint }

func (w *webhook) send(ctx context.Context, d ticketing.Delivery) outcome {
	e := w.e
	p, err := decodePayload(d)
	if err != nil {
		return permanent(err)
	}
	ref, err := e.ref(ctx, d.TicketID)
	if err != nil {
		return storeFailure("loading the ticket's reference", err)
	}
	if !e.relevant(d, p, ref) {
		return skipped()
	}
	body, err := json.Marshal(WebhookMessage{ID: d.MessageID, Delivery: d.ID, Topic: d.Topic, Ticket: d.Number,
		Attempt: d.Attempt, CreatedAt: d.MessageAt, Payload: json.RawMessage(d.Payload)})
	if err != nil {
		return permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return permanent(err)
	}
	ts := strconv.FormatInt(e.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderDelivery, strconv.FormatInt(d.ID, 10))
	req.Header.Set(HeaderTopic, d.Topic)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(e.cfg.Secret, ts, body))
	resp, err := e.client.Do(req)
	if err != nil {
		return retry(err)
	}
	detail := drain(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return httpFailure(resp, detail, e.now())
	}
	if ref == nil || ref.ForwardedAt.IsZero() {
		// Sent: what follows is bookkeeping, done even while stopping.
		bctx, cancel := detach(ctx)
		defer cancel()
		return e.recordForwarded(bctx, d, ref, "已推送至"+e.display())
	}
	return delivered()
}

// recordForwarded notes EventForwarded on the ticket the first time it
// reaches the endpoint. If the note cannot be written the attempt fails and
// the message goes out again: receivers deduplicate, and the note is not lost.
func (e *endpoint) recordForwarded(ctx context.Context, d ticketing.Delivery, ref *ticketing.ExternalRef, note string) outcome {
	if err := e.notes.Note(ctx, d.Number, e.actor(), ticketing.EventForwarded, note, e.forwardedPublic()); err != nil {
		out := storeFailure("recording the forwarding on the ticket", err)
		if out.permanent {
			e.log.Error("forwarding not recorded on the ticket", "ticket", d.Number, "err", err)
			return delivered()
		}
		return out
	}
	if ref == nil {
		ref = &ticketing.ExternalRef{Endpoint: e.cfg.Name, TicketID: d.TicketID, Number: d.Number}
	}
	now := e.now()
	ref.ForwardedAt, ref.UpdatedAt = now, now
	if err := e.store.SaveExternalRef(ctx, ref); err != nil {
		e.log.Warn("saving the ticket's reference failed; the forwarding may be noted twice", "ticket", d.Number, "err", err)
	}
	return delivered()
}

const userAgent = "Yihao-Forwarder/1"

// drain reads what is left of a response body (so the connection can be
// reused) and returns its start, for error messages.
func drain(body io.ReadCloser) string {
	defer body.Close()
	head, _ := io.ReadAll(io.LimitReader(body, 300))
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10)) // best effort
	return strings.TrimSpace(strings.ToValidUTF8(string(head), ""))
}
