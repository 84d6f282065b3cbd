package forward

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// open311 is a GeoReport v2 client. A dispatched ticket becomes one service
// request on the server (POST requests.json); its status is then polled
// (GET requests/{id}.json) and changes are noted on the ticket.
//
// GeoReport v2 has no idempotency key, so a create whose answer was lost
// could be repeated. The client guards against that: it records that it is
// about to POST before doing so, and any later attempt for the same ticket
// first lists the server's requests of that service code since then (GET
// requests.json) and adopts the one carrying the ticket number (in the
// description and the ExternalIDAttribute attribute) instead of POSTing
// again. Only a server that refuses such listings gets a second POST.
type open311 struct {
	e       *endpoint
	tickets Tickets
}

// serviceRequest is one element of a GeoReport v2 answer: a created
// request, a token, a request's state or an error.
type serviceRequest struct {
	ID          flexString `json:"service_request_id"`
	Token       flexString `json:"token"`
	Status      string     `json:"status"`
	StatusNotes string     `json:"status_notes"`
	Description string     `json:"description"`
	Code        flexString `json:"code"` // errors
}

// flexString accepts a JSON string or number (servers differ on ids).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if string(b) == "null" {
		*f = ""
		return nil
	}
	*f = flexString(b)
	return nil
}

func (o *open311) send(ctx context.Context, d ticketing.Delivery) outcome {
	e := o.e
	p, err := decodePayload(d)
	if err != nil {
		return permanent(err)
	}
	if !e.topics[d.Topic] {
		return skipped()
	}
	ref, err := e.ref(ctx, d.TicketID)
	if err != nil {
		return storeFailure("loading the ticket's reference", err)
	}
	if ref != nil && (ref.RemoteID != "" || ref.Token != "") {
		// Already a service request there; GeoReport v2 has no update call.
		return skipped()
	}
	if p.Status != ticketing.StatusDispatched || (len(e.depts) > 0 && !e.depts[p.Department]) {
		return skipped()
	}
	t, err := o.tickets.Ticket(ctx, d.Number)
	if err != nil {
		return storeFailure("loading the ticket", err)
	}
	code := e.cfg.ServiceCodes[p.Category]
	if code == "" {
		code = e.cfg.DefaultServiceCode
	}
	if code == "" {
		return permanent(fmt.Errorf("no Open311 service_code is configured for category %q", p.Category))
	}
	form, err := o.form(t, code)
	if err != nil {
		return permanent(err)
	}
	now := e.now()
	if ref != nil && !ref.RequestedAt.IsZero() {
		// An earlier attempt may have created the request without our hearing of it.
		id, out := o.find(ctx, code, d.Number, ref.RequestedAt, now)
		if out.err != nil {
			return out
		}
		if id != "" {
			e.log.Info("adopting the service request an earlier attempt created", "ticket", d.Number, "service_request_id", id)
			bctx, cancel := detach(ctx)
			defer cancel()
			return o.created(bctx, d, ref, id, "")
		}
	}
	if ref == nil {
		ref = &ticketing.ExternalRef{Endpoint: e.cfg.Name, TicketID: d.TicketID, Number: d.Number}
	}
	if ref.RequestedAt.IsZero() {
		ref.RequestedAt = now
	}
	ref.UpdatedAt = now
	if err := e.store.SaveExternalRef(ctx, ref); err != nil {
		return storeFailure("recording the request", err)
	}
	answer, out := o.call(ctx, http.MethodPost, "requests.json", nil, form)
	if out.err != nil {
		return out
	}
	if answer.ID == "" && answer.Token == "" {
		return retry(errors.New("the server answered without a service_request_id or token"))
	}
	// Created: recording it must not be cut short by a stop.
	bctx, cancel := detach(ctx)
	defer cancel()
	return o.created(bctx, d, ref, string(answer.ID), string(answer.Token))
}

// form builds the POST requests.json arguments for t.
func (o *open311) form(t *ticketing.Ticket, code string) (url.Values, error) {
	cfg := o.e.cfg
	f := url.Values{}
	set := func(k, v string) {
		if v != "" {
			f.Set(k, v)
		}
	}
	set("api_key", cfg.APIKey)
	set("jurisdiction_id", cfg.JurisdictionID)
	f.Set("service_code", code)
	f.Set("description", t.Text+"\n（12345热线工单号 "+t.Number+"）")
	if t.Location == nil && t.Address == "" {
		return nil, fmt.Errorf("ticket %s has neither coordinates nor an address for Open311", t.Number)
	}
	if t.Location != nil {
		f.Set("lat", strconv.FormatFloat(t.Location.Lat, 'f', -1, 64))
		f.Set("long", strconv.FormatFloat(t.Location.Lon, 'f', -1, 64))
	}
	set("address_string", t.Address)
	f.Set("attribute["+cfg.ExternalIDAttribute+"]", t.Number)
	if cfg.SendContact {
		set("first_name", t.Reporter.Name)
		set("phone", t.Reporter.Phone)
	}
	return f, nil
}

