package ticketing

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var place = Area{District: "110101", Street: "110101001", Community: "110101001001", Grid: "11010100100101"}

func TestCentreFor(t *testing.T) {
	for _, tc := range []struct {
		a    Area
		l    Level
		want string
	}{
		{place, LevelCity, ""},
		{place, LevelDistrict, "110101"},
		{place, LevelStreet, "110101001"},
		{place, LevelCommunity, "110101001001"},
		{place, LevelCell, "110101001001"}, // cells have no centre
		{Area{District: "110101"}, LevelStreet, "110101"},
		{Area{}, LevelStreet, ""}, // placed nowhere: the city's
		{place, Level("nonsense"), ""},
	} {
		if got := tc.a.CentreFor(tc.l); got != tc.want {
			t.Errorf("%+v.CentreFor(%s) = %q, want %q", tc.a, tc.l, got, tc.want)
		}
	}
}

// A case climbs from the street to the district to the city, each move
// starting the level's own clock and naming the path in the log; the city
// cannot raise further.
func TestRaiseClimbsTheLevels(t *testing.T) {
	clocks := Clocks{Centres: map[Level]time.Duration{LevelDistrict: 8 * time.Hour, LevelCity: 4 * time.Hour}}
	tk := &Ticket{ID: 1, Status: StatusRegistered, Area: place, Centre: place.Street}
	if err := tk.Raise(at, "street.disp", "  ", clocks); KindOf(err) != KindInvalid {
		t.Fatalf("raise without a reason: %v", err)
	}
	if err := tk.Raise(at, "street.disp", "需区级执法", clocks); err != nil {
		t.Fatal(err)
	}
	if tk.Centre != "110101" || !tk.CentreDue.Equal(at.Add(8*time.Hour)) || tk.CentreLevel() != LevelDistrict {
		t.Fatalf("after the first raise: centre %q due %v", tk.Centre, tk.CentreDue)
	}
	later := at.Add(time.Hour)
	if err := tk.Raise(later, "district.disp", "跨区", clocks); err != nil {
		t.Fatal(err)
	}
	if tk.Centre != "" || !tk.CentreDue.Equal(later.Add(4*time.Hour)) {
		t.Fatalf("after the second raise: centre %q due %v", tk.Centre, tk.CentreDue)
	}
	err := tk.Raise(later, "city.disp", "?", clocks)
	var e *Error
	if !errors.As(err, &e) || e.Code != "no_level_above" {
		t.Fatalf("raise from the city: %v", err)
	}
	evs := tk.PendingEvents()
	if len(evs) != 2 || evs[0].Type != EventRaised || evs[0].Note != "街道中心 110101001 → 区级中心 110101：需区级执法" ||
		evs[1].Note != "区级中心 110101 → 市级中心：跨区" || evs[0].To != StatusRegistered {
		t.Fatalf("events: %+v", evs)
	}
}

// A street with no district above it in the report's area (placed only
// that far) raises straight to the city.
func TestRaiseSkipsMissingLevels(t *testing.T) {
	tk := &Ticket{Status: StatusReceived, Area: Area{Street: "s1"}, Centre: "s1"}
	if err := tk.Raise(at, "s", "无区级", Clocks{}); err != nil || tk.Centre != "" || !tk.CentreDue.IsZero() {
		t.Fatalf("centre %q due %v err %v", tk.Centre, tk.CentreDue, err)
	}
}

