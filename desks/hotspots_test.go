package desks_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yihao-city/yihao/desks"
	"github.com/yihao-city/yihao/internal/browsertest"
	"github.com/yihao-city/yihao/ticketing"
)

// placedRouter files every report at once, on the cell its address names.
type placedRouter struct{}

func (placedRouter) Route(_ context.Context, r ticketing.Report) (ticketing.Assignment, error) {
	a, err := router{}.Route(context.Background(), r)
	grid := r.Address
	a.Area = ticketing.Area{Grid: grid, Community: grid[:min(len(grid), 12)], Street: grid[:min(len(grid), 9)], District: grid[:min(len(grid), 6)]}
	return a, err
}

// The dispatcher's hotspot list: six road reports in one quiet cell this
// week stand out against its history (one report three months ago
// elsewhere starts the records); the map marks the cell; the drill-in
// lists the six; one 督办 case takes them in, merged; a street centre of
// another street sees nothing of it.
// hotspotEnv is a desks server whose week holds a hotspot: six road
// reports in one quiet cell (hot) this week, against a history that begins
// three months ago with one report in the next cell.
func hotspotEnv(t *testing.T) (e *env, hot string, hotTickets []*ticketing.Ticket) {
	t.Helper()
	hot, quiet := "110101001001003", "110101001001004"
	e = &env{store: sqliteStore(t), router: placedRouter{}}
	e.serve(t, nil, func(c *desks.Config) {
		c.Areas = &desks.Areas{
			Names: map[string]string{hot: "交道口一号网格", quiet: "交道口二号网格"},
			Cells: []desks.MapCell{
				{Code: hot, Name: "交道口一号网格", Area: ticketing.Area{Grid: hot, Community: hot[:12], Street: hot[:9], District: hot[:6]},
					Rings: [][][2]float64{{{116.0, 39.0}, {116.1, 39.0}, {116.1, 39.1}, {116.0, 39.1}, {116.0, 39.0}}}},
				{Code: quiet, Name: "交道口二号网格", Area: ticketing.Area{Grid: quiet, Community: quiet[:12], Street: quiet[:9], District: quiet[:6]},
					Rings: [][][2]float64{{{116.1, 39.0}, {116.2, 39.0}, {116.2, 39.1}, {116.1, 39.1}, {116.1, 39.0}}}},
			},
		}
	})
	ctx := context.Background()
	file := func(cell string, at time.Time) *ticketing.Ticket {
		t.Helper()
		tk, _, err := e.svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelPhone, ExternalID: "hot-" + at.String() + cell,
			Category: "roads", Text: "路面塌了一个大坑", Address: cell, ReceivedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	now := time.Now()
	file(quiet, now.AddDate(0, -3, 0))
	for i := range 6 {
		hotTickets = append(hotTickets, file(hot, now.Add(-time.Duration(i+1)*time.Hour)))
	}
	return e, hot, hotTickets
}

func TestHotspotsDesk(t *testing.T) {
	e, hot, hotTickets := hotspotEnv(t)
	quiet := "110101001001004"
	disp := e.login(t, "disp")
	page := disp.get(t, "/desk/hotspots?window=week")
	if page.code != http.StatusOK || !strings.Contains(page.body, `data-category="roads" data-place="`+hot+`"`) || strings.Contains(page.body, `data-place="`+quiet+`"`) {
		t.Fatalf("hotspots page: %d\n%.1500s", page.code, page.body)
	}
	if !strings.Contains(page.body, `<svg class="map"`) || !strings.Contains(page.body, hot+" 交道口一号网格 6") {
		t.Errorf("the map does not mark the hot cell with its 6 reports")
	}
	drill := disp.get(t, "/desk/hotspots?window=week&level=grid&category=roads&place="+hot)
	for _, tk := range hotTickets {
		if !strings.Contains(drill.body, `/desk/tickets/`+tk.Number+`"`) {
			t.Fatalf("the drill-in lacks %s", tk.Number)
		}
	}
	csrf := regexpFind(t, drill.body, `name="csrf" value="([^"]+)"`)
	from := regexpFind(t, drill.body, `name="from" value="([^"]+)"`)
	r := disp.post(t, "/desk/hotspots/case", url.Values{"csrf": {csrf}, "category": {"roads"}, "place": {hot}, "level": {"grid"},
		"window": {"week"}, "from": {from}, "count": {"6"}, "note": {"请交通运输局一并修复"}})
	loc := r.header.Get("Location")
	if r.code != http.StatusSeeOther || !strings.Contains(loc, "&case=") {
		t.Fatalf("open case: %d %s\n%s", r.code, loc, errorText(r.body))
	}
	number := loc[strings.Index(loc, "&case=")+len("&case="):]
	c := e.ticket(t, number)
	if c.Channel != ticketing.ChannelHotspot || c.Category != "roads" || !strings.Contains(c.Text, "请交通运输局一并修复") || c.Department != "jt" {
		t.Fatalf("the case: %+v", c)
	}
	for _, tk := range hotTickets {
		if got := e.ticket(t, tk.Number); got.Status != ticketing.StatusMerged || got.MasterID != c.ID {
			t.Errorf("%s: %s, master %d; want merged into the case %d", tk.Number, got.Status, got.MasterID, c.ID)
		}
	}
	if after := disp.get(t, loc); !strings.Contains(after.body, `id="case"`) || !strings.Contains(after.body, number) {
		t.Errorf("the page after the case does not name it")
	}
	// Opening it again is the same case.
	r = disp.post(t, "/desk/hotspots/case", url.Values{"csrf": {csrf}, "category": {"roads"}, "place": {hot}, "level": {"grid"},
		"window": {"week"}, "from": {from}, "count": {"6"}})
	if loc := r.header.Get("Location"); !strings.HasSuffix(loc, "&case="+number) {
		t.Errorf("a second case: %s", loc)
	}
	// From a page loaded a minute later (its window a minute later, the same day).
	start, err := time.Parse(time.RFC3339, from)
	if err != nil {
		t.Fatal(err)
	}
	later := start.Add(time.Minute)
	if start.Hour() >= 12 {
		later = start.Add(-time.Minute)
	}
	r = disp.post(t, "/desk/hotspots/case", url.Values{"csrf": {csrf}, "category": {"roads"}, "place": {hot}, "level": {"grid"},
		"window": {"week"}, "from": {later.Format(time.RFC3339)}, "count": {"6"}})
	if loc := r.header.Get("Location"); !strings.HasSuffix(loc, "&case="+number) {
		t.Errorf("a case from a reloaded page: %s", loc)
	}

	// The same surge city-wide: listed, with its tickets, but no case (a
	// case belongs to a place).
	city := disp.get(t, "/desk/hotspots?window=week&level=city&category=roads&place=city")
	if !strings.Contains(city.body, `data-category="roads" data-place="city"`) || !strings.Contains(city.body, "全市") ||
		strings.Contains(city.body, `id="open-case"`) || !strings.Contains(city.body, hotTickets[0].Number) {
		t.Errorf("city-wide: %d\n%.1200s", city.code, city.body)
	}

	// Another street's centre: nothing of it.
	e.putUser(t, &ticketing.User{Name: "disp.other", DisplayName: "别的街道", Role: ticketing.RoleDispatcher, Area: "110101002"})
	other := e.login(t, "disp.other")
	if p := other.get(t, "/desk/hotspots?window=week"); p.code != http.StatusOK || strings.Contains(p.body, `data-place="`+hot+`"`) {
		t.Errorf("another street's centre sees the hotspot: %d", p.code)
	}
}

func regexpFind(t *testing.T, body, expr string) string {
	t.Helper()
	m := regexp.MustCompile(expr).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in the page", expr)
	}
	return html.UnescapeString(m[1])
}