// created records the remote id (or the token to resolve into one) and
// notes the forwarding on the ticket. Until the note is written the
// reference is held from the poller for a lease, as a claim would hold it;
// if the note fails, or the process dies, the poller notes it afterwards.
func (o *open311) created(ctx context.Context, d ticketing.Delivery, ref *ticketing.ExternalRef, id, token string) outcome {
	e := o.e
	now := e.now()
	ref.RemoteID, ref.Token, ref.UpdatedAt = id, token, now
	ref.NextPollAt = now.Add(e.cfg.Lease)
	if id == "" {
		ref.NextPollAt = now // the poller resolves the token
	}
	if err := e.store.SaveExternalRef(ctx, ref); err != nil {
		// The next attempt finds the request on the server instead of creating another.
		return storeFailure("recording the service request id", err)
	}
	if id == "" {
		return delivered()
	}
	if err := o.noteForwarded(ctx, ref); err != nil {
		e.log.Warn("forwarding not noted yet; the poller will", "ticket", d.Number, "err", err)
	}
	ref.NextPollAt = e.now().Add(e.cfg.PollInterval)
	if err := e.store.SaveExternalRef(ctx, ref); err != nil {
		e.log.Warn("scheduling the status poll failed; it starts when the lease ends", "ticket", d.Number, "err", err)
	}
	return delivered()
}

// noteForwarded notes EventForwarded and records that it did (ForwardedAt;
// saved by the caller).
func (o *open311) noteForwarded(ctx context.Context, ref *ticketing.ExternalRef) error {
	e := o.e
	note := fmt.Sprintf("已转送%s，对方编号 %s", e.display(), ref.RemoteID)
	if err := e.notes.Note(ctx, ref.Number, e.actor(), ticketing.EventForwarded, note, e.forwardedPublic()); err != nil {
		return err
	}
	ref.ForwardedAt = e.now()
	return nil
}

// find looks for a service request of code, created since requestedAt,
// that carries the ticket number. An empty id means there is none; a server
// that refuses the listing (4xx) is taken to have none.
func (o *open311) find(ctx context.Context, code, number string, requestedAt, now time.Time) (string, outcome) {
	q := url.Values{}
	q.Set("service_code", code)
	q.Set("start_date", requestedAt.Add(-10*time.Minute).UTC().Format(time.RFC3339))
	q.Set("end_date", now.Add(10*time.Minute).UTC().Format(time.RFC3339))
	var list []json.RawMessage
	out := o.get(ctx, "requests.json", q, &list)
	if out.err != nil {
		if out.permanent {
			o.e.log.Warn("the server refused to list requests; posting again may duplicate one", "ticket", number, "err", out.err)
			return "", delivered()
		}
		return "", out
	}
	for _, raw := range list {
		var r serviceRequest
		var fields map[string]any
		if json.Unmarshal(raw, &r) != nil || json.Unmarshal(raw, &fields) != nil || r.ID == "" {
			continue
		}
		if strings.Contains(r.Description, number) || carries(fields, number) {
			return string(r.ID), delivered()
		}
	}
	return "", delivered()
}

// carries reports whether any value in v (nested too) is the string s:
// servers that keep attributes or an external id echo the number there.
func carries(v any, s string) bool {
	switch v := v.(type) {
	case string:
		return v == s
	case map[string]any:
		for _, x := range v {
			if carries(x, s) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if carries(x, s) {
				return true
			}
		}
	}
	return false
}

