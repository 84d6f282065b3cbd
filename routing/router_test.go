package routing_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yihao-city/yihao/configs"
	"github.com/yihao-city/yihao/routing"
	"github.com/yihao-city/yihao/routing/classify"
	"github.com/yihao-city/yihao/routing/grid"
	"github.com/yihao-city/yihao/ticketing"
)

var shanghai = mustLoc("Asia/Shanghai")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

func demoCatalogue(t *testing.T) *routing.Catalogue {
	t.Helper()
	c, err := routing.LoadCatalogue(bytes.NewReader(configs.DemoCatalogue))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func demoRouter(t *testing.T, opts ...routing.Option) *routing.Router {
	t.Helper()
	r, err := routing.NewRouter(demoCatalogue(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Wednesday 25 November 2026 in the city.
func day(h, m int) time.Time { return time.Date(2026, 11, 25, h, m, 0, 0, shanghai) }

func TestRoute(t *testing.T) {
	r := demoRouter(t)
	tests := []struct {
		name     string
		rep      ticketing.Report
		category string
		dept     string
		assist   string
		prio     ticketing.Priority
		auto     bool
		due      time.Time
		rule     string
		reason   []string
	}{
		{"keyword, category default", ticketing.Report{Text: "小区门口井盖缺失，白天看得见", ReceivedAt: day(10, 0)},
			"0103", "swj", "", ticketing.PriorityUrgent, true, day(10, 0).Add(24 * time.Hour), "category:0103", []string{"井盖缺失", "分类默认", "24小时"}},
		{"longer keyword wins", ticketing.Report{Text: "自来水井盖松动", ReceivedAt: day(10, 0)},
			"0101", "swj", "", ticketing.PriorityUrgent, true, day(10, 0).Add(24 * time.Hour), "category:0101", []string{"自来水井盖"}},
		{"working days skip the weekend", ticketing.Report{Text: "楼下路灯不亮好几天了", ReceivedAt: day(10, 0)},
			"0210", "cgw", "", ticketing.PriorityNormal, true, time.Date(2026, 11, 30, 10, 0, 0, 0, shanghai), "category:0210", []string{"3个工作日"}},
		{"night rule overrides the category", ticketing.Report{Text: "井盖缺失", ReceivedAt: day(23, 30)},
			"0103", "swj", "jdb", ticketing.PriorityEmergency, true, day(23, 30).Add(2 * time.Hour), "rule:manhole-night", []string{"夜间井盖缺失", "属地街道办事处协办"}},
		{"night window wraps midnight", ticketing.Report{Text: "井盖缺失", ReceivedAt: day(5, 59)},
			"0103", "swj", "jdb", ticketing.PriorityEmergency, true, day(5, 59).Add(2 * time.Hour), "rule:manhole-night", nil},
		{"night window ends at 06:00", ticketing.Report{Text: "井盖缺失", ReceivedAt: day(6, 0)},
			"0103", "swj", "", ticketing.PriorityUrgent, true, day(6, 0).Add(24 * time.Hour), "category:0103", nil},
		{"overlapping rules: the first wins", ticketing.Report{Text: "井盖缺失，旁边还有燃气味", ReceivedAt: day(23, 0)},
			"0103", "rqgs", "jdb", ticketing.PriorityEmergency, true, day(23, 0).Add(2 * time.Hour), "rule:gas-smell", []string{"燃气"}},
		{"citizen's category", ticketing.Report{Text: "随便说点", Category: "labor", ReceivedAt: day(10, 0)},
			"labor", "rsj", "", ticketing.PriorityNormal, true, time.Date(2026, 12, 4, 10, 0, 0, 0, shanghai), "category:labor", []string{"所选分类"}},
		{"line default", ticketing.Report{Text: "我要反映个情况", Line: "12315", ReceivedAt: day(10, 0)},
			"consumer", "scjgj", "", ticketing.PriorityNormal, true, time.Date(2026, 12, 4, 10, 0, 0, 0, shanghai), "category:consumer", []string{"12315"}},
		{"inherited department", ticketing.Report{Text: "暖气片冰凉，家里温度低", ReceivedAt: day(10, 0)},
			"urban-heating", "zjw", "", ticketing.PriorityUrgent, true, day(10, 0).Add(24 * time.Hour), "rule:heating-season-cold", nil},
		{"no match goes to triage", ticketing.Report{Text: "我要反映个情况", Line: "12345", ReceivedAt: day(10, 0)},
			"", "", "", ticketing.PriorityNormal, false, time.Time{}, "triage", []string{"人工派单"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := r.Route(context.Background(), tc.rep)
			if err != nil {
				t.Fatal(err)
			}
			if a.Category != tc.category || a.Department != tc.dept || a.Priority != tc.prio || a.AutoDispatch != tc.auto ||
				!a.Deadline.Equal(tc.due) || a.Rule != tc.rule || strings.Join(a.Assisting, ",") != tc.assist {
				t.Errorf("got %s→%s (+%v) %s auto=%v due %v rule %s", a.Category, a.Department, a.Assisting, a.Priority, a.AutoDispatch, a.Deadline, a.Rule)
			}
			for _, s := range tc.reason {
				if !strings.Contains(a.Reason, s) {
					t.Errorf("reason %q does not mention %q", a.Reason, s)
				}
			}
		})
	}
}

func TestRouteUnknownCategory(t *testing.T) {
	for _, code := range []string{"9999", "01" /* a group, not a leaf */} {
		_, err := demoRouter(t).Route(context.Background(), ticketing.Report{Text: "x", Category: code, ReceivedAt: day(10, 0)})
		var e *ticketing.Error
		if !errors.As(err, &e) || e.Kind != ticketing.KindInvalid || e.Field != "category" {
			t.Errorf("category %q: err = %v, want invalid category", code, err)
		}
	}
}

// fixedClassifier answers the same ranking for every text.
type fixedClassifier []classify.Prediction

func (f fixedClassifier) Predict(string, int) []classify.Prediction { return f }

func TestRouteWithClassifier(t *testing.T) {
	tests := []struct {
		name     string
		preds    fixedClassifier
		text     string
		category string
		auto     bool
		reason   string
	}{
		{"confident model", fixedClassifier{{Label: "0701", P: 0.92}, {Label: "0501", P: 0.05}}, "楼下吵得睡不着", "0701", true, "置信度0.92"},
		{"unsure model, keyword decides", fixedClassifier{{Label: "0701", P: 0.40}}, "路灯坏了", "0210", true, "路灯"},
		{"unsure model, no keyword: triage with a suggestion", fixedClassifier{{Label: "0701", P: 0.40}, {Label: "labor", P: 0.35}}, "有个事情", "", false, "置信度仅0.40"},
		{"labels the catalogue lacks are ignored", fixedClassifier{{Label: "ghost", P: 0.99}, {Label: "0210", P: 0.01}}, "有个事情", "", false, "人工派单"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := demoRouter(t, routing.WithClassifier(tc.preds))
			a, err := r.Route(context.Background(), ticketing.Report{Text: tc.text, ReceivedAt: day(10, 0)})
			if err != nil {
				t.Fatal(err)
			}
			if a.Category != tc.category || a.AutoDispatch != tc.auto || !strings.Contains(a.Reason, tc.reason) {
				t.Errorf("got %q auto=%v reason %q", a.Category, a.AutoDispatch, a.Reason)
			}
			for _, s := range a.Suggestions {
				if s.Category == "ghost" {
					t.Error("a label outside the catalogue was suggested")
				}
			}
		})
	}
}

// twoCells is a tiny grid: two 0.01° squares side by side, in two districts.
const twoCells = `{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"code":"A1","district":"110101","district_name":"东区","street":"110101001","street_name":"甲街道","community":"110101001001","community_name":"一社区"},
  "geometry":{"type":"Polygon","coordinates":[[[116.40,39.90],[116.41,39.90],[116.41,39.91],[116.40,39.91],[116.40,39.90]]]}},
 {"type":"Feature","properties":{"code":"B1","district":"110102","district_name":"西区","street":"110102001","community":"110102001001"},
  "geometry":{"type":"Polygon","coordinates":[[[116.41,39.90],[116.42,39.90],[116.42,39.91],[116.41,39.91],[116.41,39.90]]]}}]}`

const gazetteer = `
- {name: 一社区, cell: A1}
- {name: 长安街, lat: 39.905, lon: 116.415}
`

func gridRouter(t *testing.T, extraRules string) *routing.Router {
	t.Helper()
	ix, err := grid.Load(strings.NewReader(twoCells))
	if err != nil {
		t.Fatal(err)
	}
	gz, err := grid.LoadGazetteer(strings.NewReader(gazetteer), ix)
	if err != nil {
		t.Fatal(err)
	}
	y := string(configs.DemoCatalogue) + extraRules
	cat, err := routing.LoadCatalogue(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	r, err := routing.NewRouter(cat, routing.WithGrid(ix, gz))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRouteOnTheGrid(t *testing.T) {
	// An area rule appended to the demo catalogue, which has none for 05.
	r := gridRouter(t, `
  - id: west-garbage
    name: 西区垃圾由街道主办
    when: {categories: ["05"], districts: ["110102"]}
    lead: jdb
`)
	tests := []struct {
		name   string
		rep    ticketing.Report
		grid   string
		dept   string
		point  bool
		reason string
	}{
		{"point inside, no area rule", ticketing.Report{Text: "垃圾堆放", Location: &ticketing.Point{Lat: 39.905, Lon: 116.405}}, "A1", "cgw", false, "东区甲街道一社区网格A1"},
		{"point inside, area rule", ticketing.Report{Text: "垃圾堆放", Location: &ticketing.Point{Lat: 39.905, Lon: 116.415}}, "B1", "jdb", false, "西区垃圾由街道主办"},
		{"point outside the grid", ticketing.Report{Text: "垃圾堆放", Location: &ticketing.Point{Lat: 30, Lon: 120}}, "", "cgw", false, "不在本市网格内"},
		{"address to a cell", ticketing.Report{Text: "垃圾堆放", Address: "一社区5号楼"}, "A1", "cgw", true, "按地址“一社区”"},
		{"address to a point", ticketing.Report{Text: "垃圾堆放", Address: "长安街中段"}, "B1", "jdb", true, "长安街"},
		{"address not found", ticketing.Report{Text: "垃圾堆放", Address: "不存在的地方"}, "", "cgw", false, "地址未能定位"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.rep.ReceivedAt = day(10, 0)
			a, err := r.Route(context.Background(), tc.rep)
			if err != nil {
				t.Fatal(err)
			}
			if a.Area.Grid != tc.grid || a.Department != tc.dept || (a.Location != nil) != tc.point || !strings.Contains(a.Reason, tc.reason) {
				t.Errorf("got grid %q dept %q point %v reason %q", a.Area.Grid, a.Department, a.Location, a.Reason)
			}
		})
	}
}

func TestLoadCatalogueRejectsBadConfig(t *testing.T) {
	base := "default_deadline: {hours: 1}\ndepartments: [{code: d, name: D}]\ncategories: [{code: a, name: A, department: d}]\n"
	tests := map[string]struct{ yaml, want string }{
		"rule with unknown department": {base + "rules: [{id: r1, lead: nope}]", `rules[0] (id "r1"): unknown lead department "nope"`},
		"rule with unknown assist":     {base + "rules: [{id: r1, lead: d, assist: [x]}]", `unknown assisting department "x"`},
		"rule with unknown category":   {base + "rules: [{id: r1, lead: d, when: {categories: [zz]}}]", `unknown category "zz"`},
		"bad hours":                    {base + "rules: [{id: r1, lead: d, when: {hours: '25:00-01:00'}}]", `want HH:MM-HH:MM`},
		"duplicate rule id":            {base + "rules: [{id: r1, lead: d}, {id: r1, lead: d}]", `rules[1] (id "r1"): id used twice`},
		"leaf without department":      {"default_deadline: {hours: 1}\ncategories: [{code: a, name: A}]", `categories[0] (code "a"): no department`},
		"category unknown department":  {"default_deadline: {hours: 1}\ncategories: [{code: a, name: A, department: x}]", `unknown department "x"`},
		"no default deadline":          {"departments: [{code: d, name: D}]", "default_deadline is required"},
		"unknown field":                {base + "bogus: 1", "field bogus not found"},
		"bad line default":             {base + "lines: [{number: '1', default_category: zz}]", `default_category "zz"`},
		"confidence out of range":      {base + "triage: {min_confidence: 1.5}", "min_confidence"},
		"negative deadline":            {base + "rules: [{id: r1, lead: d, deadline: {hours: -1}}]", `rules[0] (id "r1"): deadline must be positive`},
		"two kinds of deadline":        {"default_deadline: {hours: 1}\ndepartments: [{code: d, name: D}]\ncategories: [{code: a, name: A, department: d, deadline: {hours: 2, working_days: 1}}]", "choose one"},
		"deadline of years":            {base + "rules: [{id: r1, lead: d, deadline: {working_days: 100000}}]", "longer than a year"},
	}
	for name, tc := range tests {
		_, err := routing.LoadCatalogue(strings.NewReader(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, tc.want)
		}
	}
}

func TestLiveReload(t *testing.T) {
	var mu sync.Mutex
	yaml := string(configs.DemoCatalogue)
	load := func() (*routing.Router, error) {
		mu.Lock()
		y := yaml
		mu.Unlock()
		cat, err := routing.LoadCatalogue(strings.NewReader(y))
		if err != nil {
			return nil, err
		}
		return routing.NewRouter(cat)
	}
	live, err := routing.NewLive(load)
	if err != nil {
		t.Fatal(err)
	}
	rep := ticketing.Report{Text: "路灯不亮", ReceivedAt: day(10, 0)}
	// Route continuously while the catalogue is swapped: every answer is
	// wholly the old routing or wholly the new one.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				a, err := live.Route(context.Background(), rep)
				if err != nil {
					t.Error(err)
					return
				}
				old := a.Department == "cgw" && strings.Contains(a.Reason, "3个工作日")
				nu := a.Department == "jdb" && strings.Contains(a.Reason, "5小时")
				if !old && !nu {
					t.Errorf("mixed routing: %s %q", a.Department, a.Reason)
					return
				}
			}
		}()
	}
	mu.Lock()
	yaml += "\n  - {id: lamps, lead: jdb, when: {categories: [\"0210\"]}, deadline: {hours: 5}}\n"
	mu.Unlock()
	if err := live.Reload(); err != nil {
		t.Fatal(err)
	}
	a, _ := live.Route(context.Background(), rep)
	if a.Department != "jdb" {
		t.Errorf("after reload: %s", a.Department)
	}
	// A broken catalogue is refused and the one in force stays.
	mu.Lock()
	yaml += "\n  - {id: broken, lead: nobody}\n"
	mu.Unlock()
	if err := live.Reload(); err == nil || !strings.Contains(err.Error(), `unknown lead department "nobody"`) {
		t.Errorf("reload of a broken catalogue: %v", err)
	}
	close(stop)
	wg.Wait()
	if a, _ := live.Route(context.Background(), rep); a.Department != "jdb" {
		t.Errorf("after a failed reload: %s, want the previous routing (jdb)", a.Department)
	}
}

func TestCalendarHolidays(t *testing.T) {
	cal := routing.NewCalendar(shanghai)
	d := func(m time.Month, dd int) time.Time { return time.Date(2026, m, dd, 9, 0, 0, 0, shanghai) }
	tests := []struct {
		day  time.Time
		work bool
	}{
		{d(10, 1), false},  // National Day
		{d(10, 7), false},  // still the Golden Week
		{d(11, 25), true},  // an ordinary Wednesday
		{d(11, 28), false}, // an ordinary Saturday
	}
	for _, tc := range tests {
		if got := cal.IsWorkday(tc.day); got != tc.work {
			t.Errorf("IsWorkday(%s) = %v, want %v", tc.day.Format("2006-01-02"), got, tc.work)
		}
	}
	got := cal.AddWorkdays(d(9, 30), 1)
	if got.Month() != 10 || got.Day() < 8 {
		t.Errorf("AddWorkdays(9-30, 1) = %s, want a day after the holiday", got.Format("2006-01-02"))
	}
}

func BenchmarkRoute(b *testing.B) {
	cat, err := routing.LoadCatalogue(bytes.NewReader(configs.DemoCatalogue))
	if err != nil {
		b.Fatal(err)
	}
	r, err := routing.NewRouter(cat)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Route(ctx, ticketing.Report{Text: fmt.Sprint("小区门口井盖缺失，晚上很危险，编号", i), ReceivedAt: day(10, 0)})
	}
}

