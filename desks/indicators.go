package desks

import (
	"cmp"
	"encoding/csv"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// Areas are the city's places for the indicators: names of districts,
// streets, communities and grid cells by code, and the cells to draw.
type Areas struct {
	Names map[string]string
	Cells []MapCell

	once   sync.Once
	shapes mapShapes
}

// mapWidth is the width of the indicators' map drawing.
const mapWidth = 760

// projected is the cells' shapes on the map, computed on first use.
func (a *Areas) projected() mapShapes {
	a.once.Do(func() { a.shapes = project(a.Cells, mapWidth) })
	return a.shapes
}

// period is the span the indicators page shows: days [From, To) in the
// city's time zone.
type period struct {
	Kind     string // month, week, day, custom
	Month    string // 2006-01 for a month
	From, To time.Time
}

// parsePeriod reads period=month&month=2026-11 (default: this month),
// period=week (the seven days to today), period=day (today), or
// period=custom&from=2026-11-01&to=2026-11-15 (both days included). Errors
// name the parameter.
func parsePeriod(r *http.Request, now time.Time) (period, error) {
	q := r.URL.Query()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	day := func(name string) (time.Time, error) {
		d, err := time.ParseInLocation(time.DateOnly, q.Get(name), now.Location())
		if err != nil {
			return d, ticketing.Invalid(name, "must be a date such as 2026-11-01")
		}
		return d, nil
	}
	p := period{Kind: cmp.Or(q.Get("period"), "month")}
	switch p.Kind {
	case "month":
		p.From = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, now.Location())
		if m := q.Get("month"); m != "" {
			t, err := time.ParseInLocation("2006-01", m, now.Location())
			if err != nil {
				return p, ticketing.Invalid("month", "must be a month such as 2026-11")
			}
			p.From = t
		}
		p.To = p.From.AddDate(0, 1, 0)
		p.Month = p.From.Format("2006-01")
	case "week":
		p.From, p.To = today.AddDate(0, 0, -6), today.AddDate(0, 0, 1)
	case "day":
		p.From, p.To = today, today.AddDate(0, 0, 1)
	case "custom":
		from, err := day("from")
		if err != nil {
			return p, err
		}
		to, err := day("to")
		if err != nil {
			return p, err
		}
		if to.Before(from) {
			return p, ticketing.Invalid("to", "must not be before from")
		}
		if to.Sub(from) > 366*24*time.Hour {
			return p, ticketing.Invalid("to", "a period is at most a year")
		}
		p.From, p.To = from, to.AddDate(0, 0, 1)
	default:
		return p, ticketing.Invalid("period", "must be month, week, day or custom")
	}
	return p, nil
}

// days lists the period's days as 2006-01-02.
func (p period) days() []string {
	var out []string
	for d := p.From; d.Before(p.To); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format(time.DateOnly))
	}
	return out
}

// The breakdowns the page offers, in menu order.
var indicatorDims = []dimChoice{
	{Dim: ticketing.DimDepartment, ZH: "承办单位", EN: "Department"},
	{Dim: ticketing.DimDistrict, ZH: "区", EN: "District"},
	{Dim: ticketing.DimStreet, ZH: "街道", EN: "Street"},
	{Dim: ticketing.DimCommunity, ZH: "社区", EN: "Community"},
	{Dim: ticketing.DimCategory, ZH: "分类", EN: "Category"},
	{Dim: ticketing.DimChannel, ZH: "渠道", EN: "Channel"},
	{Dim: ticketing.DimGrid, ZH: "网格", EN: "Grid cell"},
	{Dim: ticketing.DimSupervisor, ZH: "网格监督员", EN: "Supervisor"},
	{Dim: ticketing.DimArticle, ZH: "知识库条目", EN: "Knowledge article"},
}

// indicatorRow is one line of the table: a key of the breakdown with its
// counts and rates.
type indicatorRow struct {
	Key, Name string
	Figures   ticketing.Figures
	Rates     []ticketing.Rate
	// Score is the composite score (ticketing.Figures.Score), Scored
	// whether there was anything to score; Rank is the row's place among
	// the districts or streets (1 the best), 0 for other breakdowns.
	Score  float64
	Scored bool
	Rank   int
}

// Ranked says whether the breakdown is of the grid's levels, whose rows
// are ranked by their composite score (districts, streets, communities).
func (d *indicatorsData) Ranked() bool {
	return d.Dim == ticketing.DimDistrict || d.Dim == ticketing.DimStreet || d.Dim == ticketing.DimCommunity
}

