package ticketing

import (
	"context"
	"strings"
	"time"
)

// Events of a case moving between the centres of the grid's levels. Each
// names the centre it left and the centre it went to (Event.Note), so the
// event log keeps the path.
const (
	EventRaised     EventType = "raised"      // 上报: to the level above, with a reason
	EventHandedDown EventType = "handed_down" // 下派: to a centre below, within the area
	EventTakenOver  EventType = "taken_over"  // 提级: a centre above takes the case
)

// Clocks are the city's time limits beside a case's own deadline.
type Clocks struct {
	// Centres says how long the centre of each level has to act on a case
	// it holds (register it, dispatch it, or raise it) from the moment the
	// case reaches it: each level keeps its own clock. A level not listed
	// runs no clock.
	Centres map[Level]time.Duration
	// Confirm is a supervisor's time to check a citizen's report on site
	// before it is filed (核实); Inspect to check on site that a
	// department's reported work was done (核查). Zero Inspect: results
	// placed in a cell are checked by the centre alone, with no task.
	Confirm, Inspect time.Duration
}

// Due is the end of level l's clock started at at; zero without one.
func (c Clocks) Due(l Level, at time.Time) time.Time {
	if d := c.Centres[l]; d > 0 {
		return at.Add(d)
	}
	return time.Time{}
}

// CentreLevel is the level of the centre holding t: the level whose code
// in t's area is t.Centre; the city for "".
func (t *Ticket) CentreLevel() Level {
	return t.Area.LevelOf(t.Centre)
}

// LevelOf is the level at which a carries code: the city for "" and for a
// code a does not carry.
func (a Area) LevelOf(code string) Level {
	if code != "" {
		for _, l := range Levels[1:] {
			if a.At(l) == code {
				return l
			}
		}
	}
	return LevelCity
}

// CentreFor is the centre of a that handles cases of level l (属地管理):
// a's code at l, or, where the report was not placed that far down, at the
// nearest level above; "" (the city) for LevelCity, an unknown level and a
// case placed in no district. Cells have no centre: a cell's cases go to its community.
func (a Area) CentreFor(l Level) string {
	if l == LevelCell {
		l = LevelCommunity
	}
	for i := rank(l); i > 0 && i < len(Levels); i-- {
		if c := a.At(Levels[i]); c != "" {
			return c
		}
	}
	return ""
}

// rank is l's place from the top: 0 for the city; past the cells for an
// unknown level.
func rank(l Level) int {
	for i, x := range Levels {
		if x == l {
			return i
		}
	}
	return len(Levels)
}

// above is the centre over the one holding t: the nearest code of t's area
// at a level above the holder's, or "" for the city; ok is false when the
// city holds t already.
func (t *Ticket) above() (code string, ok bool) {
	l := t.CentreLevel()
	if l == LevelCity {
		return "", false
	}
	for i := rank(l) - 1; i > 0; i-- {
		if c := t.Area.At(Levels[i]); c != "" {
			return c, true
		}
	}
	return "", true
}

// Holds reports whether v's centre holds t: a dispatcher of the area t's
// centre is, who registers, dispatches and raises it. Admins act for the
// whole system.
func (v Viewer) Holds(t *Ticket) bool {
	switch v.Role {
	case RoleAdmin:
		return true
	case RoleDispatcher:
		return v.Area == t.Centre
	}
	return false
}

// Oversees reports whether v's centre holds t or is over the centre that
// does, within t's area: it may register, dispatch and decide on the case
// (the city centre oversees every case). Admins act for the whole system.
func (v Viewer) Oversees(t *Ticket) bool {
	return v.Holds(t) || v.Above(t)
}

// Above reports whether v's centre is over the centre holding t, within
// t's area: it may take the case over (提级).
func (v Viewer) Above(t *Ticket) bool {
	if v.Role != RoleDispatcher || !t.Area.Within(v.Area) || v.Area == t.Centre {
		return false
	}
	return rank(t.Area.LevelOf(v.Area)) < rank(t.CentreLevel())
}

// centreName is how events name a centre: "区级中心 110101", "市级中心".
func (t *Ticket) centreName(code string) string {
	l := t.Area.LevelOf(code)
	if code == "" {
		return l.Label() + "中心"
	}
	return l.Label() + "中心 " + code
}

