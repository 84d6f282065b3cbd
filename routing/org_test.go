package routing_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yihao-city/yihao/configs"
	"github.com/yihao-city/yihao/routing"
	"github.com/yihao-city/yihao/routing/grid"
	"github.com/yihao-city/yihao/ticketing"
)

// The demo city's organisation: three districts, four streets each, the
// communities under them; every cell of the demo grid inside it; city,
// district and street departments.
func TestDemoOrganisation(t *testing.T) {
	ix, err := grid.Load(bytes.NewReader(configs.DemoGrid))
	if err != nil {
		t.Fatal(err)
	}
	r, err := routing.NewRouter(demoCatalogue(t), routing.WithGrid(ix, nil))
	if err != nil {
		t.Fatalf("the demo grid against the demo catalogue's areas: %v", err)
	}
	org := r.Org()
	if d, s, c := len(org.Areas(ticketing.LevelDistrict)), len(org.Areas(ticketing.LevelStreet)), len(org.Areas(ticketing.LevelCommunity)); d != 3 || s != 12 || c != 48 {
		t.Errorf("districts, streets, communities = %d, %d, %d; want 3, 12, 48", d, s, c)
	}
	var names []string
	for _, a := range org.Path("110101001001") {
		names = append(names, a.Name+"/"+string(a.Level))
	}
	if got := strings.Join(names, " "); got != "东城区/district 安定门街道/street 国子监社区/community" {
		t.Errorf("Path = %s", got)
	}
	for code, want := range map[string]ticketing.Level{"swj": ticketing.LevelCity, "dc-cgw": ticketing.LevelDistrict, "adm-cgk": ticketing.LevelStreet} {
		if d, ok := org.Department(code); !ok || d.Level != want {
			t.Errorf("department %s = %+v, want level %s", code, d, want)
		}
	}
	if _, ok := org.Area("999"); ok || org.Path("999") != nil {
		t.Error("an unknown area is found")
	}
}

