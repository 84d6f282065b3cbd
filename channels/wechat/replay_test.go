package wechat_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yihao-city/yihao/channels/wechat"
	"github.com/yihao-city/yihao/channels/wechat/wechattest"
	"github.com/yihao-city/yihao/redis"
)

// post sends body to a signed push URL as anyone could.
func post(t *testing.T, url string, body []byte) int {
	t.Helper()
	resp, err := http.Post(url, "text/xml", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// One leaked push URL (a proxy log, a Referer) cannot carry another body,
// in either mode: the attacker's message as another citizen is refused and
// never reaches the handler. WeChat's own retry, the same body again, is
// let through for the dedup by MsgId.
func TestReplayedSignedURLRefused(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(modeName(encrypted), func(t *testing.T) {
			rec := &recorder{}
			a, base := setup(t, encrypted, rec.handle, nil)
			now := time.Now()
			msg := wechat.Inbound{ToUserName: a.Name, FromUserName: "o-citizen", CreateTime: now.Unix(), MsgType: "text", Content: "路灯坏了", MsgID: 1001}
			plain := wechattest.MessageXML(msg)
			nonce := wechattest.Nonce()
			url, body := a.PushURL(base, now, nonce, ""), plain
			if encrypted {
				enc := a.Encrypt(t, plain)
				url, body = a.PushURL(base, now, nonce, enc), wechattest.Envelope(a.Name, enc)
			}
			if s := post(t, url, body); s != http.StatusOK {
				t.Fatalf("the genuine push: %d", s)
			}
			if s := post(t, url, body); s != http.StatusOK {
				t.Errorf("WeChat's retry of the same push: %d, want 200", s)
			}
			forged := msg
			forged.FromUserName, forged.Content, forged.MsgID = "o-victim", "我要投诉（伪造）", 666
			fbody := wechattest.MessageXML(forged)
			if encrypted {
				fbody = wechattest.Envelope(a.Name, a.Encrypt(t, fbody))
			}
			if s := post(t, url, fbody); s != http.StatusForbidden {
				t.Errorf("the leaked URL with another body: %d, want 403", s)
			}
			for _, m := range rec.calls() {
				if m.FromUserName == "o-victim" {
					t.Fatal("the forged message reached the handler")
				}
			}
		})
	}
}

// Plaintext mode is never the default: with no AES key the server starts
// only when plaintext is asked for, and says why otherwise.
func TestPlaintextNeedsExplicitSetting(t *testing.T) {
	h := (&recorder{}).handle
	_, err := wechat.NewServer(wechat.ServerConfig{Token: "t"}, h, nil)
	if err == nil || !strings.Contains(err.Error(), "plaintext") || !strings.Contains(err.Error(), "EncodingAESKey") {
		t.Errorf("no AES key, no plaintext setting: %v, want a refusal naming both", err)
	}
	if _, err := wechat.NewServer(wechat.ServerConfig{Token: "t", Plaintext: true}, h, nil); err != nil {
		t.Errorf("plaintext asked for: %v", err)
	}
}

func TestMemoryNonces(t *testing.T) {
	n := wechat.NewMemoryNonces(0, nil)
	wechattest.RunNonces(t, n, n)
}

// The in-process nonces never hold more than their bound: full of live
// URLs, a new one is an error (503, WeChat retries), not a forgotten key
// whose URL could then be replayed.
func TestMemoryNoncesBounded(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	n := wechat.NewMemoryNonces(3, func() time.Time { return now })
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		if ok, err := n.Remember(ctx, k, "x", time.Minute); !ok || err != nil {
			t.Fatalf("%s: %v %v", k, ok, err)
		}
	}
	if ok, err := n.Remember(ctx, "d", "x", time.Minute); ok || err == nil {
		t.Errorf("a fourth live key: %v %v, want an error", ok, err)
	}
	if ok, _ := n.Remember(ctx, "a", "y", time.Minute); ok {
		t.Error("a remembered key was forgotten to make room")
	}
	now = now.Add(2 * time.Minute)
	if ok, err := n.Remember(ctx, "d", "x", time.Minute); !ok || err != nil {
		t.Errorf("after the window: %v %v", ok, err)
	}
	if n.Len() > 3 {
		t.Errorf("%d keys, bound 3", n.Len())
	}
}