// BenchmarkRouteFull routes with the demo city's model, grid and gazetteer:
// what every report costs before it reaches the store.
func BenchmarkRouteFull(b *testing.B) {
	cat, err := routing.LoadCatalogue(bytes.NewReader(configs.DemoCatalogue))
	if err != nil {
		b.Fatal(err)
	}
	m, err := classify.Load(bytes.NewReader(configs.DemoModel))
	if err != nil {
		b.Fatal(err)
	}
	ix, err := grid.Load(bytes.NewReader(configs.DemoGrid))
	if err != nil {
		b.Fatal(err)
	}
	gz, err := grid.LoadGazetteer(bytes.NewReader(configs.DemoGazetteer), ix)
	if err != nil {
		b.Fatal(err)
	}
	r, err := routing.NewRouter(cat, routing.WithClassifier(m), routing.WithGrid(ix, gz))
	if err != nil {
		b.Fatal(err)
	}
	reports := []ticketing.Report{
		{Text: "小区门口井盖缺失，晚上很危险", Location: &ticketing.Point{Lat: 39.9042, Lon: 116.4074}},
		{Text: "楼下烧烤店油烟太大，熏得没法开窗", Address: "东华门街道南池子社区3号楼"},
		{Text: "公司拖欠三个月工资不发", Line: "12345"},
	}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rep := reports[i%len(reports)]
		rep.ReceivedAt = day(10, 0)
		if _, err := r.Route(ctx, rep); err != nil {
			b.Fatal(err)
		}
	}
}

