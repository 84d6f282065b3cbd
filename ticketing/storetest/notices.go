package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/yihao-city/yihao/ticketing"
)

func optOutTests() []storeTest { return []storeTest{{"OptOuts", testOptOuts}} }

// testOptOuts: an opt-out holds until taken back, and again is a no-op.
func testOptOuts(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	const phone = "+8613800138000"
	if out, err := s.OptedOut(ctx, phone); err != nil || out {
		t.Fatalf("OptedOut before = %v, %v", out, err)
	}
	for range 2 {
		if err := s.OptOut(ctx, phone, "sms", base); err != nil {
			t.Fatalf("OptOut: %v", err)
		}
	}
	if out, err := s.OptedOut(ctx, phone); err != nil || !out {
		t.Fatalf("OptedOut after = %v, %v", out, err)
	}
	if out, _ := s.OptedOut(ctx, "+8613900139000"); out {
		t.Error("another number opted out too")
	}
	if err := s.OptOut(ctx, " ", "sms", base); !errors.Is(err, ticketing.ErrInvalid) {
		t.Errorf("OptOut of no address: %v", err)
	}
	if err := s.OptIn(ctx, phone); err != nil {
		t.Fatalf("OptIn: %v", err)
	}
	if out, err := s.OptedOut(ctx, phone); err != nil || out {
		t.Fatalf("OptedOut after OptIn = %v, %v", out, err)
	}
}