// poll resolves a token, notes a forwarding not noted yet, and notes a
// change of the remote status or status notes. Polling stops once the
// request is closed on the server.
func (o *open311) poll(ctx context.Context, ref ticketing.ExternalRef) {
	e := o.e
	log := e.log.With("ticket", ref.Number, "service_request_id", ref.RemoteID)
	next := e.now().Add(e.cfg.PollInterval)
	if ref.RemoteID == "" && ref.Token != "" {
		var answer []serviceRequest
		out := o.get(ctx, "tokens/"+url.PathEscape(ref.Token)+".json", nil, &answer)
		switch {
		case out.err != nil:
			log.Debug("token not resolved yet", "token", ref.Token, "err", out.err)
		case len(answer) > 0 && answer[0].ID != "":
			ref.RemoteID = string(answer[0].ID)
		}
	}
	if ref.RemoteID != "" && ref.ForwardedAt.IsZero() {
		if err := o.noteForwarded(ctx, &ref); err != nil {
			log.Warn("noting the forwarding failed", "err", err)
		}
	}
	if ref.RemoteID != "" {
		var answer []serviceRequest
		out := o.get(ctx, "requests/"+url.PathEscape(ref.RemoteID)+".json", nil, &answer)
		switch {
		case out.err != nil:
			log.Warn("status poll failed", "err", out.err)
		case len(answer) == 0:
			log.Warn("status poll: the server returned no request")
		default:
			r := answer[0]
			if r.Status != ref.Status || r.StatusNotes != ref.StatusNotes {
				if err := o.noteStatus(ctx, ref, r); err != nil {
					log.Warn("noting a status change failed; will poll again", "err", err)
				} else {
					ref.Status, ref.StatusNotes = r.Status, r.StatusNotes
				}
			}
			if ref.Status == "closed" {
				next = time.Time{}
			}
		}
	}
	// Saved even while stopping, so that a note written is not written again.
	sctx, cancel := detach(ctx)
	defer cancel()
	ref.NextPollAt, ref.UpdatedAt = next, e.now()
	if err := e.store.SaveExternalRef(sctx, &ref); err != nil {
		log.Warn("saving a polled reference failed", "err", err)
	}
}

// noteStatus records a remote status change; the first "open" with no notes
// only confirms the forwarding and is not noted.
func (o *open311) noteStatus(ctx context.Context, ref ticketing.ExternalRef, r serviceRequest) error {
	if ref.Status == "" && r.Status == "open" && r.StatusNotes == "" {
		return nil
	}
	e := o.e
	label := map[string]string{"open": "处理中", "closed": "已办结"}[r.Status]
	if label == "" {
		label = r.Status
	}
	note := fmt.Sprintf("%s（编号 %s）状态：%s", e.display(), ref.RemoteID, label)
	if r.StatusNotes != "" {
		note += "；" + r.StatusNotes
	}
	public := ""
	if e.cfg.Label != "" && r.StatusNotes != "" {
		public = e.cfg.Label + "：" + r.StatusNotes
	}
	return e.notes.Note(ctx, ref.Number, e.actor(), ticketing.EventExternalUpdate, note, public)
}

// get fetches path under the base URL into v.
func (o *open311) get(ctx context.Context, path string, q url.Values, v any) outcome {
	if q == nil {
		q = url.Values{}
	}
	if o.e.cfg.JurisdictionID != "" {
		q.Set("jurisdiction_id", o.e.cfg.JurisdictionID)
	}
	body, out := o.do(ctx, http.MethodGet, path, q, nil)
	if out.err != nil {
		return out
	}
	if err := json.Unmarshal(body, v); err != nil {
		return retry(fmt.Errorf("GET %s: unreadable answer: %w", path, err))
	}
	return delivered()
}

// call POSTs form to path and returns the first element of the answer.
func (o *open311) call(ctx context.Context, method, path string, q, form url.Values) (serviceRequest, outcome) {
	body, out := o.do(ctx, method, path, q, form)
	if out.err != nil {
		return serviceRequest{}, out
	}
	var answer []serviceRequest
	if err := json.Unmarshal(body, &answer); err != nil || len(answer) == 0 {
		return serviceRequest{}, retry(fmt.Errorf("%s %s: unreadable answer %.200q", method, path, body))
	}
	return answer[0], delivered()
}

func (o *open311) do(ctx context.Context, method, path string, q, form url.Values) ([]byte, outcome) {
	u, err := url.JoinPath(o.e.cfg.URL, path)
	if err != nil {
		return nil, permanent(err)
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, permanent(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := o.e.client.Do(req)
	if err != nil {
		return nil, retry(fmt.Errorf("%s %s: %w", method, path, redact(err, o.e.cfg.APIKey)))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, retry(fmt.Errorf("%s %s: reading the answer: %w", method, path, err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, httpFailure(resp, method+" "+path+": "+describeError(b), o.e.now())
	}
	return b, delivered()
}

// describeError extracts the description from a GeoReport error answer
// ([{"code":403,"description":"Invalid api_key"}]), else the body's start.
func describeError(b []byte) string {
	var errs []struct {
		Description string `json:"description"`
	}
	if json.Unmarshal(b, &errs) == nil && len(errs) > 0 && errs[0].Description != "" {
		return errs[0].Description
	}
	b = bytes.TrimSpace(b)
	if len(b) > 200 {
		b = b[:200]
	}
	return strings.ToValidUTF8(string(b), "")
}

// redact removes the API key from an error (url.Error quotes the URL; the
// key only travels in POST bodies, but a misconfigured base URL may carry it).
func redact(err error, key string) error {
	if key == "" || !strings.Contains(err.Error(), key) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), key, "***"))
}
