package ticketing

import (
	"math"
	"testing"
)

func TestScore(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    Figures
		want float64
		ok   bool
	}{
		{"nothing counted", Figures{MetricReceived: 5}, 0, false},
		{"all perfect", Figures{MetricReceived: 10, MetricRegistered: 10, MetricFound: 10, MetricDispatched: 10, MetricClosed: 10,
			MetricClosedOnTime: 10, MetricHandled: 10, MetricHandledOnTime: 10, MetricEvaluated: 4, MetricSatisfied: 4}, 100, true},
		// Half closed in time, all closed, all handled in time, half
		// reworked, no evaluation (its weight left out), none found:
		// (30·0.5 + 20 + 15 + 15·0.5 + 10·0) / 90.
		{"mixed", Figures{MetricRegistered: 10, MetricDispatched: 10, MetricClosed: 10, MetricClosedOnTime: 5, MetricHandled: 10,
			MetricHandledOnTime: 10, MetricRework: 5}, 100 * (15 + 20 + 15 + 7.5) / 90, true},
		// Closed more than dispatched this month (last month's cases): held at 100%.
		{"over 100%", Figures{MetricDispatched: 2, MetricClosed: 4, MetricClosedOnTime: 4}, 100, true},
	} {
		got, ok := tc.f.Score()
		if ok != tc.ok || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: Score() = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
