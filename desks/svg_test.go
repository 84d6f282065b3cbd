package desks

import (
	"strings"
	"testing"
)

func TestNiceCeil(t *testing.T) {
	for _, c := range [][2]int64{{0, 4}, {3, 4}, {4, 4}, {5, 8}, {7, 8}, {40, 40}, {41, 80}, {399, 400}, {1234, 1600}, {66000, 80000}} {
		if g := niceCeil(c[0]); g != c[1] {
			t.Errorf("niceCeil(%d) = %d, want %d", c[0], g, c[1])
		}
	}
}

// Text in the drawings is escaped; the map colours cells by value and
// leaves cells without one pale; no cells draw an empty frame.
func TestDrawings(t *testing.T) {
	chart := string(dayChart([]string{"2026-11-01", "2026-11-02"}, []Series{{Name: "受理<x>", Class: "s1", Values: []int64{3, 9}}}, 600, 200))
	if !strings.Contains(chart, "受理&lt;x&gt;") || !strings.Contains(chart, "<polyline") || !strings.Contains(chart, "11-02") {
		t.Errorf("chart: %s", chart)
	}
	bars := string(barChart([]Bar{{Label: "水务局", Value: 0.5, Text: "50.0%"}}, 1, 400))
	if !strings.Contains(bars, `width="98.0"`) || !strings.Contains(bars, "50.0%") {
		t.Errorf("bars: %s", bars)
	}
	cells := []MapCell{
		{Code: "a", Name: "甲<", Rings: [][][2]float64{{{116, 39}, {116.1, 39}, {116.1, 39.1}, {116, 39}}}},
		{Code: "b", Rings: [][][2]float64{{{116.1, 39}, {116.2, 39}, {116.2, 39.1}, {116.1, 39}}}},
	}
	m := string(gridMap(cells, project(cells, 400), map[string]int64{"a": 10}, "件"))
	if !strings.Contains(m, `class="c5"`) || !strings.Contains(m, `class="c0"`) || !strings.Contains(m, "甲&lt; 10件") || !strings.Contains(m, "M0.0 ") {
		t.Errorf("map: %s", m)
	}
	if m := string(gridMap(nil, project(nil, 400), nil, "")); !strings.Contains(m, "—") {
		t.Errorf("empty map: %s", m)
	}
}
