package routing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// Router is the minimal rule router: the citizen's category if given, else
// keywords in the text, else the hotline line's default; anything else
// waits in the triage queue for a dispatcher. It implements ticketing.Router.
type Router struct {
	cal        *Calendar
	categories map[string]*Category
	order      []*Category // catalogue order breaks ties between equal scores
	depts      map[string]string
	lines      map[string]Line
	defaultDL  Deadline
}

// NewRouter builds a router from a checked catalogue.
func NewRouter(c *Catalogue) (*Router, error) {
	loc, err := c.Location()
	if err != nil {
		return nil, err
	}
	r := &Router{cal: NewCalendar(loc), categories: map[string]*Category{}, depts: map[string]string{},
		lines: map[string]Line{}, defaultDL: c.DefaultDeadline}
	for _, d := range c.Departments {
		r.depts[d.Code] = d.Name
	}
	for i := range c.Categories {
		cat := &c.Categories[i]
		r.categories[cat.Code] = cat
		r.order = append(r.order, cat)
	}
	for _, l := range c.Lines {
		r.lines[l.Number] = l
	}
	return r, nil
}

// Route implements ticketing.Router.
func (r *Router) Route(_ context.Context, rep ticketing.Report) (ticketing.Assignment, error) {
	if rep.Category != "" {
		cat, ok := r.categories[rep.Category]
		if !ok {
			return ticketing.Assignment{}, ticketing.Invalid("category", "unknown category %q", rep.Category)
		}
		return r.assign(rep, cat, 1, "rule:category", fmt.Sprintf("按所选分类“%s”", cat.Name)), nil
	}
	if cat, kw, score := r.match(rep.Text); cat != nil {
		return r.assign(rep, cat, score, "rule:keyword:"+cat.Code, fmt.Sprintf("内容含“%s”，归入“%s”", kw, cat.Name)), nil
	}
	if l, ok := r.lines[rep.Line]; ok && l.DefaultCategory != "" {
		cat := r.categories[l.DefaultCategory]
		return r.assign(rep, cat, 0.6, "rule:line:"+l.Number, fmt.Sprintf("来自%s（%s），按线路默认分类“%s”", l.Number, l.Label, cat.Name)), nil
	}
	return ticketing.Assignment{Priority: ticketing.PriorityNormal, Rule: "rule:none",
		Reason: "未能自动确定分类，转人工派单"}, nil
}

// match scores each category by the total length of its keywords found in
// the text; longer keywords are more specific ("下水道井盖" beats "井盖").
func (r *Router) match(text string) (best *Category, keyword string, confidence float64) {
	bestScore, second := 0, 0
	for _, cat := range r.order {
		score, longest := 0, ""
		for _, k := range cat.Keywords {
			if strings.Contains(text, k) {
				score += len([]rune(k))
				if len(k) > len(longest) {
					longest = k
				}
			}
		}
		switch {
		case score > bestScore:
			second, bestScore, best, keyword = bestScore, score, cat, longest
		case score > second:
			second = score
		}
	}
	if best == nil {
		return nil, "", 0
	}
	// Confidence: how clearly the winner beats the runner-up.
	return best, keyword, 0.5 + 0.5*float64(bestScore-second)/float64(bestScore)
}

func (r *Router) assign(rep ticketing.Report, cat *Category, confidence float64, rule, why string) ticketing.Assignment {
	dl := cat.Deadline
	if dl.zero() {
		dl = r.defaultDL
	}
	prio := cat.Priority
	if prio == "" {
		prio = ticketing.PriorityNormal
	}
	dept := r.depts[cat.Department]
	return ticketing.Assignment{
		Category: cat.Code, CategoryName: cat.Name, Department: cat.Department, DepartmentName: dept,
		Priority: prio, Deadline: r.deadline(rep.ReceivedAt, dl), Confidence: confidence,
		AutoDispatch: true, Rule: rule,
		Reason: fmt.Sprintf("%s，由%s主办，时限%s", why, dept, dl),
	}
}

func (r *Router) deadline(from time.Time, d Deadline) time.Time {
	if d.Hours > 0 {
		return from.Add(time.Duration(d.Hours) * time.Hour)
	}
	return r.cal.AddWorkdays(from, d.WorkingDays)
}
