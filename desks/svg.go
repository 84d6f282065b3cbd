package desks

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"

	"github.com/yihao-city/yihao/ticketing"
)

// The charts are SVG drawn on the server: no script, no library, readable
// with scripting off and printable. Text in them is escaped here, since
// the result goes into the page as template.HTML.

// Series is one line of a day chart.
type Series struct {
	Name   string
	Class  string // CSS class of the line (s1, s2, s3)
	Values []int64
}

// dayChart draws series over days (labels, one per value) as lines with a
// y axis from zero to a round maximum. Empty input draws an empty frame
// that says so.
func dayChart(days []string, series []Series, width, height int) template.HTML {
	const left, right, top, bottom = 48, 12, 12, 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" xmlns="http://www.w3.org/2000/svg">`, width, height, width, height)
	plotW, plotH := float64(width-left-right), float64(height-top-bottom)
	var peak int64
	for _, s := range series {
		for _, v := range s.Values {
			peak = max(peak, v)
		}
	}
	if len(days) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="empty">—</text></svg>`, width/2, height/2)
		return template.HTML(b.String())
	}
	top1 := niceCeil(peak)
	// Grid lines and y labels at quarters.
	for i := 0; i <= 4; i++ {
		y := float64(top) + plotH*float64(4-i)/4
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, left, y, width-right, y)
		fmt.Fprintf(&b, `<text class="ylab" x="%d" y="%.1f" text-anchor="end">%d</text>`, left-4, y+4, top1*int64(i)/4)
	}
	x := func(i int) float64 {
		if len(days) == 1 {
			return float64(left) + plotW/2
		}
		return float64(left) + plotW*float64(i)/float64(len(days)-1)
	}
	y := func(v int64) float64 { return float64(top) + plotH*(1-float64(v)/float64(top1)) }
	// About six date labels, whatever the period.
	step := max(1, (len(days)+5)/6)
	for i := 0; i < len(days); i += step {
		fmt.Fprintf(&b, `<text class="xlab" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x(i), height-bottom+16, esc(shortDay(days[i])))
	}
	for si, s := range series {
		var pts []string
		for i, v := range s.Values {
			if i < len(days) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
			}
		}
		fmt.Fprintf(&b, `<polyline class="line %s" fill="none" points="%s"><title>%s</title></polyline>`, esc(s.Class), strings.Join(pts, " "), esc(s.Name))
		// Legend under the axis.
		lx := left + si*110
		fmt.Fprintf(&b, `<line class="line %s" x1="%d" y1="%d" x2="%d" y2="%d"/><text class="legend" x="%d" y="%d">%s</text>`,
			esc(s.Class), lx, height-8, lx+18, height-8, lx+22, height-4, esc(s.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Bar is one labelled value of a bar chart; Value is 0..1 for rates.
type Bar struct {
	Label string
	Value float64
	Text  string // what to print at the end of the bar
}

// barChart draws horizontal bars, one per row, scaled to full (1 for
// rates).
func barChart(bars []Bar, full float64, width int) template.HTML {
	const rowH, labelW, textW = 22, 140, 64
	height := max(rowH, rowH*len(bars)) + 4
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart bars" viewBox="0 0 %d %d" width="%d" height="%d" role="img" xmlns="http://www.w3.org/2000/svg">`, width, height, width, height)
	if full <= 0 {
		full = 1
	}
	plotW := float64(width - labelW - textW)
	for i, bar := range bars {
		y := i*rowH + 2
		w := plotW * math.Min(1, math.Max(0, bar.Value/full))
		fmt.Fprintf(&b, `<text class="blab" x="%d" y="%d" text-anchor="end">%s</text>`, labelW-6, y+15, esc(truncate(bar.Label, 12)))
		fmt.Fprintf(&b, `<rect class="bar" x="%d" y="%d" width="%.1f" height="%d"><title>%s %s</title></rect>`, labelW, y+3, w, rowH-6, esc(bar.Label), esc(bar.Text))
		fmt.Fprintf(&b, `<text class="bval" x="%.1f" y="%d">%s</text>`, float64(labelW)+w+4, y+15, esc(bar.Text))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// MapCell is one grid cell to draw: its code, name and outer rings as
// [lon, lat] pairs.
type MapCell struct {
	Code, Name string
	Rings      [][][2]float64
	// Area is where the cell lies: itself, its community, street, district.
	Area ticketing.Area
}

// mapColours are the five classes of the map, light to dark.
var mapColours = [5]string{"c1", "c2", "c3", "c4", "c5"}

// mapShapes are the cells projected once: the SVG path of each and the
// drawing's height. Cells do not change while the server runs, and
// projecting 40,000 polygons is most of a map's cost.
type mapShapes struct {
	width, height int
	paths         []string // by cell, as in the cells drawn
	// The projection, for points drawn over the cells.
	minLon, maxLat, kx, scale float64
}

// xy is where the point falls on the drawing.
func (m mapShapes) xy(lat, lon float64) (x, y float64) {
	return (lon - m.minLon) * m.kx * m.scale, (m.maxLat - lat) * m.scale
}

// project places the cells on a drawing width wide: equirectangular, with
// longitude scaled by cos(latitude), which is true enough at the scale of
// a city.
func project(cells []MapCell, width int) mapShapes {
	minLon, minLat, maxLon, maxLat := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, c := range cells {
		for _, r := range c.Rings {
			for _, p := range r {
				minLon, maxLon = math.Min(minLon, p[0]), math.Max(maxLon, p[0])
				minLat, maxLat = math.Min(minLat, p[1]), math.Max(maxLat, p[1])
			}
		}
	}
	m := mapShapes{width: width}
	if len(cells) == 0 || maxLon <= minLon || maxLat <= minLat {
		return m
	}
	kx := math.Cos((minLat + maxLat) / 2 * math.Pi / 180)
	scale := float64(width) / ((maxLon - minLon) * kx)
	m.height = int(math.Ceil((maxLat - minLat) * scale))
	m.minLon, m.maxLat, m.kx, m.scale = minLon, maxLat, kx, scale
	m.paths = make([]string, len(cells))
	var b strings.Builder
	for i, c := range cells {
		b.Reset()
		for _, r := range c.Rings {
			for j, p := range r {
				cmd := "L"
				if j == 0 {
					cmd = "M"
				}
				fmt.Fprintf(&b, "%s%.1f %.1f", cmd, (p[0]-minLon)*kx*scale, (maxLat-p[1])*scale)
			}
			b.WriteString("Z")
		}
		m.paths[i] = b.String()
	}
	return m
}

// gridMap draws the cells (shapes projected from them) coloured by value
// in five classes of equal width up to the largest value; cells with no
// value are left pale (c0).
func gridMap(cells []MapCell, shapes mapShapes, values map[string]int64, unit string) template.HTML {
	var b strings.Builder
	if len(shapes.paths) != len(cells) || len(cells) == 0 {
		fmt.Fprintf(&b, `<svg class="map" viewBox="0 0 %d 40" width="%d" height="40" role="img" xmlns="http://www.w3.org/2000/svg"><text x="10" y="24" class="empty">—</text></svg>`, shapes.width, shapes.width)
		return template.HTML(b.String())
	}
	var peak int64
	for _, v := range values {
		peak = max(peak, v)
	}
	width, height := shapes.width, shapes.height
	b.Grow(len(cells) * 96)
	fmt.Fprintf(&b, `<svg class="map" viewBox="0 0 %d %d" width="%d" height="%d" role="img" xmlns="http://www.w3.org/2000/svg">`, width, height+24, width, height+24)
	for i, c := range cells {
		v := values[c.Code]
		class := "c0"
		if v > 0 && peak > 0 {
			class = mapColours[min(4, int((v-1)*5/peak))]
		}
		b.WriteString(`<path class="`)
		b.WriteString(class)
		b.WriteString(`" d="`)
		b.WriteString(shapes.paths[i])
		b.WriteString(`"><title>`)
		b.WriteString(esc(c.Code))
		b.WriteString(" ")
		b.WriteString(esc(c.Name))
		b.WriteString(" ")
		b.WriteString(strconv.FormatInt(v, 10))
		b.WriteString(esc(unit))
		b.WriteString("</title></path>")
	}
	// Legend: the five classes with their upper bounds.
	for i, cl := range mapColours {
		upper := peak * int64(i+1) / 5
		fmt.Fprintf(&b, `<rect class="%s" x="%d" y="%d" width="14" height="12"/><text class="legend" x="%d" y="%d">≤%d</text>`,
			cl, 4+i*70, height+8, 22+i*70, height+18, upper)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds n up to a multiple of four steps of a power of ten, with
// at most ten steps a quarter, so the quarter labels are whole and round.
func niceCeil(n int64) int64 {
	unit := int64(1)
	for n > 40*unit {
		unit *= 10
	}
	return max(4*unit, (n+4*unit-1)/(4*unit)*4*unit)
}

// shortDay turns 2026-11-05 into 11-05.
func shortDay(d string) string {
	if len(d) == len("2006-01-02") {
		return d[5:]
	}
	return d
}

func truncate(s string, runes int) string {
	r := []rune(s)
	if len(r) <= runes {
		return s
	}
	return string(r[:runes-1]) + "…"
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// percent formats a fraction as 87.5%.
func percent(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" }