// The dispatcher in headless Chromium: the hotspot on the list and the
// map, its tickets, and the 督办 case opened from the page.
func TestHotspotsInBrowser(t *testing.T) {
	t.Parallel()
	browsertest.Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	shots := os.Getenv("YIHAO_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	e, hot, hotTickets := hotspotEnv(t)
	browser := browsertest.Start(ctx, t, 1280, 900)
	disp := browserContext(t, browser)
	signIn(t, disp, e.srv.URL, "disp", "sec-triage")
	row := `#hotspots tr[data-place="` + hot + `"]`
	browsertest.Do(t, disp, "the hotspot list",
		chromedp.Navigate(e.srv.URL+"/desk/hotspots"),
		chromedp.WaitVisible(chromedp.CSS(row)),
		chromedp.WaitVisible(chromedp.CSS(`svg.map path.c5`)))
	shot(t, disp, shots, "hotspots-1-list.png")
	browsertest.Do(t, disp, "its tickets",
		browsertest.Leave(chromedp.Click(chromedp.CSS(row+` a`))),
		chromedp.WaitVisible(chromedp.CSS(`#hotspot-tickets a[href="/desk/tickets/`+hotTickets[0].Number+`"]`)))
	browsertest.Do(t, disp, "open the 督办 case",
		chromedp.SendKeys(chromedp.CSS(`#open-case input[name="note"]`), "请一并修复"),
		browsertest.Leave(chromedp.Submit(chromedp.CSS(`#open-case input[name="note"]`))),
		chromedp.WaitVisible(chromedp.ID("case")))
	shot(t, disp, shots, "hotspots-2-case.png")
	for _, tk := range hotTickets {
		if got := e.ticket(t, tk.Number); got.Status != ticketing.StatusMerged {
			t.Errorf("%s is %s after the case, want merged", tk.Number, got.Status)
		}
	}
}
