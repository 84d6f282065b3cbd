// Package grid places points and addresses on the city's grid: unit grid
// cells (万米单元网格) and responsibility grids (责任网格), each inside a
// community (社区), a street (街道) and a district (区).
//
// The grid is loaded from a GeoJSON FeatureCollection (see Load) and indexed
// with an R-tree over the cells' bounding boxes, so a lookup costs a few
// hundred nanoseconds even with tens of thousands of cells. Addresses without
// coordinates are placed through a Gazetteer of configured place names.
//
// # Borders
//
// Every point of the covered area belongs to exactly one cell. A cell
// contains the points of its closed polygon: interior and boundary, hole
// edges included. A point on an edge or vertex shared by several cells goes
// to a unit cell before a responsibility grid, then to the lowest code. The
// boundary test does the same arithmetic for the cells on either side of an
// edge, so rounding never leaves a point near the edge in neither of them.
// See Index.Locate.
//
// # Datum
//
// Coordinates are longitude and latitude in degrees on WGS-84 or CGCS2000
// (EPSG:4326 / EPSG:4490). The two differ by centimetres, far less than any
// grid cell, so they are treated as the same. This package does no datum or
// projection conversion: points in GCJ-02 (the offset "Mars" coordinates
// that Chinese map SDKs and WeChat's location picker may return), BD-09 or a
// projected system (CGCS2000 Gauss–Krüger metres) must be converted by the
// caller before Locate, and grid files must be exported as geographic
// lon/lat. A GCJ-02 point read as WGS-84 is off by a few hundred metres, which
// is enough to land in the wrong cell.
//
// An Index and a Gazetteer are immutable once loaded and safe for concurrent
// use; to change the grid, load a new one and swap it in.
package grid

import (
	"cmp"
	"fmt"
	"io"
	"iter"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/paulmach/orb"
	"github.com/tidwall/rtree"
)

// Kinds of cell.
const (
	KindUnit           = "unit"           // 万米单元网格, the cells of the city's management grid
	KindResponsibility = "responsibility" // 责任网格, a grid worker's area, usually several unit cells
)

// Cell is one grid cell and the areas it belongs to. Codes are the
// hierarchical GB/T 2260 / GB/T 10114 style codes the indicators group by;
// names are for people.
type Cell struct {
	Code, Name                              string
	Community, Street, District             string // codes
	CommunityName, StreetName, DistrictName string
	Kind                                    string // KindUnit or KindResponsibility
}

// Index finds the cell that contains a point.
type Index struct {
	// cells are ordered by preference: unit cells before responsibility
	// grids, then by code. A lower position wins when several cells contain
	// a point, so the border rule is a comparison of positions.
	cells  []cell
	byCode map[string]int32
	tree   rtree.RTreeGN[float64, int32]
}

type cell struct {
	Cell
	shape    orb.MultiPolygon
	interior orb.Point // see Index.Centroid
}

// Load reads a GeoJSON FeatureCollection of Polygon and MultiPolygon
// features, checks every feature and indexes the cells. Feature properties:
//
//	code            required, unique: the cell's code
//	name            the cell's name
//	kind            "unit" (default) or "responsibility"
//	community, community_name, street, street_name, district, district_name
//
// Properties are strings; numbers are accepted and kept as written (so a
// code exported as a number keeps all its digits). Other properties, ids and
// bounding boxes are ignored. Coordinates are [lon, lat] (see the package
// comment for the datum); a third number (altitude) is ignored.
//
// Errors name the place: "malformed JSON at byte 1234 (line 5, column 9)",
// "feature 12 (code "110101001001"): polygon ring not closed: ...",
// "feature 3: missing property "code"", "duplicate code "X" in features 4
// and 9". Features are numbered from 1 in file order.
func Load(r io.Reader) (*Index, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("grid: read: %w", err)
	}
	cells, err := parseCollection(data)
	if err != nil {
		return nil, fmt.Errorf("grid: %w", err)
	}
	order := make([]*cell, len(cells))
	for i := range cells {
		order[i] = &cells[i]
	}
	slices.SortFunc(order, func(a, b *cell) int {
		return cmp.Or(cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)), cmp.Compare(a.Code, b.Code))
	})
	ix := &Index{cells: make([]cell, len(cells)), byCode: make(map[string]int32, len(cells))}
	for i, c := range order {
		ix.cells[i] = *c
	}
	for i := range ix.cells {
		c := &ix.cells[i]
		ix.byCode[c.Code] = int32(i)
		c.interior = interiorPoint(c.shape)
	}
	// Insert in a shuffled (but fixed) order: this R-tree splits its nodes
	// into tighter boxes that way than when neighbours arrive one after the
	// other, as they do in code order (measured on 40,000 squares: about
	// 500 ns per lookup shuffled, 560 along a Hilbert curve, 850 row by row).
	ins := make([]int32, len(ix.cells))
	for i := range ins {
		ins[i] = int32(i)
	}
	rand.New(rand.NewPCG(12345, 96310)).Shuffle(len(ins), func(i, j int) { ins[i], ins[j] = ins[j], ins[i] })
	for _, i := range ins {
		b := ix.cells[i].shape.Bound()
		ix.tree.Insert(b.Min, b.Max, i)
	}
	return ix, nil
}

