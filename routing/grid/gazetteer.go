package grid

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Gazetteer places an address that has no coordinates: it knows place
// names (communities, streets, roads, landmarks) and where each one is,
// either a grid cell or a point.
type Gazetteer struct {
	places []Place
	// trie holds every normalised name and alias, one rune per edge;
	// trie[0] is the root. Find walks it from each position of the address,
	// so its cost depends on the address, not on how many names there are.
	trie []trieNode
}

type trieNode struct {
	edges []trieEdge // sorted by rune
	place int32      // index of the entry whose name or alias ends here, or -1
	name  string     // that name or alias, as configured
}

type trieEdge struct {
	r    rune
	next int32
}

func (g *Gazetteer) child(n int32, r rune) int32 {
	edges := g.trie[n].edges
	lo, hi := 0, len(edges)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if edges[m].r < r {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(edges) && edges[lo].r == r {
		return edges[lo].next
	}
	return -1
}

// Place is where a gazetteer entry puts an address.
type Place struct {
	Name string // the entry's name
	// Matched is the name or alias found in the address, as configured.
	Matched string
	// Cell is the entry's cell, or for a point entry the cell that contains
	// the point.
	Cell Cell
	// Lat and Lon are the entry's point, or for a cell entry the cell's
	// Centroid.
	Lat, Lon float64
}

// gazEntry is one entry of the gazetteer file.
type gazEntry struct {
	Name    string   `yaml:"name"`
	Aliases []string `yaml:"aliases"`
	Cell    string   `yaml:"cell"`
	Lat     *float64 `yaml:"lat"`
	Lon     *float64 `yaml:"lon"`
}

// LoadGazetteer reads a YAML list of entries and resolves them against the
// grid. Each entry names a place, optionally with aliases, and gives either
// a cell code or a point:
//
//	# gazetteer.yaml
//	- {name: 南池子社区, aliases: [南池子], cell: "110101003001031"}
//	- {name: 长安街, lat: 39.9065, lon: 116.4000}
//
// A point must lie in a cell of the grid (a point outside it is almost
// always a typo or swapped lat/lon). A name or alias may belong to one entry
// only. Errors name the entry by number (from 1), name and line.
func LoadGazetteer(r io.Reader, ix *Index) (*Gazetteer, error) {
	if ix == nil {
		return nil, errors.New("gazetteer: no grid to resolve entries against")
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("gazetteer: read: %w", err)
	}
	var entries []gazEntry
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&entries); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("gazetteer: %w", err)
	}
	// A second, untyped pass only to learn each entry's line.
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc)
	lines := make([]int, len(entries))
	if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.SequenceNode {
		for i, n := range doc.Content[0].Content {
			if i < len(lines) {
				lines[i] = n.Line
			}
		}
	}

	g := &Gazetteer{places: make([]Place, 0, len(entries)), trie: []trieNode{{place: -1}}}
	type edgeKey struct {
		from int32
		r    rune
	}
	edges := map[edgeKey]int32{}
	owner := map[string]int{} // normalised name → entry index
	for i, e := range entries {
		where := fmt.Sprintf("entry %d", i+1)
		if e.Name != "" {
			where += fmt.Sprintf(" (%s)", e.Name)
		}
		if lines[i] > 0 {
			where += fmt.Sprintf(" at line %d", lines[i])
		}
		p, err := resolveEntry(e, ix)
		if err != nil {
			return nil, fmt.Errorf("gazetteer: %s: %w", where, err)
		}
		g.places = append(g.places, p)
		for _, name := range append([]string{e.Name}, e.Aliases...) {
			key := normalize(name)
			if key == "" {
				return nil, fmt.Errorf("gazetteer: %s: empty name or alias", where)
			}
			if j, taken := owner[key]; taken {
				if j == i {
					continue
				}
				return nil, fmt.Errorf("gazetteer: %s: %q is already the name or alias of entry %d (%s)", where, name, j+1, entries[j].Name)
			}
			owner[key] = i
			n := int32(0)
			for _, r := range key {
				next, ok := edges[edgeKey{n, r}]
				if !ok {
					next = int32(len(g.trie))
					g.trie = append(g.trie, trieNode{place: -1})
					g.trie[n].edges = append(g.trie[n].edges, trieEdge{r, next})
					edges[edgeKey{n, r}] = next
				}
				n = next
			}
			g.trie[n].place, g.trie[n].name = int32(i), strings.TrimSpace(name)
		}
	}
	for i := range g.trie {
		slices.SortFunc(g.trie[i].edges, func(a, b trieEdge) int { return cmp.Compare(a.r, b.r) })
	}
	return g, nil
}

func resolveEntry(e gazEntry, ix *Index) (Place, error) {
	p := Place{Name: strings.TrimSpace(e.Name)}
	if p.Name == "" {
		return p, errors.New("missing name")
	}
	hasPoint := e.Lat != nil || e.Lon != nil
	switch {
	case e.Cell != "" && hasPoint:
		return p, errors.New("give either cell or lat and lon, not both")
	case e.Cell != "":
		c, ok := ix.Cell(e.Cell)
		if !ok {
			return p, fmt.Errorf("unknown cell code %q", e.Cell)
		}
		p.Cell = c
		p.Lat, p.Lon, _ = ix.Centroid(e.Cell)
	case hasPoint:
		if e.Lat == nil || e.Lon == nil {
			return p, errors.New("a point needs both lat and lon")
		}
		lat, lon := *e.Lat, *e.Lon
		if math.IsNaN(lat) || math.IsNaN(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
			return p, fmt.Errorf("lat %v, lon %v out of range", lat, lon)
		}
		c, ok := ix.Locate(lat, lon)
		if !ok {
			return p, fmt.Errorf("point lat %v, lon %v is outside every grid cell", lat, lon)
		}
		p.Cell, p.Lat, p.Lon = c, lat, lon
	default:
		return p, errors.New("missing both cell and point: give cell, or lat and lon")
	}
	return p, nil
}

// Len returns the number of entries.
func (g *Gazetteer) Len() int { return len(g.places) }

// Find returns the place whose name or alias is the longest one contained
// in the address, so "东华门街道南池子社区3号楼" finds the community rather
// than the street. Address and names are compared after normalising:
// full-width ASCII (ＡＢＣ１２３, as Chinese input methods type them) becomes
// half-width, ASCII letters become lower case, and white space (full-width
// too) is dropped. Between matches of equal length the one that starts
// last wins: Chinese addresses run from the larger place to the smaller
// (区, 街道, 社区, 楼), so in "东华门街道南池子社区" the later of two
// five-character names is the more precise.
func (g *Gazetteer) Find(address string) (Place, bool) {
	addr := normalize(address)
	best, bestRunes := int32(-1), 0
	for start := range addr {
		n, runes := int32(0), 0
		for _, r := range addr[start:] {
			if n = g.child(n, r); n < 0 {
				break
			}
			runes++
			if g.trie[n].place >= 0 && runes >= bestRunes {
				best, bestRunes = n, runes
			}
		}
	}
	if best < 0 {
		return Place{}, false
	}
	p := g.places[g.trie[best].place]
	p.Matched = g.trie[best].name
	return p, true
}

// normalize is how addresses and gazetteer names are compared: full-width
// ASCII (ＡＢＣ１２３, as Chinese input methods type them) becomes
// half-width, ASCII letters become lower case, and all white space,
// full-width spaces included, is removed.
func normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			continue
		case r >= 0xFF01 && r <= 0xFF5E:
			r -= 0xFEE0
		}
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
