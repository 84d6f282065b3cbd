package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

func patrolTests() []storeTest {
	return []storeTest{{"Patrol", testPatrol}}
}

// The supervisors on patrol: each one's latest position (an older one
// arriving late does not replace it), within an area or the city; the
// cells visited per day; a position in no cell refused.
func testPatrol(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	cell := func(g, c string) ticketing.Area {
		return ticketing.Area{Grid: g, Community: c, Street: "s1", District: "d1"}
	}
	add := func(user string, at time.Time, a ticketing.Area, day string) {
		t.Helper()
		if err := s.AddPosition(ctx, ticketing.Position{User: user, At: at, Lat: 39.9, Lon: 116.4, Area: a}, day); err != nil {
			t.Fatalf("AddPosition(%s): %v", user, err)
		}
	}
	add("li.wei", base, cell("g1", "c1"), "2026-11-25")
	add("li.wei", base.Add(30*time.Second), cell("g2", "c1"), "2026-11-25")
	add("li.wei", base.Add(10*time.Second), cell("g9", "c9"), "2026-11-25") // late, older: not the latest
	add("wang.na", base.Add(time.Minute), cell("g3", "c2"), "2026-11-25")
	add("zhao.yu", base.Add(-2*time.Hour), cell("g4", "c2"), "2026-11-24")

	names := func(ps []ticketing.Position) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.User+"@"+p.Area.Grid)
		}
		return out
	}
	for _, tc := range []struct {
		area  string
		since time.Time
		want  []string
	}{
		{"", base.Add(-time.Hour), []string{"li.wei@g2", "wang.na@g3"}},
		{"", base.Add(-3 * time.Hour), []string{"li.wei@g2", "wang.na@g3", "zhao.yu@g4"}},
		{"c1", base.Add(-time.Hour), []string{"li.wei@g2"}},
		{"d2", base.Add(-time.Hour), nil},
	} {
		got, err := s.Patrol(ctx, tc.area, tc.since)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names(got), tc.want) {
			t.Errorf("Patrol(%q, since %v) = %v, want %v", tc.area, tc.since, names(got), tc.want)
		}
	}
	if got, _ := s.Patrol(ctx, "", base.Add(-time.Hour)); len(got) > 0 && !got[0].At.Equal(base.Add(30*time.Second)) {
		t.Errorf("latest of li.wei at %v", got[0].At)
	}
	for _, tc := range []struct {
		area, day string
		want      []string
	}{
		{"", "2026-11-25", []string{"g1", "g2", "g3", "g9"}},
		{"c1", "2026-11-25", []string{"g1", "g2"}},
		{"", "2026-11-24", []string{"g4"}},
		{"", "2026-11-23", []string{}},
	} {
		got, err := s.Visited(ctx, tc.area, tc.day)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Visited(%q, %s) = %v, want %v", tc.area, tc.day, got, tc.want)
		}
	}
	if err := s.AddPosition(ctx, ticketing.Position{User: "li.wei", At: base, Lat: 39.9, Lon: 116.4}, "2026-11-25"); ticketing.KindOf(err) != ticketing.KindInvalid {
		t.Errorf("a position in no cell: %v", err)
	}
	if _, err := s.Visited(ctx, "", "yesterday"); ticketing.KindOf(err) != ticketing.KindInvalid {
		t.Errorf("a day that is not a date: %v", err)
	}
}
