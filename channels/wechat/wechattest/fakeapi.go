// Package wechattest has a fake of the WeChat official account's server
// API for tests: the only part of the system that cannot run here.
package wechattest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// The paths FakeAPI answers.
const (
	PathToken         = "/cgi-bin/stable_token"
	PathMedia         = "/cgi-bin/media/get"
	PathCustomSend    = "/cgi-bin/message/custom/send"
	PathTemplateSend  = "/cgi-bin/message/template/send"
	PathSubscribeSend = "/cgi-bin/message/subscribe/bizsend"
)

// Call is one request FakeAPI received.
type Call struct {
	Method, Path string
	Query        url.Values
	Token        string         // the access_token query parameter
	Raw          string         // the body as sent
	Body         map[string]any // the JSON body, nil when none or not JSON
	OpenID       string         // the body's touser
	MediaID      string         // the media_id query parameter
	Status       int            // the HTTP status answered (0 when the client gave up first)
	ErrCode      int            // the errcode answered
}

// FakeAPI is an httptest server answering like WeChat's API: stable access
// tokens for one account, media downloads and message sends. It records
// every call and can be told to fail. Methods are safe for concurrent use.
type FakeAPI struct {
	URL              string
	AppID, AppSecret string

	srv  *httptest.Server
	stop chan struct{} // closed when the test ends: hanging calls return

	mu      sync.Mutex
	ttl     time.Duration
	tokens  map[string]*token
	current string
	issued  int
	media   map[string]media
	faults  map[string][]fault
	calls   []Call
	changed chan struct{} // closed and replaced at every call
	msgID   int64
}

type token struct {
	expires time.Time
	invalid bool
}

type media struct {
	contentType string
	data        []byte
}

// fault is one injected failure: an errcode, an HTTP status or a hang.
type fault struct {
	errcode, status int
	hang            bool
}

// NewFakeAPI starts a fake for the account appID with secret, closed when
// t ends. Tokens last two hours unless SetTokenTTL says otherwise.
func NewFakeAPI(t testing.TB, appID, secret string) *FakeAPI {
	t.Helper()
	f := &FakeAPI{AppID: appID, AppSecret: secret, stop: make(chan struct{}),
		ttl: 2 * time.Hour, tokens: map[string]*token{}, media: map[string]media{},
		faults: map[string][]fault{}, changed: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	t.Cleanup(func() {
		close(f.stop)
		f.srv.Close()
	})
	return f
}

// SetTokenTTL sets the lifetime of tokens issued from now on.
func (f *FakeAPI) SetTokenTTL(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ttl = d
}

// TokensIssued is how many distinct tokens the fake has issued.
func (f *FakeAPI) TokensIssued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issued
}

// CurrentToken is the token the fake would hand out now without a forced
// refresh ("" before the first).
func (f *FakeAPI) CurrentToken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current
}

// InvalidateTokens makes every token issued so far answer 40001, as when
// someone else forces a refresh; the next stable_token call issues a new
// one.
func (f *FakeAPI) InvalidateTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tk := range f.tokens {
		tk.invalid = true
	}
}

// AddMedia serves data with contentType as media id.
func (f *FakeAPI) AddMedia(id, contentType string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.media[id] = media{contentType, data}
}

// FailNext makes the next n calls to path answer errcode (with HTTP 200,
// as WeChat does).
func (f *FakeAPI) FailNext(path string, n, errcode int) {
	f.inject(path, n, fault{errcode: errcode})
}

// FailNextHTTP makes the next n calls to path answer HTTP status.
func (f *FakeAPI) FailNextHTTP(path string, n, status int) {
	f.inject(path, n, fault{status: status})
}

// HangNext makes the next n calls to path answer nothing until the client
// gives up or the test ends.
func (f *FakeAPI) HangNext(path string, n int) {
	f.inject(path, n, fault{hang: true})
}

