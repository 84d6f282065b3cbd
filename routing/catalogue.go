// Package routing decides where a report goes: category, department,
// priority and deadline, with the reason for the choice.
package routing

import (
	"fmt"
	"io"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/yihao-city/yihao/ticketing"
)

// Catalogue is the city's dispatch configuration (派单目录): hotline lines,
// departments, categories with their keywords, lead department and deadline.
type Catalogue struct {
	City        string       `yaml:"city"`
	TimeZone    string       `yaml:"timezone"`
	Lines       []Line       `yaml:"lines"`
	Departments []Department `yaml:"departments"`
	Categories  []Category   `yaml:"categories"`
	// DefaultDeadline applies to categories that set none.
	DefaultDeadline Deadline `yaml:"default_deadline"`
}

// Line is one of the merged hotline numbers.
type Line struct {
	Number          string `yaml:"number"`
	Label           string `yaml:"label"`
	DefaultCategory string `yaml:"default_category"`
}

// Department is a unit that handles tickets.
type Department struct {
	Code string `yaml:"code"`
	Name string `yaml:"name"`
}

// Category is a leaf of the taxonomy with its routing rule.
type Category struct {
	Code       string             `yaml:"code"`
	Name       string             `yaml:"name"`
	Group      string             `yaml:"group"`
	Department string             `yaml:"department"`
	Keywords   []string           `yaml:"keywords"`
	Priority   ticketing.Priority `yaml:"priority"`
	Deadline   Deadline           `yaml:"deadline"`
}

// Deadline is a handling time limit (处置时限): natural hours, or working
// days on the business calendar.
type Deadline struct {
	Hours       int `yaml:"hours"`
	WorkingDays int `yaml:"working_days"`
}

func (d Deadline) zero() bool { return d.Hours == 0 && d.WorkingDays == 0 }

// String says the limit in the words a citizen reads.
func (d Deadline) String() string {
	if d.Hours > 0 {
		return fmt.Sprintf("%d小时", d.Hours)
	}
	return fmt.Sprintf("%d个工作日", d.WorkingDays)
}

// LoadCatalogue parses and checks a YAML catalogue.
func LoadCatalogue(r io.Reader) (*Catalogue, error) {
	var c Catalogue
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	return &c, c.check()
}

// Location is the catalogue's time zone (default Asia/Shanghai).
func (c *Catalogue) Location() (*time.Location, error) {
	tz := c.TimeZone
	if tz == "" {
		tz = "Asia/Shanghai"
	}
	return time.LoadLocation(tz)
}

func (c *Catalogue) check() error {
	if _, err := c.Location(); err != nil {
		return fmt.Errorf("catalogue: timezone: %w", err)
	}
	depts := map[string]bool{}
	for _, d := range c.Departments {
		if d.Code == "" || d.Name == "" {
			return fmt.Errorf("catalogue: department %q needs a code and a name", d.Code)
		}
		if depts[d.Code] {
			return fmt.Errorf("catalogue: department %q listed twice", d.Code)
		}
		depts[d.Code] = true
	}
	if c.DefaultDeadline.zero() {
		return fmt.Errorf("catalogue: default_deadline is required")
	}
	cats := map[string]bool{}
	for _, cat := range c.Categories {
		switch {
		case cat.Code == "" || cat.Name == "":
			return fmt.Errorf("catalogue: category %q needs a code and a name", cat.Code)
		case cats[cat.Code]:
			return fmt.Errorf("catalogue: category %q listed twice", cat.Code)
		case !depts[cat.Department]:
			return fmt.Errorf("catalogue: category %s: unknown department %q", cat.Code, cat.Department)
		}
		switch cat.Priority {
		case "", ticketing.PriorityNormal, ticketing.PriorityUrgent, ticketing.PriorityEmergency:
		default:
			return fmt.Errorf("catalogue: category %s: unknown priority %q", cat.Code, cat.Priority)
		}
		for _, k := range cat.Keywords {
			if strings.TrimSpace(k) == "" {
				return fmt.Errorf("catalogue: category %s: empty keyword", cat.Code)
			}
		}
		cats[cat.Code] = true
	}
	for _, l := range c.Lines {
		if l.Number == "" {
			return fmt.Errorf("catalogue: a line has no number")
		}
		if l.DefaultCategory != "" && !cats[l.DefaultCategory] {
			return fmt.Errorf("catalogue: line %s: unknown default_category %q", l.Number, l.DefaultCategory)
		}
	}
	return nil
}
