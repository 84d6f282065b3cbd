package desks_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/yihao-city/yihao/desks"
)

// withAreas gives the indicators page two grid cells to draw and name.
func withAreas(c *desks.Config) {
	c.Areas = &desks.Areas{
		Names: map[string]string{"g1": "一号网格", "g2": "二号网格"},
		Cells: []desks.MapCell{
			{Code: "g1", Name: "一号网格", Rings: [][][2]float64{{{116.0, 39.0}, {116.1, 39.0}, {116.1, 39.1}, {116.0, 39.1}, {116.0, 39.0}}}},
			{Code: "g2", Name: "二号网格", Rings: [][][2]float64{{{116.1, 39.0}, {116.2, 39.0}, {116.2, 39.1}, {116.1, 39.1}, {116.1, 39.0}}}},
		},
	}
}

var rateCell = regexp.MustCompile(`data-rate="([a-z_]+)">([^<]*)<`)

// rates reads the whole-city rate cards of an indicators page.
func rates(body string) map[string]string {
	out := map[string]string{}
	for _, m := range rateCell.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// The indicators follow the workflow: three reports, two dispatched at
// once, one left for triage; one of the dispatched is closed through the
// desks. The page and the CSV show the counts and the rates that follow
// from them, by department, with the chart and the map drawn.
func TestIndicatorsFollowTheWorkflow(t *testing.T) {
	e := newEnv(t, withAreas)
	disp, li := e.login(t, "disp"), e.login(t, "li.jt")

	before := rates(disp.get(t, "/desk/indicators?period=week").body)
	if before["registration_rate"] != "—" {
		t.Fatalf("empty city: registration rate %q, want —", before["registration_rate"])
	}
	roads := e.submit(t, "roads", "和平路路面塌陷")
	e.submit(t, "water", "停水三天")
	e.submit(t, "", "咨询办事流程")

	li.act(t, roads.Number, "accept", nil)
	li.act(t, roads.Number, "handle", url.Values{"result": {"已修复路面"}})
	disp.act(t, roads.Number, "verify", url.Values{"pass": {"yes"}, "note": {"现场核查通过"}})

	r := disp.get(t, "/desk/indicators?period=week&by=department")
	if r.code != http.StatusOK {
		t.Fatalf("indicators: %d %s", r.code, errorText(r.body))
	}
	got := rates(r.body)
	want := map[string]string{
		"registration_rate":     "66.7%", // 2 of 3 registered
		"dispatch_rate":         "100.0%",
		"closure_rate":          "50.0%", // 1 of 2 dispatched closed
		"on_time_closure_rate":  "50.0%",
		"on_time_handling_rate": "100.0%",
		"response_rate":         "50.0%",
		"satisfaction_rate":     "—",
	}
	for code, w := range want {
		if got[code] != w {
			t.Errorf("%s = %q, want %q (all: %v)", code, got[code], w, got)
		}
	}
	for _, part := range []string{`<svg class="chart"`, `<svg class="map"`, "交通运输局", "水务局", `data-key="jt"`} {
		if !strings.Contains(r.body, part) {
			t.Errorf("page lacks %q", part)
		}
	}

	// The CSV: the city, then each department, every metric counted.
	r = li.get(t, "/desk/indicators.csv?period=week&by=department")
	if r.code != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", r.code, r.header.Get("Content-Type"))
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(r.body, "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	rows := map[string][]string{}
	for _, rec := range recs[1:] {
		rows[rec[0]+":"+rec[1]] = rec
	}
	if city := rows["all:"]; city == nil || city[col["received"]] != "3" || city[col["closed"]] != "1" {
		t.Errorf("city row %v", city)
	}
	if jt := rows["department:jt"]; jt == nil || jt[2] != "交通运输局" || jt[col["closed"]] != "1" || jt[col["closure_rate"]] != "1.0000" {
		t.Errorf("jt row %v", jt)
	}
	if sw := rows["department:sw"]; sw == nil || sw[col["dispatched"]] != "1" || sw[col["closed"]] != "0" {
		t.Errorf("sw row %v", sw)
	}
	// The composite score: jt closed its one case in time, handled in time,
	// with no rework, and none of it found by supervisors (satisfaction not
	// counted): 80 of 90. sw closed nothing and reworked nothing: 15 of 75.
	// Departments are scored, not ranked (ranks are for districts and streets).
	if jt := rows["department:jt"]; jt[col["score"]] != "88.89" || jt[col["rank"]] != "" {
		t.Errorf("jt score %q rank %q, want 88.89 and none", jt[col["score"]], jt[col["rank"]])
	}
	if sw := rows["department:sw"]; sw[col["score"]] != "20.00" {
		t.Errorf("sw score %q, want 20.00", sw[col["score"]])
	}
}

// Bad parameters are refused with the parameter named; nobody signed out
// sees anything.
func TestIndicatorsBadInput(t *testing.T) {
	e := newEnv(t)
	disp := e.login(t, "disp")
	for q, field := range map[string]string{
		"period=year":                                 "period",
		"period=month&month=2026-13":                  "month",
		"period=custom&from=2026-11-01":               "to",
		"period=custom&from=x&to=2026-11-02":          "from",
		"period=custom&from=2026-11-05&to=2026-11-01": "to",
		"by=planet": "by",
		"map=rain":  "map",
	} {
		r := disp.api(t, http.MethodGet, "/desk/indicators?"+q, nil)
		if r.code != http.StatusBadRequest || !strings.Contains(r.body, field) {
			t.Errorf("%s: %d %.200s; want 400 naming %q", q, r.code, r.body, field)
		}
	}
	if r := e.anonymous().get(t, "/desk/indicators.csv"); r.code != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Errorf("anonymous CSV: %d %s, want a redirect to sign in", r.code, r.header.Get("Location"))
	}
	// The English page names the rates in Chinese and the rest in English.
	if r := disp.get(t, "/desk/indicators?lang=en"); r.code != http.StatusOK || !strings.Contains(r.body, "By breakdown") {
		t.Errorf("English page: %d", r.code)
	}
}
