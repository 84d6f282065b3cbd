package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// PostgreSQL buckets days by the zone's name: a name it does not know, or
// one it reads as another offset, is refused rather than miscounted.
func TestRollupZones(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, loc := range []*time.Location{
		time.FixedZone("Nowhere/Land", 8*3600),
		time.FixedZone("CST", 8*3600), // China to Go, US Central to PostgreSQL
		time.Local,                    // "Local" means nothing to the server
	} {
		if _, err := s.RollupIndicators(ctx, loc); !errors.Is(err, ticketing.ErrInvalid) {
			t.Errorf("RollupIndicators(%q) = %v, want ErrInvalid", loc, err)
		}
	}
	for _, name := range []string{"UTC", "Asia/Shanghai", "Asia/Urumqi", "America/New_York"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.RollupIndicators(ctx, loc); err != nil {
			t.Errorf("RollupIndicators(%s) = %v", name, err)
		}
	}
}
