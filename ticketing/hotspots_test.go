package ticketing_test

import (
	"math"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// A place that always has a few potholes a week is no hotspot at seven; a
// quiet place with six in a week is, and a place that never had the
// category with nine is the most unusual; fewer than the window's minimum
// is never a hotspot.
func TestFindHotspots(t *testing.T) {
	week, _ := ticketing.HotspotWindowNamed("week")
	from := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	history := []ticketing.PlaceCount{
		{Category: "0901", Place: "busy", N: 12 * 5}, // five a week for twelve weeks
		{Category: "0901", Place: "quiet", N: 1},
		{Category: "0210", Place: "elsewhere", N: 3},
	}
	current := []ticketing.PlaceCount{
		{Category: "0901", Place: "busy", N: 7},
		{Category: "0901", Place: "quiet", N: 6},
		{Category: "0210", Place: "new", N: 9},
		{Category: "0103", Place: "few", N: 4},
	}
	got := ticketing.FindHotspots(week, ticketing.PlaceCell, from, current, history, week.History, 3000)
	if len(got) != 2 {
		t.Fatalf("hotspots: %+v, want the quiet place's 0901 and the new place's 0210", got)
	}
	// The new place had nothing: the most unusual first.
	if got[0].Place != "new" || got[1].Place != "quiet" || got[0].Window != "week" || !got[0].To.Equal(from.Add(7*24*time.Hour)) {
		t.Errorf("order or window: %+v", got)
	}
	if q := got[1]; math.Abs(q.Expected-1.0/12) > 0.01 || q.Score < ticketing.HotspotSurprise || q.Count != 6 {
		t.Errorf("quiet place: %+v", q)
	}
	for _, h := range got {
		if math.IsInf(h.Score, 0) || math.IsNaN(h.Score) {
			t.Errorf("score %v", h.Score)
		}
	}
	// A count far past any rate has a finite score.
	huge := ticketing.FindHotspots(week, ticketing.PlaceCell, from, []ticketing.PlaceCount{{Category: "x", Place: "p", N: 5000}}, nil, week.History, 3000)
	if len(huge) != 1 || math.IsInf(huge[0].Score, 0) || huge[0].Score < 1000 {
		t.Errorf("5000 where nothing was: %+v", huge)
	}
	// No history yet: nothing is unusual.
	if got := ticketing.FindHotspots(week, ticketing.PlaceCell, from, current, nil, 0, 3000); len(got) != 0 {
		t.Errorf("with no history: %+v", got)
	}
}
