package routing

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"sync/atomic"
	"time"

	"github.com/yihao-city/yihao/routing/classify"
	"github.com/yihao-city/yihao/routing/grid"
	"github.com/yihao-city/yihao/ticketing"
)

// Classifier ranks categories for a text (routing/classify's Model).
type Classifier interface {
	Predict(text string, k int) []classify.Prediction
}

// Locator finds the grid cell of a point (routing/grid's Index).
type Locator interface {
	Locate(lat, lon float64) (grid.Cell, bool)
}

// Gazetteer places an address without coordinates (routing/grid's Gazetteer).
type Gazetteer interface {
	Find(address string) (grid.Place, bool)
}

// Router classifies, places and matches the catalogue. It implements
// ticketing.Router. A Router never changes; Live swaps in a new one when
// the configuration is reloaded.
type Router struct {
	cat        *Catalogue
	c          *compiled
	cal        *Calendar
	classifier Classifier
	locator    Locator
	gazetteer  Gazetteer
}

// Option adds an optional part to a Router.
type Option func(*Router)

// WithClassifier ranks categories with a trained model before the keyword rules.
func WithClassifier(c Classifier) Option { return func(r *Router) { r.classifier = c } }

// WithGrid places reports on the grid by their point, or by their address.
func WithGrid(l Locator, g Gazetteer) Option {
	return func(r *Router) { r.locator, r.gazetteer = l, g }
}

