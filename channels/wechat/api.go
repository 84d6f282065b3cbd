package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// APIConfig configures the outbound client of the official account's API.
type APIConfig struct {
	AppID, AppSecret string
	// Base is the API's root, "https://api.weixin.qq.com" when empty;
	// tests and private gateways point elsewhere.
	Base string
	// Timeout bounds each request (5 s when zero).
	Timeout time.Duration
	// Client sends the requests; when nil, one with Timeout.
	Client *http.Client
	// Now is the clock deciding when a cached token is stale (time.Now
	// when nil).
	Now func() time.Time
}

// TokenCache keeps the access token where instances share it. Get answers
// ok false when it holds none.
type TokenCache interface {
	Get(ctx context.Context) (token string, expires time.Time, ok bool, err error)
	Set(ctx context.Context, token string, expires time.Time) error
}

// MemoryTokenCache is the in-process TokenCache, for a single instance.
// The zero value is ready to use.
type MemoryTokenCache struct {
	mu      sync.Mutex
	token   string
	expires time.Time
}

// Get returns the token last Set, if any.
func (m *MemoryTokenCache) Get(context.Context) (string, time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.token, m.expires, m.token != "", nil
}

// Set keeps token until expires.
func (m *MemoryTokenCache) Set(_ context.Context, token string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.token, m.expires = token, expires
	return nil
}

// APIError is an errcode/errmsg answer from WeChat.
type APIError struct {
	Code    int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("errcode %d: %s", e.Code, e.Message)
}

// HTTPError is a response whose HTTP status was not 2xx.
type HTTPError struct {
	StatusCode int
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("http status %d %s", e.StatusCode, http.StatusText(e.StatusCode))
}

// ErrMediaTooLarge is returned by Media when the file exceeds its limit.
var ErrMediaTooLarge = errors.New("wechat: media larger than allowed")

// WeChat's error codes this client acts on.
const (
	codeBusy              = -1    // 系统繁忙
	codeInvalidToken      = 40001 // access_token invalid
	codeInvalidOpenID     = 40003
	codeInvalidTokenShape = 40014 // malformed access_token
	codeExpiredToken      = 42001
	codeUnsubscribed      = 43004
	codeDailyQuota        = 45009
	codeMinuteQuota       = 45011
	codeWindowPassed      = 45015 // 48 hours since the user last wrote
)

// IsRetryable tells whether a later attempt at the same call may succeed:
// network errors and timeouts, HTTP 5xx and 429, WeChat's "system busy"
// and rate limits, and a token still rejected after one refresh. Invalid
// openids, unsubscribed users, a closed 48-hour window, bad requests and
// a cancelled context are final.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrMediaTooLarge) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.Code {
		case codeBusy, codeDailyQuota, codeMinuteQuota,
			codeInvalidToken, codeExpiredToken, codeInvalidTokenShape:
			return true
		}
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.StatusCode >= 500 || he.StatusCode == http.StatusTooManyRequests
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue)
}

// tokenRejected reports an answer meaning the access token is no longer
// good: fetch a fresh one and try again.
func tokenRejected(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.Code == codeInvalidToken || ae.Code == codeExpiredToken || ae.Code == codeInvalidTokenShape
}

const (
	defaultBase    = "https://api.weixin.qq.com"
	defaultTimeout = 5 * time.Second
	// tokenMargin is how long before its expiry a token is replaced.
	tokenMargin = 5 * time.Minute
	// forceInterval is the least time between forced refreshes WeChat
	// honours.
	forceInterval = 30 * time.Second
	// maxJSONBody bounds the JSON answers read.
	maxJSONBody = 1 << 20
)

