package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/wechat"
	"github.com/yihao-city/yihao/channels/wechat/wechattest"
	"github.com/yihao-city/yihao/ticketing"
)

// What the senders do when an answer does not come.
const (
	webPatience    = 30 * time.Second       // a web or Open311 client gives a report this long, retries included
	webTimeout     = 10 * time.Second       // one attempt
	webMaxBackoff  = 2 * time.Second        // between attempts, unless Retry-After says more
	webMaxWait     = 5 * time.Second        // the most of a Retry-After the client honours
	wechatTimeout  = 5 * time.Second        // WeChat waits this long for an answer
	wechatTries    = 3                      // pushes of one message in all
	wechatRetryGap = 700 * time.Millisecond // between them
	maxInFlight    = 512                    // reports of one channel in flight at once
)

// Answers that are not an acknowledgement, as the senders classify them.
const (
	answerRefused  = "conn-refused"    // nothing listening: clearly retryable
	answerCut      = "conn-cut"        // the connection broke mid-request (the instance died)
	answerTimeout  = "timeout"         // no answer in time
	answer503Retry = "503+Retry-After" // refused, with when to come back
	answer503      = "503"             // refused (WeChat's way: it retries on its own schedule)
)

// sample is the words of the reports: real complaints, each made unique by
// its marker.
var sample = []string{
	"小区门口路灯不亮，晚上很黑，老人出门不方便，请尽快修理。",
	"道路中间井盖缺失，车辆经过很危险。",
	"楼下餐馆油烟直排，邻居窗户都熏黑了。",
	"公交站台的座椅坏了好几天了没人修。",
	"夜里工地施工噪音太大，影响休息。",
	"人行道被占道经营的摊贩堵住了，行人只能走机动车道。",
}

// report is one citizen's report as its sender knows it. Only the
// goroutine delivering it writes it until the load's WaitGroup is done.
type report struct {
	Seq    int
	Key    string // the ticket's external id: "api:KEY", "msg:MSGID" or Open311's "kTOKENID.KEY"
	Marker string // unique words inside the text, to find the ticket by its body
	Text   string
	OpenID string // WeChat
	MsgID  int64  // WeChat

	Attempts int
	Acked    bool   // acknowledged: a ticket number came back
	Number   string // that number
	Silent   bool   // WeChat: 200 "success" without a reply; WeChat stops pushing
	GaveUp   bool   // the sender stopped trying without an acknowledgement
	Rejected string // a final answer that is no acknowledgement (4xx, a reply without a number)
}

// channelLoad is one channel's stream of reports during one fault.
type channelLoad struct {
	Fault, Channel string

	mu      sync.Mutex
	reports []*report
	answers map[string]int // answers that were no acknowledgement, by kind
}

func newChannelLoad(fault, channel string) *channelLoad {
	return &channelLoad{Fault: fault, Channel: channel, answers: map[string]int{}}
}

func (c *channelLoad) note(kind string) {
	c.mu.Lock()
	c.answers[kind]++
	c.mu.Unlock()
}

// Answers is a copy of the answers that were no acknowledgement.
func (c *channelLoad) Answers() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.answers))
	for k, v := range c.answers {
		m[k] = v
	}
	return m
}

// Reports is every report sent, in order.
func (c *channelLoad) Reports() []*report {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*report(nil), c.reports...)
}

// sender delivers one report, retrying as its kind of client does.
type sender interface {
	// prepare fills in the report's identity (key, text, ...).
	prepare(r *report)
	deliver(ctx context.Context, c *channelLoad, r *report)
}

// stream sends reports at rate per second until stop is closed or ctx
// ends; each is delivered by its own goroutine, as by its own citizen.
// wait waits for the deliveries under way, up to timeout.
func (c *channelLoad) stream(ctx context.Context, s sender, rate int, stop <-chan struct{}) (wait func(timeout time.Duration) error) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxInFlight)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for seq := 1; ; seq++ {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			select {
			case sem <- struct{}{}:
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
			r := &report{Seq: seq}
			s.prepare(r)
			c.mu.Lock()
			c.reports = append(c.reports, r)
			c.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				s.deliver(ctx, c, r)
			}()
		}
	}()
	return func(timeout time.Duration) error {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-time.After(timeout):
			return fmt.Errorf("%s: deliveries still under way %v after the load stopped", c.Channel, timeout)
		}
	}
}

// transportKind names a failed request's error.
func transportKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return answerRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		// net/http's own word (unexported) for a kept-alive connection the
		// dying instance closed as the client picked it up.
		strings.Contains(err.Error(), "http: server closed idle connection"):
		return answerCut
	case errors.As(err, &ne) && ne.Timeout():
		return answerTimeout
	}
	return "transport: " + err.Error()
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// ---------------------------------------------------------------- web API and Open311

// httpDoor is one of the doors a careful client posts to (the web API,
// Open311): how a report is asked and how its acknowledgement reads. Each
// report carries the client's idempotency key, so a retry is the same
// report.
type httpDoor interface {
	// prepare fills in the report's identity: Key is its external id as
	// the tickets table keeps it.
	prepare(r *report)
	// request is one attempt at sending r to the instance at base.
	request(ctx context.Context, base string, r *report) (*http.Request, error)
	// acknowledgement reads a 2xx answer: the ticket number it gives.
	acknowledgement(r *report, answer []byte) (number string, err error)
}

