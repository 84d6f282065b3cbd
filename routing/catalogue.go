// Package routing decides where a report goes: it classifies the text,
// places the report on the city's grid, and matches the dispatch catalogue
// (派单目录) to a lead department, assisting departments, a priority and a
// deadline — and says why.
package routing

import (
	"cmp"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/yihao-city/yihao/ticketing"
)

// Catalogue is the city's routing configuration: hotline lines,
// departments, the category tree, and the ordered dispatch rules.
type Catalogue struct {
	City     string `yaml:"city"`
	TimeZone string `yaml:"timezone"`
	Lines    []Line `yaml:"lines"`
	// Areas are the organisation's districts, streets and communities
	// (see Org); departments name theirs.
	Areas       []AreaSpec   `yaml:"areas"`
	Departments []Department `yaml:"departments"`
	Categories  []Category   `yaml:"categories"`
	Rules       []Rule       `yaml:"rules"`
	// DefaultDeadline applies where no rule or category sets one.
	DefaultDeadline Deadline   `yaml:"default_deadline"`
	Triage          Triage     `yaml:"triage"`
	Duplicates      Duplicates `yaml:"duplicates"`
	// CentreHours is how many hours the centre of each level (city,
	// district, street, community) has to act on a case it holds before
	// the case counts as late at that level; a level left out runs no clock.
	CentreHours map[ticketing.Level]int `yaml:"centre_hours"`
	// Field sets the grid supervisors' tasks.
	Field FieldTasks `yaml:"field"`
}

// FieldTasks are the time limits of the supervisors' tasks: ConfirmHours
// to check a citizen's report on site before it is filed (核实, for the
// categories marked confirm), InspectHours to check on site that the
// work a department reported in a cell was done (核查). Zero InspectHours:
// the centre checks results alone and supervisors get no such tasks.
type FieldTasks struct {
	ConfirmHours int `yaml:"confirm_hours"`
	InspectHours int `yaml:"inspect_hours"`
}

// Duplicates configures 并单: reports of one category within RadiusM
// metres and Window of an open ticket are duplicates; at or above
// AutoMergeAt (0..1, text and distance together) they are merged at once.
type Duplicates struct {
	RadiusM     float64       `yaml:"radius_m"`
	Window      time.Duration `yaml:"window"`
	AutoMergeAt float64       `yaml:"auto_merge_at"`
}

// Triage says when a ticket waits for a dispatcher instead of being dispatched.
type Triage struct {
	// MinConfidence is the classification confidence (0..1) below which
	// the ticket goes to the triage queue. Default 0.6.
	MinConfidence float64 `yaml:"min_confidence"`
}

// Line is one of the merged hotline numbers.
type Line struct {
	Number          string `yaml:"number"`
	Label           string `yaml:"label"`
	DefaultCategory string `yaml:"default_category"`
}

// Department is a unit that handles tickets. Area is the code of the
// district, street or community it serves; none for a city department.
type Department struct {
	Code string `yaml:"code"`
	Name string `yaml:"name"`
	Area string `yaml:"area"`
}

