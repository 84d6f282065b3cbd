package desks_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/desks"
	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing"
)

// levelRouter places every report in street 110101001 of district 110101,
// whose street centre holds it first (属地), with the levels' clocks.
type levelRouter struct{ router }

var levelClocks = ticketing.Clocks{Centres: map[ticketing.Level]time.Duration{ticketing.LevelCity: 2 * time.Hour,
	ticketing.LevelDistrict: 4 * time.Hour, ticketing.LevelStreet: 8 * time.Hour}}

func (r levelRouter) Route(ctx context.Context, rep ticketing.Report) (ticketing.Assignment, error) {
	a, err := r.router.Route(ctx, rep)
	a.Area, a.Centre = ticketArea, ticketArea.Street
	a.CentreDue = levelClocks.Due(ticketing.LevelStreet, rep.ReceivedAt)
	return a, err
}

func (levelRouter) Clocks() ticketing.Clocks { return levelClocks }

// A case climbs and comes down the levels through the desks: the street
// centre that holds it raises it with a reason and can no longer decide
// it; the district dispatches it; another case is taken over by the city
// and handed down again. Each move restarts the clock of the level that
// now holds the case, and the log keeps the path. Another street's
// centre never sees either, on any list or page.
func TestCentresPassCases(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) ticketing.Store) {
		e := &env{store: open(t), bus: pubsub.NewMemory(), router: levelRouter{}}
		e.serve(t, e.bus)
		for name, area := range map[string]string{"disp.street": ticketArea.Street, "disp.district": ticketArea.District, "disp.other": "110101002"} {
			e.putUser(t, &ticketing.User{Name: name, Role: ticketing.RoleDispatcher, Area: area})
		}
		street, district, other, city := e.login(t, "disp.street"), e.login(t, "disp.district"), e.login(t, "disp.other"), e.login(t, "disp")
		tk := e.submit(t, "", "安定门内大街井盖缺失，夜间危险")
		if tk.Centre != ticketArea.Street {
			t.Fatalf("the street does not hold the new case: %q", tk.Centre)
		}

		// Who sees it waiting: its street, its district and the city, on
		// the dispatch desk and the queue; the other street nowhere.
		for who, c := range map[string]*client{"street": street, "district": district, "city": city} {
			if r := c.get(t, "/desk/dispatch"); r.code != http.StatusOK || !strings.Contains(r.body, tk.Number) {
				t.Errorf("%s's dispatch desk lacks the case: %d", who, r.code)
			}
		}
		for _, path := range []string{"/desk/dispatch", "/api/v1/desk/queue?sort=received", "/desk/inbox?sort=received"} {
			if r := other.get(t, path); r.code != http.StatusOK || strings.Contains(r.body, tk.Number) {
				t.Errorf("another street's centre, %s: %d, or the case shows", path, r.code)
			}
		}
		for _, path := range []string{"/desk/tickets/" + tk.Number, "/api/v1/desk/tickets/" + tk.Number} {
			if r := other.get(t, path); r.code != http.StatusNotFound || strings.Contains(r.body, "井盖") {
				t.Errorf("another street's centre, %s: %d, want not found", path, r.code)
			}
		}
		if r := other.api(t, "POST", "/api/v1/desk/tickets/"+tk.Number+"/raise", map[string]string{"reason": "x"}); r.code != http.StatusNotFound {
			t.Errorf("another street raising the case: %d", r.code)
		}

		// The street raises it: a reason is required, and the district's
		// clock starts.
		if r := street.api(t, "POST", "/api/v1/desk/tickets/"+tk.Number+"/raise", map[string]string{"reason": " "}); r.code != http.StatusBadRequest {
			t.Errorf("raise without a reason: %d %s", r.code, r.body)
		}
		before := time.Now()
		if r := street.api(t, "POST", "/api/v1/desk/tickets/"+tk.Number+"/raise", map[string]string{"reason": "涉及供水管网，街道无权处置"}); r.code != http.StatusOK {
			t.Fatalf("raise: %d %s", r.code, r.body)
		}
		got := e.ticket(t, tk.Number)
		if got.Centre != ticketArea.District || got.CentreDue.Before(before.Add(4*time.Hour-time.Minute)) || got.CentreDue.After(time.Now().Add(4*time.Hour)) {
			t.Fatalf("after the raise: centre %q, its clock ends %v", got.Centre, got.CentreDue)
		}
		// Now the district's: the street may neither decide it nor raise it
		// again, and the page offers it nothing but notes.
		for _, act := range []string{"raise", "dispatch", "decline"} {
			if r := street.api(t, "POST", "/api/v1/desk/tickets/"+tk.Number+"/"+act, map[string]string{"reason": "x", "department": "sw", "category": "water"}); r.code != http.StatusForbidden {
				t.Errorf("the street's %s after raising: %d %s", act, r.code, r.body)
			}
		}
		if r := street.get(t, "/desk/tickets/"+tk.Number); !strings.Contains(r.body, "区级中心 110101") || strings.Contains(r.body, `id="act-raise"`) ||
			strings.Contains(r.body, `id="act-dispatch"`) {
			t.Errorf("the street's page of the raised case: %.400s", errorText(r.body))
		}
		// The district's own departments only: a city bureau is the city's
		// to dispatch to, chosen or as routing suggests.
		for _, body := range []map[string]string{{"category": "roads", "department": "jt"}, {"category": "roads"}} {
			r := district.api(t, "POST", "/api/v1/desk/tickets/"+tk.Number+"/dispatch", body)
			if code, _ := r.errorOf(t); r.code != http.StatusForbidden || code != "department_outside_area" {
				t.Errorf("the district dispatching %v: %d %s", body, r.code, r.body)
			}
		}
		if r := district.get(t, "/desk/tickets/"+tk.Number); strings.Contains(r.body, `<option value="jt"`) || !strings.Contains(r.body, `<option value="sw"`) {
			t.Errorf("the district's dispatch form offers: %.600s", r.body[strings.Index(r.body, "dispatch-department"):])
		}
		district.act(t, tk.Number, "dispatch", map[string][]string{"category": {"water"}, "department": {"sw"}})
		if got := e.ticket(t, tk.Number); got.Status != ticketing.StatusDispatched || got.Department != "sw" {
			t.Fatalf("the district's dispatch: %s to %q", got.Status, got.Department)
		}

		// Another case: the city takes it over from the street, then hands
		// it down to the street again.
		tk2 := e.submit(t, "", "安定门外占道经营")
		if r := street.api(t, "POST", "/api/v1/desk/tickets/"+tk2.Number+"/take_over", nil); r.code != http.StatusForbidden {
			t.Errorf("the holder taking over its own case: %d", r.code)
		}
		if r := city.api(t, "POST", "/api/v1/desk/tickets/"+tk2.Number+"/take_over", map[string]string{"note": "市领导批示"}); r.code != http.StatusOK {
			t.Fatalf("the city takes over: %d %s", r.code, r.body)
		}
		if got := e.ticket(t, tk2.Number); got.Centre != "" {
			t.Fatalf("after the take-over the centre is %q", got.Centre)
		}
		if r := city.api(t, "POST", "/api/v1/desk/tickets/"+tk2.Number+"/raise", map[string]string{"reason": "x"}); r.code != http.StatusConflict {
			t.Errorf("raising from the city: %d %s", r.code, r.body)
		} else if code, _ := r.errorOf(t); code != "no_level_above" {
			t.Errorf("raising from the city: error %q", code)
		}
		if r := city.api(t, "POST", "/api/v1/desk/tickets/"+tk2.Number+"/hand_down", map[string]string{"centre": "110102001"}); r.code != http.StatusBadRequest {
			t.Errorf("handing down outside the case's area: %d %s", r.code, r.body)
		}
		page := city.get(t, "/desk/tickets/"+tk2.Number)
		if !strings.Contains(page.body, `id="act-hand_down"`) || !strings.Contains(page.body, `value="110101001"`) {
			t.Errorf("the city's page offers no hand-down to the street: %.400s", errorText(page.body))
		}
		city.act(t, tk2.Number, "hand_down", map[string][]string{"centre": {ticketArea.Street}, "note": {"请街道属地处置"}})
		if got := e.ticket(t, tk2.Number); got.Centre != ticketArea.Street {
			t.Fatalf("after the hand-down the centre is %q", got.Centre)
		}

		// The log keeps the path, and the audit log every move.
		evs, err := e.svc.Events(context.Background(), e.ticket(t, tk2.Number))
		if err != nil {
			t.Fatal(err)
		}
		var path []string
		for _, ev := range evs {
			if ev.Type == ticketing.EventTakenOver || ev.Type == ticketing.EventHandedDown {
				path = append(path, ev.Note)
			}
		}
		if strings.Join(path, " | ") != "街道中心 110101001 → 市级中心：市领导批示 | 市级中心 → 街道中心 110101001：请街道属地处置" {
			t.Errorf("path: %q", path)
		}
		if len(e.audited(t, tk.Number, "raise")) != 1 || len(e.audited(t, tk2.Number, "hand_down")) != 1 {
			t.Error("a move between the centres is not audited")
		}
		// A local centre reads no city-wide log.
		if r := street.get(t, "/desk/audit"); r.code != http.StatusForbidden {
			t.Errorf("the street's audit page: %d", r.code)
		}
	})
}