func (f *FakeAPI) inject(path string, n int, ft fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.faults[path] = append(f.faults[path], ft)
	}
}

// Calls returns the calls to path so far, in order ("" for every path).
func (f *FakeAPI) Calls(path string) []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.callsLocked(path)
}

func (f *FakeAPI) callsLocked(path string) []Call {
	var out []Call
	for _, c := range f.calls {
		if path == "" || c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls waits until path has had at least n calls and returns them,
// failing t if that takes longer than timeout.
func (f *FakeAPI) WaitCalls(t testing.TB, path string, n int, timeout time.Duration) []Call {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		calls, changed := f.callsLocked(path), f.changed
		f.mu.Unlock()
		if len(calls) >= n {
			return calls
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("wechattest: %d calls to %s after %v, want %d", len(calls), path, timeout, n)
			return nil
		}
	}
}

// record appends c and returns its index.
func (f *FakeAPI) record(c Call) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	close(f.changed)
	f.changed = make(chan struct{})
	return len(f.calls) - 1
}

// answered notes what call i was answered.
func (f *FakeAPI) answered(i, status, errcode int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[i].Status, f.calls[i].ErrCode = status, errcode
}

func (f *FakeAPI) takeFault(path string) (fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.faults[path]
	if len(q) == 0 {
		return fault{}, false
	}
	f.faults[path] = q[1:]
	return q[0], true
}

// errMsgs are WeChat's messages for the errcodes the fake answers.
var errMsgs = map[int]string{
	-1:    "system error",
	40001: "invalid credential, access_token is invalid or not latest",
	40002: "invalid grant_type",
	40003: "invalid openid",
	40007: "invalid media_id",
	40013: "invalid appid",
	40037: "invalid template_id",
	40125: "invalid appsecret",
	41001: "access_token missing",
	42001: "access_token expired",
	43004: "require subscribe",
	44002: "empty post data",
	44004: "empty content",
	45009: "reach max api daily quota limit",
	45015: "response out of time limit or subscription is canceled",
	47001: "data format error",
}

func (f *FakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	c := Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()}
	c.Token, c.MediaID = c.Query.Get("access_token"), c.Query.Get("media_id")
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	c.Raw = string(raw)
	if len(raw) > 0 && json.Unmarshal(raw, &c.Body) == nil {
		c.OpenID, _ = c.Body["touser"].(string)
	}
	i := f.record(c)

	if ft, ok := f.takeFault(c.Path); ok {
		switch {
		case ft.hang:
			select {
			case <-r.Context().Done():
			case <-f.stop:
			}
		case ft.status != 0:
			f.answered(i, ft.status, 0)
			http.Error(w, http.StatusText(ft.status), ft.status)
		default:
			f.fail(w, i, ft.errcode)
		}
		return
	}

	switch {
	case c.Path == PathToken && r.Method == http.MethodPost:
		f.serveToken(w, i, c)
	case c.Path == PathMedia && r.Method == http.MethodGet:
		f.serveMedia(w, i, c)
	case (c.Path == PathCustomSend || c.Path == PathTemplateSend || c.Path == PathSubscribeSend) &&
		r.Method == http.MethodPost:
		f.serveSend(w, i, c)
	default:
		f.answered(i, http.StatusNotFound, 0)
		http.NotFound(w, r)
	}
}