// Category is a node of the taxonomy. Leaves are what tickets are filed
// under; a node's department, priority and deadline apply to every
// descendant that does not set its own.
type Category struct {
	Code       string             `yaml:"code"`
	Name       string             `yaml:"name"`
	Department string             `yaml:"department"`
	Keywords   []string           `yaml:"keywords"`
	Priority   ticketing.Priority `yaml:"priority"`
	Deadline   Deadline           `yaml:"deadline"`
	Children   []Category         `yaml:"children"`
	// Attributes are the extra questions a report of this category asks
	// (Open311 service definition attributes); leaves only.
	Attributes []Attribute `yaml:"attributes"`
	// Kind marks the city-management types supervisors report from the
	// field (GB/T 30428.2): "component" (部件, a thing: a manhole cover) or
	// "event" (事件, a situation: street vending). Set on a class, it holds
	// for every type under it; categories without one are citizens'
	// request domains only.
	Kind string `yaml:"kind"`
	// Filing and Closing are a field type's filing and closing conditions
	// (立案条件, 结案条件, in the manner of GB/T 30428.8): what the
	// supervisor checks on the spot before a case is filed, and before it
	// is closed.
	Filing  string `yaml:"filing"`
	Closing string `yaml:"closing"`
	// Photo requires a field report of the type (or of every type under a
	// class) to carry a photo.
	Photo bool `yaml:"photo"`
	// Level is the level whose centre handles the category's cases (属地:
	// "street" keeps a street's own cases in the street): the centre of
	// the report's own area at that level holds the case first. Set on a
	// class, it holds for every category under it; none is the city.
	Level ticketing.Level `yaml:"level"`
	// Confirm has a supervisor check a citizen's report of the category
	// on site before it is filed (核实); set on a class, it holds for every
	// category under it. Supervisors' own reports need none.
	Confirm bool `yaml:"confirm"`
}

// Kinds of field types (GB/T 30428.2).
const (
	KindComponent = "component" // 部件
	KindEvent     = "event"     // 事件
)

// Attribute is one extra question of a category: a code, the question, a
// datatype (string, number, datetime, text, singlevaluelist,
// multivaluelist) and, for lists, the allowed values.
type Attribute struct {
	Code        string           `yaml:"code"`
	Description string           `yaml:"description"`
	Datatype    string           `yaml:"datatype"`
	Required    bool             `yaml:"required"`
	Hint        string           `yaml:"hint"` // datatype_description
	Values      []AttributeValue `yaml:"values"`
}

// AttributeValue is one choice of a list attribute.
type AttributeValue struct {
	Key  string `yaml:"key"`
	Name string `yaml:"name"`
}

func checkAttributes(where string, cat Category) error {
	if len(cat.Attributes) > 0 && len(cat.Children) > 0 {
		return fmt.Errorf("catalogue: %s: attributes belong on leaf categories", where)
	}
	seen := map[string]bool{}
	for i, a := range cat.Attributes {
		at := fmt.Sprintf("%s: attributes[%d] (code %q)", where, i, a.Code)
		switch {
		case a.Code == "" || a.Description == "":
			return fmt.Errorf("catalogue: %s: needs a code and a description", at)
		case seen[a.Code]:
			return fmt.Errorf("catalogue: %s: code listed twice", at)
		}
		seen[a.Code] = true
		switch a.Datatype {
		case "string", "number", "datetime", "text":
			if len(a.Values) > 0 {
				return fmt.Errorf("catalogue: %s: values belong to list datatypes", at)
			}
		case "singlevaluelist", "multivaluelist":
			if len(a.Values) == 0 {
				return fmt.Errorf("catalogue: %s: a %s needs values", at, a.Datatype)
			}
			keys := map[string]bool{}
			for _, v := range a.Values {
				if v.Key == "" || v.Name == "" || keys[v.Key] {
					return fmt.Errorf("catalogue: %s: every value needs a unique key and a name", at)
				}
				keys[v.Key] = true
			}
		default:
			return fmt.Errorf("catalogue: %s: unknown datatype %q (string, number, datetime, text, singlevaluelist or multivaluelist)", at, a.Datatype)
		}
	}
	return nil
}

// centreLevel reports whether l may hold cases: the levels with a centre.
func centreLevel(l ticketing.Level) bool {
	switch l {
	case ticketing.LevelCity, ticketing.LevelDistrict, ticketing.LevelStreet, ticketing.LevelCommunity:
		return true
	}
	return false
}