// A type the city checks on site before filing (占道经营, confirm: true):
// on a cell, it asks for a supervisor's 核实; on none yet, it is not
// dispatched unchecked but waits for its place; a supervisor's own report
// of it needs no 核实 and waits for its centre to file it.
func TestRouteConfirmOnSite(t *testing.T) {
	r := gridRouter(t, "")
	inside := &ticketing.Point{Lat: 39.905, Lon: 116.405}
	for _, tc := range []struct {
		name          string
		rep           ticketing.Report
		confirm, auto bool
		reason        string
	}{
		{"on a cell", ticketing.Report{Channel: ticketing.ChannelWeb, Text: "占道经营", Category: "0604", Location: inside}, true, true, "待网格员现场核实"},
		{"on no cell yet", ticketing.Report{Channel: ticketing.ChannelWeChat, Text: "占道经营", Category: "0604"}, false, false, "待补充位置后现场核实"},
		{"a supervisor's", ticketing.Report{Channel: ticketing.ChannelField, Text: "占道经营", Category: "0604", Location: inside}, false, false, "待中心立案"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.rep.ReceivedAt = day(10, 0)
			a, err := r.Route(context.Background(), tc.rep)
			if err != nil {
				t.Fatal(err)
			}
			if a.Confirm != tc.confirm || a.AutoDispatch != tc.auto || !strings.Contains(a.Reason, tc.reason) {
				t.Errorf("confirm %v auto %v reason %q; want confirm %v auto %v reason with %q", a.Confirm, a.AutoDispatch, a.Reason, tc.confirm, tc.auto, tc.reason)
			}
		})
	}
}
