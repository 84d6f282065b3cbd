package ticketing_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/yihao-city/yihao/limit"
	"github.com/yihao-city/yihao/ticketing"
)

// downLimiter is a limiter whose store cannot be reached.
type downLimiter struct{}

func (downLimiter) Allow(context.Context, string) (bool, time.Duration, error) {
	return false, 0, errors.New("redis: connection refused")
}

// One sign-in policy for every door: the address and a real-looking name
// each have their budget; a made-up name spends only the address's; a
// limiter that is down lets the attempt through and says why.
func TestAllowSignIn(t *testing.T) {
	ctx := context.Background()
	if _, ok, err := ticketing.AllowSignIn(ctx, nil, "desk-login", "10.0.0.1", "li.wei"); !ok || err != nil {
		t.Errorf("no limiter: ok %v err %v", ok, err)
	}

	l := limit.NewLocal(limit.PerMinute(2, 1)) // two at once, then one every 30 s
	for i := range 2 {
		if _, ok, err := ticketing.AllowSignIn(ctx, l, "desk-login", "10.0.0.1", "li.wei"); !ok || err != nil {
			t.Fatalf("attempt %d: ok %v err %v", i+1, ok, err)
		}
	}
	// The name's budget is spent: another address is refused for it too.
	wait, ok, _ := ticketing.AllowSignIn(ctx, l, "desk-login", "10.0.0.2", "li.wei")
	if ok || wait <= 0 {
		t.Errorf("third attempt for the name: ok %v wait %v; want refused with a wait", ok, wait)
	}
	// A name that cannot be a user's has no key of its own: only the
	// address counts (10.0.0.2 spent one above).
	if _, ok, _ := ticketing.AllowSignIn(ctx, l, "desk-login", "10.0.0.2", "no such user!"); !ok {
		t.Error("a made-up name from a fresh address refused")
	}
	if _, ok, _ := ticketing.AllowSignIn(ctx, l, "desk-login", "10.0.0.2", "other user!"); ok {
		t.Error("the address's budget spent, yet allowed")
	}
	// Each door has its own keys.
	if _, ok, _ := ticketing.AllowSignIn(ctx, l, "field-login", "10.0.0.1", "li.wei"); !ok {
		t.Error("the field door's budget taken by the desks'")
	}

	if _, ok, err := ticketing.AllowSignIn(ctx, downLimiter{}, "desk-login", "10.0.0.1", "li.wei"); !ok || err == nil {
		t.Errorf("limiter down: ok %v err %v; want allowed with the error", ok, err)
	}
}
