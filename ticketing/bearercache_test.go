package ticketing_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/sqlite"
)

// countingTokens counts the store reads behind a BearerCache.
type countingTokens struct {
	*sqlite.Store
	reads atomic.Int64
}

func (c *countingTokens) TokenByHash(ctx context.Context, hash string) (*ticketing.Token, error) {
	c.reads.Add(1)
	return c.Store.TokenByHash(ctx, hash)
}

// A token that passed is taken from memory until the TTL runs out; then a
// disabled supervisor is refused. A refused token is never remembered.
func TestBearerCache(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "yihao.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	hash, err := ticketing.HashPassword("a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	u := &ticketing.User{Name: "sup.zhang", Role: ticketing.RoleSupervisor, Area: "110101001001", PasswordHash: hash,
		CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := store.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	secret, tok, err := ticketing.NewUserToken(u, "phone", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	counted := &countingTokens{Store: store}
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	cache := ticketing.NewBearerCache(counted, 5*time.Second, func() time.Time { return now })

	for range 3 {
		b, err := cache.Authenticate(ctx, "Bearer "+secret)
		if err != nil || b.Actor != "sup.zhang" || b.Area != "110101001001" || b.Role != ticketing.RoleSupervisor {
			t.Fatalf("cached token: %+v, %v", b, err)
		}
	}
	if n := counted.reads.Load(); n != 1 {
		t.Errorf("%d store reads for three requests within the TTL, want 1", n)
	}

	u.Disabled = true
	if err := store.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	now = now.Add(4 * time.Second)
	if _, err := cache.Authenticate(ctx, "Bearer "+secret); err != nil {
		t.Errorf("within the TTL the checked token holds: %v", err)
	}
	now = now.Add(2 * time.Second)
	if _, err := cache.Authenticate(ctx, "Bearer "+secret); ticketing.KindOf(err) != ticketing.KindUnauthorized {
		t.Errorf("disabled supervisor after the TTL: %v, want unauthorized", err)
	}

	before := counted.reads.Load()
	for range 2 {
		if _, err := cache.Authenticate(ctx, "Bearer yh_notatoken"); ticketing.KindOf(err) != ticketing.KindUnauthorized {
			t.Errorf("unknown token: %v", err)
		}
	}
	if n := counted.reads.Load() - before; n != 2 {
		t.Errorf("an unknown token asked the store %d times for two requests, want 2 (refusals are not kept)", n)
	}
}
