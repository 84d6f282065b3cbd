package wechat_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/yihao-city/yihao/channels/wechat"
	"github.com/yihao-city/yihao/channels/wechat/wechattest"
)

const (
	testAppID  = "wx0123456789abcdef"
	testSecret = "s3cr3t-0123456789abcdef0123456789"
)

// clock is a settable clock for the token's lifetime.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type apiOpts struct {
	cache   wechat.TokenCache
	now     func() time.Time
	timeout time.Duration
	log     *slog.Logger
}

// newAPI returns a client of fake.
func newAPI(t *testing.T, fake *wechattest.FakeAPI, o apiOpts) *wechat.API {
	t.Helper()
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	a, err := wechat.NewAPI(wechat.APIConfig{AppID: testAppID, AppSecret: testSecret, Base: fake.URL,
		Timeout: o.timeout, Now: o.now}, o.cache, o.log)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newFake(t *testing.T) *wechattest.FakeAPI {
	t.Helper()
	return wechattest.NewFakeAPI(t, testAppID, testSecret)
}

func apiCode(err error) int {
	var ae *wechat.APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return 0
}

func TestNewAPIRejectsBadConfig(t *testing.T) {
	for _, cfg := range []wechat.APIConfig{
		{AppSecret: "x"},
		{AppID: "x"},
		{AppID: "x", AppSecret: "y", Base: "ftp://example.com"},
		{AppID: "x", AppSecret: "y", Base: "no scheme"},
	} {
		if _, err := wechat.NewAPI(cfg, nil, nil); err == nil {
			t.Errorf("NewAPI(%+v) = nil error", cfg)
		}
	}
}

func TestTokenRequest(t *testing.T) {
	fake := newFake(t)
	a := newAPI(t, fake, apiOpts{})
	tok, err := a.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if tok != fake.CurrentToken() {
		t.Errorf("Token = %q, want %q", tok, fake.CurrentToken())
	}
	calls := fake.Calls(wechattest.PathToken)
	if len(calls) != 1 {
		t.Fatalf("%d stable_token calls, want 1", len(calls))
	}
	want := map[string]any{"grant_type": "client_credential", "appid": testAppID, "secret": testSecret,
		"force_refresh": false}
	if diff := cmp.Diff(want, calls[0].Body); diff != "" {
		t.Errorf("stable_token body (-want +got):\n%s", diff)
	}
	if calls[0].Token != "" {
		t.Errorf("stable_token called with an access_token")
	}
}

func TestTokenWrongSecret(t *testing.T) {
	fake := wechattest.NewFakeAPI(t, testAppID, "another secret")
	a := newAPI(t, fake, apiOpts{})
	_, err := a.Token(t.Context())
	if apiCode(err) != 40125 {
		t.Fatalf("Token with a wrong secret: %v, want errcode 40125", err)
	}
	if wechat.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = true", err)
	}
	if err := a.SendText(t.Context(), "o1", "hi"); apiCode(err) != 40125 {
		t.Errorf("SendText without a token: %v, want errcode 40125", err)
	}
	if n := len(fake.Calls(wechattest.PathCustomSend)); n != 0 {
		t.Errorf("%d sends without a token", n)
	}
}

