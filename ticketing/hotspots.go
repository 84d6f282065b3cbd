package ticketing

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"time"
)

// Hotspots (热点): the same kind of problem coming back in the same place
// faster than it ever has there. Each window (a day, a week, a month) the
// tickets of each category in each place (a unit cell, a community) are
// counted and set against the same place's own history: the windows before,
// as a Poisson rate. A count the rate makes very unlikely is a hotspot, and
// how unlikely is its score.

// PlaceLevel is the grid level a hotspot is counted at.
type PlaceLevel string

const (
	PlaceCell      PlaceLevel = "grid"      // a unit cell (单元网格)
	PlaceCommunity PlaceLevel = "community" // a community (社区)
	// PlaceCity is the whole city: one category surging everywhere at once
	// (the first cold night, a water cut), whatever the place.
	PlaceCity PlaceLevel = "city"
)

// PlaceCount is how many tickets of a category were received in a place.
type PlaceCount struct {
	Category, Place string
	N               int
}

// HotspotStore counts tickets by category and place. Every Store in this
// module implements it.
type HotspotStore interface {
	// PlaceCounts counts the tickets received in [from, to) by category
	// and place at level, leaving out those with no category or place;
	// only counts of at least min are returned.
	PlaceCounts(ctx context.Context, level PlaceLevel, from, to time.Time, min int) ([]PlaceCount, error)
	// FirstReceived is when the oldest ticket was received; zero when
	// there is none.
	FirstReceived(ctx context.Context) (time.Time, error)
}

// HotspotWindow is one of the windows hotspots are looked for over.
type HotspotWindow struct {
	Name   string        // day, week, month
	Length time.Duration // how long one window is
	// History is how many windows before the current one make a place's
	// own rate.
	History int
	// MinCount is the fewest tickets that make a hotspot however rare the
	// place's history says they are: two reports of one pothole are not
	// a pattern.
	MinCount int
}

// HotspotWindows are the windows a centre watches.
var HotspotWindows = []HotspotWindow{
	{Name: "day", Length: 24 * time.Hour, History: 28, MinCount: 4},
	{Name: "week", Length: 7 * 24 * time.Hour, History: 12, MinCount: 5},
	{Name: "month", Length: 30 * 24 * time.Hour, History: 6, MinCount: 8},
}

// HotspotWindowNamed finds a window by name.
func HotspotWindowNamed(name string) (HotspotWindow, bool) {
	i := slices.IndexFunc(HotspotWindows, func(w HotspotWindow) bool { return w.Name == name })
	if i < 0 {
		return HotspotWindow{}, false
	}
	return HotspotWindows[i], true
}

// Hotspot is a category recurring in a place within a window.
type Hotspot struct {
	Category string
	Level    PlaceLevel
	Place    string
	Window   string
	From, To time.Time
	Count    int     // tickets in the window
	Expected float64 // what the place's own history expects in a window
	// Score is how unusual Count is against Expected: -log10 of the
	// Poisson chance of at least Count (6 is one in a million).
	Score float64
}

// HotspotSurprise is the score a count must reach: one in a million
// (about 0.05 spread over the 50,000 category-place pairs a city of 3,000
// cells and 18 categories watches, so a week with no real hotspot shows
// none by chance).
const HotspotSurprise = 6.0

// FindHotspots sets the counts of one window (current) against the
// place's own history (history: the counts over the w.History windows
// before it) and returns the hotspots, most unusual first. A place with
// no history of the category takes a small prior: the category's rate
// across all places in the history, spread over places (places), and at
// least one ticket a year.
//
// windows is how many windows the history covers (w.History, or fewer
// when the records begin later); with none, nothing is unusual yet.
func FindHotspots(w HotspotWindow, level PlaceLevel, from time.Time, current, history []PlaceCount, windows, places int) []Hotspot {
	if windows <= 0 {
		return nil
	}
	type key struct{ c, p string }
	past := map[key]int{}
	perCategory := map[string]int{}
	for _, c := range history {
		past[key{c.Category, c.Place}] += c.N
		perCategory[c.Category] += c.N
	}
	floor := w.Length.Hours() / (365 * 24) // one ticket a year
	var out []Hotspot
	for _, c := range current {
		if c.N < w.MinCount {
			continue
		}
		prior := float64(perCategory[c.Category]) / float64(max(places, 1)) / float64(windows)
		expected := (float64(past[key{c.Category, c.Place}]) + prior) / float64(windows)
		expected = max(expected, floor)
		score := poissonSurprise(c.N, expected)
		if score < HotspotSurprise {
			continue
		}
		out = append(out, Hotspot{Category: c.Category, Level: level, Place: c.Place, Window: w.Name, From: from, To: from.Add(w.Length),
			Count: c.N, Expected: expected, Score: score})
	}
	slices.SortFunc(out, func(a, b Hotspot) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Category, b.Category), cmp.Compare(a.Place, b.Place))
	})
	return out
}