// move hands the case to the centre code, starting its clock, and records
// typ with the path and the reason.
func (t *Ticket) move(at time.Time, actor string, typ EventType, code, reason, public string, clocks Clocks) {
	note := t.centreName(t.Centre) + " → " + t.centreName(code)
	if reason != "" {
		note += "：" + reason
	}
	t.Centre = code
	t.CentreDue = clocks.Due(t.Area.LevelOf(code), at)
	t.schedule(t.CentreDue)
	t.record(at, actor, typ, t.Status, note, public)
}

// Raise is the holding centre escalating the case it cannot solve to the
// level above (上报), with the reason; the city has no level above.
func (t *Ticket) Raise(at time.Time, actor, reason string, clocks Clocks) error {
	if err := t.check(ActRaise); err != nil {
		return err
	}
	reason = strings.TrimSpace(reason)
	if err := required("reason", reason); err != nil {
		return err
	}
	code, ok := t.above()
	if !ok {
		return &Error{Kind: KindConflict, Code: "no_level_above", Field: "centre",
			Message: "the city centre holds this case; there is no level above it to raise it to"}
	}
	t.move(at, actor, EventRaised, code, reason, "已上报"+t.Area.LevelOf(code).Label()+"中心办理", clocks)
	return nil
}

// HandDown is the holding centre passing the case to a centre below it
// within the case's area (下派): code is the district, street or community
// of the case's own area at a level under the holder's.
func (t *Ticket) HandDown(at time.Time, actor, code, note string, clocks Clocks) error {
	if err := t.check(ActHandDown); err != nil {
		return err
	}
	code = strings.TrimSpace(code)
	if err := required("centre", code); err != nil {
		return err
	}
	l := t.Area.LevelOf(code)
	if l == LevelCity || l == LevelCell || rank(l) <= rank(t.CentreLevel()) {
		return Invalid("centre", "%q is not a centre below the one holding this case, within the case's area", code)
	}
	t.move(at, actor, EventHandedDown, code, strings.TrimSpace(note), "已交"+l.Label()+"中心办理", clocks)
	return nil
}

// TakeOver is a centre above the holder taking the case (提级): code is
// the taking centre's area, which must be over the holder's within the
// case's area ("" for the city).
func (t *Ticket) TakeOver(at time.Time, actor, code, note string, clocks Clocks) error {
	if err := t.check(ActTakeOver); err != nil {
		return err
	}
	if !t.Area.Within(code) || rank(t.Area.LevelOf(code)) >= rank(t.CentreLevel()) {
		return Invalid("centre", "%q is not a centre above the one holding this case, within the case's area", code)
	}
	t.move(at, actor, EventTakenOver, code, strings.TrimSpace(note), "由"+t.Area.LevelOf(code).Label()+"中心直接办理", clocks)
	return nil
}

// LevelClocks is what a Router may tell besides routes: the clocks of the
// levels (Clocks) as the catalogue of the moment sets them.
type LevelClocks interface{ Clocks() Clocks }

// Clocks are the levels' clocks as the router has them now (LevelClocks);
// none when it has none.
func (s *Service) Clocks() Clocks {
	if c, ok := s.router.(LevelClocks); ok {
		return c.Clocks()
	}
	return Clocks{}
}

// Raise escalates a case from the centre holding it to the level above
// (上报), with the reason. Whether actor's centre holds the case is the
// door's to ask (Viewer.Holds).
func (s *Service) Raise(ctx context.Context, number, actor, reason string) (*Ticket, error) {
	clocks := s.Clocks()
	return s.Act(ctx, number, func(t *Ticket, now time.Time) error { return t.Raise(now, actor, reason, clocks) })
}

// HandDown passes a case to the centre of code below the holder (下派).
func (s *Service) HandDown(ctx context.Context, number, actor, code, note string) (*Ticket, error) {
	clocks := s.Clocks()
	return s.Act(ctx, number, func(t *Ticket, now time.Time) error { return t.HandDown(now, actor, code, note, clocks) })
}

// TakeOver gives a case to the centre of code above the holder (提级);
// the door passes the taking viewer's own area (Viewer.Above).
func (s *Service) TakeOver(ctx context.Context, number, actor, code, note string) (*Ticket, error) {
	clocks := s.Clocks()
	return s.Act(ctx, number, func(t *Ticket, now time.Time) error { return t.TakeOver(now, actor, code, note, clocks) })
}