// API is the client of the official account's server API: the access
// token (shared through a TokenCache), media downloads and the messages
// sent to citizens. It is safe for concurrent use.
type API struct {
	appID, secret string
	base          string
	timeout       time.Duration
	client        *http.Client
	now           func() time.Time
	cache         TokenCache
	log           *slog.Logger

	mu      sync.Mutex
	token   string // the last token known, and its expiry
	expires time.Time
	flight  *tokenFlight // the token fetch under way, if any

	lastForced time.Time // the last forced refresh; only the flight touches it
}

// tokenFlight is one token fetch that concurrent callers wait for.
type tokenFlight struct {
	done    chan struct{}
	token   string
	expires time.Time
	err     error
}

// NewAPI returns a client for the account cfg names. A nil cache keeps the
// token in process; a nil log discards.
func NewAPI(cfg APIConfig, cache TokenCache, log *slog.Logger) (*API, error) {
	if cfg.AppID == "" || cfg.AppSecret == "" {
		return nil, errors.New("wechat: api: app id and app secret are required")
	}
	base := strings.TrimRight(cfg.Base, "/")
	if base == "" {
		base = defaultBase
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("wechat: api: base %q is not an http(s) URL", cfg.Base)
	}
	a := &API{appID: cfg.AppID, secret: cfg.AppSecret, base: base, timeout: cfg.Timeout,
		client: cfg.Client, now: cfg.Now, cache: cache, log: log}
	if a.timeout <= 0 {
		a.timeout = defaultTimeout
	}
	if a.client == nil {
		a.client = &http.Client{Timeout: a.timeout}
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.cache == nil {
		a.cache = &MemoryTokenCache{}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a, nil
}

// Token returns an access token good for at least five more minutes,
// from this process, then the shared cache, then WeChat
// (/cgi-bin/stable_token). Concurrent callers share one fetch.
func (a *API) Token(ctx context.Context) (string, error) {
	return a.tokenNot(ctx, "")
}

// tokenNot returns a good token other than bad ("" for none): when bad was
// rejected, it takes a token another instance has cached since, or the one
// WeChat hands out now, or forces WeChat to issue a new one.
func (a *API) tokenNot(ctx context.Context, bad string) (string, error) {
	// At most twice: a fetch already under way when bad was rejected may
	// bring bad back; then one more, forced.
	for range 2 {
		a.mu.Lock()
		if a.token != "" && a.token != bad && a.fresh(a.expires) {
			tok := a.token
			a.mu.Unlock()
			return tok, nil
		}
		f, started := a.flight, false
		if f == nil {
			f, started = &tokenFlight{done: make(chan struct{})}, true
			a.flight = f
			go a.fly(context.WithoutCancel(ctx), f, bad)
		}
		a.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return "", fmt.Errorf("wechat: access token: %w", ctx.Err())
		}
		if f.err != nil {
			return "", f.err
		}
		if f.token != bad {
			return f.token, nil
		}
		if started {
			break
		}
	}
	return "", &APIError{Code: codeInvalidToken, Message: "access token still rejected after refresh"}
}

func (a *API) fresh(expires time.Time) bool {
	return a.now().Before(expires.Add(-tokenMargin))
}

// fly runs flight f: the shared cache first, then WeChat.
func (a *API) fly(ctx context.Context, f *tokenFlight, bad string) {
	ctx, cancel := context.WithTimeout(ctx, 3*a.timeout)
	defer cancel()
	defer func() {
		a.mu.Lock()
		if f.err == nil {
			a.token, a.expires = f.token, f.expires
		}
		a.flight = nil
		a.mu.Unlock()
		close(f.done)
	}()
	tok, exp, ok, err := a.cache.Get(ctx)
	switch {
	case err != nil:
		a.log.Warn("wechat: token cache unavailable; asking WeChat", "err", err)
	case ok && tok != bad && a.fresh(exp):
		f.token, f.expires = tok, exp
		return
	}
	f.token, f.expires, f.err = a.fetchToken(ctx, false)
	forced := false
	if f.err == nil && bad != "" && f.token == bad {
		// WeChat still hands out the token it rejected: force a new one.
		// Forcing is limited to 20 a day, 30 s apart, and invalidates the
		// token every instance holds, so it is the last resort; after
		// another party forced a refresh, the normal fetch above already
		// brought the new token.
		if last := a.lastForced; !last.IsZero() && a.now().Sub(last) < forceInterval {
			return // tokenNot reports the token still rejected
		}
		a.lastForced, forced = a.now(), true
		f.token, f.expires, f.err = a.fetchToken(ctx, true)
	}
	if f.err != nil {
		return
	}
	a.log.Info("wechat: access token fetched", "forced", forced, "expires", f.expires)
	if err := a.cache.Set(ctx, f.token, f.expires); err != nil {
		a.log.Warn("wechat: token cache unavailable; token kept in process", "err", err)
	}
}

// fetchToken asks WeChat for the stable access token.
func (a *API) fetchToken(ctx context.Context, force bool) (string, time.Time, error) {
	req := struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}{"client_credential", a.appID, a.secret, force}
	var resp struct {
		apiStatus
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := a.postJSON(ctx, "/cgi-bin/stable_token", "", req, &resp); err != nil {
		return "", time.Time{}, fmt.Errorf("wechat: access token: %w", err)
	}
	if resp.AccessToken == "" || resp.ExpiresIn <= 0 {
		return "", time.Time{}, errors.New("wechat: access token: answer without access_token or expires_in")
	}
	return resp.AccessToken, a.now().Add(time.Duration(resp.ExpiresIn) * time.Second), nil
}

// withToken runs call with a token; when WeChat rejects the token, it
// fetches a fresh one and runs call once more.
func (a *API) withToken(ctx context.Context, call func(token string) error) error {
	tok, err := a.Token(ctx)
	if err != nil {
		return err
	}
	err = call(tok)
	if !tokenRejected(err) {
		return err
	}
	a.log.Warn("wechat: access token rejected; refreshing", "err", err)
	tok, err = a.tokenNot(ctx, tok)
	if err != nil {
		return err
	}
	return call(tok)
}

// apiStatus is the errcode/errmsg part of every JSON answer.
type apiStatus struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func (s apiStatus) err() error {
	if s.ErrCode == 0 {
		return nil
	}
	return &APIError{Code: s.ErrCode, Message: s.ErrMsg}
}

type statusAnswer interface{ err() error }

// postJSON posts body to path (with token in the query when given) and
// decodes the JSON answer into out, turning a non-zero errcode into an
// *APIError.
func (a *API) postJSON(ctx context.Context, path, token string, body any, out statusAnswer) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // WeChat shows text as sent: keep <a href> links as they are
	if err := enc.Encode(body); err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	q := url.Values{}
	if token != "" {
		q.Set("access_token", token)
	}
	data, _, err := a.do(ctx, http.MethodPost, path, q, &buf, maxJSONBody)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return out.err()
}

