package redis_test

import (
	"context"
	"sync"
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
	a, b := redis.NewTokenCache(testCommands(t, c1), key), redis.NewTokenCache(testCommands(t, c2), key)

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
	tc := redis.NewTokenCache(testCommands(t, c), key)

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
	for _, tc := range []wechat.TokenCache{redis.NewTokenCache(testCommands(t, c1), key), redis.NewTokenCache(testCommands(t, c2), key)} {
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

// Seen keeps Dedup's promises across two instances (two clients); the
// in-process twin keeps them in one process.
func TestSeen(t *testing.T) {
	c1, c2 := testClient(t), testClient(t)
	prefix := testPrefix(t, c1) + "wechat:seen:"
	wechattest.RunDedup(t, redis.NewSeen(testCommands(t, c1), prefix, time.Hour), redis.NewSeen(testCommands(t, c2), prefix, time.Hour))
	ttl, err := c1.PTTL(t.Context(), prefix+"done").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("done key TTL %v, want 1 h", ttl)
	}
}

func TestMemorySeen(t *testing.T) {
	s := wechat.NewMemorySeen(time.Hour, nil)
	wechattest.RunDedup(t, s, s)
}

// Conversations are shared: a citizen's next message finds the ticket on
// any instance, until the window passes or the conversation ends.
func TestConversationsShared(t *testing.T) {
	ctx := context.Background()
	a, b := testClient(t), testClient(t)
	prefix := testPrefix(t, a)
	ca, cb := redis.NewConversations(testCommands(t, a), prefix), redis.NewConversations(testCommands(t, b), prefix)
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

// A signed WeChat URL taken by one instance cannot be replayed with
// another body to another instance.
func TestNoncesShared(t *testing.T) {
	c1, c2 := testClient(t), testClient(t)
	prefix := testPrefix(t, c1) + "wechat:nonce:"
	wechattest.RunNonces(t, redis.NewNonces(testCommands(t, c1), prefix), redis.NewNonces(testCommands(t, c2), prefix))
}
