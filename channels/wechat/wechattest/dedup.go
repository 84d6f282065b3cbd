package wechattest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/wechat"
)

// RunDedup checks what every wechat.Dedup promises; a and b stand for two
// instances sharing it (pass the same value twice for an in-process one).
// It uses the keys "done", "forgot", "lapsed" and "race".
func RunDedup(t *testing.T, a, b wechat.Dedup) {
	t.Helper()
	ctx := context.Background()
	claim := func(d wechat.Dedup, key string, lease time.Duration) (wechat.Claim, string) {
		t.Helper()
		c, reply, err := d.Claim(ctx, key, lease)
		if err != nil {
			t.Fatal(err)
		}
		return c, reply
	}
	// One attempt claims; another waits while it holds the push, then
	// gets the very reply it recorded.
	if c, _ := claim(a, "done", time.Minute); c != wechat.Claimed {
		t.Fatalf("first claim: %v", c)
	}
	if c, _ := claim(b, "done", time.Minute); c != wechat.Held {
		t.Fatalf("claim while held: %v", c)
	}
	if err := a.Done(ctx, "done", "工单号 26112600000014"); err != nil {
		t.Fatal(err)
	}
	if c, reply := claim(b, "done", time.Minute); c != wechat.Done || reply != "工单号 26112600000014" {
		t.Fatalf("claim after done: %v %q", c, reply)
	}
	// A failed attempt lets the next one claim.
	claim(a, "forgot", time.Minute)
	if err := a.Forget(ctx, "forgot"); err != nil {
		t.Fatal(err)
	}
	if c, _ := claim(b, "forgot", time.Minute); c != wechat.Claimed {
		t.Fatalf("claim after forget: %v", c)
	}
	// An attempt that died (its lease ran out) lets a retry claim.
	claim(a, "lapsed", 100*time.Millisecond)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, _ := claim(b, "lapsed", time.Minute)
		if c == wechat.Claimed {
			break
		}
		if c != wechat.Held || time.Now().After(deadline) {
			t.Fatalf("claim after the lease ran out: %v", c)
		}
	}
	// Many attempts at once: exactly one claims.
	var claimed atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			d := a
			if i%2 == 1 {
				d = b
			}
			if c, _, err := d.Claim(ctx, "race", time.Minute); err != nil {
				t.Error(err)
			} else if c == wechat.Claimed {
				claimed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := claimed.Load(); n != 1 {
		t.Fatalf("%d of 50 concurrent attempts claimed the push", n)
	}
}