func TestTokenFetchedOnceForConcurrentCalls(t *testing.T) {
	const senders = 50
	fake := newFake(t)
	a := newAPI(t, fake, apiOpts{})
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for i := range senders {
		wg.Go(func() {
			errs <- a.SendText(t.Context(), fmt.Sprintf("openid-%d", i), "您的工单已受理")
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(fake.Calls(wechattest.PathToken)); n != 1 {
		t.Errorf("%d stable_token calls for %d concurrent sends, want 1", n, senders)
	}
	sends := fake.Calls(wechattest.PathCustomSend)
	if len(sends) != senders {
		t.Fatalf("%d sends, want %d", len(sends), senders)
	}
	for _, c := range sends {
		if c.Token != fake.CurrentToken() || c.ErrCode != 0 {
			t.Errorf("send with token %q answered %d, want token %q answered 0", c.Token, c.ErrCode, fake.CurrentToken())
		}
	}
}

func TestTokenCachedUntilFiveMinutesBeforeExpiry(t *testing.T) {
	fake := newFake(t) // tokens last 7200 s
	clk := &clock{t: time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)}
	a := newAPI(t, fake, apiOpts{now: clk.Now})
	ctx := t.Context()
	token := func() {
		t.Helper()
		if _, err := a.Token(ctx); err != nil {
			t.Fatal(err)
		}
	}
	fetches := func() int { return len(fake.Calls(wechattest.PathToken)) }

	token()
	clk.Advance(2*time.Hour - 5*time.Minute - time.Second)
	token()
	if n := fetches(); n != 1 {
		t.Fatalf("%d fetches 5 min 1 s before expiry, want 1 (cached)", n)
	}
	clk.Advance(time.Second)
	token()
	if n := fetches(); n != 2 {
		t.Fatalf("%d fetches 5 min before expiry, want 2 (refreshed)", n)
	}
	if force := fake.Calls(wechattest.PathToken)[1].Body["force_refresh"]; force != false {
		t.Errorf("scheduled refresh has force_refresh %v, want false", force)
	}
	token()
	if n := fetches(); n != 2 {
		t.Errorf("%d fetches right after a refresh, want 2", n)
	}
}

// Two instances sharing a cache fetch the token once.
func TestTokenSharedThroughCache(t *testing.T) {
	fake := newFake(t)
	cache := &wechat.MemoryTokenCache{}
	a, b := newAPI(t, fake, apiOpts{cache: cache}), newAPI(t, fake, apiOpts{cache: cache})
	ta, err := a.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if ta != tb {
		t.Errorf("instances hold different tokens")
	}
	if n := len(fake.Calls(wechattest.PathToken)); n != 1 {
		t.Errorf("%d stable_token calls for two instances sharing a cache, want 1", n)
	}
}

func TestRejectedTokenRefreshedOnceAndRetried(t *testing.T) {
	fake := newFake(t)
	a := newAPI(t, fake, apiOpts{})
	old, err := a.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	fake.InvalidateTokens()
	if err := a.SendText(t.Context(), "o1", "hi"); err != nil {
		t.Fatalf("SendText after the token was invalidated: %v", err)
	}
	sends := fake.Calls(wechattest.PathCustomSend)
	if len(sends) != 2 || sends[0].ErrCode != 40001 || sends[1].ErrCode != 0 {
		t.Fatalf("sends %+v, want one answered 40001 then one answered 0", sends)
	}
	if sends[0].Token != old || sends[1].Token == old {
		t.Errorf("retry used the rejected token")
	}
	// someone else forced a refresh: WeChat hands out the new token, no
	// need to force again
	fetches := fake.Calls(wechattest.PathToken)
	if len(fetches) != 2 || fetches[1].Body["force_refresh"] != false {
		t.Fatalf("stable_token calls %+v, want two, not forced", fetches)
	}
}

// When WeChat still hands out the token it rejected, the client forces a
// refresh, at most once per 30 seconds (WeChat ignores faster ones).
func TestRejectedTokenForcedRefresh(t *testing.T) {
	fake := newFake(t)
	clk := &clock{t: time.Now()}
	a := newAPI(t, fake, apiOpts{now: clk.Now})
	forced := func() (n int) {
		for _, c := range fake.Calls(wechattest.PathToken) {
			if c.Body["force_refresh"] == true {
				n++
			}
		}
		return n
	}
	fake.FailNext(wechattest.PathCustomSend, 1, 40001)
	if err := a.SendText(t.Context(), "o1", "hi"); err != nil {
		t.Fatal(err)
	}
	if n, f := len(fake.Calls(wechattest.PathToken)), forced(); n != 3 || f != 1 {
		t.Fatalf("%d stable_token calls, %d forced; want 3 (first, same token again, forced), 1", n, f)
	}
	sends := fake.Calls(wechattest.PathCustomSend)
	if len(sends) != 2 || sends[1].Token != fake.CurrentToken() || sends[0].Token == sends[1].Token {
		t.Fatalf("sends %+v, want a retry with the forced token", sends)
	}

	clk.Advance(29 * time.Second)
	fake.FailNext(wechattest.PathCustomSend, 1, 40001)
	err := a.SendText(t.Context(), "o1", "hi")
	if apiCode(err) != 40001 || !wechat.IsRetryable(err) {
		t.Fatalf("SendText rejected 29 s after a forced refresh: %v, want retryable errcode 40001", err)
	}
	if f := forced(); f != 1 {
		t.Errorf("%d forced refreshes 29 s apart, want 1", f)
	}

	clk.Advance(time.Second)
	fake.FailNext(wechattest.PathCustomSend, 1, 40001)
	if err := a.SendText(t.Context(), "o1", "hi"); err != nil {
		t.Fatalf("SendText rejected 30 s after a forced refresh: %v", err)
	}
	if f := forced(); f != 2 {
		t.Errorf("%d forced refreshes 30 s apart, want 2", f)
	}
}

func TestRejectedTokenExpiredAndMalformedCodes(t *testing.T) {
	for _, code := range []int{40001, 40014, 42001} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			fake := newFake(t)
			a := newAPI(t, fake, apiOpts{})
			fake.FailNext(wechattest.PathTemplateSend, 1, code)
			if err := a.SendTemplate(t.Context(), "o1", "tpl", "", map[string]string{"k": "v"}); err != nil {
				t.Fatal(err)
			}
			if n := len(fake.Calls(wechattest.PathTemplateSend)); n != 2 {
				t.Errorf("%d template sends, want 2", n)
			}
			if n := len(fake.Calls(wechattest.PathToken)); n != 3 {
				t.Errorf("%d token fetches, want 3 (first, same token again, forced)", n)
			}
		})
	}
}