// clocks checks centre_hours and the supervisors' task hours and turns
// them into the city's clocks.
func clocks(c *Catalogue) (ticketing.Clocks, error) {
	out := ticketing.Clocks{Centres: map[ticketing.Level]time.Duration{}}
	for l, h := range c.CentreHours {
		if !centreLevel(l) {
			return out, fmt.Errorf("catalogue: centre_hours: %q is not a level with a centre (city, district, street or community)", l)
		}
		if err := checkHours("centre_hours: "+string(l), h, false); err != nil {
			return out, err
		}
		out.Centres[l] = time.Duration(h) * time.Hour
	}
	for _, x := range []struct {
		name string
		h    int
		d    *time.Duration
	}{{"field.confirm_hours", c.Field.ConfirmHours, &out.Confirm}, {"field.inspect_hours", c.Field.InspectHours, &out.Inspect}} {
		if err := checkHours(x.name, x.h, true); err != nil {
			return out, err
		}
		*x.d = time.Duration(x.h) * time.Hour
	}
	return out, nil
}

func checkHours(name string, h int, zeroOK bool) error {
	if (h == 0 && zeroOK) || (h > 0 && h <= 24*366) {
		return nil
	}
	return fmt.Errorf("catalogue: %s: %d hours; must be 1 to %d", name, h, 24*366)
}

// checkField checks a category's field-type settings against its parent's.
func checkField(where string, cat Category, parent *node) error {
	if cat.Level != "" && !centreLevel(cat.Level) {
		return fmt.Errorf("catalogue: %s: level %q is not a level with a centre (city, district, street or community)", where, cat.Level)
	}
	up := ""
	if parent != nil {
		up = parent.kind
	}
	switch {
	case cat.Kind != "" && cat.Kind != KindComponent && cat.Kind != KindEvent:
		return fmt.Errorf("catalogue: %s: unknown kind %q (component or event)", where, cat.Kind)
	case cat.Kind != "" && up != "" && cat.Kind != up:
		return fmt.Errorf("catalogue: %s: kind %s under a class of kind %s", where, cat.Kind, up)
	case (cat.Filing != "" || cat.Closing != "") && len(cat.Children) > 0:
		return fmt.Errorf("catalogue: %s: filing and closing conditions belong on leaf categories", where)
	case (cat.Filing != "" || cat.Closing != "" || cat.Photo) && cmp.Or(cat.Kind, up) == "":
		return fmt.Errorf("catalogue: %s: filing, closing and photo are for field types; set a kind (component or event) here or on its class", where)
	}
	return nil
}

// Rule is one line of the dispatch catalogue. Every condition that is set
// must hold; the first rule that matches wins.
type Rule struct {
	ID       string             `yaml:"id"`
	Name     string             `yaml:"name"`
	When     Conditions         `yaml:"when"`
	Lead     string             `yaml:"lead"`   // 主办
	Assist   []string           `yaml:"assist"` // 协办
	Priority ticketing.Priority `yaml:"priority"`
	Deadline Deadline           `yaml:"deadline"`
}

// Conditions of a rule. A category matches itself and its descendants.
type Conditions struct {
	Categories []string `yaml:"categories"`
	Districts  []string `yaml:"districts"`
	Streets    []string `yaml:"streets"`
	Grids      []string `yaml:"grids"`
	Lines      []string `yaml:"lines"`
	Keywords   []string `yaml:"keywords"`
	Hours      string   `yaml:"hours"` // "22:00-06:00", in the city's time zone; may wrap midnight
}

// Deadline is a handling time limit (处置时限): natural hours, or working
// days on the business calendar.
type Deadline struct {
	Hours       int `yaml:"hours"`
	WorkingDays int `yaml:"working_days"`
}

func (d Deadline) zero() bool { return d.Hours == 0 && d.WorkingDays == 0 }

