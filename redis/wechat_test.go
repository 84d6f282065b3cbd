package redis_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/wechat"
	"github.com/yihao-city/yihao/channels/wechat/wechattest"
	"github.com/yihao-city/yihao/redis"
)

// Two instances, each with its own connection, share one token.
func TestTokenCacheShared(t *testing.T) {
	ctx := t.Context()
	c1, c2 := testClient(t), testClient(t)
	key := testPrefix(t, c1) + "wechat:token"
	a, b := redis.NewTokenCache(c1, key), redis.NewTokenCache(c2, key)

	if tok, _, ok, err := b.Get(ctx); err != nil || ok {
		t.Fatalf("Get before Set = %q, %v, %v; want nothing", tok, ok, err)
	}
	expires := time.Now().Add(2 * time.Hour).Truncate(time.Millisecond)
	if err := a.Set(ctx, "TOKEN-1", expires); err != nil {
		t.Fatal(err)
	}
	tok, exp, ok, err := b.Get(ctx)
	if err != nil || !ok || tok != "TOKEN-1" || !exp.Equal(expires) {
		t.Fatalf("Get from the other instance = %q %v %v %v; want TOKEN-1 %v", tok, exp, ok, err, expires)
	}
	ttl, err := c1.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 2*time.Hour-time.Minute || ttl > 2*time.Hour {
		t.Errorf("key TTL %v, want until the token expires (2 h)", ttl)
	}

	if err := b.Set(ctx, "TOKEN-2", expires.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if tok, _, _, _ := a.Get(ctx); tok != "TOKEN-2" {
		t.Errorf("Get after the other instance's Set = %q, want TOKEN-2", tok)
	}
}

func TestTokenCacheExpiry(t *testing.T) {
	ctx := t.Context()
	c := testClient(t)
	key := testPrefix(t, c) + "wechat:token"
	tc := redis.NewTokenCache(c, key)

	if err := tc.Set(ctx, "OLD", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := tc.Get(ctx); ok {
		t.Error("an expired token was kept")
	}
	if err := tc.Set(ctx, "SHORT", time.Now().Add(50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, ok, err := tc.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("token still kept long after it expired")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// a value that is not ours reads as no token
	if err := c.Set(ctx, key, "not json", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if tok, _, ok, err := tc.Get(ctx); ok || err != nil {
		t.Errorf("Get of a foreign value = %q, %v, %v; want nothing", tok, ok, err)
	}
}

// Two API clients, standing for two instances, fetch the token from
// WeChat once between them.
func TestTokenCacheSharedByAPIs(t *testing.T) {
	fake := wechattest.NewFakeAPI(t, "wxapp", "secret")
	c1, c2 := testClient(t), testClient(t)
	key := testPrefix(t, c1) + "wechat:token"
	var apis []*wechat.API
	for _, tc := range []wechat.TokenCache{redis.NewTokenCache(c1, key), redis.NewTokenCache(c2, key)} {
		a, err := wechat.NewAPI(wechat.APIConfig{AppID: "wxapp", AppSecret: "secret", Base: fake.URL}, tc, nil)
		if err != nil {
			t.Fatal(err)
		}
		apis = append(apis, a)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := apis[i%2].SendText(t.Context(), "o1", "hi"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// The two instances may race to the first fetch; stable_token hands
	// both the same token, and after that neither fetches again.
	if n := fake.TokensIssued(); n != 1 {
		t.Errorf("%d tokens issued for two instances, want 1", n)
	}
	before := len(fake.Calls(wechattest.PathToken))
	for _, a := range apis {
		if err := a.SendText(t.Context(), "o1", "hi"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(fake.Calls(wechattest.PathToken)); n != before {
		t.Errorf("token fetched again once cached")
	}
}

// seenFirst is redis.Seen or wechat.MemorySeen.
type seenFirst interface {
	First(ctx context.Context, key string) (bool, error)
	Forget(ctx context.Context, key string) error
}

// testSeenSemantics checks what both Seen implementations promise: one,
// and only one, true per key among any number of callers (a and b stand
// for two instances).
func testSeenSemantics(t *testing.T, a, b seenFirst) {
	t.Helper()
	ctx := t.Context()
	first := func(s seenFirst, key string) bool {
		t.Helper()
		ok, err := s.First(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !first(a, "msg-1") {
		t.Error("msg-1 not first")
	}
	if first(b, "msg-1") || first(a, "msg-1") {
		t.Error("msg-1 first twice")
	}
	if !first(b, "msg-2") {
		t.Error("msg-2 not first")
	}
	if err := a.Forget(ctx, "msg-1"); err != nil {
		t.Fatal(err)
	}
	if !first(b, "msg-1") {
		t.Error("msg-1 not first after Forget")
	}

	var firsts atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			s := a
			if i%2 == 1 {
				s = b
			}
			ok, err := s.First(ctx, "msgid-concurrent")
			if err != nil {
				t.Error(err)
			}
			if ok {
				firsts.Add(1)
			}
		})
	}
	wg.Wait()
	if n := firsts.Load(); n != 1 {
		t.Errorf("%d of 50 concurrent callers saw the key first, want 1", n)
	}
}

func TestSeen(t *testing.T) {
	c1, c2 := testClient(t), testClient(t)
	prefix := testPrefix(t, c1) + "wechat:seen:"
	a, b := redis.NewSeen(c1, prefix, time.Hour), redis.NewSeen(c2, prefix, time.Hour)
	testSeenSemantics(t, a, b)
	ttl, err := c1.PTTL(t.Context(), prefix+"msg-2").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("key TTL %v, want 1 h", ttl)
	}
}

func TestSeenExpires(t *testing.T) {
	c := testClient(t)
	s := redis.NewSeen(c, testPrefix(t, c), 50*time.Millisecond)
	ctx := t.Context()
	if ok, err := s.First(ctx, "k"); !ok || err != nil {
		t.Fatalf("First = %v, %v", ok, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := s.First(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("key still remembered long after its ttl")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The in-process twin keeps the same promises (one process stands for
// both instances).
func TestMemorySeenSemantics(t *testing.T) {
	s := wechat.NewMemorySeen(time.Hour, nil)
	testSeenSemantics(t, s, s)
}

// Conversations are shared: a citizen's next message finds the ticket on
// any instance, until the window passes or the conversation ends.
func TestConversationsShared(t *testing.T) {
	ctx := context.Background()
	a, b := testClient(t), testClient(t)
	prefix := testPrefix(t, a)
	ca, cb := redis.NewConversations(a, prefix), redis.NewConversations(b, prefix)
	if _, ok, err := ca.Open(ctx, "oX"); err != nil || ok {
		t.Fatalf("open before any: %v %v", ok, err)
	}
	if err := ca.Keep(ctx, "oX", "26112600000017", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if n, ok, err := cb.Open(ctx, "oX"); err != nil || !ok || n != "26112600000017" {
		t.Fatalf("the other instance: %q %v %v", n, ok, err)
	}
	if err := cb.End(ctx, "oX"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := ca.Open(ctx, "oX"); ok {
		t.Fatal("ended conversation still open")
	}
	ca.Keep(ctx, "oY", "26112600000025", 100*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	if _, ok, _ := cb.Open(ctx, "oY"); ok {
		t.Fatal("conversation outlived its window")
	}
}