// Ended conversations are swept out as citizens keep coming, not only when
// the store is full: it holds about a window's conversations.
func TestMemoryConversationsSwept(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	convs := wechat.NewMemoryConversations(func() time.Time { return now })
	for i := range 1000 { // a citizen every 100 ms over 100 s, a 10 s window each
		if err := convs.Keep(ctx, "o-"+strconv.Itoa(i), "n", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		now = now.Add(100 * time.Millisecond)
	}
	// Swept once a minute: at most the last minute's and a window's.
	if n := convs.Len(); n > 700 {
		t.Errorf("%d conversations kept after 1,000 citizens in 100 s with a 10 s window", n)
	}
	if _, ok, _ := convs.Open(ctx, "o-999"); !ok {
		t.Error("the newest conversation was swept")
	}
}

// The in-process dedup and conversation stores stay bounded under a flood
// of distinct MsgIds and OpenIDs, all live at once.
func TestMemoryStoresBounded(t *testing.T) {
	ctx := context.Background()
	seen := wechat.NewMemorySeen(time.Hour, nil)
	convs := wechat.NewMemoryConversations(nil)
	const flood = 300_000 // more than either keeps
	for i := range flood {
		k := "msg:" + strconv.Itoa(i)
		if _, _, err := seen.Claim(ctx, k, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := convs.Keep(ctx, "o-"+strconv.Itoa(i), "n", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if n := seen.Len(); n >= flood {
		t.Errorf("dedup keeps %d keys after %d distinct ones", n, flood)
	}
	if n := convs.Len(); n >= flood {
		t.Errorf("conversations keep %d after %d citizens", n, flood)
	}
	// The newest are still there.
	if c, _, _ := seen.Claim(ctx, "msg:"+strconv.Itoa(flood-1), time.Minute); c != wechat.Held {
		t.Errorf("the newest push is no longer held: %v", c)
	}
}

// With the shared nonce store away (Redis down), plaintext pushes are
// still taken: the instance remembers the URLs itself, so a leaked URL
// with another body is still refused by it.
func TestNoncesFallBackWhenSharedStoreAway(t *testing.T) {
	down := goredis.NewClient(&goredis.Options{Addr: closedAddr(t), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = down.Close() })
	rec := &recorder{}
	a, base := setup(t, false, rec.handle, func(c *wechat.ServerConfig) { c.Nonces = redis.NewNonces(down, "yihao_test:") })
	now := time.Now()
	msg := wechat.Inbound{ToUserName: a.Name, FromUserName: "o-citizen", CreateTime: now.Unix(), MsgType: "text", Content: "路灯坏了", MsgID: 2001}
	url := a.PushURL(base, now, wechattest.Nonce(), "")
	if s := post(t, url, wechattest.MessageXML(msg)); s != http.StatusOK {
		t.Fatalf("a push while the shared store is away: %d, want 200", s)
	}
	forged := msg
	forged.FromUserName, forged.MsgID = "o-victim", 667
	if s := post(t, url, wechattest.MessageXML(forged)); s != http.StatusForbidden {
		t.Errorf("the URL with another body while the shared store is away: %d, want 403", s)
	}
	for _, m := range rec.calls() {
		if m.FromUserName == "o-victim" {
			t.Fatal("the forged message reached the handler")
		}
	}
}

// In compatible mode (兼容模式) a push carries the message in plaintext
// beside its Encrypt. Only the ciphertext, which msg_signature signs, is
// read: plaintext fields changed on the way (another sender, other words)
// reach nobody.
func TestCompatibleModeReadsOnlyTheCiphertext(t *testing.T) {
	rec := &recorder{}
	a, base := setup(t, true, rec.handle, nil)
	now := time.Now()
	msg := wechat.Inbound{ToUserName: a.Name, FromUserName: "o-citizen", CreateTime: now.Unix(), MsgType: "text", Content: "路灯坏了", MsgID: 4001}
	enc := a.Encrypt(t, wechattest.MessageXML(msg))
	outer := msg
	outer.FromUserName, outer.Content = "o-victim", "我要投诉（伪造）"
	body := strings.Replace(string(wechattest.MessageXML(outer)), "</xml>", "<Encrypt><![CDATA["+enc+"]]></Encrypt></xml>", 1)
	if s := post(t, a.PushURL(base, now, wechattest.Nonce(), enc), []byte(body)); s != http.StatusOK {
		t.Fatalf("a compatible-mode push: %d", s)
	}
	got := rec.calls()
	if len(got) != 1 || got[0].FromUserName != "o-citizen" || got[0].Content != "路灯坏了" {
		t.Fatalf("the handler got %+v, want the ciphertext's message alone", got)
	}
}

// countedNonces counts what is asked of it.
type countedNonces struct {
	wechat.Nonces
	n atomic.Int32
}

func (c *countedNonces) Remember(ctx context.Context, key, fingerprint string, ttl time.Duration) (bool, error) {
	c.n.Add(1)
	return c.Nonces.Remember(ctx, key, fingerprint, ttl)
}

// In safe mode msg_signature binds a push's URL to its message, so the
// shared nonce store (a Redis round trip a push) is not asked; in
// plaintext mode it is, once a push.
func TestNoncesOnlyForPlaintext(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(modeName(encrypted), func(t *testing.T) {
			nonces := &countedNonces{Nonces: wechat.NewMemoryNonces(0, nil)}
			rec := &recorder{}
			a, base := setup(t, encrypted, rec.handle, func(c *wechat.ServerConfig) { c.Nonces = nonces })
			now := time.Now()
			for i := range 3 {
				msg := wechat.Inbound{ToUserName: a.Name, FromUserName: "o-citizen", CreateTime: now.Unix(), MsgType: "text", Content: "路灯坏了", MsgID: int64(3001 + i)}
				url, body := a.PushURL(base, now, wechattest.Nonce(), ""), wechattest.MessageXML(msg)
				if encrypted {
					enc := a.Encrypt(t, body)
					url, body = a.PushURL(base, now, wechattest.Nonce(), enc), wechattest.Envelope(a.Name, enc)
				}
				if s := post(t, url, body); s != http.StatusOK {
					t.Fatalf("push %d: %d", i, s)
				}
			}
			want := int32(3)
			if encrypted {
				want = 0
			}
			if got := nonces.n.Load(); got != want {
				t.Errorf("the nonce store was asked %d times for 3 pushes, want %d", got, want)
			}
		})
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