func kindRank(kind string) int {
	if kind == KindUnit {
		return 0
	}
	return 1
}

// Locate returns the cell that contains the point (WGS-84/CGCS2000 degrees),
// or false when the point is outside every cell.
//
// The border rule: a cell contains a point when the point is inside its
// closed polygon, that is its interior or its boundary, edges of holes
// included (a hole's inside is not part of the cell). When several cells
// contain the point, as on an edge or vertex shared by neighbours, or where
// a responsibility grid overlays unit cells, Locate returns one of them,
// always the same: a unit cell before a responsibility grid, and among cells
// of the same kind the lowest code (compared as strings, which for codes of
// equal length is numeric order). So every point of the covered area belongs
// to exactly one cell. Use LocateAll to see every cell that contains it.
func (ix *Index) Locate(lat, lon float64) (Cell, bool) {
	i := ix.locate(orb.Point{lon, lat})
	if i < 0 {
		return Cell{}, false
	}
	return ix.cells[i].Cell, true
}

func (ix *Index) locate(pt orb.Point) int {
	best := -1
	if math.IsNaN(pt[0]) || math.IsNaN(pt[1]) {
		return best
	}
	ix.tree.Search(pt, pt, func(_, _ [2]float64, i int32) bool {
		if (best < 0 || int(i) < best) && ix.cells[i].contains(pt) {
			best = int(i)
		}
		return true
	})
	return best
}

// LocateAll returns every cell whose closed polygon contains the point, in
// the order of preference of Locate (unit cells first, then by code), so
// LocateAll(lat, lon)[0] is what Locate returns. It returns nil when the
// point is outside every cell.
func (ix *Index) LocateAll(lat, lon float64) []Cell {
	pt := orb.Point{lon, lat}
	if math.IsNaN(lat) || math.IsNaN(lon) {
		return nil
	}
	var found []int32
	ix.tree.Search(pt, pt, func(_, _ [2]float64, i int32) bool {
		if ix.cells[i].contains(pt) {
			found = append(found, i)
		}
		return true
	})
	slices.Sort(found)
	var cells []Cell
	for _, i := range found {
		cells = append(cells, ix.cells[i].Cell)
	}
	return cells
}

// Cell returns the cell with the given code.
func (ix *Index) Cell(code string) (Cell, bool) {
	i, ok := ix.byCode[code]
	if !ok {
		return Cell{}, false
	}
	return ix.cells[i].Cell, true
}

// Len returns the number of cells.
func (ix *Index) Len() int { return len(ix.cells) }

// Cells returns every cell in the order of preference of Locate: unit cells
// first, then responsibility grids, each by code.
func (ix *Index) Cells() iter.Seq[Cell] {
	return func(yield func(Cell) bool) {
		for i := range ix.cells {
			if !yield(ix.cells[i].Cell) {
				return
			}
		}
	}
}

// Centroid returns a representative point of the cell: its area centroid
// when that lies strictly inside the cell, which it does for the convex
// cells most grids are made of; otherwise (an L-shaped or ring-shaped cell)
// a point strictly inside the cell's largest part. Either way the point is
// strictly inside the cell, so unless cells overlap Locate returns this cell
// for it (for a responsibility grid: the unit cell under it).
func (ix *Index) Centroid(code string) (lat, lon float64, ok bool) {
	i, ok := ix.byCode[code]
	if !ok {
		return 0, 0, false
	}
	p := ix.cells[i].interior
	return p[1], p[0], true
}

// Outline returns the outer rings of the cell's polygons as [lon, lat]
// pairs, for drawing the grid (the desks' map); holes are left out, since
// a map coloured by cell does not need them.
func (ix *Index) Outline(code string) ([][][2]float64, bool) {
	i, ok := ix.byCode[code]
	if !ok {
		return nil, false
	}
	var rings [][][2]float64
	for _, poly := range ix.cells[i].shape {
		if len(poly) == 0 {
			continue
		}
		ring := make([][2]float64, len(poly[0]))
		for j, p := range poly[0] {
			ring[j] = [2]float64{p[0], p[1]}
		}
		rings = append(rings, ring)
	}
	return rings, true
}