// poissonSurprise is -log10 P(X ≥ k) for X ~ Poisson(lambda), computed
// in logs so that a count far above its rate neither underflows to an
// infinite score nor loses the tail to rounding.
func poissonSurprise(k int, lambda float64) float64 {
	if k <= 0 {
		return 0
	}
	// P(X ≥ k) = e^-λ λ^k / k! · Σ_{j≥0} λ^j k!/(k+j)!
	logFirst := -lambda + float64(k)*math.Log(lambda) - lgamma(k+1)
	ratio, sum := 1.0, 1.0
	for j := 1; j < 10000; j++ {
		ratio *= lambda / float64(k+j)
		sum += ratio
		if ratio < sum*1e-15 {
			break
		}
	}
	return max(0, -(logFirst+math.Log(sum))/math.Ln10)
}

func lgamma(n int) float64 {
	v, _ := math.Lgamma(float64(n))
	return v
}

// ScanHotspots finds the hotspots of the window w that ends at at: its
// counts in [at-w.Length, at) against the w.History windows before, or
// as many whole windows as there are since the records began (a new
// centre's first weeks are nobody's hotspot). places is how many places of
// level the city has (for the prior).
func ScanHotspots(ctx context.Context, s HotspotStore, w HotspotWindow, level PlaceLevel, at time.Time, places int) ([]Hotspot, error) {
	from := at.Add(-w.Length)
	since, err := s.FirstReceived(ctx)
	if err != nil {
		return nil, err
	}
	windows := min(w.History, int(from.Sub(since)/w.Length))
	if since.IsZero() || windows <= 0 {
		return nil, nil
	}
	current, err := s.PlaceCounts(ctx, level, from, at, w.MinCount)
	if err != nil || len(current) == 0 {
		return nil, err
	}
	history, err := s.PlaceCounts(ctx, level, from.Add(-time.Duration(windows)*w.Length), from, 1)
	if err != nil {
		return nil, err
	}
	return FindHotspots(w, level, from, current, history, windows, places), nil
}

// HotspotCase is what a 督办 case on a hotspot became: the case, and the
// recurring reports merged into it.
type HotspotCase struct {
	Case   *Ticket
	Merged []string // numbers of the reports that now follow the case
}

// OpenHotspotCase opens one 督办 case on a hotspot (a category in a place
// over a window) and merges into it the window's open reports of that
// category there, so the department fixes the cause once and every
// citizen hears how it ended with the case. Opening it again finds the
// same case and merges what came since. at is where the case is placed
// (the place's centre); why is the dispatcher's word, kept on the case.
func (s *Service) OpenHotspotCase(ctx context.Context, list ListStore, actor string, h Hotspot, at *Point, why string) (HotspotCase, error) {
	if h.Category == "" || h.Place == "" || (h.Level != PlaceCell && h.Level != PlaceCommunity) || h.From.IsZero() {
		return HotspotCase{}, Invalid("hotspot", "needs a category, a cell or community, and the window")
	}
	text := "热点督办：" + h.From.In(s.loc).Format("2006-01-02") + "起，同一" + map[PlaceLevel]string{PlaceCell: "网格", PlaceCommunity: "社区"}[h.Level] +
		"（" + h.Place + "）反复反映同类问题" + itoa(h.Count) + "件，请从根源上一并解决。"
	if why = strings.TrimSpace(why); why != "" {
		text += why
	}
	// One case per place and category while it is open: a reload, another
	// dispatcher, the next day's window all find it.
	open := true
	cases, err := list.List(ctx, ListFilter{Channel: ChannelHotspot, Categories: []string{h.Category}, Level: h.Level, Place: h.Place, Open: &open, Limit: 1})
	if err != nil {
		return HotspotCase{}, err
	}
	var c *Ticket
	key := "hotspot:" + h.Category + ":" + string(h.Level) + ":" + h.Place + ":" + h.From.In(s.loc).Format("2006-01-02")
	switch {
	case len(cases) > 0:
		c = cases[0]
	default:
		// Opened today already (and placed elsewhere, or closed since).
		if c, err = list.ByExternalID(ctx, ChannelHotspot, key); errors.Is(err, ErrNotFound) {
			c, _, err = s.Submit(ctx, Report{Channel: ChannelHotspot, ExternalID: key, Category: h.Category, Text: text, Location: at, By: actor})
		}
		if err != nil {
			return HotspotCase{}, err
		}
	}
	ts, err := list.List(ctx, ListFilter{Categories: []string{h.Category}, Level: h.Level, Place: h.Place, From: h.From, To: h.To, Open: &open})
	if err != nil {
		return HotspotCase{Case: c}, err
	}
	out := HotspotCase{Case: c}
	for _, t := range ts {
		if t.ID == c.ID || t.Channel == ChannelHotspot || !t.Can(ActMerge) {
			continue
		}
		// The case as read above: MergeInto refuses it if it is no longer
		// open. No store read inside the change (Act holds a connection).
		if _, err := s.Act(ctx, t.Number, func(t *Ticket, now time.Time) error { return t.MergeInto(now, actor, c) }); err != nil {
			return out, err
		}
		out.Merged = append(out.Merged, t.Number)
	}
	return out, nil
}
