package ticketing

import (
	"context"
	"slices"
	"strings"
	"time"
)

// DispatchOrder is a dispatcher's decision for one ticket (派遣, 改派).
type DispatchOrder struct {
	// Category is the category the dispatcher settled on; empty keeps the
	// ticket's. It picks the deadline policy from the catalogue.
	Category string
	// Department overrides the lead department routing picks for the
	// category; empty takes routing's. DepartmentName is its display name.
	Department, DepartmentName string
	// Assisting, when set, are the assisting departments (协办) the
	// dispatcher names, in place of routing's; each gets its part (Part).
	Assisting []string
	Note      string // why, for the log (改派 needs one)
}

// Preview is what routing makes of the ticket now, with category as a hint
// (empty: the ticket's own category, or classify again): the dispatcher's
// and the agent's starting point. The deadline counts from now.
func (s *Service) Preview(ctx context.Context, t *Ticket, category string) (Assignment, error) {
	if category == "" {
		category = t.Category
	}
	r := Report{Channel: t.Channel, Text: t.Text, Category: category, Location: t.Location,
		Address: t.Address, Line: t.Line, ReceivedAt: s.now()}
	return s.router.Route(ctx, r)
}

// PreviewReport is what Submit would make of r if it arrived now, with
// nothing stored: routing's assignment and the open tickets nearby that
// the report may repeat (the duplicate finder's candidates, best first).
// The agent's form shows it while the agent types, so a wrong category or
// a problem already being handled shows before the call is logged.
// Bad input is an *Error as in Submit (KindInvalid, KindTooLarge for an
// over-long text); routing down is not an error but an assignment whose
// reason says the report would wait for a dispatcher, and a failed
// duplicate lookup only leaves the list empty. Both are logged at debug
// level: a page asks again every few keystrokes, and Submit warns when
// the report is logged for real.
func (s *Service) PreviewReport(ctx context.Context, r Report) (Assignment, []Duplicate, error) {
	r.Normalize()
	r.ReceivedAt = s.now()
	if err := r.Validate(); err != nil {
		return Assignment{}, nil, err
	}
	a, err := s.router.Route(ctx, r)
	if err != nil {
		if KindOf(err) == KindInvalid {
			return Assignment{}, nil, err
		}
		s.log.Debug("routing failed; preview shows triage", "channel", r.Channel, "err", err)
		return Assignment{Reason: "自动分拨暂不可用，提交后待人工派单"}, nil, nil
	}
	// The ticket submit would build, as far as the duplicate finder looks:
	// routing's category, and its point when the report has none.
	t := &Ticket{Channel: r.Channel, Text: r.Text, Location: r.Location, Address: r.Address, ReceivedAt: r.ReceivedAt}
	t.applyAssignment(a)
	dups, err := s.duplicates(ctx, t)
	if err != nil {
		s.log.Debug("duplicate check failed; preview lists none", "err", err)
		return a, nil, nil
	}
	return a, dups, nil
}

// Dispatch registers the ticket if it is still only received, and sends it
// to a department with the deadline the catalogue gives its category,
// counted from now. From returned or dispatched it is a re-dispatch (改派),
// which needs a note.
func (s *Service) Dispatch(ctx context.Context, number, actor string, o DispatchOrder) (*Ticket, error) {
	t, err := s.Ticket(ctx, number)
	if err != nil {
		return nil, err
	}
	a, err := s.Preview(ctx, t, o.Category)
	if err != nil {
		return nil, err
	}
	if o.Department != "" && o.Department != a.Department {
		a.Department, a.DepartmentName, a.Assisting = o.Department, o.DepartmentName, nil
		a.Rule = "dispatcher"
		a.Reason = "派单员指定承办单位"
	}
	if a.Category == "" || a.Deadline.IsZero() {
		// No category, no deadline policy: the dispatcher must choose one.
		return nil, Invalid("category", "routing could not classify this report; choose a category")
	}
	if a.Department == "" {
		return nil, Invalid("department", "routing names no department for category %q; choose one", a.Category)
	}
	if o.Assisting != nil {
		a.Assisting = nil
		for _, d := range o.Assisting {
			if d = strings.TrimSpace(d); d != "" && d != a.Department && !slices.Contains(a.Assisting, d) {
				a.Assisting = append(a.Assisting, d)
			}
		}
	}
	note := strings.TrimSpace(o.Note)
	return s.Act(ctx, number, func(t *Ticket, now time.Time) error {
		if t.Status == StatusReceived {
			if err := t.Register(now, actor, note); err != nil {
				return err
			}
		}
		return t.Dispatch(now, actor, a, note)
	})
}