// NewRouter builds a router from a catalogue.
func NewRouter(cat *Catalogue, opts ...Option) (*Router, error) {
	c, err := compile(cat)
	if err != nil {
		return nil, err
	}
	r := &Router{cat: cat, c: c, cal: NewCalendar(c.loc)}
	for _, o := range opts {
		o(r)
	}
	if cl, ok := r.locator.(cellLister); ok {
		if err := c.org.checkCells(cl.Cells()); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// cellLister is a Locator that can list its cells (grid.Index), so every
// cell can be checked against the organisation when the router is built.
type cellLister interface {
	Cells() iter.Seq[grid.Cell]
}

// Org is the organisation of the catalogue the router was built from.
func (r *Router) Org() *Org { return r.c.org }

// cellFinder is a Locator that finds a cell by its code (grid.Index).
type cellFinder interface {
	Cell(code string) (grid.Cell, bool)
}

// CheckCells checks the cells to assign to a supervisor of area ("" the
// city; ticketing.User.Cells): each a unit cell of the grid, within area.
// The error names the first cell that is not.
func (r *Router) CheckCells(area string, cells []string) error {
	if len(cells) == 0 {
		return nil
	}
	cf, ok := r.locator.(cellFinder)
	if !ok {
		return ticketing.Invalid("cells", "grid placement is off: there are no cells to assign")
	}
	for _, code := range cells {
		c, ok := cf.Cell(code)
		switch {
		case !ok || c.Kind != grid.KindUnit:
			return ticketing.Invalid("cells", "%q is not a unit cell of the grid", code)
		case !areaOf(c).Within(area):
			return ticketing.Invalid("cells", "cell %s (%s) is outside the area %s", code, describe(c), area)
		}
	}
	return nil
}

// Clocks are the levels' centre clocks (Catalogue.CentreHours).
func (r *Router) Clocks() ticketing.Clocks { return r.c.clocks }

// keywordConfidence is what a line's default category is worth: a call to
// a dedicated line (12315 for consumers) says what it is about.
const lineConfidence = 0.6

// classification is step one: which category, how sure, and why.
type classification struct {
	node        *node
	confidence  float64
	why         string
	suggestions []ticketing.Suggestion
}

// Route implements ticketing.Router: classify → place → match the catalogue.
func (r *Router) Route(_ context.Context, rep ticketing.Report) (ticketing.Assignment, error) {
	cl, err := r.classify(rep)
	if err != nil {
		return ticketing.Assignment{}, err
	}
	area, point, placed := r.place(rep)
	why := []string{}
	if cl.why != "" {
		why = append(why, cl.why)
	}
	if placed != "" {
		why = append(why, placed)
	}
	a := ticketing.Assignment{Area: area, Location: point, Suggestions: cl.suggestions, Priority: ticketing.PriorityNormal,
		Confidence: cl.confidence}
	if cl.node == nil {
		a.Rule = "triage"
		a.Reason = strings.Join(append(why, "未能自动确定分类，转人工派单"), "；")
		a.CentreDue = r.c.clocks.Due(ticketing.LevelCity, rep.ReceivedAt)
		return a, nil
	}
	n := cl.node
	a.Category, a.CategoryName = n.Code, n.Name
	dept, prio, dl := n.dept, n.priority, n.deadline
	a.Rule = "category:" + n.Code
	if rule := r.match(n, area, rep); rule != nil {
		dept, a.Assisting, a.Rule = rule.Lead, rule.Assist, "rule:"+rule.ID
		if rule.Priority != "" {
			prio = rule.Priority
		}
		if !rule.Deadline.zero() {
			dl = rule.Deadline
		}
		name := rule.Name
		if name == "" {
			name = rule.ID
		}
		why = append(why, fmt.Sprintf("派单目录规则“%s”", name))
	} else {
		why = append(why, "按分类默认承办单位")
	}
	if prio != "" {
		a.Priority = prio
	}
	if dl.zero() {
		dl = r.c.deadline
	}
	a.Department, a.DepartmentName = dept, r.c.depts[dept]
	a.Deadline = r.deadline(rep.ReceivedAt, dl)
	if n.level != "" {
		a.Centre = area.CentreFor(n.level)
		if a.Centre != "" {
			why = append(why, area.LevelOf(a.Centre).Label()+"中心属地办理")
		}
	}
	a.CentreDue = r.c.clocks.Due(area.LevelOf(a.Centre), rep.ReceivedAt)
	if n.confirm && rep.Channel != ticketing.ChannelField && area.Grid != "" && r.c.clocks.Confirm > 0 {
		a.Confirm = true
		why = append(why, "待网格员现场核实")
	}
	who := "由" + a.DepartmentName + "主办"
	if len(a.Assisting) > 0 {
		names := make([]string, len(a.Assisting))
		for i, d := range a.Assisting {
			names[i] = r.c.depts[d]
		}
		who += "，" + strings.Join(names, "、") + "协办"
	}
	why = append(why, who, "时限"+dl.String())
	a.AutoDispatch = cl.confidence >= r.c.minConf
	switch {
	case rep.Channel == ticketing.ChannelField:
		// A supervisor's report is filed by its centre (立案), which
		// decides who handles it: the grid's workflow, not routing's.
		a.AutoDispatch = false
		why = append(why, "网格员上报，待中心立案派遣")
	case n.confirm && !a.Confirm && r.c.clocks.Confirm > 0 && rep.Channel != ticketing.ChannelField:
		// A type checked on site before filing is never dispatched
		// unchecked: on no cell yet, it waits for its place (a WeChat
		// citizen's location, placed by Service.Supplement) or a dispatcher.
		a.AutoDispatch = false
		why = append(why, "未定位到网格，待补充位置后现场核实")
	case !a.AutoDispatch:
		why = append(why, fmt.Sprintf("置信度低于%.2f，待人工确认", r.c.minConf))
	}
	a.Reason = strings.Join(why, "；")
	return a, nil
}

func (r *Router) classify(rep ticketing.Report) (classification, error) {
	if rep.Category != "" {
		if !r.c.isLeaf(rep.Category) {
			return classification{}, ticketing.Invalid("category", "unknown category %q", rep.Category)
		}
		n := r.c.nodes[rep.Category]
		return classification{node: n, confidence: 1, why: fmt.Sprintf("按所选分类“%s”", n.Name)}, nil
	}
	var cl classification
	if r.classifier != nil {
		for _, p := range r.classifier.Predict(rep.Text, 3) {
			if n := r.c.nodes[p.Label]; n != nil && len(n.Children) == 0 {
				cl.suggestions = append(cl.suggestions, ticketing.Suggestion{Category: n.Code, Name: n.Name, Confidence: p.P})
			}
		}
		if len(cl.suggestions) > 0 && cl.suggestions[0].Confidence >= r.c.minConf {
			top := cl.suggestions[0]
			cl.node, cl.confidence = r.c.nodes[top.Category], top.Confidence
			cl.why = fmt.Sprintf("模型判为“%s”（置信度%.2f）", top.Name, top.Confidence)
			return cl, nil
		}
	}
	if n, kw, conf := r.keywords(rep.Text); n != nil {
		cl.node, cl.confidence = n, conf
		cl.why = fmt.Sprintf("内容含“%s”，归入“%s”", kw, n.Name)
		return cl, nil
	}
	if l, ok := r.c.lines[rep.Line]; ok && l.DefaultCategory != "" {
		n := r.c.nodes[l.DefaultCategory]
		cl.node, cl.confidence = n, max(lineConfidence, r.c.minConf)
		cl.why = fmt.Sprintf("来自%s（%s），按线路默认分类“%s”", l.Number, l.Label, n.Name)
		return cl, nil
	}
	if len(cl.suggestions) > 0 {
		// The model's best guess stays a suggestion for the dispatcher.
		top := cl.suggestions[0]
		cl.confidence = top.Confidence
		cl.why = fmt.Sprintf("模型倾向“%s”但置信度仅%.2f", top.Name, top.Confidence)
	}
	return cl, nil
}

// keywords scores each leaf by the total length of its keywords found in
// the text; longer keywords are more specific ("下水道井盖" beats "井盖").
// Confidence says how clearly the winner beats the runner-up.
func (r *Router) keywords(text string) (best *node, keyword string, confidence float64) {
	bestScore, second := 0, 0
	for _, n := range r.c.leaves {
		score, longest := 0, ""
		for _, k := range n.Keywords {
			if strings.Contains(text, k) {
				score += len([]rune(k))
				if len(k) > len(longest) {
					longest = k
				}
			}
		}
		switch {
		case score > bestScore:
			second, bestScore, best, keyword = bestScore, score, n, longest
		case score > second:
			second = score
		}
	}
	if best == nil {
		return nil, "", 0
	}
	return best, keyword, 0.5 + 0.5*float64(bestScore-second)/float64(bestScore)
}

// place finds the report's grid area: by its point, else by its address in
// the gazetteer (which also gives a point).
func (r *Router) place(rep ticketing.Report) (ticketing.Area, *ticketing.Point, string) {
	if r.locator == nil {
		return ticketing.Area{}, nil, ""
	}
	if p := rep.Location; p != nil {
		if cell, ok := r.locator.Locate(p.Lat, p.Lon); ok {
			return areaOf(cell), nil, "位于" + describe(cell)
		}
		return ticketing.Area{}, nil, "坐标不在本市网格内"
	}
	if rep.Address != "" && r.gazetteer != nil {
		if place, ok := r.gazetteer.Find(rep.Address); ok {
			pt := &ticketing.Point{Lat: place.Lat, Lon: place.Lon}
			if place.Cell.Code != "" {
				return areaOf(place.Cell), pt, fmt.Sprintf("按地址“%s”定位于%s", place.Name, describe(place.Cell))
			}
			if cell, ok := r.locator.Locate(place.Lat, place.Lon); ok {
				return areaOf(cell), pt, fmt.Sprintf("按地址“%s”定位于%s", place.Name, describe(cell))
			}
			return ticketing.Area{}, pt, fmt.Sprintf("按地址“%s”定位，不在本市网格内", place.Name)
		}
		return ticketing.Area{}, nil, "地址未能定位"
	}
	return ticketing.Area{}, nil, ""
}

func areaOf(c grid.Cell) ticketing.Area {
	return ticketing.Area{Grid: c.Code, Community: c.Community, Street: c.Street, District: c.District}
}

func describe(c grid.Cell) string {
	parts := []string{}
	for _, s := range []string{c.DistrictName, c.StreetName, c.CommunityName} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "") + "网格" + c.Code
}

// match returns the first catalogue rule whose conditions all hold.
func (r *Router) match(n *node, area ticketing.Area, rep ticketing.Report) *compiledRule {
	for i := range r.c.rules {
		rule := &r.c.rules[i]
		if rule.cats != nil && !intersects(rule.cats, n.ancestors) {
			continue
		}
		if (rule.districts != nil && !rule.districts[area.District]) || (rule.streets != nil && !rule.streets[area.Street]) ||
			(rule.grids != nil && !rule.grids[area.Grid]) || (rule.lines != nil && !rule.lines[rep.Line]) {
			continue
		}
		if len(rule.When.Keywords) > 0 && !containsAny(rep.Text, rule.When.Keywords) {
			continue
		}
		if rule.hours != nil {
			t := rep.ReceivedAt.In(r.c.loc)
			if !rule.hours.contains(t.Hour()*60 + t.Minute()) {
				continue
			}
		}
		return rule
	}
	return nil
}

func intersects(a, b map[string]bool) bool {
	for k := range b {
		if a[k] {
			return true
		}
	}
	return false
}

func containsAny(text string, words []string) bool {
	for _, w := range words {
		if strings.Contains(text, w) {
			return true
		}
	}
	return false
}

func (r *Router) deadline(from time.Time, d Deadline) time.Time {
	if d.Hours > 0 {
		return from.Add(time.Duration(d.Hours) * time.Hour)
	}
	return r.cal.AddWorkdays(from, d.WorkingDays)
}

// Live is the router in force, swapped whole when the configuration is
// reloaded: a request routes entirely with the old or the new one, and a
// bad new configuration leaves the old one in force.
type Live struct {
	cur  atomic.Pointer[Router]
	load func() (*Router, error)
}

// NewLive builds the first router with load; Reload calls it again.
func NewLive(load func() (*Router, error)) (*Live, error) {
	r, err := load()
	if err != nil {
		return nil, err
	}
	l := &Live{load: load}
	l.cur.Store(r)
	return l, nil
}

// Catalogue is the catalogue of the router in force, for the lists shown to
// citizens (the form's categories), which must follow a reload too.
func (l *Live) Catalogue() *Catalogue { return l.cur.Load().cat }

// CheckCells is Router.CheckCells by the grid in force.
func (l *Live) CheckCells(area string, cells []string) error {
	return l.cur.Load().CheckCells(area, cells)
}

// Inside reports whether the point lies in one of the grid's cells, by
// the grid in force; without a grid nothing can be checked and every
// point is inside.
func (l *Live) Inside(lat, lon float64) bool {
	r := l.cur.Load()
	if r.locator == nil {
		return true
	}
	_, ok := r.locator.Locate(lat, lon)
	return ok
}

// Place is the cell the point lies in, with its community, street and
// district, by the grid in force; false outside every cell or with no grid.
func (l *Live) Place(lat, lon float64) (ticketing.Area, bool) {
	r := l.cur.Load()
	if r.locator == nil {
		return ticketing.Area{}, false
	}
	cell, ok := r.locator.Locate(lat, lon)
	if !ok {
		return ticketing.Area{}, false
	}
	return areaOf(cell), true
}

// Org is the organisation of the router in force, which follows a reload.
func (l *Live) Org() *Org { return l.cur.Load().Org() }

// Clocks are the current catalogue's centre clocks.
func (l *Live) Clocks() ticketing.Clocks { return l.cur.Load().Clocks() }

// AreaLevel is the level of an area code of the current organisation; ""
// (unknown) for a code its catalogue does not list.
func (l *Live) AreaLevel(code string) ticketing.Level {
	a, _ := l.Org().Area(code)
	return a.Level
}

// Route implements ticketing.Router with the router in force.
func (l *Live) Route(ctx context.Context, rep ticketing.Report) (ticketing.Assignment, error) {
	return l.cur.Load().Route(ctx, rep)
}

// Reload builds a new router; on error the old one stays in force.
func (l *Live) Reload() error {
	r, err := l.load()
	if err != nil {
		return err
	}
	l.cur.Store(r)
	return nil
}
