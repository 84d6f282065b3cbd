package ticketing

// A composite score (综合评分) of how an area's cases were handled over a
// period, in the spirit of GB/T 30428.4's evaluation: a weighted sum of
// rates the indicators already count, each held within 0 to 100%, on a
// scale of 100. What matters most to a citizen weighs most: the case
// closed in time, closed at all, handled in time, not reworked, the
// citizen satisfied; and the grid finding problems before citizens call.
var scoreWeights = []struct {
	code    string
	weight  float64
	inverse bool // the less the better: 1 - rate counts
}{
	{"on_time_closure_rate", 30, false},
	{"closure_rate", 20, false},
	{"on_time_handling_rate", 15, false},
	{"rework_rate", 15, true},
	{"satisfaction_rate", 10, false},
	{"found_rate", 10, false},
}

// Score is the composite score of f, 0 to 100. A rate with nothing to
// count (no case dispatched, none evaluated) leaves its weight out and the
// rest scaled up to 100; ok is false when none of them can be counted.
func (f Figures) Score() (score float64, ok bool) {
	rates := map[string]Rate{}
	for _, r := range f.Rates() {
		rates[r.Code] = r
	}
	var sum, weights float64
	for _, w := range scoreWeights {
		r := rates[w.code]
		if r.Den == 0 {
			continue
		}
		v := min(max(r.Value(), 0), 1)
		if w.inverse {
			v = 1 - v
		}
		sum += w.weight * v
		weights += w.weight
	}
	if weights == 0 {
		return 0, false
	}
	return 100 * sum / weights, true
}