// check refuses limits that would route nothing sensibly: negative, both
// kinds at once, or beyond a year (a working-day deadline is counted day
// by day on every report).
func (d Deadline) check(where string) error {
	switch {
	case d.Hours < 0 || d.WorkingDays < 0:
		return fmt.Errorf("catalogue: %s: deadline must be positive", where)
	case d.Hours > 0 && d.WorkingDays > 0:
		return fmt.Errorf("catalogue: %s: deadline sets both hours and working_days; choose one", where)
	case d.Hours > 24*366 || d.WorkingDays > 260:
		return fmt.Errorf("catalogue: %s: deadline is longer than a year", where)
	}
	return nil
}

// String says the limit in the words a citizen reads.
func (d Deadline) String() string {
	if d.Hours > 0 {
		return fmt.Sprintf("%d小时", d.Hours)
	}
	return fmt.Sprintf("%d个工作日", d.WorkingDays)
}

// LoadCatalogue parses and checks a YAML catalogue. Every error names the
// place in the file it comes from.
func LoadCatalogue(r io.Reader) (*Catalogue, error) {
	var c Catalogue
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	if _, err := compile(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

// Location is the catalogue's time zone (default Asia/Shanghai).
func (c *Catalogue) Location() (*time.Location, error) {
	tz := c.TimeZone
	if tz == "" {
		tz = "Asia/Shanghai"
	}
	return time.LoadLocation(tz)
}

// Leaf is a category a ticket can be filed under, with its group's name,
// its keywords and its extra questions; for a field type also its kind,
// its filing and closing conditions, whether a photo is required, and
// its handling deadline (inherited from its class where it sets none).
type Leaf struct {
	Code, Name, Group string
	Keywords          []string
	Attributes        []Attribute
	Kind              string
	Filing, Closing   string
	Photo             bool
	Deadline          Deadline
}

// Leaves lists the fileable categories in catalogue order.
func (c *Catalogue) Leaves() []Leaf {
	var out []Leaf
	var walk func(cs []Category, up Leaf)
	walk = func(cs []Category, up Leaf) {
		for _, cat := range cs {
			l := Leaf{Code: cat.Code, Name: cat.Name, Group: up.Name, Keywords: cat.Keywords, Attributes: cat.Attributes,
				Kind: cmp.Or(cat.Kind, up.Kind), Filing: cat.Filing, Closing: cat.Closing, Photo: cat.Photo || up.Photo, Deadline: cat.Deadline}
			if l.Deadline.zero() {
				l.Deadline = up.Deadline
			}
			if len(cat.Children) == 0 {
				out = append(out, l)
				continue
			}
			walk(cat.Children, l)
		}
	}
	walk(c.Categories, Leaf{})
	return out
}

// FieldTypes lists the types supervisors report from the field (the
// leaves with a kind), in catalogue order: the app's picker.
func (c *Catalogue) FieldTypes() []Leaf {
	var out []Leaf
	for _, l := range c.Leaves() {
		if l.Kind != "" {
			out = append(out, l)
		}
	}
	return out
}

// FieldType returns the field type with the code; a code that is not one
// is KindInvalid, naming it.
func (c *Catalogue) FieldType(code string) (Leaf, error) {
	for _, l := range c.FieldTypes() {
		if l.Code == code {
			return l, nil
		}
	}
	return Leaf{}, ticketing.Invalid("category", "%q is not a field report type of the catalogue", code)
}

// node is a category flattened with what it inherits.
type node struct {
	Category
	parent    *node
	group     string
	dept      string
	priority  ticketing.Priority
	deadline  Deadline
	kind      string
	level     ticketing.Level
	confirm   bool
	ancestors map[string]bool // its own code and every ancestor's
}

type window struct{ from, to int } // minutes since midnight; from > to wraps

func (w window) contains(minute int) bool {
	if w.from <= w.to {
		return minute >= w.from && minute < w.to
	}
	return minute >= w.from || minute < w.to
}

var hoursRE = regexp.MustCompile(`^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$`)

func parseWindow(s string) (window, error) {
	m := hoursRE.FindStringSubmatch(strings.ReplaceAll(s, " ", ""))
	if m == nil {
		return window{}, fmt.Errorf("hours %q: want HH:MM-HH:MM", s)
	}
	n := func(i int) int { v := 0; _, _ = fmt.Sscanf(m[i], "%d", &v); return v }
	w := window{from: n(1)*60 + n(2), to: n(3)*60 + n(4)}
	if w.from == w.to {
		return window{}, fmt.Errorf("hours %q: empty window", s)
	}
	return w, nil
}

type compiledRule struct {
	Rule
	cats, districts, streets, grids, lines map[string]bool
	hours                                  *window
}

type compiled struct {
	loc      *time.Location
	nodes    map[string]*node
	leaves   []*node
	depts    map[string]string
	lines    map[string]Line
	rules    []compiledRule
	minConf  float64
	deadline Deadline
	org      *Org
	clocks   ticketing.Clocks
}

func set(xs []string) map[string]bool {
	if len(xs) == 0 {
		return nil
	}
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// compile checks the catalogue and builds what the router looks up.
func compile(c *Catalogue) (*compiled, error) {
	loc, err := c.Location()
	if err != nil {
		return nil, fmt.Errorf("catalogue: timezone: %w", err)
	}
	out := &compiled{loc: loc, nodes: map[string]*node{}, depts: map[string]string{}, lines: map[string]Line{},
		minConf: c.Triage.MinConfidence, deadline: c.DefaultDeadline}
	if out.minConf == 0 {
		out.minConf = 0.6
	}
	if out.minConf < 0 || out.minConf > 1 {
		return nil, fmt.Errorf("catalogue: triage.min_confidence %v: must be between 0 and 1", out.minConf)
	}
	if c.DefaultDeadline.zero() {
		return nil, fmt.Errorf("catalogue: default_deadline is required")
	}
	if err := c.DefaultDeadline.check("default_deadline"); err != nil {
		return nil, err
	}
	if out.clocks, err = clocks(c); err != nil {
		return nil, err
	}
	if d := c.Duplicates; d.RadiusM < 0 || d.Window < 0 || d.AutoMergeAt < 0 || d.AutoMergeAt > 1 {
		return nil, fmt.Errorf("catalogue: duplicates: radius_m and window must not be negative, auto_merge_at must be between 0 and 1")
	}
	for i, d := range c.Departments {
		if d.Code == "" || d.Name == "" {
			return nil, fmt.Errorf("catalogue: departments[%d]: needs a code and a name", i)
		}
		if _, dup := out.depts[d.Code]; dup {
			return nil, fmt.Errorf("catalogue: departments[%d]: code %q listed twice", i, d.Code)
		}
		out.depts[d.Code] = d.Name
	}
	if out.org, err = buildOrg(c.Areas, c.Departments); err != nil {
		return nil, err
	}
	checkPriority := func(where string, p ticketing.Priority) error {
		switch p {
		case "", ticketing.PriorityNormal, ticketing.PriorityUrgent, ticketing.PriorityEmergency:
			return nil
		}
		return fmt.Errorf("catalogue: %s: unknown priority %q (normal, urgent or emergency)", where, p)
	}
	var walk func(cs []Category, parent *node, path string) error
	walk = func(cs []Category, parent *node, path string) error {
		for i := range cs {
			cat := cs[i]
			where := fmt.Sprintf("%s[%d] (code %q)", path, i, cat.Code)
			switch {
			case cat.Code == "" || cat.Name == "":
				return fmt.Errorf("catalogue: %s: needs a code and a name", where)
			case out.nodes[cat.Code] != nil:
				return fmt.Errorf("catalogue: %s: code listed twice", where)
			}
			if cat.Department != "" {
				if _, ok := out.depts[cat.Department]; !ok {
					return fmt.Errorf("catalogue: %s: unknown department %q", where, cat.Department)
				}
			}
			if err := cat.Deadline.check(where); err != nil {
				return err
			}
			if err := checkPriority(where, cat.Priority); err != nil {
				return err
			}
			for _, k := range cat.Keywords {
				if strings.TrimSpace(k) == "" {
					return fmt.Errorf("catalogue: %s: empty keyword", where)
				}
			}
			if err := checkAttributes(where, cat); err != nil {
				return err
			}
			if err := checkField(where, cat, parent); err != nil {
				return err
			}
			n := &node{Category: cat, parent: parent, dept: cat.Department, priority: cat.Priority, deadline: cat.Deadline,
				kind: cat.Kind, level: cat.Level, confirm: cat.Confirm, ancestors: map[string]bool{cat.Code: true}}
			if parent != nil {
				n.group = parent.Name
				for a := range parent.ancestors {
					n.ancestors[a] = true
				}
				if n.dept == "" {
					n.dept = parent.dept
				}
				if n.priority == "" {
					n.priority = parent.priority
				}
				if n.deadline.zero() {
					n.deadline = parent.deadline
				}
				if n.kind == "" {
					n.kind = parent.kind
				}
				if n.level == "" {
					n.level = parent.level
				}
				n.confirm = n.confirm || parent.confirm
			}
			out.nodes[cat.Code] = n
			if len(cat.Children) == 0 {
				if n.dept == "" {
					return fmt.Errorf("catalogue: %s: no department (set one here or on a parent)", where)
				}
				out.leaves = append(out.leaves, n)
			}
			if err := walk(cat.Children, n, path+fmt.Sprintf("[%d].children", i)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(c.Categories, nil, "categories"); err != nil {
		return nil, err
	}
	for i, l := range c.Lines {
		if l.Number == "" {
			return nil, fmt.Errorf("catalogue: lines[%d]: no number", i)
		}
		if l.DefaultCategory != "" && !out.isLeaf(l.DefaultCategory) {
			return nil, fmt.Errorf("catalogue: lines[%d] (%s): default_category %q is not a leaf category", i, l.Number, l.DefaultCategory)
		}
		out.lines[l.Number] = l
	}
	ids := map[string]bool{}
	for i, r := range c.Rules {
		where := fmt.Sprintf("rules[%d] (id %q)", i, r.ID)
		switch {
		case r.ID == "":
			return nil, fmt.Errorf("catalogue: rules[%d]: needs an id", i)
		case ids[r.ID]:
			return nil, fmt.Errorf("catalogue: %s: id used twice", where)
		case r.Lead == "":
			return nil, fmt.Errorf("catalogue: %s: needs a lead department", where)
		}
		ids[r.ID] = true
		if _, ok := out.depts[r.Lead]; !ok {
			return nil, fmt.Errorf("catalogue: %s: unknown lead department %q", where, r.Lead)
		}
		for _, a := range r.Assist {
			if _, ok := out.depts[a]; !ok {
				return nil, fmt.Errorf("catalogue: %s: unknown assisting department %q", where, a)
			}
		}
		for _, code := range r.When.Categories {
			if out.nodes[code] == nil {
				return nil, fmt.Errorf("catalogue: %s: unknown category %q", where, code)
			}
		}
		if err := r.Deadline.check(where); err != nil {
			return nil, err
		}
		if err := checkPriority(where, r.Priority); err != nil {
			return nil, err
		}
		cr := compiledRule{Rule: r, cats: set(r.When.Categories), districts: set(r.When.Districts),
			streets: set(r.When.Streets), grids: set(r.When.Grids), lines: set(r.When.Lines)}
		if r.When.Hours != "" {
			w, err := parseWindow(r.When.Hours)
			if err != nil {
				return nil, fmt.Errorf("catalogue: %s: %w", where, err)
			}
			cr.hours = &w
		}
		out.rules = append(out.rules, cr)
	}
	return out, nil
}

func (c *compiled) isLeaf(code string) bool {
	n := c.nodes[code]
	return n != nil && len(n.Children) == 0
}
