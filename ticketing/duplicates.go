package ticketing

import (
	"context"
	"fmt"
	"math"
	"time"
)

// DuplicatePolicy says when a new report is the same problem as an open
// ticket (并单): same category, within Radius metres and Window of time.
// Above AutoMerge the new ticket is merged into the old one at once; below
// it the match is noted for a dispatcher.
type DuplicatePolicy struct {
	Radius    float64       // metres; 0 turns duplicate detection off
	Window    time.Duration // how far back to look
	AutoMerge float64       // score 0..1 at or above which to merge; 0 never merges
}

// WithDuplicates turns on duplicate detection.
func WithDuplicates(p DuplicatePolicy) Option { return func(s *Service) { s.dups = p } }

// Box is a latitude/longitude rectangle.
type Box struct{ MinLat, MaxLat, MinLon, MaxLon float64 }

// boxAround is the rectangle containing the circle of r metres around p.
func boxAround(p Point, r float64) Box {
	dLat := r / 111_320
	dLon := r / (111_320 * math.Max(math.Cos(p.Lat*math.Pi/180), 0.01))
	return Box{p.Lat - dLat, p.Lat + dLat, p.Lon - dLon, p.Lon + dLon}
}

// distance is the great-circle distance in metres.
func distance(a, b Point) float64 {
	const earth = 6_371_000
	la1, la2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	dla, dlo := la2-la1, (b.Lon-a.Lon)*math.Pi/180
	h := math.Sin(dla/2)*math.Sin(dla/2) + math.Cos(la1)*math.Cos(la2)*math.Sin(dlo/2)*math.Sin(dlo/2)
	return 2 * earth * math.Asin(math.Min(1, math.Sqrt(h)))
}

// similarity is the Jaccard index of the texts' character bigrams: Chinese
// needs no segmenter for "是同一件事吗".
func similarity(a, b string) float64 {
	grams := func(s string) map[[2]rune]bool {
		r := []rune(s)
		m := make(map[[2]rune]bool, len(r))
		for i := 0; i+1 < len(r); i++ {
			m[[2]rune{r[i], r[i+1]}] = true
		}
		return m
	}
	ga, gb := grams(a), grams(b)
	if len(ga) == 0 || len(gb) == 0 {
		return 0
	}
	inter := 0
	for g := range ga {
		if gb[g] {
			inter++
		}
	}
	return float64(inter) / float64(len(ga)+len(gb)-inter)
}

// NearCheck is the first test of the duplicate search, for a store to run
// as it creates a ticket: is any open ticket of Category inside Box,
// received since Since?
type NearCheck struct {
	Category string
	Box      Box
	Since    time.Time
}

// NearCheckedCreator is a Store that creates a ticket and checks for open
// tickets near it in one step. With it, a located report costs the
// database no search of its own: most have nothing near them, and only
// those that do are searched and scored as before, then created again.
// On PostgreSQL the search was a round trip of its own for every located
// report, and the round trip, not the search, was a quarter of the
// machine's CPU per report at a peak (BENCHMARKS.md, "An eleventh pass").
type NearCheckedCreator interface {
	// CreateUnlessNear is Create, except that when an open ticket of
	// check.Category inside check.Box received since check.Since exists,
	// it writes nothing and returns near == true.
	CreateUnlessNear(ctx context.Context, t *Ticket, check NearCheck) (stored *Ticket, created, near bool, err error)
}

// nearCheck is the check a store may run for t in place of the search,
// when duplicates are looked for at all.
func (s *Service) nearCheck(t *Ticket) (NearCheck, bool) {
	p := s.dups
	if p.Radius <= 0 || t.Location == nil || t.Category == "" {
		return NearCheck{}, false
	}
	return NearCheck{Category: t.Category, Box: boxAround(*t.Location, p.Radius), Since: t.ReceivedAt.Add(-p.Window)}, true
}

// Duplicate is an open ticket a new report may repeat.
type Duplicate struct {
	Ticket   *Ticket
	Distance float64 // metres
	Score    float64 // 0..1: nearness and likeness of the text together
}

// duplicates finds the open tickets t may repeat, best first.
func (s *Service) duplicates(ctx context.Context, t *Ticket) ([]Duplicate, error) {
	p := s.dups
	check, ok := s.nearCheck(t)
	if !ok {
		return nil, nil
	}
	cands, err := s.store.Nearby(ctx, check.Category, check.Box, check.Since, 50)
	if err != nil {
		return nil, err
	}
	var out []Duplicate
	for _, c := range cands {
		if c.Location == nil || c.ID == t.ID {
			continue
		}
		d := distance(*t.Location, *c.Location)
		if d > p.Radius {
			continue
		}
		score := 0.4*(1-d/p.Radius) + 0.6*similarity(t.Text, c.Text)
		out = append(out, Duplicate{Ticket: c, Distance: d, Score: score})
	}
	for i := 1; i < len(out); i++ { // few candidates: insertion sort, best first
		for j := i; j > 0 && out[j].Score > out[j-1].Score; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

// foldDuplicates merges t into its best match when the score is high
// enough, or notes the matches for a dispatcher. It reports whether t was merged.
func (s *Service) foldDuplicates(ctx context.Context, t *Ticket, now time.Time) (bool, error) {
	dups, err := s.duplicates(ctx, t)
	if err != nil || len(dups) == 0 {
		return false, err
	}
	best := dups[0]
	if s.dups.AutoMerge > 0 && best.Score >= s.dups.AutoMerge {
		return true, t.MergeInto(now, ActorRouter, best.Ticket)
	}
	note := "疑似重复："
	for i, d := range dups {
		if i == 3 {
			break
		}
		if i > 0 {
			note += "；"
		}
		note += fmt.Sprintf("工单%s（相距%.0f米，相似度%.2f）", d.Ticket.Number, d.Distance, d.Score)
	}
	return false, t.AddNote(now, ActorRouter, EventNote, note, "")
}