// A token rejected again after the refresh is an error: one retry only.
func TestRejectedTokenRetriedOnlyOnce(t *testing.T) {
	fake := newFake(t)
	a := newAPI(t, fake, apiOpts{})
	fake.FailNext(wechattest.PathCustomSend, 2, 40001)
	err := a.SendText(t.Context(), "o1", "hi")
	if apiCode(err) != 40001 {
		t.Fatalf("SendText rejected twice: %v, want errcode 40001", err)
	}
	if n := len(fake.Calls(wechattest.PathCustomSend)); n != 2 {
		t.Errorf("%d sends, want 2", n)
	}
}

// Many sends rejected at once refresh the token once between them.
func TestConcurrentRejectionsForceOneRefresh(t *testing.T) {
	const senders = 30
	fake := newFake(t)
	a := newAPI(t, fake, apiOpts{})
	if _, err := a.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	fake.InvalidateTokens()
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			if err := a.SendText(t.Context(), "o1", "hi"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(fake.Calls(wechattest.PathToken)); n != 2 {
		t.Errorf("%d stable_token calls for %d rejected sends, want 2 (first and one refresh)", n, senders)
	}
}

// When another instance has already refreshed, the shared cache has the
// new token: no second forced refresh.
func TestRejectedTokenTakesOtherInstancesRefresh(t *testing.T) {
	fake := newFake(t)
	cache := &wechat.MemoryTokenCache{}
	a, b := newAPI(t, fake, apiOpts{cache: cache}), newAPI(t, fake, apiOpts{cache: cache})
	for _, api := range []*wechat.API{a, b} {
		if _, err := api.Token(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	fake.InvalidateTokens()
	for _, api := range []*wechat.API{a, b} {
		if err := api.SendText(t.Context(), "o1", "hi"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(fake.Calls(wechattest.PathToken)); n != 2 {
		t.Errorf("%d stable_token calls, want 2 (the first and one forced refresh)", n)
	}
}

func TestSendBodies(t *testing.T) {
	data := map[string]string{"thing1": "路灯不亮", "character_string2": "YH2025030300012"}
	wantData := map[string]any{
		"thing1":            map[string]any{"value": "路灯不亮"},
		"character_string2": map[string]any{"value": "YH2025030300012"},
	}
	tests := []struct {
		name string
		send func(context.Context, *wechat.API) error
		path string
		want map[string]any
	}{
		{"text", func(ctx context.Context, a *wechat.API) error {
			return a.SendText(ctx, "oUser1", `已受理，<a href="https://x.example/t?a=1&b=2">查看进度</a>`)
		}, wechattest.PathCustomSend, map[string]any{
			"touser": "oUser1", "msgtype": "text",
			"text": map[string]any{"content": `已受理，<a href="https://x.example/t?a=1&b=2">查看进度</a>`},
		}},
		{"template", func(ctx context.Context, a *wechat.API) error {
			return a.SendTemplate(ctx, "oUser2", "TPL-1", "https://x.example/t/1", data)
		}, wechattest.PathTemplateSend, map[string]any{
			"touser": "oUser2", "template_id": "TPL-1", "url": "https://x.example/t/1", "data": wantData,
		}},
		{"template without url", func(ctx context.Context, a *wechat.API) error {
			return a.SendTemplate(ctx, "oUser2", "TPL-1", "", data)
		}, wechattest.PathTemplateSend, map[string]any{
			"touser": "oUser2", "template_id": "TPL-1", "data": wantData,
		}},
		{"subscribe", func(ctx context.Context, a *wechat.API) error {
			return a.SendSubscribe(ctx, "oUser3", "SUB-1", "pages/ticket?id=1", data)
		}, wechattest.PathSubscribeSend, map[string]any{
			"touser": "oUser3", "template_id": "SUB-1", "page": "pages/ticket?id=1", "data": wantData,
		}},
		{"subscribe without page", func(ctx context.Context, a *wechat.API) error {
			return a.SendSubscribe(ctx, "oUser3", "SUB-1", "", data)
		}, wechattest.PathSubscribeSend, map[string]any{
			"touser": "oUser3", "template_id": "SUB-1", "data": wantData,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			a := newAPI(t, fake, apiOpts{})
			if err := tt.send(t.Context(), a); err != nil {
				t.Fatal(err)
			}
			calls := fake.Calls(tt.path)
			if len(calls) != 1 {
				t.Fatalf("%d calls to %s, want 1", len(calls), tt.path)
			}
			c := calls[0]
			if c.Method != http.MethodPost || c.Token != fake.CurrentToken() || c.OpenID != tt.want["touser"] {
				t.Errorf("call %s token %q openid %q", c.Method, c.Token, c.OpenID)
			}
			if diff := cmp.Diff(tt.want, c.Body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if strings.Contains(c.Raw, `\u003c`) || strings.Contains(c.Raw, `\u0026`) {
				t.Errorf("body escapes HTML: %s", c.Raw)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name      string
		fail      func(*wechattest.FakeAPI)
		code      int
		retryable bool
	}{
		{"invalid openid", func(f *wechattest.FakeAPI) { f.FailNext(wechattest.PathCustomSend, 1, 40003) }, 40003, false},
		{"unsubscribed", func(f *wechattest.FakeAPI) { f.FailNext(wechattest.PathCustomSend, 1, 43004) }, 43004, false},
		{"48 hours passed", func(f *wechattest.FakeAPI) { f.FailNext(wechattest.PathCustomSend, 1, 45015) }, 45015, false},
		{"system busy", func(f *wechattest.FakeAPI) { f.FailNext(wechattest.PathCustomSend, 1, -1) }, -1, true},
		{"quota", func(f *wechattest.FakeAPI) { f.FailNext(wechattest.PathCustomSend, 1, 45009) }, 45009, true},
		{"http 500", func(f *wechattest.FakeAPI) { f.FailNextHTTP(wechattest.PathCustomSend, 1, 500) }, 0, true},
		{"http 404", func(f *wechattest.FakeAPI) { f.FailNextHTTP(wechattest.PathCustomSend, 1, 404) }, 0, false},
		{"token busy", func(f *wechattest.FakeAPI) { f.FailNext(wechattest.PathToken, 1, -1) }, -1, true},
		{"token http 502", func(f *wechattest.FakeAPI) { f.FailNextHTTP(wechattest.PathToken, 1, 502) }, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			a := newAPI(t, fake, apiOpts{})
			tt.fail(fake)
			err := a.SendText(t.Context(), "o1", "hi")
			if err == nil {
				t.Fatal("SendText = nil error")
			}
			if got := apiCode(err); got != tt.code {
				t.Errorf("errcode %d (%v), want %d", got, err, tt.code)
			}
			if got := wechat.IsRetryable(err); got != tt.retryable {
				t.Errorf("IsRetryable(%v) = %v, want %v", err, got, tt.retryable)
			}
			// the failure was one call: the next succeeds
			if err := a.SendText(t.Context(), "o1", "hi"); err != nil {
				t.Errorf("SendText after the failure: %v", err)
			}
		})
	}
}

func TestSendEmptyOpenID(t *testing.T) {
	fake := newFake(t)
	a := newAPI(t, fake, apiOpts{})
	if err := a.SendText(t.Context(), "", "hi"); err == nil {
		t.Error("SendText to no one = nil error")
	}
	if n := len(fake.Calls("")); n != 0 {
		t.Errorf("%d calls for a send to no one", n)
	}
}

func TestMedia(t *testing.T) {
	fake := newFake(t)
	photo := bytes.Repeat([]byte{0xff, 0xd8, 0xff, 0xe0}, 1000)
	fake.AddMedia("MEDIA_JPEG", "image/jpeg", photo)
	fake.AddMedia("MEDIA_AMR", "audio/amr", []byte("#!AMR\n....."))
	a := newAPI(t, fake, apiOpts{})
	ctx := t.Context()

	t.Run("ok", func(t *testing.T) {
		data, ct, err := a.Media(ctx, "MEDIA_JPEG", int64(len(photo)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, photo) || ct != "image/jpeg" {
			t.Errorf("Media = %d bytes %q, want %d bytes image/jpeg", len(data), ct, len(photo))
		}
		c := fake.Calls(wechattest.PathMedia)[0]
		if c.Method != http.MethodGet || c.MediaID != "MEDIA_JPEG" || c.Token != fake.CurrentToken() {
			t.Errorf("media call %+v", c)
		}
		data, ct, err = a.Media(ctx, "MEDIA_AMR", 1<<20)
		if err != nil || string(data) != "#!AMR\n....." || ct != "audio/amr" {
			t.Errorf("Media(voice) = %q %q %v", data, ct, err)
		}
	})
	t.Run("errcode", func(t *testing.T) {
		_, _, err := a.Media(ctx, "NO_SUCH_MEDIA", 1<<20)
		if apiCode(err) != 40007 {
			t.Errorf("Media(unknown id): %v, want errcode 40007", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		_, _, err := a.Media(ctx, "MEDIA_JPEG", int64(len(photo))-1)
		if !errors.Is(err, wechat.ErrMediaTooLarge) {
			t.Errorf("Media over the limit: %v, want ErrMediaTooLarge", err)
		}
		if wechat.IsRetryable(err) {
			t.Errorf("IsRetryable(%v) = true", err)
		}
	})
	t.Run("token refreshed", func(t *testing.T) {
		fake.InvalidateTokens()
		data, _, err := a.Media(ctx, "MEDIA_JPEG", 1<<20)
		if err != nil || !bytes.Equal(data, photo) {
			t.Errorf("Media after the token was invalidated: %d bytes, %v", len(data), err)
		}
	})
}

// A hanging endpoint fails the call after the per-request timeout, not
// the caller's deadline, and the error says it may be retried.
func TestTimeoutHonoured(t *testing.T) {
	const timeout = 200 * time.Millisecond
	for _, path := range []string{wechattest.PathToken, wechattest.PathCustomSend} {
		t.Run(path, func(t *testing.T) {
			fake := newFake(t)
			a := newAPI(t, fake, apiOpts{timeout: timeout})
			fake.HangNext(path, 1)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			start := time.Now()
			err := a.SendText(ctx, "o1", "hi")
			elapsed := time.Since(start)
			if err == nil {
				t.Fatal("SendText to a hanging server = nil error")
			}
			if ctx.Err() != nil {
				t.Fatalf("SendText returned after the caller's deadline: %v", err)
			}
			if elapsed < timeout {
				t.Errorf("SendText failed after %v, before the timeout %v: %v", elapsed, timeout, err)
			}
			if !wechat.IsRetryable(err) {
				t.Errorf("IsRetryable(%v) = false", err)
			}
			if err := a.SendText(ctx, "o1", "hi"); err != nil {
				t.Errorf("SendText after the hang: %v", err)
			}
		})
	}
}

// A caller that gives up while the token is fetched gets its context's
// error, not retryable; the fetch goes on for the callers that joined it.
func TestCallerCancelWhileTokenFetched(t *testing.T) {
	fake := newFake(t)
	a := newAPI(t, fake, apiOpts{timeout: time.Second})
	fake.HangNext(wechattest.PathToken, 1)
	ctx, cancel := context.WithCancel(t.Context())
	errA := make(chan error, 1)
	go func() {
		_, err := a.Token(ctx)
		errA <- err
	}()
	fake.WaitCalls(t, wechattest.PathToken, 1, 5*time.Second)
	cancel()
	if err := <-errA; !errors.Is(err, context.Canceled) || wechat.IsRetryable(err) {
		t.Fatalf("Token after cancel: %v (retryable %v), want context.Canceled, not retryable", err, wechat.IsRetryable(err))
	}
	// the fetch still runs: this caller joins it and gets its timeout
	_, err := a.Token(t.Context())
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		t.Errorf("Token joining the hung fetch: %v, want its deadline", err)
	}
	if n := len(fake.Calls(wechattest.PathToken)); n != 1 {
		t.Errorf("%d stable_token calls, want 1", n)
	}
	if _, err := a.Token(t.Context()); err != nil {
		t.Fatalf("Token after the hang: %v", err)
	}
}

// Neither the secret nor any token appears in the log or in errors, even
// a transport error's URL.
func TestSecretsNeverLogged(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fake := newFake(t)
	a := newAPI(t, fake, apiOpts{log: log, timeout: 200 * time.Millisecond})
	ctx := t.Context()
	var errs []error
	if _, err := a.Token(ctx); err != nil {
		t.Fatal(err)
	}
	fake.InvalidateTokens()
	if err := a.SendText(ctx, "o1", "hi"); err != nil {
		t.Fatal(err)
	}
	fake.HangNext(wechattest.PathCustomSend, 1)
	errs = append(errs, a.SendText(ctx, "o1", "hi"))
	fake.HangNext(wechattest.PathMedia, 1)
	_, _, err := a.Media(ctx, "M", 10)
	errs = append(errs, err)
	fake.FailNext(wechattest.PathCustomSend, 2, 40001)
	errs = append(errs, a.SendText(ctx, "o1", "hi"))

	secrets := []string{testSecret}
	for _, c := range fake.Calls("") {
		if c.Token != "" {
			secrets = append(secrets, c.Token)
		}
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("want an error")
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q holds a secret", err)
			}
		}
	}
	out := logs.String()
	if out == "" {
		t.Error("nothing logged")
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("log holds a secret:\n%s", out)
		}
	}
}

func TestIsRetryable(t *testing.T) {
	urlErr := &url.Error{Op: "Post", URL: "https://api.weixin.qq.com/x", Err: &net.OpError{Op: "dial", Net: "tcp",
		Err: errors.New("connection refused")}}
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&wechat.APIError{Code: -1}, true},
		{&wechat.APIError{Code: 45009}, true},
		{&wechat.APIError{Code: 45011}, true},
		{&wechat.APIError{Code: 40001}, true},
		{&wechat.APIError{Code: 42001}, true},
		{&wechat.APIError{Code: 40003}, false},
		{&wechat.APIError{Code: 43004}, false},
		{&wechat.APIError{Code: 45015}, false},
		{&wechat.APIError{Code: 45047}, false},
		{&wechat.APIError{Code: 40125}, false},
		{&wechat.APIError{Code: 40037}, false},
		{fmt.Errorf("wechat: custom send: %w", &wechat.APIError{Code: -1}), true},
		{fmt.Errorf("wechat: custom send: %w", &wechat.APIError{Code: 40003}), false},
		{&wechat.HTTPError{StatusCode: 500}, true},
		{&wechat.HTTPError{StatusCode: 503}, true},
		{&wechat.HTTPError{StatusCode: 429}, true},
		{fmt.Errorf("x: %w", &wechat.HTTPError{StatusCode: 502}), true},
		{&wechat.HTTPError{StatusCode: 400}, false},
		{&wechat.HTTPError{StatusCode: 404}, false},
		{urlErr, true},
		{&net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, true},
		{context.DeadlineExceeded, true},
		{fmt.Errorf("x: %w", &url.Error{Op: "Post", URL: "u", Err: context.DeadlineExceeded}), true},
		{context.Canceled, false},
		{&url.Error{Op: "Post", URL: "u", Err: context.Canceled}, false},
		{wechat.ErrMediaTooLarge, false},
		{errors.New("decode answer: invalid character"), false},
	}
	for _, tt := range tests {
		if got := wechat.IsRetryable(tt.err); got != tt.want {
			t.Errorf("IsRetryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