// httpSender posts through a door like a careful client: a refusal or a
// broken connection is retried with the same key, on the other instance,
// with backoff (or after Retry-After), until webPatience has passed.
type httpSender struct {
	door  httpDoor
	bases []string // the instances, round-robin
	hc    *http.Client
}

func newHTTPSender(door httpDoor, bases []string) *httpSender {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &httpSender{door: door, bases: bases, hc: &http.Client{Timeout: webTimeout, Transport: tr}}
}

func (s *httpSender) prepare(r *report) { s.door.prepare(r) }

func (s *httpSender) deliver(ctx context.Context, c *channelLoad, r *report) {
	giveUp := time.Now().Add(webPatience)
	target := r.Seq % len(s.bases)
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		r.Attempts++
		status, hdr, answer, err := s.send(ctx, s.bases[target], r)
		var kind string
		wait := backoff
		switch {
		case err != nil:
			kind = transportKind(err)
		case status == http.StatusCreated || status == http.StatusOK:
			n, err := s.door.acknowledgement(r, answer)
			if err != nil {
				r.Rejected = fmt.Sprintf("%d %v: %.200s", status, err, answer)
				return
			}
			r.Acked, r.Number = true, n
			return
		case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
			kind = strconv.Itoa(status)
			if ra := hdr.Get("Retry-After"); ra != "" {
				kind += "+Retry-After"
				if sec, err := strconv.Atoi(ra); err == nil {
					wait = min(time.Duration(sec)*time.Second, webMaxWait)
				}
			}
		case status >= 500:
			kind = strconv.Itoa(status)
		default:
			r.Rejected = fmt.Sprintf("%d %.200s", status, answer)
			c.note(strconv.Itoa(status))
			return
		}
		c.note(kind)
		if time.Now().Add(wait).After(giveUp) {
			r.GaveUp = true
			return
		}
		target = (target + 1) % len(s.bases) // the other instance
		sleep(ctx, wait)
		backoff = min(backoff*2, webMaxBackoff)
	}
	r.GaveUp = true
}

// send is one attempt at r on the instance at base.
func (s *httpSender) send(ctx context.Context, base string, r *report) (int, http.Header, []byte, error) {
	req, err := s.door.request(ctx, base, r)
	if err != nil {
		return 0, nil, nil, err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, answer, nil
}

// webDoor is the JSON API, POST /api/v1/reports with an Idempotency-Key.
type webDoor struct {
	tag string // the run and fault, in keys and markers
}

func (d webDoor) prepare(r *report) {
	r.Marker = fmt.Sprintf("[faults %s web %d]", d.tag, r.Seq)
	r.Text = sample[r.Seq%len(sample)] + " " + r.Marker
	r.Key = fmt.Sprintf("api:faults-%s-web-%d", d.tag, r.Seq)
}

func (d webDoor) request(ctx context.Context, base string, r *report) (*http.Request, error) {
	body, err := json.Marshal(map[string]any{
		"text":    r.Text,
		"contact": map[string]string{"name": "市民" + strconv.Itoa(r.Seq%100)},
	})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/reports", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", strings.TrimPrefix(r.Key, "api:"))
	return req, nil
}

func (webDoor) acknowledgement(_ *report, answer []byte) (string, error) {
	var resp struct{ Number string }
	if err := json.Unmarshal(answer, &resp); err != nil || !ticketing.ValidNumber(resp.Number) {
		return "", errors.New("without a valid number")
	}
	return resp.Number, nil
}

// open311Path is where the instances serve GeoReport v2 (the default
// open311_base: the suite's configuration leaves it).
const open311Path = "/open311/v2"

// open311Services are the demo catalogue's services of the sample's
// reports, in its order.
var open311Services = []string{"0210", "0103", "env-other", "traffic-other", "0701", "0604"}

// open311Door is Open311's POST requests.json, form-encoded with the
// client's api_key (an Open311 role token) and an Idempotency-Key, which
// the door scopes to the key's token: the ticket's external id is
// scope+key, and it comes back as the answer's token.
type open311Door struct {
	tag    string
	apiKey string
	scope  string // "k<token id>."
}

func (d open311Door) prepare(r *report) {
	r.Marker = fmt.Sprintf("[faults %s open311 %d]", d.tag, r.Seq)
	r.Text = sample[(r.Seq+1)%len(sample)] + " " + r.Marker
	r.Key = fmt.Sprintf("%sfaults-%s-open311-%d", d.scope, d.tag, r.Seq)
}

