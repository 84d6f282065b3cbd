package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// The rollup buckets days in Go, in the city's zone: a zone PostgreSQL
// would read otherwise ("CST" is US Central to it) or not at all counts
// a report on the city's day.
func TestRollupZones(t *testing.T) {
	ctx := context.Background()
	for i, loc := range []*time.Location{
		time.FixedZone("CST", 8*3600),
		time.FixedZone("Nowhere/Land", 8*3600),
	} {
		s := newStore(t)
		at := time.Date(2026, 11, 5, 17, 30, 0, 0, time.UTC) // 01:30 on the 6th in the city
		svc := ticketing.NewService(s, oneDept{}, ticketing.WithClock(func() time.Time { return at }), ticketing.WithLocation(loc))
		if _, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "zone", Text: "路灯不亮"}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.RollupIndicators(ctx, loc); err != nil || n == 0 {
			t.Fatalf("%d: RollupIndicators(%s) = %d, %v", i, loc, n, err)
		}
		cs, err := s.Indicators(ctx, ticketing.IndicatorQuery{Dim: ticketing.DimAll, From: "2026-11-05", To: "2026-11-07",
			Metrics: []ticketing.Metric{ticketing.MetricReceived}, ByDay: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 1 || cs[0].Day != "2026-11-06" || cs[0].N != 1 {
			t.Errorf("%s: received by day %+v, want one on 2026-11-06", loc, cs)
		}
	}
}
