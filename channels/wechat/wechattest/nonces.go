package wechattest

import (
	"context"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/wechat"
)

// RunNonces checks what every wechat.Nonces promises; a and b stand for
// two instances sharing it (pass the same value twice for an in-process
// one). It uses keys starting "nonce-".
func RunNonces(t *testing.T, a, b wechat.Nonces) {
	t.Helper()
	ctx := context.Background()
	remember := func(n wechat.Nonces, key, fp string, ttl time.Duration) bool {
		t.Helper()
		ok, err := n.Remember(ctx, key, fp, ttl)
		if err != nil {
			t.Fatalf("Remember(%s): %v", key, err)
		}
		return ok
	}
	if !remember(a, "nonce-1", "body-a", time.Minute) {
		t.Fatal("a new signed URL was refused")
	}
	if !remember(b, "nonce-1", "body-a", time.Minute) {
		t.Error("WeChat's retry (the same URL and body) was refused")
	}
	if remember(b, "nonce-1", "body-b", time.Minute) || remember(a, "nonce-1", "body-b", time.Minute) {
		t.Error("the same signed URL with another body was taken")
	}
	if !remember(b, "nonce-2", "body-b", time.Minute) {
		t.Error("another signed URL was refused")
	}
	// Past its window a key is forgotten (its timestamp is refused by then).
	if !remember(a, "nonce-short", "body-a", time.Second) {
		t.Fatal("a new signed URL was refused")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !remember(b, "nonce-short", "body-c", time.Second) {
		if time.Now().After(deadline) {
			t.Fatal("a key was kept long after its time")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
