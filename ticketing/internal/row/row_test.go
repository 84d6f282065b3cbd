package row

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/yihao-city/yihao/ticketing"
)

// Tallies share a row only when moment, keys and count are all the same:
// a task's tallies, counted for its supervisor, or a later moment, or
// another count, each start a row of their own, in the order met.
func TestTalliesShareOnlyWhatIsAlike(t *testing.T) {
	at := time.Date(2026, 11, 5, 9, 0, 0, 0, time.UTC)
	keys := ticketing.TallyKeys{Department: "swj", Grid: "g1"}
	task := keys
	task.Supervisor = "wang"
	ts := []ticketing.Tally{
		{At: at, Metric: ticketing.MetricReceived, Keys: keys, N: 1},
		{At: at, Metric: ticketing.MetricConfirmed, Keys: task, N: 1},
		{At: at.In(time.FixedZone("CST", 8*3600)), Metric: ticketing.MetricRegistered, Keys: keys, N: 1},
		{At: at.Add(time.Microsecond), Metric: ticketing.MetricDispatched, Keys: keys, N: 1},
		{At: at, Metric: ticketing.MetricConfirmedOnTime, Keys: task, N: 1},
		{At: at, Metric: ticketing.MetricMerged, Keys: keys, N: 2},
		{At: at, Metric: ticketing.MetricDispatched, Keys: keys, N: 1},
	}
	rows, metrics := Tallies(ts)
	if d := cmp.Diff([]string{"received,registered,dispatched", "confirmed,confirmed_on_time", "dispatched", "merged"}, metrics); d != "" {
		t.Errorf("metrics (-want +got):\n%s", d)
	}
	want := []ticketing.Tally{ts[0], ts[1], ts[3], ts[5]}
	if d := cmp.Diff(want, rows); d != "" {
		t.Errorf("rows (-want +got):\n%s", d)
	}
	if rows, metrics := Tallies(nil); rows != nil || metrics != nil {
		t.Errorf("Tallies(nil) = %v, %v; want none", rows, metrics)
	}
}