// do sends one request with the per-request timeout and reads at most
// limit+1 bytes of the answer.
func (a *API) do(ctx context.Context, method, path string, q url.Values, body io.Reader, limit int64) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	u := a.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, nil, redactURL(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, &HTTPError{StatusCode: resp.StatusCode})
	}
	if limit < math.MaxInt64 {
		limit++ // one byte more tells a body over the limit
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: read answer: %w", method, path, redactURL(err))
	}
	return data, resp.Header, nil
}

// redactURL hides the access token that *url.Error puts in its message.
func redactURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if u, perr := url.Parse(ue.URL); perr == nil && u.RawQuery != "" {
		q := u.Query()
		if q.Has("access_token") {
			q.Set("access_token", "REDACTED")
			u.RawQuery = q.Encode()
			ue.URL = u.String()
		}
	}
	return err
}

// Media downloads a temporary media file (/cgi-bin/media/get), such as a
// picture or voice message a citizen sent, with its content type. It
// fails with ErrMediaTooLarge when the file is larger than maxBytes, which
// must be positive.
func (a *API) Media(ctx context.Context, mediaID string, maxBytes int64) ([]byte, string, error) {
	if mediaID == "" {
		return nil, "", errors.New("wechat: media: empty media id")
	}
	if maxBytes <= 0 {
		return nil, "", errors.New("wechat: media: maxBytes must be positive")
	}
	var (
		data  []byte
		ctype string
	)
	err := a.withToken(ctx, func(tok string) error {
		q := url.Values{"access_token": {tok}, "media_id": {mediaID}}
		body, h, err := a.do(ctx, http.MethodGet, "/cgi-bin/media/get", q, nil, maxBytes)
		if err != nil {
			return err
		}
		ct := h.Get("Content-Type")
		if isJSONAnswer(ct, body) {
			var st apiStatus
			if json.Unmarshal(body, &st) == nil {
				if err := st.err(); err != nil {
					return err
				}
			}
		}
		if int64(len(body)) > maxBytes {
			return fmt.Errorf("%w (limit %d bytes)", ErrMediaTooLarge, maxBytes)
		}
		data, ctype = body, ct
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("wechat: media %s: %w", mediaID, err)
	}
	return data, ctype, nil
}

// isJSONAnswer tells an error answer from a file: WeChat sends its errors
// as JSON, with a JSON or text content type.
func isJSONAnswer(contentType string, body []byte) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/json" || mt == "text/plain" || mt == "text/json" {
		return true
	}
	b := bytes.TrimLeft(body, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// SendText sends a customer-service text message (客服消息), allowed within
// 48 hours of the citizen's last message to the account.
func (a *API) SendText(ctx context.Context, openID, text string) error {
	type content struct {
		Content string `json:"content"`
	}
	body := struct {
		ToUser  string  `json:"touser"`
		MsgType string  `json:"msgtype"`
		Text    content `json:"text"`
	}{openID, "text", content{text}}
	return a.send(ctx, "custom send", "/cgi-bin/message/custom/send", openID, body)
}

// SendTemplate sends a template message (模板消息); url, when not empty, is
// opened when the citizen taps it.
func (a *API) SendTemplate(ctx context.Context, openID, templateID, url string, data map[string]string) error {
	body := struct {
		ToUser     string               `json:"touser"`
		TemplateID string               `json:"template_id"`
		URL        string               `json:"url,omitempty"`
		Data       map[string]dataValue `json:"data"`
	}{openID, templateID, url, values(data)}
	return a.send(ctx, "template send", "/cgi-bin/message/template/send", openID, body)
}

// SendSubscribe sends a subscription message (订阅通知) the citizen agreed
// to receive; page, when not empty, is opened when the citizen taps it.
func (a *API) SendSubscribe(ctx context.Context, openID, templateID, page string, data map[string]string) error {
	body := struct {
		ToUser     string               `json:"touser"`
		TemplateID string               `json:"template_id"`
		Page       string               `json:"page,omitempty"`
		Data       map[string]dataValue `json:"data"`
	}{openID, templateID, page, values(data)}
	return a.send(ctx, "subscribe send", "/cgi-bin/message/subscribe/bizsend", openID, body)
}

type dataValue struct {
	Value string `json:"value"`
}

func values(data map[string]string) map[string]dataValue {
	out := make(map[string]dataValue, len(data))
	for k, v := range data {
		out[k] = dataValue{v}
	}
	return out
}

// send posts a message; WeChat answers {"errcode":0} when it is taken.
func (a *API) send(ctx context.Context, what, path, openID string, body any) error {
	if openID == "" {
		return fmt.Errorf("wechat: %s: empty openid", what)
	}
	err := a.withToken(ctx, func(tok string) error {
		return a.postJSON(ctx, path, tok, body, &apiStatus{})
	})
	if err != nil {
		return fmt.Errorf("wechat: %s: %w", what, err)
	}
	return nil
}