// A local centre's live events carry only its area's tickets.
func TestCentreHearsItsArea(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	mine, cancelMine, _ := e.bus.Subscribe(ctx, desks.AreaTopic(ticketArea.Street))
	defer cancelMine()
	others, cancelOthers, _ := e.bus.Subscribe(ctx, desks.AreaTopic("110101002"))
	defer cancelOthers()
	tk := &ticketing.Ticket{Number: "26120500000019", Status: ticketing.StatusReceived, Area: ticketArea}
	if err := desks.Publish(ctx, e.bus, tk); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-mine:
		if !strings.Contains(string(m), tk.Number) {
			t.Errorf("the street heard %s", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the street heard nothing of its ticket")
	}
	select {
	case m := <-others:
		t.Errorf("another street heard %s", m)
	case <-time.After(200 * time.Millisecond):
	}
}

// Linkage (联动, 主办/协办) through the desks: the assisting department finds
// the case in its inbox and reports its part; the lead cannot report the
// case handled before; a dispatcher may waive a part with a reason; no
// other department may touch a part.
func TestLinkageThroughTheDesks(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) ticketing.Store) {
		e := &env{store: open(t), bus: pubsub.NewMemory(), router: assistRouter{}}
		e.serve(t, e.bus)
		e.putUser(t, &ticketing.User{Name: "li.cg", Role: ticketing.RoleLiaison, Department: "cg"})
		lead, assist, other, disp := e.login(t, "li.jt"), e.login(t, "li.cg"), e.login(t, "li.sw"), e.login(t, "disp")
		tk := e.submit(t, "roads", "协办：人行道破损，旁边垃圾堆积")
		if len(tk.Parts) != 1 || tk.Parts[0].Department != "cg" {
			t.Fatalf("parts of the new case: %+v", tk.Parts)
		}
		if r := assist.get(t, "/desk/inbox"); !strings.Contains(r.body, tk.Number) {
			t.Errorf("the assisting department's inbox lacks the case: %d", r.code)
		}
		if r := other.get(t, "/desk/inbox"); strings.Contains(r.body, tk.Number) {
			t.Error("a department with no part has the case in its inbox")
		}
		lead.act(t, tk.Number, "accept", nil)
		r := lead.api(t, "POST", "/api/v1/desk/tickets/"+tk.Number+"/handle", map[string]string{"result": "已修复"})
		if code, _ := r.errorOf(t); r.code != http.StatusConflict || code != "parts_pending" {
			t.Fatalf("handled with the part open: %d %s", r.code, r.body)
		}
		if r := lead.api(t, "POST", "/api/v1/desk/tickets/"+tk.Number+"/report_part", map[string]string{"result": "x"}); r.code != http.StatusForbidden {
			t.Errorf("the lead reporting a part: %d", r.code)
		}
		if r := other.api(t, "POST", "/api/v1/desk/tickets/"+tk.Number+"/report_part", map[string]string{"result": "x"}); r.code != http.StatusNotFound {
			t.Errorf("another department reporting a part: %d", r.code)
		}
		page := assist.get(t, "/desk/tickets/"+tk.Number)
		if !strings.Contains(page.body, `id="act-report_part"`) || strings.Contains(page.body, `id="act-handle"`) {
			t.Errorf("the assisting department's page: %.400s", errorText(page.body))
		}
		assist.act(t, tk.Number, "report_part", map[string][]string{"result": {"周边垃圾已清运"}})
		if r := assist.api(t, "POST", "/api/v1/desk/tickets/"+tk.Number+"/report_part", map[string]string{"result": "again"}); r.code != http.StatusForbidden && r.code != http.StatusConflict {
			t.Errorf("a part reported twice: %d", r.code)
		}
		if r := lead.get(t, "/desk/tickets/"+tk.Number); !strings.Contains(r.body, "周边垃圾已清运") {
			t.Error("the lead's page does not show the part")
		}
		lead.act(t, tk.Number, "handle", map[string][]string{"result": {"路面已修复"}})
		if got := e.ticket(t, tk.Number); got.Status != ticketing.StatusHandled {
			t.Fatalf("after the parts: %s", got.Status)
		}

		// The dispatcher waives a part, with a reason.
		tk2 := e.submit(t, "roads", "协办：井盖松动")
		if r := disp.api(t, "POST", "/api/v1/desk/tickets/"+tk2.Number+"/waive_part", map[string]string{"department": "cg"}); r.code != http.StatusBadRequest {
			t.Errorf("waive without a reason: %d %s", r.code, r.body)
		}
		if r := disp.api(t, "POST", "/api/v1/desk/tickets/"+tk2.Number+"/waive_part", map[string]string{"department": "cg", "reason": "无需城管配合"}); r.code != http.StatusOK {
			t.Fatalf("waive: %d %s", r.code, r.body)
		}
		lead.act(t, tk2.Number, "accept", nil)
		lead.act(t, tk2.Number, "handle", map[string][]string{"result": {"已紧固"}})
		if len(e.audited(t, tk.Number, "report_part")) != 1 || len(e.audited(t, tk2.Number, "waive_part")) != 1 {
			t.Error("linkage steps are not audited")
		}

		// The dispatcher names the assisting departments: each gets a part.
		tk3 := e.submit(t, "", "人行道护栏倒伏，需多部门处置")
		if r := disp.api(t, "POST", "/api/v1/desk/tickets/"+tk3.Number+"/dispatch", map[string]any{"category": "roads", "department": "jt", "assisting": []string{"nope"}}); r.code != http.StatusBadRequest {
			t.Errorf("an unknown assisting department: %d %s", r.code, r.body)
		}
		if r := disp.api(t, "POST", "/api/v1/desk/tickets/"+tk3.Number+"/dispatch", map[string]any{"category": "roads", "department": "jt", "assisting": []string{"cg", "sw", "jt"}}); r.code != http.StatusOK {
			t.Fatalf("dispatch with assisting departments: %d %s", r.code, r.body)
		}
		if got := e.ticket(t, tk3.Number); !slices.Equal(got.Assisting, []string{"cg", "sw"}) || len(got.Parts) != 2 {
			t.Errorf("assisting %v, parts %+v", got.Assisting, got.Parts)
		}
	})
}