// A supervisor's row shows their own work (GB/T 30428.4's 监督员 figures):
// what they reported and how much of it was valid, and their tasks done
// in time; a case's later life is the department's, not theirs.
var (
	supervisorCounted = []ticketing.Metric{ticketing.MetricReported, ticketing.MetricFound, ticketing.MetricSelfHandled,
		ticketing.MetricConfirmed, ticketing.MetricInspected, ticketing.MetricTaskOverdue}
	supervisorRates = []string{"valid_report_rate", "on_time_confirm_rate", "on_time_inspect_rate"}
	// An article's row: the calls it answered, and the tickets asked for
	// after it was shown (what its department should read again).
	articleCounted = []ticketing.Metric{ticketing.MetricReceived, ticketing.MetricKBAnswered, ticketing.MetricKBTicketed}
	articleRates   = []string{"direct_rate"}
)

// Counted lists the metrics the table shows counts of.
func (d *indicatorsData) Counted() []ticketing.Metric {
	switch d.Dim {
	case ticketing.DimSupervisor:
		return supervisorCounted
	case ticketing.DimArticle:
		return articleCounted
	}
	return counted
}

// Columns are the rates of rates the table shows: a supervisor's own, or
// every one.
func (d *indicatorsData) Columns(rates []ticketing.Rate) []ticketing.Rate {
	keep := supervisorRates
	switch d.Dim {
	case ticketing.DimSupervisor:
	case ticketing.DimArticle:
		keep = articleRates
	default:
		return rates
	}
	return slices.DeleteFunc(slices.Clone(rates), func(r ticketing.Rate) bool { return !slices.Contains(keep, r.Code) })
}

// ScoreText formats a row's composite score; "—" when nothing was scored.
func (indicatorsData) ScoreText(row indicatorRow) string {
	if !row.Scored {
		return "—"
	}
	return strconv.FormatFloat(row.Score, 'f', 1, 64)
}

// indicatorsData is the page's .Data.
type indicatorsData struct {
	Period  period
	Dim     ticketing.Dim
	Dims    []dimChoice
	MapBy   ticketing.Metric
	Total   indicatorRow
	Rows    []indicatorRow
	Chart   template.HTML
	Bars    template.HTML
	Map     template.HTML
	Hotline *ticketing.CallFigures
	CSV     string
	Labels  map[ticketing.Metric]string // the counts' names in the page's language
}

// metricNames name the counts shown.
var metricNames = map[ticketing.Metric][2]string{
	ticketing.MetricReceived:    {"受理", "Received"},
	ticketing.MetricRegistered:  {"立案", "Registered"},
	ticketing.MetricDispatched:  {"派遣", "Dispatched"},
	ticketing.MetricHandled:     {"处置", "Handled"},
	ticketing.MetricClosed:      {"结案", "Closed"},
	ticketing.MetricOverdue:     {"超期", "Overdue"},
	ticketing.MetricSelfHandled: {"自处置", "Self-handled"},
	ticketing.MetricEvaluated:   {"评价", "Rated"},
	ticketing.MetricReported:    {"上报", "Reported"},
	ticketing.MetricFound:       {"立案上报", "Filed"},
	ticketing.MetricConfirmed:   {"核实", "Confirmed"},
	ticketing.MetricInspected:   {"核查", "Inspected"},
	ticketing.MetricTaskOverdue: {"任务超时", "Tasks late"},
	ticketing.MetricKBAnswered:  {"知识库直办", "Answered by it"},
	ticketing.MetricKBTicketed:  {"看后仍立单", "Ticket anyway"},
}

// Pct formats a fraction as a percentage.
func (indicatorsData) Pct(v float64) string { return percent(v) }

// Secs formats a duration in whole seconds.
func (indicatorsData) Secs(d time.Duration) string { return d.Round(time.Second).String() }

type dimChoice struct {
	Dim      ticketing.Dim
	ZH, EN   string
	Selected bool
}

// Counted are the counts shown beside the rates.
var counted = []ticketing.Metric{ticketing.MetricReceived, ticketing.MetricRegistered, ticketing.MetricDispatched,
	ticketing.MetricHandled, ticketing.MetricClosed, ticketing.MetricOverdue, ticketing.MetricEvaluated}

// Percent formats a rate; "—" when nothing was counted.
func (indicatorsData) Percent(r ticketing.Rate) string {
	if r.Den == 0 {
		return "—"
	}
	return percent(r.Value())
}