func (d open311Door) request(ctx context.Context, base string, r *report) (*http.Request, error) {
	code := open311Services[(r.Seq+1)%len(open311Services)]
	form := url.Values{
		"api_key":        {d.apiKey},
		"service_code":   {code},
		"description":    {r.Text},
		"address_string": {fmt.Sprintf("示范路%d号", r.Seq)},
		"first_name":     {"市民" + strconv.Itoa(r.Seq%100)},
	}
	if code == "0103" {
		form.Set("attribute[cover_state]", "missing") // required by that service
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+open311Path+"/requests.json",
		strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Idempotency-Key", strings.TrimPrefix(r.Key, d.scope))
	return req, nil
}

func (open311Door) acknowledgement(r *report, answer []byte) (string, error) {
	var resp []struct {
		ID    string `json:"service_request_id"`
		Token string `json:"token"`
	}
	switch err := json.Unmarshal(answer, &resp); {
	case err != nil || len(resp) != 1 || !ticketing.ValidNumber(resp[0].ID):
		return "", errors.New("without one request with a valid service_request_id")
	case resp[0].Token != r.Key:
		return "", fmt.Errorf("token %q, not the report's key %q", resp[0].Token, r.Key)
	}
	return resp[0].ID, nil
}

// ---------------------------------------------------------------- WeChat

// numberInReply finds a ticket number in a reply's words.
var numberInReply = regexp.MustCompile(`\d{14}`)

// wechatSender pushes text messages in safe mode as WeChat's servers do:
// each citizen (OpenID) sends one message with its own MsgId; WeChat
// waits wechatTimeout for the answer and pushes the same message again
// after an error or no answer, wechatTries times in all. Between two
// instances with no load balancer, a retry goes to the other one.
//
// It is built from wechattest.Account's parts rather than Account.Push,
// whose 30-second client and t.Errorf on a refused connection suit a test
// of one server, not an outage.
type wechatSender struct {
	t       testing.TB
	tag     string
	acct    wechattest.Account
	bases   []string
	hc      *http.Client
	firstID int64
}

func newWeChatSender(t testing.TB, tag string, acct wechattest.Account, bases []string, firstID int64) *wechatSender {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &wechatSender{t: t, tag: tag, acct: acct, bases: bases, firstID: firstID,
		hc: &http.Client{Timeout: wechatTimeout, Transport: tr}}
}

func (s *wechatSender) prepare(r *report) {
	r.Marker = fmt.Sprintf("[faults %s wechat %d]", s.tag, r.Seq)
	r.Text = sample[(r.Seq+3)%len(sample)] + " " + r.Marker
	r.MsgID = s.firstID + int64(r.Seq)
	r.OpenID = fmt.Sprintf("oFaults_%s_%d", s.tag, r.Seq)
	r.Key = "msg:" + strconv.FormatInt(r.MsgID, 10)
}

// message is r as the XML of a text push, created now.
func (s *wechatSender) message(r *report) []byte {
	return wechattest.MessageXML(wechat.Inbound{ToUserName: s.acct.Name, FromUserName: r.OpenID,
		CreateTime: time.Now().Unix(), MsgType: "text", Content: r.Text, MsgID: r.MsgID})
}

func (s *wechatSender) deliver(ctx context.Context, c *channelLoad, r *report) {
	plain := s.message(r)
	target := r.Seq % len(s.bases)
	for try := 1; try <= wechatTries && ctx.Err() == nil; try++ {
		if try > 1 {
			sleep(ctx, wechatRetryGap)
		}
		r.Attempts++
		status, reply, answer, err := s.push(ctx, s.bases[target], plain)
		var kind string
		switch {
		case err != nil:
			kind = transportKind(err)
		case status == http.StatusOK:
			if reply == nil {
				r.Silent = true // counted apart: WeChat takes it as delivered
				return
			}
			if reply.ToUserName != r.OpenID {
				r.Rejected = "reply addressed to " + reply.ToUserName
				return
			}
			n := numberInReply.FindString(reply.Content)
			if !ticketing.ValidNumber(n) {
				r.Rejected = fmt.Sprintf("reply without a valid number: %.200s", reply.Content)
				return
			}
			r.Acked, r.Number = true, n
			return
		case status >= 500:
			kind = strconv.Itoa(status)
		default:
			r.Rejected = fmt.Sprintf("%d %.200s", status, answer)
			c.note(strconv.Itoa(status))
			return
		}
		c.note(kind)
		target = (target + 1) % len(s.bases)
	}
	r.GaveUp = true
}

// push posts one safe-mode push of the message plain (its XML) to the
// instance at base, signed and encrypted afresh as WeChat does each try.
// A 200 answer is decoded: reply is nil for "success" or an empty body.
func (s *wechatSender) push(ctx context.Context, base string, plain []byte) (status int, reply *wechattest.ReplyMsg, answer []byte, err error) {
	enc := s.acct.Encrypt(s.t, plain)
	url := s.acct.PushURL(base+"/wechat", time.Now(), wechattest.Nonce(), enc)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(wechattest.Envelope(s.acct.Name, enc)))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	answer, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, nil, err
	}
	if resp.StatusCode == http.StatusOK {
		reply = s.acct.DecodeReply(s.t, answer, true)
	}
	return resp.StatusCode, reply, answer, nil
}

// formatAnswers is "kind:count,..." in a stable order, "-" for none.
func formatAnswers(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s:%d", strings.ReplaceAll(k, " ", "_"), m[k])
	}
	return b.String()
}
