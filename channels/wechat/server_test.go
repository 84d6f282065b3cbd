package wechat_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/yihao-city/yihao/channels/wechat"
	"github.com/yihao-city/yihao/channels/wechat/wechattest"
	"github.com/yihao-city/yihao/internal/httpapi"
)

// recorder is a handler that keeps what it was given.
type recorder struct {
	mu    sync.Mutex
	got   []*wechat.Inbound
	reply func(ctx context.Context, m *wechat.Inbound) (*wechat.Reply, error)
}

func (r *recorder) handle(ctx context.Context, m *wechat.Inbound) (*wechat.Reply, error) {
	r.mu.Lock()
	r.got = append(r.got, m)
	r.mu.Unlock()
	if r.reply == nil {
		return nil, nil
	}
	return r.reply(ctx, m)
}

func (r *recorder) calls() []*wechat.Inbound {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*wechat.Inbound(nil), r.got...)
}

// setup starts a server for a new account, in safe mode when encrypted,
// mounted at /wechat on the HTTP engine as the binary mounts it, and
// returns the account and the server URL.
func setup(t *testing.T, encrypted bool, h wechat.Handler, edit func(*wechat.ServerConfig)) (wechattest.Account, string) {
	t.Helper()
	a := wechattest.NewAccount()
	cfg := wechat.ServerConfig{AppID: a.AppID, Token: a.Token, Plaintext: !encrypted}
	if encrypted {
		cfg.AESKey = a.AESKey
	}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := wechat.NewServer(cfg, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := httpapi.New(httpapi.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Register(e, "/wechat")
	ts := httptest.NewServer(e)
	t.Cleanup(ts.Close)
	return a, ts.URL + "/wechat"
}

func modeName(encrypted bool) string {
	if encrypted {
		return "aes"
	}
	return "plain"
}

var ignoreXMLName = cmpopts.IgnoreFields(wechat.Inbound{}, "XMLName")

func TestURLCheck(t *testing.T) {
	t.Parallel()
	a, url := setup(t, true, (&recorder{}).handle, nil)
	a.Verify(t, url)

	other := a
	other.Token = "not-the-token"
	now := time.Now()
	for _, tc := range []struct {
		name string
		url  string
		want int
	}{
		{"signed", a.CheckURL(url, now, "n1", "echo-123"), http.StatusOK},
		{"wrong token", other.CheckURL(url, now, "n1", "echo-123"), http.StatusForbidden},
		{"stale", a.CheckURL(url, now.Add(-6*time.Minute), "n1", "echo-123"), http.StatusForbidden},
		{"future", a.CheckURL(url, now.Add(6*time.Minute), "n1", "echo-123"), http.StatusForbidden},
		{"no signature", url + "?timestamp=1&nonce=2&echostr=3", http.StatusForbidden},
		{"tampered nonce", strings.Replace(a.CheckURL(url, now, "n1", "echo-123"), "nonce=n1", "nonce=n2", 1), http.StatusForbidden},
		{"no echostr", a.CheckURL(url, now, "n1", ""), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := wechattest.Get(t, tc.url)
			if status != tc.want {
				t.Fatalf("status %d, want %d (%s)", status, tc.want, body)
			}
			if tc.want == http.StatusOK && string(body) != "echo-123" {
				t.Errorf("body %q, want the echostr", body)
			}
		})
	}
}

func TestPushRoundTrip(t *testing.T) {
	t.Parallel()
	const openid = "oCitizen_0123456789abcdefghij"
	messages := []struct {
		name string
		msg  wechat.Inbound
	}{
		{"text", wechat.Inbound{FromUserName: openid, MsgType: wechat.MsgText, MsgID: 6100000000000000001,
			Content: "人民路12号路灯坏了 ]]> <b>&amp;"}},
		{"voice", wechat.Inbound{FromUserName: openid, MsgType: wechat.MsgVoice, MsgID: 6100000000000000002,
			MediaID: "media-voice", Format: "amr", Recognition: "小区门口垃圾三天没人收"}},
		{"image", wechat.Inbound{FromUserName: openid, MsgType: wechat.MsgImage, MsgID: 6100000000000000003,
			MediaID: "media-image", PicURL: "http://mmbiz.example/pic.jpg"}},
		{"video", wechat.Inbound{FromUserName: openid, MsgType: wechat.MsgShortVideo, MsgID: 6100000000000000004,
			MediaID: "media-video", ThumbMediaID: "media-thumb"}},
		{"location", wechat.Inbound{FromUserName: openid, MsgType: wechat.MsgLocation, MsgID: 6100000000000000005,
			LocationX: 30.657423, LocationY: 104.065735, Scale: 15, Label: "四川省成都市青羊区"}},
		{"link", wechat.Inbound{FromUserName: openid, MsgType: wechat.MsgLink, MsgID: 6100000000000000006,
			Title: "标题", Description: "描述", URL: "https://example.org/a?b=c&d=e"}},
		{"subscribe", wechat.Inbound{FromUserName: openid, MsgType: wechat.MsgEvent, Event: wechat.EventSubscribe}},
		{"click", wechat.Inbound{FromUserName: openid, MsgType: wechat.MsgEvent, Event: wechat.EventClick, EventKey: "MENU_REPORT"}},
		{"location event", wechat.Inbound{FromUserName: openid, MsgType: wechat.MsgEvent, Event: wechat.EventLocation,
			Latitude: 23.137466, Longitude: 113.352425, Precision: 119.385040}},
		{"unknown type", wechat.Inbound{FromUserName: openid, MsgType: "miniprogrampage", MsgID: 6100000000000000007}},
	}
	for _, encrypted := range []bool{false, true} {
		t.Run(modeName(encrypted), func(t *testing.T) {
			t.Parallel()
			rec := &recorder{reply: func(_ context.Context, m *wechat.Inbound) (*wechat.Reply, error) {
				return &wechat.Reply{Text: "已收到 " + m.MsgType + " " + m.Content}, nil
			}}
			a, url := setup(t, encrypted, rec.handle, nil)
			for i, tc := range messages {
				t.Run(tc.name, func(t *testing.T) {
					msg := tc.msg
					msg.ToUserName = a.Name
					msg.CreateTime = time.Now().Unix()
					status, reply := a.Push(t, url, msg, encrypted)
					if status != http.StatusOK {
						t.Fatalf("status %d, want 200", status)
					}
					calls := rec.calls()
					if len(calls) != i+1 {
						t.Fatalf("handler called %d times, want %d", len(calls), i+1)
					}
					if diff := cmp.Diff(&msg, calls[i], ignoreXMLName); diff != "" {
						t.Errorf("handler saw (-sent +got):\n%s", diff)
					}
					want := &wechattest.ReplyMsg{ToUserName: msg.FromUserName, FromUserName: a.Name,
						MsgType: "text", Content: "已收到 " + msg.MsgType + " " + msg.Content}
					if diff := cmp.Diff(want, reply, cmpopts.IgnoreFields(wechattest.ReplyMsg{}, "CreateTime")); diff != "" {
						t.Errorf("reply (-want +got):\n%s", diff)
					}
					if reply != nil && (reply.CreateTime-time.Now().Unix() > 60 || time.Now().Unix()-reply.CreateTime > 60) {
						t.Errorf("reply CreateTime %d is not now", reply.CreateTime)
					}
				})
			}
		})
	}
}

func TestReplyTextIsMadeValidXML(t *testing.T) {
	t.Parallel()
	for _, encrypted := range []bool{false, true} {
		t.Run(modeName(encrypted), func(t *testing.T) {
			t.Parallel()
			rec := &recorder{reply: func(context.Context, *wechat.Inbound) (*wechat.Reply, error) {
				return &wechat.Reply{Text: "a\x00b\x1bc\xffd ]]> e\r\nf\rg"}, nil
			}}
			a, url := setup(t, encrypted, rec.handle, nil)
			_, reply := a.Push(t, url, wechat.Inbound{FromUserName: "o1", MsgType: "text", MsgID: 1}, encrypted)
			if reply == nil || reply.Content != "a\uFFFDb\uFFFDc\uFFFDd ]]> e\nf\ng" {
				t.Errorf("reply %+v", reply)
			}
		})
	}
}

func TestNilReplyAnswersSuccess(t *testing.T) {
	t.Parallel()
	for _, encrypted := range []bool{false, true} {
		t.Run(modeName(encrypted), func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			a, url := setup(t, encrypted, rec.handle, nil)
			msg := wechat.Inbound{ToUserName: a.Name, FromUserName: "o1", CreateTime: time.Now().Unix(),
				MsgType: wechat.MsgEvent, Event: wechat.EventUnsubscribe}
			status, reply := a.Push(t, url, msg, encrypted)
			if status != http.StatusOK || reply != nil {
				t.Fatalf("status %d reply %+v, want 200 and none", status, reply)
			}
			// The answer is exactly "success", in both modes.
			plain := wechattest.MessageXML(msg)
			pushURL, body := a.PushURL(url, time.Now(), "n", ""), plain
			if encrypted {
				enc := a.Encrypt(t, plain)
				pushURL, body = a.PushURL(url, time.Now(), "n", enc), wechattest.Envelope(a.Name, enc)
			}
			status, answer := a.Post(t, pushURL, body)
			if status != http.StatusOK || string(answer) != "success" {
				t.Errorf("answer %d %q, want 200 success", status, answer)
			}
			if n := len(rec.calls()); n != 2 {
				t.Errorf("handler called %d times, want 2", n)
			}
		})
	}
}