// getIndicators is GET /desk/indicators: the period's rates for the city
// and by a breakdown, the daily chart, a bar chart of on-time closure and
// the grid map, all from the daily sums (never a scan of tickets).
func (s *Server) getIndicators(w http.ResponseWriter, r *http.Request) {
	d, err := s.indicators(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.page(w, r, "indicators.html", d)
}

// getIndicatorsCSV is GET /desk/indicators.csv: the table of the page as
// CSV (UTF-8 with a byte-order mark, so spreadsheet programs read the
// Chinese names), counts of every metric and every rate.
func (s *Server) getIndicatorsCSV(w http.ResponseWriter, r *http.Request) {
	d, err := s.indicators(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="indicators-`+string(d.Dim)+`-`+d.Period.From.Format("20060102")+`.csv"`)
	_, _ = w.Write([]byte("\ufeff"))
	cw := csv.NewWriter(w)
	head := []string{"by", "key", "name"}
	for _, m := range ticketing.Metrics {
		head = append(head, string(m))
	}
	for _, rt := range d.Total.Rates {
		head = append(head, rt.Code)
	}
	head = append(head, "score", "rank")
	_ = cw.Write(head)
	for i, row := range append([]indicatorRow{d.Total}, d.Rows...) {
		by := string(d.Dim)
		if i == 0 {
			by = string(ticketing.DimAll)
		}
		rec := []string{by, row.Key, row.Name}
		for _, m := range ticketing.Metrics {
			rec = append(rec, strconv.FormatInt(row.Figures[m], 10))
		}
		for _, rt := range row.Rates {
			v := ""
			if rt.Den > 0 {
				v = strconv.FormatFloat(rt.Value(), 'f', 4, 64)
			}
			rec = append(rec, v)
		}
		score, rank := "", ""
		if row.Scored {
			score = strconv.FormatFloat(row.Score, 'f', 2, 64)
		}
		if row.Rank > 0 {
			rank = strconv.Itoa(row.Rank)
		}
		rec = append(rec, score, rank)
		_ = cw.Write(rec)
	}
	cw.Flush()
}

func (s *Server) indicators(r *http.Request) (*indicatorsData, error) {
	ctx := r.Context()
	loc := s.cfg.Location
	p, err := parsePeriod(r, s.cfg.Now().In(loc))
	if err != nil {
		return nil, err
	}
	dim := ticketing.Dim(cmp.Or(r.URL.Query().Get("by"), string(ticketing.DimDepartment)))
	if !slices.ContainsFunc(indicatorDims, func(x dimChoice) bool { return x.Dim == dim }) {
		return nil, ticketing.Invalid("by", "must be department, district, street, community, category, channel, grid, supervisor or article")
	}
	mapBy := ticketing.Metric(cmp.Or(r.URL.Query().Get("map"), string(ticketing.MetricReceived)))
	if mapBy != ticketing.MetricReceived && mapBy != ticketing.MetricOverdue {
		return nil, ticketing.Invalid("map", "must be received or overdue")
	}
	// Fold what happened since the last rollup, so the page is current;
	// cheap when the background rollup keeps up.
	if _, err := s.store.RollupIndicators(ctx, loc); err != nil {
		s.log.Warn("indicators: rollup failed; showing the sums as they are", "err", err)
	}
	from, to := p.From.Format(time.DateOnly), p.To.Format(time.DateOnly)
	query := func(q ticketing.IndicatorQuery) (map[string]ticketing.Figures, error) {
		q.From, q.To = from, to
		counts, err := s.store.Indicators(ctx, q)
		if err != nil {
			return nil, err
		}
		out := map[string]ticketing.Figures{}
		for _, c := range counts {
			k := c.Key
			if q.ByDay {
				k = c.Day
			}
			if out[k] == nil {
				out[k] = ticketing.Figures{}
			}
			out[k][c.Metric] += c.N
		}
		return out, nil
	}
	total, err := query(ticketing.IndicatorQuery{Dim: ticketing.DimAll})
	if err != nil {
		return nil, err
	}
	byKey, err := query(ticketing.IndicatorQuery{Dim: dim})
	if err != nil {
		return nil, err
	}
	byDay, err := query(ticketing.IndicatorQuery{Dim: ticketing.DimAll, ByDay: true})
	if err != nil {
		return nil, err
	}
	d := &indicatorsData{Period: p, Dim: dim, MapBy: mapBy, CSV: "/desk/indicators.csv?" + r.URL.RawQuery,
		Labels: map[ticketing.Metric]string{}}
	for m, n := range metricNames {
		d.Labels[m] = tr(r, n[0], n[1])
	}
	for _, x := range indicatorDims {
		x.Selected = x.Dim == dim
		d.Dims = append(d.Dims, x)
	}
	names := s.keyNames(r, dim)
	if dim == ticketing.DimArticle {
		s.articleNames(r, names, byKey)
	}
	allName := tr(r, "全市", "Whole city")
	d.Total = newIndicatorRow("", allName, total[""])
	for k, f := range byKey {
		d.Rows = append(d.Rows, newIndicatorRow(k, cmp.Or(names[k], k, tr(r, "（未分配）", "(none)")), f))
	}
	// Busiest first; ties by key, so the order is stable. The grid's
	// levels are ranked instead: best composite score first, the unscored
	// last, and the ranks numbered.
	slices.SortFunc(d.Rows, func(a, b indicatorRow) int {
		if d.Ranked() {
			if c := cmp.Or(compareBool(b.Scored, a.Scored), cmp.Compare(b.Score, a.Score)); c != 0 {
				return c
			}
		}
		return cmp.Or(cmp.Compare(b.Figures[ticketing.MetricReceived], a.Figures[ticketing.MetricReceived]), cmp.Compare(a.Key, b.Key))
	})
	if d.Ranked() {
		for i := range d.Rows {
			if d.Rows[i].Scored {
				d.Rows[i].Rank = i + 1
			}
		}
	}

	days := p.days()
	series := []Series{
		{Name: tr(r, "受理", "Received"), Class: "s1"},
		{Name: tr(r, "派遣", "Dispatched"), Class: "s2"},
		{Name: tr(r, "结案", "Closed"), Class: "s3"},
	}
	for _, day := range days {
		f := byDay[day]
		series[0].Values = append(series[0].Values, f[ticketing.MetricReceived])
		series[1].Values = append(series[1].Values, f[ticketing.MetricDispatched])
		series[2].Values = append(series[2].Values, f[ticketing.MetricClosed])
	}
	d.Chart = dayChart(days, series, 760, 220)

	var bars []Bar
	for _, row := range d.Rows {
		i := slices.IndexFunc(row.Rates, func(r ticketing.Rate) bool { return r.Code == "on_time_closure_rate" })
		rt := row.Rates[i]
		if rt.Den == 0 {
			continue
		}
		bars = append(bars, Bar{Label: row.Name, Value: rt.Value(), Text: percent(rt.Value())})
		if len(bars) == 15 {
			break
		}
	}
	d.Bars = barChart(bars, 1, 560)

	if s.cfg.Areas != nil && len(s.cfg.Areas.Cells) > 0 {
		cells, err := query(ticketing.IndicatorQuery{Dim: ticketing.DimGrid, Metrics: []ticketing.Metric{mapBy}})
		if err != nil {
			return nil, err
		}
		values := make(map[string]int64, len(cells))
		for k, f := range cells {
			values[k] = f[mapBy]
		}
		d.Map = gridMap(s.cfg.Areas.Cells, s.cfg.Areas.projected(), values, tr(r, "件", ""))
	}
	if s.cfg.Hotline != nil {
		st, err := s.cfg.Hotline(ctx, ticketing.StatsFilter{From: p.From, To: p.To})
		if err != nil {
			s.log.Warn("indicators: hotline figures unavailable", "err", err)
		} else {
			d.Hotline = &st.Total
		}
	}
	return d, nil
}

func newIndicatorRow(key, name string, f ticketing.Figures) indicatorRow {
	if f == nil {
		f = ticketing.Figures{}
	}
	row := indicatorRow{Key: key, Name: name, Figures: f, Rates: f.Rates()}
	row.Score, row.Scored = f.Score()
	return row
}

// keyNames names the keys of a breakdown for people.
func (s *Server) keyNames(r *http.Request, dim ticketing.Dim) map[string]string {
	names := map[string]string{}
	switch dim {
	case ticketing.DimDepartment:
		if s.cfg.Departments != nil {
			for _, d := range s.cfg.Departments() {
				names[d.Code] = d.Name
			}
		}
	case ticketing.DimCategory:
		if s.cfg.Categories != nil {
			for _, c := range s.cfg.Categories() {
				names[c.Code] = c.Name
			}
		}
	case ticketing.DimChannel:
		v := &view{Lang: langFrom(r.Context())}
		for c := range channelNames {
			names[string(c)] = v.Channel(c)
		}
	case ticketing.DimSupervisor:
		users, err := s.store.Users(r.Context())
		if err != nil {
			s.log.Warn("indicators: users unavailable; supervisors shown by login name", "err", err)
		}
		for _, u := range users {
			if u.Role == ticketing.RoleSupervisor {
				names[u.Name] = u.DisplayName + " (" + u.Name + ")"
			}
		}
	default:
		if s.cfg.Areas != nil {
			return s.cfg.Areas.Names
		}
	}
	return names
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// maxArticleNames bounds the articles an indicators page names (each a
// lookup); the rest show their numbers.
const maxArticleNames = 500

// articleNames names the articles of the rows by their questions.
func (s *Server) articleNames(r *http.Request, names map[string]string, rows map[string]ticketing.Figures) {
	n := 0
	for k := range rows {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil || n >= maxArticleNames {
			continue
		}
		n++
		a, err := s.store.Article(r.Context(), id)
		if err != nil {
			continue // the store failed: the row shows the number
		}
		names[k] = "#" + k + " " + a.Question
	}
}