func TestHandDownAndTakeOver(t *testing.T) {
	tk := &Ticket{Status: StatusReturned, Area: place}
	for _, bad := range []string{"", "110102001", place.Grid} {
		if err := tk.HandDown(at, "city.disp", bad, "", Clocks{}); KindOf(err) != KindInvalid {
			t.Errorf("hand down to %q: %v", bad, err)
		}
	}
	if len(tk.PendingEvents()) != 0 || tk.Centre != "" {
		t.Fatal("a refused hand-down changed the ticket")
	}
	if err := tk.HandDown(at, "city.disp", place.Street, "属地处置", Clocks{}); err != nil || tk.Centre != place.Street {
		t.Fatalf("hand down to the street: %v, centre %q", err, tk.Centre)
	}
	// Up again: the district takes it over; the street cannot "take over"
	// from itself, a community from above it, nor another district.
	for _, bad := range []string{place.Street, place.Community, "110102"} {
		if err := tk.TakeOver(at, "x", bad, "", Clocks{}); KindOf(err) != KindInvalid {
			t.Errorf("take over by %q: %v", bad, err)
		}
	}
	if err := tk.TakeOver(at, "district.disp", place.District, "重大案件", Clocks{}); err != nil || tk.Centre != place.District {
		t.Fatalf("take over by the district: %v, centre %q", err, tk.Centre)
	}
	evs := tk.PendingEvents()
	if len(evs) != 2 || evs[0].Type != EventHandedDown || evs[1].Type != EventTakenOver ||
		!strings.HasPrefix(evs[1].Note, "街道中心 110101001 → 区级中心 110101") {
		t.Fatalf("events: %+v", evs)
	}
	// Once with a department, the case is no longer the centres' to pass.
	tk.Status = StatusDispatched
	if err := tk.Raise(at, "x", "y", Clocks{}); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("raise a dispatched case: %v", err)
	}
}

// The access policy of the levels: a centre sees its area, holds what is
// its own, oversees what is below it; other areas' cases are invisible.
func TestViewerAreas(t *testing.T) {
	street := &Ticket{Area: place, Centre: place.Street}
	elsewhere := &Ticket{Area: Area{District: "110102", Street: "110102001"}, Centre: "110102001"}
	unplaced := &Ticket{}
	for _, tc := range []struct {
		name                         string
		v                            Viewer
		t                            *Ticket
		sees, holds, above, oversees bool
	}{
		{"city on a street case", Viewer{Role: RoleDispatcher}, street, true, false, true, true},
		{"district on its street's case", Viewer{Role: RoleDispatcher, Area: place.District}, street, true, false, true, true},
		{"the street on its case", Viewer{Role: RoleDispatcher, Area: place.Street}, street, true, true, false, true},
		{"a community under the street", Viewer{Role: RoleDispatcher, Area: place.Community}, street, true, false, false, false},
		{"another street", Viewer{Role: RoleDispatcher, Area: "110101002"}, street, false, false, false, false},
		{"another district", Viewer{Role: RoleDispatcher, Area: "110102"}, street, false, false, false, false},
		{"district on another district's case", Viewer{Role: RoleDispatcher, Area: place.District}, elsewhere, false, false, false, false},
		{"district on an unplaced case", Viewer{Role: RoleDispatcher, Area: place.District}, unplaced, false, false, false, false},
		{"city on an unplaced case", Viewer{Role: RoleDispatcher}, unplaced, true, true, false, true},
		{"admin", Viewer{Role: RoleAdmin}, elsewhere, true, true, false, true},
		{"agent", Viewer{Role: RoleAgent}, elsewhere, true, false, false, false},
		{"supervisor", Viewer{Role: RoleSupervisor, Area: place.Street}, street, false, false, false, false},
	} {
		if got := tc.v.Sees(tc.t); got != tc.sees {
			t.Errorf("%s: Sees = %v", tc.name, got)
		}
		if got := tc.v.Holds(tc.t); got != tc.holds {
			t.Errorf("%s: Holds = %v", tc.name, got)
		}
		if got := tc.v.Above(tc.t); got != tc.above {
			t.Errorf("%s: Above = %v", tc.name, got)
		}
		if got := tc.v.Oversees(tc.t); got != tc.oversees {
			t.Errorf("%s: Oversees = %v", tc.name, got)
		}
	}
	if (Viewer{Role: RoleDispatcher, Area: "110101"}).ReadsCallLog() || !(Viewer{Role: RoleDispatcher}).ReadsCallLog() {
		t.Error("only the city's dispatchers read the call log")
	}
}

func TestUserArea(t *testing.T) {
	hash, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	u := User{Name: "adm.disp", Role: RoleDispatcher, Area: "110101001", PasswordHash: hash, UpdatedAt: at}
	if err := u.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []Role{RoleAgent, RoleAdmin} {
		u.Role = r
		if err := u.Validate(); KindOf(err) != KindInvalid || !strings.Contains(err.Error(), "area") {
			t.Errorf("%s with an area: %v", r, err)
		}
	}
	u.Role, u.Area = RoleSupervisor, "has space"
	if err := u.Validate(); KindOf(err) != KindInvalid {
		t.Errorf("area with a space: %v", err)
	}
}
