package desks

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// maxHotspotRows bounds the list: a centre acts on the worst first.
const maxHotspotRows = 100

type hotspotRow struct {
	H            ticketing.Hotspot
	CategoryName string
	PlaceName    string
	Link         string // the drill-in: this page with the hotspot's tickets
}

type hotspotsData struct {
	Window, Level string
	Windows       []string
	Rows          []hotspotRow
	Map           any
	// The drill-in: the hotspot chosen and its tickets.
	Chosen  *hotspotRow
	Tickets []*ticketing.Ticket
	Case    string // the 督办 case opened on it, after POST
}

// getHotspots is GET /desk/hotspots?window=week&level=grid: the live list
// of recurring problems in the dispatcher's area, most unusual first, on
// the grid map; ?category=&place= lists one hotspot's tickets.
func (s *Server) getHotspots(w http.ResponseWriter, r *http.Request) {
	ctx, st, now := r.Context(), staffFrom(r.Context()), s.cfg.Now()
	q := r.URL.Query()
	win, ok := ticketing.HotspotWindowNamed(cmp.Or(q.Get("window"), "week"))
	if !ok {
		s.fail(w, r, ticketing.Invalid("window", "day, week or month"))
		return
	}
	level := ticketing.PlaceLevel(cmp.Or(q.Get("level"), string(ticketing.PlaceCell)))
	if level != ticketing.PlaceCell && level != ticketing.PlaceCommunity && level != ticketing.PlaceCity {
		s.fail(w, r, ticketing.Invalid("level", "grid, community or city"))
		return
	}
	places := 1
	if s.cfg.Areas != nil && level != ticketing.PlaceCity {
		seen := map[string]bool{}
		for _, c := range s.cfg.Areas.Cells {
			seen[placeOf(c.Area, level)] = true
		}
		places = len(seen)
	}
	hs, err := s.hotspots.scan(win.Name+"/"+string(level), now, func() ([]ticketing.Hotspot, error) {
		return ticketing.ScanHotspots(ctx, s.store, win, level, now, places)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := hotspotsData{Window: win.Name, Level: string(level), Case: q.Get("case")}
	for _, w := range ticketing.HotspotWindows {
		d.Windows = append(d.Windows, w.Name)
	}
	counts := map[string]int64{}
	for _, h := range hs {
		// A district or street centre sees its own area's.
		if st.Area != "" && !strings.HasPrefix(h.Place, st.Area) {
			continue
		}
		if len(d.Rows) == maxHotspotRows {
			break
		}
		name := s.placeName(h.Place)
		if level == ticketing.PlaceCity {
			name = tr(r, "全市", "the whole city")
		}
		row := hotspotRow{H: h, CategoryName: s.categoryName(h.Category), PlaceName: name,
			Link: "/desk/hotspots?window=" + win.Name + "&level=" + string(level) + "&category=" + h.Category + "&place=" + h.Place}
		d.Rows = append(d.Rows, row)
		if s.cfg.Areas != nil && level != ticketing.PlaceCity {
			for _, c := range s.cfg.Areas.Cells {
				if placeOf(c.Area, level) == h.Place {
					counts[c.Code] += int64(h.Count)
				}
			}
		}
		if h.Category == q.Get("category") && h.Place == q.Get("place") {
			d.Chosen = &d.Rows[len(d.Rows)-1]
		}
	}
	if d.Chosen != nil {
		h := d.Chosen.H
		if d.Tickets, err = s.store.List(ctx, ticketing.ListFilter{Categories: []string{h.Category}, Level: h.Level, Place: h.Place,
			From: h.From, To: h.To, Limit: 200}); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if s.cfg.Areas != nil {
		cells, shapes := s.cfg.Areas.Cells, s.cfg.Areas.projected()
		if st.Area != "" {
			cells = slices.DeleteFunc(slices.Clone(cells), func(c MapCell) bool { return !c.Area.Within(st.Area) })
			shapes = project(cells, mapWidth)
		}
		d.Map = gridMap(cells, shapes, counts, tr(r, "件", ""))
	}
	s.page(w, r, "hotspots.html", d)
}

// postHotspotCase is POST /desk/hotspots/case (category, place, level,
// window, from, note): one 督办 case on the hotspot, with the window's open
// reports merged into it; back to the hotspot with the case's number.
func (s *Server) postHotspotCase(w http.ResponseWriter, r *http.Request) {
	ctx, st := r.Context(), staffFrom(r.Context())
	win, ok := ticketing.HotspotWindowNamed(r.PostFormValue("window"))
	from, err := time.Parse(time.RFC3339, r.PostFormValue("from"))
	count, cerr := strconv.Atoi(r.PostFormValue("count"))
	if !ok || err != nil || cerr != nil {
		s.fail(w, r, ticketing.Invalid("hotspot", "the form names no hotspot: reload the page"))
		return
	}
	h := ticketing.Hotspot{Category: r.PostFormValue("category"), Level: ticketing.PlaceLevel(r.PostFormValue("level")),
		Place: r.PostFormValue("place"), Window: win.Name, From: from, To: from.Add(win.Length), Count: count}
	if st.Area != "" && !strings.HasPrefix(h.Place, st.Area) {
		s.fail(w, r, ticketing.Errorf(ticketing.KindForbidden, "place", "the place is outside your centre's area"))
		return
	}
	var at *ticketing.Point
	if s.cfg.Areas != nil {
		at = s.cfg.Areas.centre(h.Level, h.Place)
	}
	c, err := s.tickets.OpenHotspotCase(ctx, s.store, st.Actor, h, at, r.PostFormValue("note"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("hotspot case", "case", c.Case.Number, "merged", len(c.Merged), "category", h.Category, "place", h.Place, "by", st.Actor)
	http.Redirect(w, r, "/desk/hotspots?window="+win.Name+"&level="+string(h.Level)+"&category="+h.Category+"&place="+h.Place+"&case="+c.Case.Number, http.StatusSeeOther)
}

// hotspotFresh is how long a scan serves the page: a big city's week
// scan counts millions of tickets, and a hotspot is a matter of days.
const hotspotFresh = time.Minute

// hotspotCache keeps each window and level's latest scan, so dispatchers
// reloading the page do not each count a month of tickets.
type hotspotCache struct {
	mu    sync.Mutex
	scans map[string]hotspotScan
}

type hotspotScan struct {
	at time.Time
	hs []ticketing.Hotspot
}

// scan returns key's scan if it is fresh at now, else runs it (one at a
// time: the others wait for it rather than count again).
func (c *hotspotCache) scan(key string, now time.Time, run func() ([]ticketing.Hotspot, error)) ([]ticketing.Hotspot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if got, ok := c.scans[key]; ok && now.Sub(got.at) < hotspotFresh && !now.Before(got.at) {
		return got.hs, nil
	}
	hs, err := run()
	if err != nil {
		return nil, err
	}
	if c.scans == nil {
		c.scans = map[string]hotspotScan{}
	}
	c.scans[key] = hotspotScan{at: now, hs: hs}
	return hs, nil
}

// placeOf is the code of a's place at level; "" for the city (no cell
// is coloured for a category surging everywhere).
func placeOf(a ticketing.Area, level ticketing.PlaceLevel) string {
	switch level {
	case ticketing.PlaceCommunity:
		return a.Community
	case ticketing.PlaceCell:
		return a.Grid
	}
	return ""
}

// categoryName is a category's name in the catalogue, else its code.
func (s *Server) categoryName(code string) string {
	for _, c := range s.cfg.Categories() {
		if c.Code == code {
			return c.Name
		}
	}
	return code
}

// centre is the middle of the place's cells (the mean of their outlines'
// points), where a 督办 case on it is placed; nil when no cell is there.
func (a *Areas) centre(level ticketing.PlaceLevel, place string) *ticketing.Point {
	var lat, lon float64
	n := 0
	for _, c := range a.Cells {
		if placeOf(c.Area, level) != place {
			continue
		}
		for _, ring := range c.Rings {
			for _, p := range ring {
				lon, lat, n = lon+p[0], lat+p[1], n+1
			}
		}
	}
	if n == 0 {
		return nil
	}
	return &ticketing.Point{Lat: lat / float64(n), Lon: lon / float64(n)}
}
