package grid

import (
	"math"
	"slices"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// contains reports whether the cell's closed shape contains pt: the interior
// plus the whole boundary, hole edges included.
func (c *cell) contains(pt orb.Point) bool {
	for _, p := range c.shape {
		if polygonContains(p, pt) {
			return true
		}
	}
	return false
}

// polygonContains reports whether the closed polygon (interior and
// boundary, the edges of holes included) contains pt. It is
// planar.PolygonContains with a boundary rule that is exact and the same for
// both cells on either side of an edge (see ringContains), and with hole
// edges counted in, where planar counts them out.
func polygonContains(p orb.Polygon, pt orb.Point) bool {
	in, on := ringContains(p[0], pt)
	if on {
		return true
	}
	if !in {
		return false
	}
	for _, hole := range p[1:] {
		in, on := ringContains(hole, pt)
		if on {
			return true
		}
		if in {
			return false
		}
	}
	return true
}

// ringContains is the crossing-number test with an explicit boundary test:
// on reports pt exactly on an edge or vertex, in reports pt strictly inside.
//
// Each edge is taken from its lower to its upper end whatever the ring's
// direction, so the two cells that share an edge compute the same cross
// product for a point: both see it on the edge (exactly zero), or it is
// strictly on one side, inside exactly one of them. No point near a shared
// edge falls between two cells or into both because of rounding.
func ringContains(r orb.Ring, pt orb.Point) (in, on bool) {
	x, y := pt[0], pt[1]
	for i := 0; i+1 < len(r); i++ {
		lo, hi := r[i], r[i+1]
		if lo[1] > hi[1] {
			lo, hi = hi, lo
		}
		if y < lo[1] || y > hi[1] {
			continue
		}
		if lo[1] == hi[1] { // horizontal: on it or not, never crossed
			if x >= min(lo[0], hi[0]) && x <= max(lo[0], hi[0]) {
				return false, true
			}
			continue
		}
		// > 0: pt is left of the upward edge, so a ray to +x crosses it.
		cross := (hi[0]-lo[0])*(y-lo[1]) - (hi[1]-lo[1])*(x-lo[0])
		if cross == 0 {
			return false, true // lo.y ≤ y ≤ hi.y on the edge's line: on the edge
		}
		if cross > 0 && y < hi[1] { // half-open in y: a vertex is crossed once
			in = !in
		}
	}
	return in, false
}

// onRing reports whether pt lies exactly on one of the ring's edges.
func onRing(r orb.Ring, pt orb.Point) bool {
	_, on := ringContains(r, pt)
	return on
}

func onBoundary(mp orb.MultiPolygon, pt orb.Point) bool {
	for _, p := range mp {
		for _, r := range p {
			if onRing(r, pt) {
				return true
			}
		}
	}
	return false
}

// ringArea is the shoelace area, positive for counter-clockwise rings.
func ringArea(r orb.Ring) float64 {
	a := 0.0
	for i := 0; i+1 < len(r); i++ {
		a += r[i][0]*r[i+1][1] - r[i+1][0]*r[i][1]
	}
	return a / 2
}

// interiorPoint returns the area centroid if it is strictly inside the
// shape, else the middle of the widest inside span of a horizontal line
// through the largest polygon. The line's latitude is chosen between two
// vertex latitudes, so it meets no vertex and runs along no edge, and the
// middle of a span is strictly inside.
func interiorPoint(mp orb.MultiPolygon) orb.Point {
	c, _ := planar.CentroidArea(mp)
	sh := cell{shape: mp}
	if sh.contains(c) && !onBoundary(mp, c) {
		return c
	}
	largest, area := mp[0], -1.0
	for _, p := range mp {
		if a := math.Abs(planar.Area(p)); a > area {
			largest, area = p, a
		}
	}
	var ys []float64
	for _, r := range largest {
		for _, pt := range r {
			ys = append(ys, pt[1])
		}
	}
	slices.Sort(ys)
	ys = slices.Compact(ys)
	// The gap between vertex latitudes nearest the middle of the polygon.
	b := largest.Bound()
	mid := (b.Min[1] + b.Max[1]) / 2
	y, bestDist := mid, math.Inf(1)
	for i := 0; i+1 < len(ys); i++ {
		cand := (ys[i] + ys[i+1]) / 2
		if d := math.Abs(cand - mid); d < bestDist {
			y, bestDist = cand, d
		}
	}
	var xs []float64
	for _, r := range largest {
		for i := 0; i+1 < len(r); i++ {
			a, e := r[i], r[i+1]
			if (a[1] < y) != (e[1] < y) {
				xs = append(xs, a[0]+(y-a[1])*(e[0]-a[0])/(e[1]-a[1]))
			}
		}
	}
	slices.Sort(xs)
	best := orb.Point{(b.Min[0] + b.Max[0]) / 2, y}
	width := -1.0
	for i := 0; i+1 < len(xs); i += 2 {
		if w := xs[i+1] - xs[i]; w > width {
			best, width = orb.Point{(xs[i] + xs[i+1]) / 2, y}, w
		}
	}
	return best
}
