package routing

import (
	"cmp"
	"fmt"
	"iter"
	"slices"

	"github.com/yihao-city/yihao/routing/grid"
	"github.com/yihao-city/yihao/ticketing"
)

// AreaSpec is one area of the organisation as the catalogue lists it: a
// district (no parent), a street (its parent a district) or a community
// (its parent a street). The unit cells under communities are the grid's.
type AreaSpec struct {
	Code   string `yaml:"code"`
	Name   string `yaml:"name"`
	Parent string `yaml:"parent"`
}

// OrgArea is an area of the organisation once checked, with its level.
type OrgArea struct {
	Code, Name, Parent string
	Level              ticketing.Level
}

// OrgDepartment is a department placed in the organisation: a city
// department (市水务局) has no area; a district's (区水务局), a street's
// (街道城管科) or a community work station has the area it serves and
// that area's level.
type OrgDepartment struct {
	Code, Name, Area string
	Level            ticketing.Level
}

// Org is the city's organisation as data (属地管理): its areas, city →
// district → street → community, and the level and area of each
// department. Centres see and dispatch within their area, and a case
// climbs it when it is escalated. A catalogue that lists no areas has
// only the city level, every department a city department, and puts no
// condition on the grid. An Org never changes; a reload builds a new one.
type Org struct {
	areas map[string]OrgArea
	depts map[string]OrgDepartment
}

// buildOrg checks the catalogue's areas and departments; every error names
// the entry of the file it comes from.
func buildOrg(specs []AreaSpec, depts []Department) (*Org, error) {
	o := &Org{areas: map[string]OrgArea{}, depts: map[string]OrgDepartment{}}
	index := map[string]int{}
	for i, a := range specs {
		switch {
		case a.Code == "" || a.Name == "":
			return nil, fmt.Errorf("catalogue: areas[%d]: needs a code and a name", i)
		case a.Code == a.Parent:
			return nil, fmt.Errorf("catalogue: areas[%d] (code %q): is its own parent", i, a.Code)
		}
		if j, dup := index[a.Code]; dup {
			return nil, fmt.Errorf("catalogue: areas[%d] (code %q): code listed twice (first at areas[%d])", i, a.Code, j)
		}
		index[a.Code] = i
	}
	// The level of an area is its depth under the city: a parent listed
	// anywhere in the file counts, so the file may list areas in any order.
	var level func(code string, depth int) (ticketing.Level, error)
	level = func(code string, depth int) (ticketing.Level, error) {
		a := specs[index[code]]
		if depth > 3 {
			return "", fmt.Errorf("catalogue: areas[%d] (code %q): more than three levels under the city (district, street, community)", index[code], code)
		}
		if a.Parent == "" {
			return ticketing.LevelDistrict, nil
		}
		if _, ok := index[a.Parent]; !ok {
			return "", fmt.Errorf("catalogue: areas[%d] (code %q): unknown parent %q", index[code], code, a.Parent)
		}
		up, err := level(a.Parent, depth+1)
		if err != nil {
			return "", err
		}
		l := up.Below()
		if l == ticketing.LevelCell {
			return "", fmt.Errorf("catalogue: areas[%d] (code %q): its parent %q is a community; the areas under communities are the grid's cells", index[code], code, a.Parent)
		}
		return l, nil
	}
	for _, a := range specs {
		l, err := level(a.Code, 0)
		if err != nil {
			return nil, err
		}
		o.areas[a.Code] = OrgArea{Code: a.Code, Name: a.Name, Parent: a.Parent, Level: l}
	}
	for i, d := range depts {
		od := OrgDepartment{Code: d.Code, Name: d.Name, Area: d.Area, Level: ticketing.LevelCity}
		if d.Area != "" {
			a, ok := o.areas[d.Area]
			if !ok {
				return nil, fmt.Errorf("catalogue: departments[%d] (code %q): unknown area %q (not in the catalogue's areas)", i, d.Code, d.Area)
			}
			od.Level = a.Level
		}
		o.depts[d.Code] = od
	}
	return o, nil
}

// Declared reports whether the catalogue lists any areas.
// Org checks the catalogue's areas and departments and returns its
// organisation, as a router built from it would have it.
func (c *Catalogue) Org() (*Org, error) { return buildOrg(c.Areas, c.Departments) }

func (o *Org) Declared() bool { return len(o.areas) > 0 }

// Area returns the area with the code.
func (o *Org) Area(code string) (OrgArea, bool) {
	a, ok := o.areas[code]
	return a, ok
}

// Department returns the department with the code, placed.
func (o *Org) Department(code string) (OrgDepartment, bool) {
	d, ok := o.depts[code]
	return d, ok
}

// Areas lists the areas of one level by code.
func (o *Org) Areas(l ticketing.Level) []OrgArea {
	var out []OrgArea
	for _, a := range o.areas {
		if a.Level == l {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b OrgArea) int { return cmp.Compare(a.Code, b.Code) })
	return out
}

// Path lists the areas from the district down to the one with the code;
// nil for an unknown code.
func (o *Org) Path(code string) []OrgArea {
	var out []OrgArea
	for a, ok := o.areas[code]; ok; a, ok = o.areas[a.Parent] {
		out = append(out, a)
	}
	slices.Reverse(out)
	return out
}

// CheckCell says where a grid cell lies outside the organisation: its
// community, street or district is not one of the catalogue's areas, or
// they do not nest as the catalogue says. A catalogue without areas
// accepts every cell.
func (o *Org) CheckCell(c grid.Cell) error {
	if !o.Declared() {
		return nil
	}
	outside := func(format string, args ...any) error {
		return fmt.Errorf("grid: cell %s (%s) lies outside every area: %s", c.Code, c.Name, fmt.Sprintf(format, args...))
	}
	for _, want := range []struct {
		level  ticketing.Level
		code   string
		parent string
	}{
		{ticketing.LevelCommunity, c.Community, c.Street},
		{ticketing.LevelStreet, c.Street, c.District},
		{ticketing.LevelDistrict, c.District, ""},
	} {
		if want.code == "" {
			return outside("it names no %s", want.level)
		}
		a, ok := o.areas[want.code]
		switch {
		case !ok:
			return outside("its %s %q is not in the catalogue's areas", want.level, want.code)
		case a.Level != want.level:
			return outside("its %s %q is a %s in the catalogue", want.level, want.code, a.Level)
		case a.Parent != want.parent:
			return outside("its %s %q belongs to %q in the catalogue, not %q", want.level, want.code, a.Parent, want.parent)
		}
	}
	return nil
}

// checkCells checks every cell, naming the first outside the organisation
// and how many more there are.
func (o *Org) checkCells(cells iter.Seq[grid.Cell]) error {
	var first error
	more := 0
	for c := range cells {
		if err := o.CheckCell(c); err != nil {
			if first == nil {
				first = err
			} else {
				more++
			}
		}
	}
	if more > 0 {
		return fmt.Errorf("%w (and %d more cells)", first, more)
	}
	return first
}
