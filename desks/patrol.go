package desks

import (
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// patrolFresh is how recent a position must be for its supervisor to
// count as on patrol now.
const patrolFresh = 15 * time.Minute

// patrolRow is one supervisor on the patrol page.
type patrolRow struct {
	User, Cell string
	At         time.Time
}

// patrolData is the patrol page's .Data.
type patrolData struct {
	Map       template.HTML
	On        []patrolRow
	Cells     int      // the cells of the centre's area
	Visited   int      // of them, visited today
	Unvisited []string // names of those not visited, the first 100
}

// getPatrol is GET /desk/patrol (巡查): who of the centre's area is on
// patrol now, where, and which of its cells nobody visited today, on the
// cell map.
func (s *Server) getPatrol(w http.ResponseWriter, r *http.Request) {
	ctx, st, now := r.Context(), staffFrom(r.Context()), s.cfg.Now()
	ps, err := s.store.Patrol(ctx, st.Area, now.Add(-patrolFresh))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	visited, err := s.store.Visited(ctx, st.Area, now.In(s.cfg.Location).Format(time.DateOnly))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := patrolData{}
	for _, p := range ps {
		d.On = append(d.On, patrolRow{User: p.User, Cell: s.placeName(p.Area.Grid), At: p.At})
	}
	if s.cfg.Areas != nil {
		cells, shapes := s.cfg.Areas.Cells, s.cfg.Areas.projected()
		if st.Area != "" {
			cells = slices.DeleteFunc(slices.Clone(cells), func(c MapCell) bool { return !c.Area.Within(st.Area) })
			shapes = project(cells, mapWidth)
		}
		seen := map[string]bool{}
		for _, g := range visited {
			seen[g] = true
		}
		d.Cells = len(cells)
		for _, c := range cells {
			if seen[c.Code] {
				d.Visited++
			} else if len(d.Unvisited) < 100 {
				d.Unvisited = append(d.Unvisited, c.Name)
			}
		}
		d.Map = patrolMap(cells, shapes, seen, ps)
	}
	s.page(w, r, "patrol.html", d)
}

// placeName is a cell's name where the grid names it, else its code.
func (s *Server) placeName(code string) string {
	if s.cfg.Areas != nil && s.cfg.Areas.Names[code] != "" {
		return s.cfg.Areas.Names[code]
	}
	return code
}

// patrolMap draws the cells, visited today dark and the others pale, and
// a dot for each supervisor on patrol.
func patrolMap(cells []MapCell, shapes mapShapes, visited map[string]bool, ps []ticketing.Position) template.HTML {
	if len(shapes.paths) != len(cells) || len(cells) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="map" id="patrol-map" viewBox="0 0 %d %d" width="%d" height="%d" role="img" xmlns="http://www.w3.org/2000/svg">`,
		shapes.width, shapes.height, shapes.width, shapes.height)
	for i, c := range cells {
		class := "c0"
		if visited[c.Code] {
			class = "c3"
		}
		fmt.Fprintf(&b, `<path class="%s" data-cell="%s" d="%s"><title>%s %s</title></path>`, class, esc(c.Code), shapes.paths[i], esc(c.Code), esc(c.Name))
	}
	for _, p := range ps {
		x, y := shapes.xy(p.Lat, p.Lon)
		fmt.Fprintf(&b, `<circle class="on-patrol" cx="%.1f" cy="%.1f" r="5"><title>%s</title></circle>`, x, y, esc(p.User))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