func (f *FakeAPI) serveToken(w http.ResponseWriter, i int, c Call) {
	str := func(k string) string { s, _ := c.Body[k].(string); return s }
	force, _ := c.Body["force_refresh"].(bool)
	switch {
	case c.Body == nil:
		f.fail(w, i, 44002)
		return
	case str("grant_type") != "client_credential":
		f.fail(w, i, 40002)
		return
	case str("appid") != f.AppID:
		f.fail(w, i, 40013)
		return
	case str("secret") != f.AppSecret:
		f.fail(w, i, 40125)
		return
	}
	f.mu.Lock()
	now := time.Now()
	cur := f.tokens[f.current]
	if force || cur == nil || cur.invalid || !now.Before(cur.expires) {
		for _, tk := range f.tokens {
			tk.invalid = true
		}
		f.issued++
		f.current = fmt.Sprintf("FAKE_ACCESS_TOKEN_%d_%d", f.issued, now.UnixNano())
		cur = &token{expires: now.Add(f.ttl)}
		f.tokens[f.current] = cur
	}
	tok, left := f.current, int64(cur.expires.Sub(now).Round(time.Second)/time.Second)
	f.mu.Unlock()
	// stable_token answers without errcode when it succeeds
	f.json(w, i, 0, map[string]any{"access_token": tok, "expires_in": left})
}

// checkToken answers the call's access token's fault, if it has one.
func (f *FakeAPI) checkToken(w http.ResponseWriter, i int, c Call) bool {
	// A copy, read under the lock: a token refresh marks the old ones invalid.
	f.mu.Lock()
	var tk *token
	if t, ok := f.tokens[c.Token]; ok {
		cp := *t
		tk = &cp
	}
	f.mu.Unlock()
	switch {
	case c.Token == "":
		f.fail(w, i, 41001)
	case tk == nil || tk.invalid:
		f.fail(w, i, 40001)
	case !time.Now().Before(tk.expires):
		f.fail(w, i, 42001)
	default:
		return true
	}
	return false
}

func (f *FakeAPI) serveMedia(w http.ResponseWriter, i int, c Call) {
	if !f.checkToken(w, i, c) {
		return
	}
	f.mu.Lock()
	m, ok := f.media[c.MediaID]
	f.mu.Unlock()
	if !ok {
		f.fail(w, i, 40007)
		return
	}
	w.Header().Set("Content-Type", m.contentType)
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", c.MediaID))
	f.answered(i, http.StatusOK, 0)
	_, _ = w.Write(m.data)
}

func (f *FakeAPI) serveSend(w http.ResponseWriter, i int, c Call) {
	if !f.checkToken(w, i, c) {
		return
	}
	if c.Body == nil {
		f.fail(w, i, 44002)
		return
	}
	if c.OpenID == "" {
		f.fail(w, i, 40003)
		return
	}
	if c.Path == PathCustomSend {
		text, _ := c.Body["text"].(map[string]any)
		content, _ := text["content"].(string)
		if c.Body["msgtype"] != "text" || content == "" {
			f.fail(w, i, 44004)
			return
		}
		f.ok(w, i, map[string]any{})
		return
	}
	if id, _ := c.Body["template_id"].(string); id == "" {
		f.fail(w, i, 40037)
		return
	}
	data, ok := c.Body["data"].(map[string]any)
	if !ok {
		f.fail(w, i, 47001)
		return
	}
	for _, v := range data {
		if m, ok := v.(map[string]any); !ok || m["value"] == nil {
			f.fail(w, i, 47001)
			return
		}
	}
	out := map[string]any{}
	if c.Path == PathTemplateSend {
		f.mu.Lock()
		f.msgID++
		out["msgid"] = f.msgID
		f.mu.Unlock()
	}
	f.ok(w, i, out)
}

func (f *FakeAPI) ok(w http.ResponseWriter, i int, body map[string]any) {
	body["errcode"], body["errmsg"] = 0, "ok"
	f.json(w, i, 0, body)
}

func (f *FakeAPI) fail(w http.ResponseWriter, i, errcode int) {
	msg, ok := errMsgs[errcode]
	if !ok {
		msg = "fake error"
	}
	f.json(w, i, errcode, map[string]any{"errcode": errcode, "errmsg": msg + " rid: fake"})
}

func (f *FakeAPI) json(w http.ResponseWriter, i, errcode int, body map[string]any) {
	f.answered(i, http.StatusOK, errcode)
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	_ = json.NewEncoder(w).Encode(body)
}