// The patrol page: a centre sees the cells of its area, which were
// visited today, and the supervisors on patrol there now; another
// street's centre sees neither that supervisor nor those cells.
func TestPatrolPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *desks.Config) {
		withAreas(c)
		c.Areas.Cells[0].Area = ticketing.Area{Grid: "g1", Community: "c1", Street: "110101001", District: "110101"}
		c.Areas.Cells[1].Area = ticketing.Area{Grid: "g2", Community: "c2", Street: "110101002", District: "110101"}
	})
	e.putUser(t, &ticketing.User{Name: "disp.district", Role: ticketing.RoleDispatcher, Area: "110101"})
	e.putUser(t, &ticketing.User{Name: "disp.other", Role: ticketing.RoleDispatcher, Area: "110101002"})
	now := time.Now()
	if err := e.store.AddPosition(context.Background(), ticketing.Position{User: "li.wei", At: now, Lat: 39.05, Lon: 116.05,
		Area: ticketing.Area{Grid: "g1", Community: "c1", Street: "110101001", District: "110101"}}, now.UTC().Format(time.DateOnly)); err != nil {
		t.Fatal(err)
	}
	r := e.login(t, "disp.district").get(t, "/desk/patrol")
	if r.code != http.StatusOK || !strings.Contains(r.body, "li.wei") || !strings.Contains(r.body, `<b>1</b> / 2`) ||
		!strings.Contains(r.body, `class="on-patrol"`) || !strings.Contains(r.body, "二号网格") {
		t.Errorf("the district's patrol page: %d %.600s", r.code, errorText(r.body))
	}
	r = e.login(t, "disp.other").get(t, "/desk/patrol")
	if r.code != http.StatusOK || strings.Contains(r.body, "li.wei") || !strings.Contains(r.body, `<b>0</b> / 1`) || strings.Contains(r.body, `data-cell="g1"`) {
		t.Errorf("another street's patrol page: %d %.600s", r.code, errorText(r.body))
	}
	if r := e.login(t, "li.jt").get(t, "/desk/patrol"); r.code != http.StatusForbidden {
		t.Errorf("a liaison's patrol page: %d", r.code)
	}
}