// Every fault in the organisation is refused when the catalogue loads,
// and the error names the entry.
func TestOrganisationErrors(t *testing.T) {
	const head = "default_deadline: {working_days: 7}\ncategories: [{code: a, name: A, department: d}]\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"department in an unknown area", "areas: [{code: \"1\", name: 一区}]\ndepartments: [{code: d, name: D, area: \"2\"}]\n",
			`departments[0] (code "d"): unknown area "2"`},
		{"unknown parent", "areas: [{code: \"1\", name: 一区, parent: \"9\"}]\ndepartments: [{code: d, name: D}]\n",
			`areas[0] (code "1"): unknown parent "9"`},
		{"code twice", "areas: [{code: \"1\", name: 一区}, {code: \"1\", name: 又一区}]\ndepartments: [{code: d, name: D}]\n",
			`areas[1] (code "1"): code listed twice (first at areas[0])`},
		{"no name", "areas: [{code: \"1\"}]\ndepartments: [{code: d, name: D}]\n", "areas[0]: needs a code and a name"},
		{"under a community", "areas: [{code: \"1\", name: 区}, {code: \"2\", name: 街, parent: \"1\"}, {code: \"3\", name: 社区, parent: \"2\"}, {code: \"4\", name: 楼, parent: \"3\"}]\ndepartments: [{code: d, name: D}]\n",
			`areas[3] (code "4"): its parent "3" is a community`},
		{"a loop", "areas: [{code: \"1\", name: 甲, parent: \"2\"}, {code: \"2\", name: 乙, parent: \"1\"}]\ndepartments: [{code: d, name: D}]\n",
			"more than three levels"},
		{"its own parent", "areas: [{code: \"1\", name: 甲, parent: \"1\"}]\ndepartments: [{code: d, name: D}]\n", "is its own parent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := routing.LoadCatalogue(strings.NewReader(head + tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// cell is a one-cell grid whose cell names the given areas.
func cell(district, street, community string) string {
	return `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"X1","name":"测试网格",` +
		`"district":"` + district + `","street":"` + street + `","community":"` + community + `"},` +
		`"geometry":{"type":"Polygon","coordinates":[[[116.40,39.90],[116.41,39.90],[116.41,39.91],[116.40,39.91],[116.40,39.90]]]}}]}`
}

func TestCellOutsideEveryArea(t *testing.T) {
	for _, tc := range []struct{ name, grid, want string }{
		{"unknown community", cell("110101", "110101001", "110101001999"), `cell X1 (测试网格) lies outside every area: its community "110101001999" is not in the catalogue's areas`},
		{"community of another street", cell("110101", "110101002", "110101001001"), `its community "110101001001" belongs to "110101001" in the catalogue, not "110101002"`},
		{"no district", cell("", "110101001", "110101001001"), `its street "110101001" belongs to "110101" in the catalogue, not ""`},
		{"a street as the community", cell("110101", "110101001", "110101002"), `its community "110101002" is a street in the catalogue`},
		{"no community", cell("110101", "110101001", ""), "it names no community"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix, err := grid.Load(strings.NewReader(tc.grid))
			if err != nil {
				t.Fatal(err)
			}
			_, err = routing.NewRouter(demoCatalogue(t), routing.WithGrid(ix, nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// A catalogue without areas puts no condition on the grid.
	ix, err := grid.Load(strings.NewReader(cell("D", "S", "C")))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := routing.LoadCatalogue(strings.NewReader("default_deadline: {working_days: 7}\ncategories: [{code: a, name: A, department: d}]\ndepartments: [{code: d, name: D}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := routing.NewRouter(cat, routing.WithGrid(ix, nil))
	if err != nil || r.Org().Declared() {
		t.Errorf("no areas: %v, declared %v", err, r.Org().Declared())
	}
	if d, _ := r.Org().Department("d"); d.Level != ticketing.LevelCity {
		t.Errorf("without areas a department is %s, want city", d.Level)
	}
}

// The organisation is reloaded with the catalogue, without a restart; a
// reload that breaks it is refused and the one in force stays.
func TestOrganisationReload(t *testing.T) {
	var mu sync.Mutex
	yaml := string(configs.DemoCatalogue)
	live, err := routing.NewLive(func() (*routing.Router, error) {
		mu.Lock()
		defer mu.Unlock()
		cat, err := routing.LoadCatalogue(strings.NewReader(yaml))
		if err != nil {
			return nil, err
		}
		return routing.NewRouter(cat)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := live.Org().Department("jdm-cgk"); ok {
		t.Fatal("the new department exists before the reload")
	}
	edit := func(old, nu string) {
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(yaml, old) {
			t.Fatalf("the demo catalogue has no %q", old)
		}
		yaml = strings.Replace(yaml, old, nu, 1)
	}
	edit("departments:\n", "departments:\n  - {code: jdm-cgk, name: 景山街道城管科, area: \"110101002\"}\n")
	if err := live.Reload(); err != nil {
		t.Fatal(err)
	}
	if d, ok := live.Org().Department("jdm-cgk"); !ok || d.Level != ticketing.LevelStreet || d.Area != "110101002" {
		t.Errorf("after the reload: %+v", d)
	}
	edit(`area: "110101002"`, `area: "110101009"`)
	if err := live.Reload(); err == nil || !strings.Contains(err.Error(), `unknown area "110101009"`) {
		t.Errorf("reload with a department in an unknown area: %v", err)
	}
	if d, _ := live.Org().Department("jdm-cgk"); d.Area != "110101002" {
		t.Errorf("a refused reload changed the organisation: %+v", d)
	}
}

// The field types supervisors pick from: the demo's 部件 and 事件 leaves,
// each with its conditions, inheriting kind, photo and deadline.
func TestFieldTypes(t *testing.T) {
	cat := demoCatalogue(t)
	types := cat.FieldTypes()
	if len(types) != 9 {
		t.Errorf("%d field types, want the demo's 9", len(types))
	}
	for _, l := range types {
		if l.Filing == "" || l.Closing == "" || l.Deadline == (routing.Deadline{}) {
			t.Errorf("%s %s: conditions or deadline missing: %+v", l.Code, l.Name, l)
		}
	}
	cover, err := cat.FieldType("0103")
	if err != nil || cover.Kind != routing.KindComponent || !cover.Photo || cover.Group != "公用设施" || cover.Deadline.Hours != 24 {
		t.Errorf("0103 = %+v, %v", cover, err)
	}
	if noise, _ := cat.FieldType("0701"); noise.Kind != routing.KindEvent || noise.Photo {
		t.Errorf("0701 = %+v: an event whose report needs no photo", noise)
	}
	for _, code := range []string{"consumer", "nope", "01"} {
		if _, err := cat.FieldType(code); !errors.Is(err, ticketing.ErrInvalid) || !strings.Contains(err.Error(), code) {
			t.Errorf("FieldType(%q) = %v, want an invalid-category error naming it", code, err)
		}
	}

	const head = "default_deadline: {working_days: 7}\ndepartments: [{code: d, name: D}]\ncategories:\n"
	for _, tc := range []struct{ name, cats, want string }{
		{"unknown kind", "  - {code: a, name: A, department: d, kind: thing}\n", `unknown kind "thing"`},
		{"kinds disagree", "  - {code: a, name: A, department: d, kind: event, children: [{code: b, name: B, kind: component}]}\n", "kind component under a class of kind event"},
		{"conditions on a class", "  - {code: a, name: A, department: d, kind: event, filing: x, children: [{code: b, name: B}]}\n", "belong on leaf categories"},
		{"photo without a kind", "  - {code: a, name: A, department: d, photo: true}\n", "set a kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := routing.LoadCatalogue(strings.NewReader(head + tc.cats))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// 属地管理: a category's level says which centre holds a new case first,
// the centre of the report's own area at that level, with that level's
// clock; a category with none is the city's.
func TestCentreLevels(t *testing.T) {
	ix, err := grid.Load(bytes.NewReader(configs.DemoGrid))
	if err != nil {
		t.Fatal(err)
	}
	r, err := routing.NewRouter(demoCatalogue(t), routing.WithGrid(ix, nil))
	if err != nil {
		t.Fatal(err)
	}
	var c grid.Cell
	for c = range ix.Cells() {
		if c.Kind == grid.KindUnit {
			break
		}
	}
	rings, _ := ix.Outline(c.Code)
	var lat, lon float64
	ring := rings[0][:len(rings[0])-1]
	for _, p := range ring {
		lon, lat = lon+p[0]/float64(len(ring)), lat+p[1]/float64(len(ring))
	}
	at := day(10, 0)
	for _, tc := range []struct {
		category string
		centre   string
		hours    int
	}{
		{"0501", c.Street, 8},   // 暴露垃圾: the street's
		{"0103", c.District, 4}, // 污水井盖: the district's
		{"consumer", "", 2},     // 消费维权: the city's
	} {
		a, err := r.Route(context.Background(), ticketing.Report{Text: "x", Category: tc.category, ReceivedAt: at,
			Location: &ticketing.Point{Lat: lat, Lon: lon}})
		if err != nil {
			t.Fatal(err)
		}
		if a.Area.Grid != c.Code || a.Centre != tc.centre || !a.CentreDue.Equal(at.Add(time.Duration(tc.hours)*time.Hour)) {
			t.Errorf("%s at cell %s: centre %q due %v; want %q after %dh", tc.category, a.Area.Grid, a.Centre, a.CentreDue, tc.centre, tc.hours)
		}
	}
	if got := r.Clocks().Centres[ticketing.LevelStreet]; got != 8*time.Hour {
		t.Errorf("street clock %v", got)
	}

	const head = "default_deadline: {working_days: 7}\ndepartments: [{code: d, name: D}]\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"a cell level", "categories: [{code: a, name: A, department: d, level: cell}]\n", `level "cell" is not a level with a centre`},
		{"an unknown level", "categories: [{code: a, name: A, department: d, level: province}]\n", `level "province"`},
		{"hours of a cell", "centre_hours: {cell: 2}\ncategories: [{code: a, name: A, department: d}]\n", `centre_hours: "cell"`},
		{"no hours", "centre_hours: {street: 0}\ncategories: [{code: a, name: A, department: d}]\n", "street: 0 hours"},
		{"a negative task time", "field: {inspect_hours: -1}\ncategories: [{code: a, name: A, department: d}]\n", "field.inspect_hours: -1 hours"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := routing.LoadCatalogue(strings.NewReader(head + tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