// request builds one push against base for the account a.
type request func(t *testing.T, a wechattest.Account, base string) (url string, body []byte)

func plainPush(ts time.Time, body string) request {
	return func(t *testing.T, a wechattest.Account, base string) (string, []byte) {
		return a.PushURL(base, ts, wechattest.Nonce(), ""), []byte(body)
	}
}

func sealedPush(ts time.Time, inner string) request {
	return func(t *testing.T, a wechattest.Account, base string) (string, []byte) {
		enc := a.Encrypt(t, []byte(inner))
		return a.PushURL(base, ts, wechattest.Nonce(), enc), wechattest.Envelope(a.Name, enc)
	}
}

// as makes the request as another account (other token, AppID or key).
func as(edit func(*wechattest.Account), r request) request {
	return func(t *testing.T, a wechattest.Account, base string) (string, []byte) {
		edit(&a)
		return r(t, a, base)
	}
}

func TestPushRefused(t *testing.T) {
	t.Parallel()
	now := time.Now()
	const good = `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>` +
		`<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>1</MsgId></xml>`
	otherToken := func(a *wechattest.Account) { a.Token = "other-token" }
	for _, tc := range []struct {
		name      string
		encrypted bool
		req       request
		want      int
	}{
		{"control plain", false, plainPush(now, good), http.StatusOK},
		{"control aes", true, sealedPush(now, good), http.StatusOK},

		{"wrong signature plain", false, as(otherToken, plainPush(now, good)), http.StatusForbidden},
		{"wrong signature aes", true, as(otherToken, sealedPush(now, good)), http.StatusForbidden},
		{"wrong msg_signature", true, func(t *testing.T, a wechattest.Account, base string) (string, []byte) {
			enc := a.Encrypt(t, []byte(good))
			other := a.Encrypt(t, []byte(good)) // signature right, over another ciphertext
			return a.PushURL(base, now, "n", other), wechattest.Envelope(a.Name, enc)
		}, http.StatusForbidden},
		{"no msg_signature", true, func(t *testing.T, a wechattest.Account, base string) (string, []byte) {
			enc := a.Encrypt(t, []byte(good))
			u := a.PushURL(base, now, "n", "") + "&encrypt_type=aes"
			return u, wechattest.Envelope(a.Name, enc)
		}, http.StatusForbidden},
		{"no signature", false, func(t *testing.T, a wechattest.Account, base string) (string, []byte) {
			return base + "?timestamp=1&nonce=2", []byte(good)
		}, http.StatusForbidden},
		{"stale plain", false, plainPush(now.Add(-6*time.Minute), good), http.StatusForbidden},
		{"future plain", false, plainPush(now.Add(6*time.Minute), good), http.StatusForbidden},
		{"stale aes", true, sealedPush(now.Add(-6*time.Minute), good), http.StatusForbidden},
		{"future aes", true, sealedPush(now.Add(6*time.Minute), good), http.StatusForbidden},
		{"wrong AppID in ciphertext", true, as(func(a *wechattest.Account) { a.AppID = "wx_other" }, sealedPush(now, good)), http.StatusForbidden},
		{"wrong AES key", true, as(func(a *wechattest.Account) { a.AESKey = wechattest.NewAESKey() }, sealedPush(now, good)), http.StatusForbidden},
		{"plaintext to safe mode", true, plainPush(now, good), http.StatusForbidden},
		{"raw to safe mode", true, func(t *testing.T, a wechattest.Account, base string) (string, []byte) {
			return a.PushURL(base, now, "n", "") + "&encrypt_type=raw", []byte(good)
		}, http.StatusForbidden},
		{"encrypted to plaintext mode", false, sealedPush(now, good), http.StatusForbidden},
		{"unknown encrypt_type", false, func(t *testing.T, a wechattest.Account, base string) (string, []byte) {
			return a.PushURL(base, now, "n", "") + "&encrypt_type=rot13", []byte(good)
		}, http.StatusBadRequest},

		{"not xml", false, plainPush(now, "hello"), http.StatusBadRequest},
		{"empty body", false, plainPush(now, ""), http.StatusBadRequest},
		{"unclosed", false, plainPush(now, `<xml><ToUserName>gh</ToUserName>`), http.StatusBadRequest},
		{"wrong root", false, plainPush(now, strings.ReplaceAll(good, "xml>", "msg>")), http.StatusBadRequest},
		{"CreateTime not a number", false, plainPush(now, strings.Replace(good, "1700000000", "yesterday", 1)), http.StatusBadRequest},
		{"no MsgType", false, plainPush(now, strings.Replace(good, "<MsgType><![CDATA[text]]></MsgType>", "", 1)), http.StatusBadRequest},
		{"no FromUserName", false, plainPush(now, strings.Replace(good, "o1", "", 1)), http.StatusBadRequest},
		{"NaN coordinate", false, plainPush(now, strings.Replace(good, "<MsgId>", "<Location_X>NaN</Location_X><MsgId>", 1)), http.StatusBadRequest},
		{"malformed envelope", true, func(t *testing.T, a wechattest.Account, base string) (string, []byte) {
			return a.PushURL(base, now, "n", "x"), []byte("<xml><Encrypt>x")
		}, http.StatusBadRequest},
		{"empty Encrypt", true, func(t *testing.T, a wechattest.Account, base string) (string, []byte) {
			return a.PushURL(base, now, "n", "x"), wechattest.Envelope(a.Name, "")
		}, http.StatusBadRequest},
		{"Encrypt not base64", true, func(t *testing.T, a wechattest.Account, base string) (string, []byte) {
			return a.PushURL(base, now, "n", "!!!"), wechattest.Envelope(a.Name, "!!!")
		}, http.StatusForbidden},
		{"malformed inside ciphertext", true, sealedPush(now, "<xml><ToUserName>"), http.StatusBadRequest},

		{"body over the limit plain", false, plainPush(now, good+strings.Repeat(" ", 1024)), http.StatusRequestEntityTooLarge},
		{"body over the limit aes", true, func(t *testing.T, a wechattest.Account, base string) (string, []byte) {
			enc := a.Encrypt(t, []byte(good+strings.Repeat(" ", 1024)))
			return a.PushURL(base, now, "n", enc), wechattest.Envelope(a.Name, enc)
		}, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			a, base := setup(t, tc.encrypted, rec.handle, func(c *wechat.ServerConfig) { c.MaxBodyBytes = 1024 })
			url, body := tc.req(t, a, base)
			status, answer := a.Post(t, url, body)
			if status != tc.want {
				t.Fatalf("status %d, want %d (%s)", status, tc.want, answer)
			}
			calls := len(rec.calls())
			if tc.want == http.StatusOK && calls != 1 {
				t.Errorf("handler called %d times, want once", calls)
			}
			if tc.want != http.StatusOK && calls != 0 {
				t.Errorf("handler called %d times, want never", calls)
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	a, url := setup(t, false, (&recorder{}).handle, nil)
	for _, method := range []string{http.MethodPut, "INVENTED"} {
		req, _ := http.NewRequest(method, a.PushURL(url, time.Now(), "n", ""), strings.NewReader("<xml/>"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, POST" {
			t.Errorf("%s: status %d Allow %q", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

// countingReader is an endless body that counts what was read of it.
type countingReader struct{ n int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	c.n += int64(len(p))
	return len(p), nil
}

func TestBodyLimitStopsReading(t *testing.T) {
	t.Parallel()
	a := wechattest.NewAccount()
	for _, encrypted := range []bool{false, true} {
		t.Run(modeName(encrypted), func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			cfg := wechat.ServerConfig{AppID: a.AppID, Token: a.Token, Plaintext: !encrypted}
			if encrypted {
				cfg.AESKey = a.AESKey
			}
			srv, err := wechat.NewServer(cfg, rec.handle, nil)
			if err != nil {
				t.Fatal(err)
			}
			body := &countingReader{}
			url := a.PushURL("/wechat", time.Now(), "n", "")
			if encrypted {
				url = a.PushURL("/wechat", time.Now(), "n", "x")
			}
			req := httptest.NewRequest(http.MethodPost, url, io.NopCloser(body))
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, req)
			if w.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413", w.Code)
			}
			if body.n > 2*wechat.DefaultMaxBodyBytes {
				t.Errorf("read %d bytes of an endless body, want about %d", body.n, wechat.DefaultMaxBodyBytes)
			}
			if len(rec.calls()) != 0 {
				t.Error("handler called")
			}
		})
	}
}

func TestUnsignedBodyIsNotRead(t *testing.T) {
	t.Parallel()
	srv, err := wechat.NewServer(wechat.ServerConfig{Token: "t", Plaintext: true}, (&recorder{}).handle, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := &countingReader{}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/wechat?signature=00&timestamp=1&nonce=2", io.NopCloser(body)))
	if w.Code != http.StatusForbidden || body.n != 0 {
		t.Errorf("status %d after reading %d bytes, want 403 after none", w.Code, body.n)
	}
}

func TestHandlerFailure(t *testing.T) {
	t.Parallel()
	for _, encrypted := range []bool{false, true} {
		t.Run(modeName(encrypted), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			fail := true
			rec := &recorder{reply: func(context.Context, *wechat.Inbound) (*wechat.Reply, error) {
				mu.Lock()
				defer mu.Unlock()
				if fail {
					fail = false
					return &wechat.Reply{Text: "never sent"}, errors.New("database down")
				}
				return &wechat.Reply{Text: "受理"}, nil
			}}
			a, url := setup(t, encrypted, rec.handle, nil)
			msg := wechat.Inbound{FromUserName: "o1", MsgType: wechat.MsgText, MsgID: 42, Content: "hi"}
			if status, reply := a.Push(t, url, msg, encrypted); status != http.StatusServiceUnavailable || reply != nil {
				t.Fatalf("first push: %d %+v, want 503", status, reply)
			}
			// WeChat's retry of the same push gets through.
			if status, reply := a.Push(t, url, msg, encrypted); status != http.StatusOK || reply == nil || reply.Content != "受理" {
				t.Fatalf("retry: %d %+v, want 200 受理", status, reply)
			}
		})
	}
}

func TestHandlerDeadline(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	for _, tc := range []struct {
		name    string
		handler wechat.Handler
	}{
		{"respects ctx", func(ctx context.Context, m *wechat.Inbound) (*wechat.Reply, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}},
		{"ignores ctx", func(ctx context.Context, m *wechat.Inbound) (*wechat.Reply, error) {
			<-release // returns only after the test is over
			return nil, nil
		}},
		{"returns a reply after the deadline", func(ctx context.Context, m *wechat.Inbound) (*wechat.Reply, error) {
			<-ctx.Done()
			<-release
			return &wechat.Reply{Text: "too late"}, nil
		}},
		{"panics", func(ctx context.Context, m *wechat.Inbound) (*wechat.Reply, error) {
			panic("boom")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var deadline time.Time
			var mu sync.Mutex
			h := func(ctx context.Context, m *wechat.Inbound) (*wechat.Reply, error) {
				d, ok := ctx.Deadline()
				if !ok {
					t.Error("handler context has no deadline")
				}
				mu.Lock()
				deadline = d
				mu.Unlock()
				return tc.handler(ctx, m)
			}
			start := time.Now()
			a, url := setup(t, true, h, func(c *wechat.ServerConfig) { c.HandlerTimeout = 200 * time.Millisecond })
			status, _ := a.Push(t, url, wechat.Inbound{FromUserName: "o1", MsgType: "text", MsgID: 7}, true)
			if status != http.StatusServiceUnavailable {
				t.Errorf("status %d, want 503", status)
			}
			mu.Lock()
			defer mu.Unlock()
			// The deadline is HandlerTimeout after the push arrived.
			if deadline.IsZero() || deadline.Before(start) || deadline.After(time.Now().Add(200*time.Millisecond)) {
				t.Errorf("handler deadline %v, want 200ms after the push arrived", deadline)
			}
		})
	}
}

func TestDefaultHandlerDeadline(t *testing.T) {
	t.Parallel()
	got := make(chan time.Duration, 1)
	a, url := setup(t, false, func(ctx context.Context, m *wechat.Inbound) (*wechat.Reply, error) {
		d, _ := ctx.Deadline()
		got <- time.Until(d)
		return nil, nil
	}, nil)
	a.Push(t, url, wechat.Inbound{FromUserName: "o1", MsgType: "text", MsgID: 7}, false)
	if left := <-got; left <= 0 || left > wechat.DefaultHandlerTimeout {
		t.Errorf("handler had %v left, want at most %v", left, wechat.DefaultHandlerTimeout)
	}
}

func TestLogsKeepCitizensPrivate(t *testing.T) {
	t.Parallel()
	const openid, words = "oSECRET_OPENID_x1", "我家住在幸福路8号"
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a := wechattest.NewAccount()
	srv, err := wechat.NewServer(wechat.ServerConfig{AppID: a.AppID, Token: a.Token, AESKey: a.AESKey},
		func(context.Context, *wechat.Inbound) (*wechat.Reply, error) { return nil, errors.New("store down") }, log)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	msg := wechat.Inbound{FromUserName: openid, MsgType: "text", MsgID: 9, Content: words}
	a.Push(t, ts.URL, msg, true) // 503: logged
	plain := wechattest.MessageXML(msg)
	a.Post(t, a.PushURL(ts.URL, time.Now(), "n", ""), plain) // plaintext refused: logged
	wrong := a
	wrong.AppID = "wx_other"
	wrong.Push(t, ts.URL, msg, true) // wrong AppID: logged

	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if strings.Count(out, "\n") < 3 {
		t.Fatalf("expected three log lines, got:\n%s", out)
	}
	for _, secret := range []string{openid, words, "<xml", "CDATA"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestNewServerChecksConfig(t *testing.T) {
	t.Parallel()
	h := (&recorder{}).handle
	key := wechattest.NewAESKey()
	for _, tc := range []struct {
		name string
		cfg  wechat.ServerConfig
		h    wechat.Handler
		ok   bool
	}{
		{"plaintext allowed", wechat.ServerConfig{Token: "t", Plaintext: true}, h, true},
		{"plaintext not allowed", wechat.ServerConfig{Token: "t"}, h, false},
		{"safe", wechat.ServerConfig{Token: "t", AppID: "wx1", AESKey: key}, h, true},
		{"no token", wechat.ServerConfig{AppID: "wx1", AESKey: key}, h, false},
		{"short key", wechat.ServerConfig{Token: "t", AppID: "wx1", AESKey: key[:42]}, h, false},
		{"key not base64", wechat.ServerConfig{Token: "t", AppID: "wx1", AESKey: strings.Repeat("!", 43)}, h, false},
		{"key without AppID", wechat.ServerConfig{Token: "t", AESKey: key}, h, false},
		{"no handler", wechat.ServerConfig{Token: "t"}, nil, false},
		{"negative window", wechat.ServerConfig{Token: "t", ReplayWindow: -time.Second}, h, false},
		{"negative body", wechat.ServerConfig{Token: "t", MaxBodyBytes: -1}, h, false},
		{"negative timeout", wechat.ServerConfig{Token: "t", HandlerTimeout: -1}, h, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wechat.NewServer(tc.cfg, tc.h, nil)
			if (err == nil) != tc.ok {
				t.Errorf("err %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestReplayWindowUsesClock(t *testing.T) {
	t.Parallel()
	clock := time.Now().Add(-time.Hour)
	a, url := setup(t, false, (&recorder{}).handle, func(c *wechat.ServerConfig) {
		c.Now = func() time.Time { return clock }
		c.ReplayWindow = 2 * time.Minute
	})
	if status, _ := a.Post(t, a.PushURL(url, clock.Add(-time.Minute), "n", ""),
		wechattest.MessageXML(wechat.Inbound{ToUserName: "gh", FromUserName: "o", MsgType: "text"})); status != http.StatusOK {
		t.Errorf("a minute off the server's clock: %d, want 200", status)
	}
	if status, _ := a.Post(t, a.PushURL(url, clock.Add(3*time.Minute), "n", ""),
		wechattest.MessageXML(wechat.Inbound{ToUserName: "gh", FromUserName: "o", MsgType: "text"})); status != http.StatusForbidden {
		t.Errorf("three minutes off the server's clock: %d, want 403", status)
	}
}

func TestDedupKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		m    wechat.Inbound
		want string
	}{
		{"message", wechat.Inbound{FromUserName: "o1", CreateTime: 1700000000, MsgType: "text", MsgID: 6100000000000000001}, "msg:6100000000000000001"},
		{"event", wechat.Inbound{FromUserName: "o1", CreateTime: 1700000000, MsgType: "event", Event: "subscribe"}, "evt:o1:1700000000:subscribe"},
		{"event with key", wechat.Inbound{FromUserName: "o1", CreateTime: 1700000000, MsgType: "event", Event: "CLICK", EventKey: "K1"}, "evt:o1:1700000000:CLICK:K1"},
		{"event with MsgId", wechat.Inbound{FromUserName: "o1", CreateTime: 1700000000, MsgType: "event", Event: "TEMPLATESENDJOBFINISH", MsgID: 5}, "msg:5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.DedupKey(); got != tc.want {
				t.Errorf("DedupKey() = %q, want %q", got, tc.want)
			}
		})
	}
}
