package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/yihao-city/yihao/internal/historygen"
	"github.com/yihao-city/yihao/routing/grid"
	"github.com/yihao-city/yihao/ticketing"
)

const hotspotsUsage = `usage:
  yihao hotspots scan [--window day|week|month] [--level grid|community|city] [--at 2006-01-02T15:04]
  yihao hotspots eval --truth PLANTED.csv [--months 12]

scan lists the hotspots of the window ending now (or --at): a category
recurring in a cell or community, set against the place's own history.
eval replays the scans over the history yihao gen --hotspots made and
measures them against what it planted (precision, recall, scan time).
`

// runHotspots runs `yihao hotspots <command>`.
func runHotspots(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("hotspots: missing command (scan or eval)\n%s", hotspotsUsage)
	}
	switch args[0] {
	case "scan":
		return hotspotsScan(ctx, cfg, args[1:], stdout)
	case "eval":
		return hotspotsEval(ctx, cfg, args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, hotspotsUsage)
		return nil
	}
	return fmt.Errorf("hotspots: unknown command %q\n%s", args[0], hotspotsUsage)
}

// gridPlaces counts the city's unit cells and communities (the priors'
// denominators).
func gridPlaces(cfg Config) (cells, communities int, err error) {
	f := routingFilesOf(cfg)
	if f.grid == "off" {
		return 0, 0, errors.New("hotspots: needs the grid (grid is off)")
	}
	ix, err := loadGrid(f)
	if err != nil {
		return 0, 0, err
	}
	seen := map[string]bool{}
	for c := range ix.Cells() {
		if c.Kind == grid.KindUnit {
			cells++
			seen[c.Community] = true
		}
	}
	return cells, len(seen), nil
}

func hotspotsScan(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hotspots scan", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	window := fs.String("window", "week", "day, week or month")
	level := fs.String("level", "grid", "grid (unit cells), community, or city (a category surging everywhere)")
	at := fs.String("at", "", "the window's end (2006-01-02T15:04, the city's time; default now)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("hotspots scan: %w\n%s", err, hotspotsUsage)
	}
	w, ok := ticketing.HotspotWindowNamed(*window)
	if !ok {
		return fmt.Errorf("hotspots scan: --window %q: day, week or month", *window)
	}
	lv := ticketing.PlaceLevel(*level)
	if lv != ticketing.PlaceCell && lv != ticketing.PlaceCommunity && lv != ticketing.PlaceCity {
		return fmt.Errorf("hotspots scan: --level %q: grid, community or city", *level)
	}
	end := time.Now()
	if *at != "" {
		t, err := time.ParseInLocation("2006-01-02T15:04", *at, time.Local)
		if err != nil {
			return fmt.Errorf("hotspots scan: --at %q: %w", *at, err)
		}
		end = t
	}
	cells, communities, err := gridPlaces(cfg)
	if err != nil {
		return err
	}
	places := map[ticketing.PlaceLevel]int{ticketing.PlaceCell: cells, ticketing.PlaceCommunity: communities, ticketing.PlaceCity: 1}[lv]
	store, closeStore, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	start := time.Now()
	hs, err := ticketing.ScanHotspots(ctx, store, w, lv, end, places)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d hotspots in the %s to %s (scanned in %s)\n", len(hs), w.Name, end.Format("2006-01-02 15:04"), time.Since(start).Round(time.Millisecond))
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "category\tplace\tcount\texpected\tscore\n")
	for _, h := range hs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.1f\n", h.Category, h.Place, h.Count, h.Expected, h.Score)
	}
	return tw.Flush()
}

// hotspotsEval replays every window's scans over the history and matches
// what they found with what was planted, by category, cell and time: the
// consecutive windows that find the same place are one finding.
func hotspotsEval(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hotspots eval", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	truth := fs.String("truth", "", "the planted hotspots (yihao gen --hotspots N --truth FILE)")
	months := fs.Int("months", 12, "how far back the history goes")
	if err := fs.Parse(args); err != nil || *truth == "" {
		return fmt.Errorf("hotspots eval: --truth is required\n%s", hotspotsUsage)
	}
	planted, err := readPlanted(*truth)
	if err != nil {
		return err
	}
	cells, _, err := gridPlaces(cfg)
	if err != nil {
		return err
	}
	store, closeStore, desc, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	now := time.Now()
	begin := now.AddDate(0, -*months, 0)
	steps := map[string]time.Duration{"day": 6 * time.Hour, "week": 24 * time.Hour, "month": 7 * 24 * time.Hour}
	var found []ticketing.Hotspot
	var scans int
	var slowest, total time.Duration
	for _, w := range ticketing.HotspotWindows {
		for end := begin.Add(w.Length); !end.After(now); end = end.Add(steps[w.Name]) {
			start := time.Now()
			hs, err := ticketing.ScanHotspots(ctx, store, w, ticketing.PlaceCell, end, cells)
			if err != nil {
				return err
			}
			took := time.Since(start)
			scans, total, slowest = scans+1, total+took, max(slowest, took)
			found = append(found, hs...)
		}
	}
	findings := mergeFindings(found)
	matched := make([]bool, len(planted))
	tp := 0
	for _, f := range findings {
		hit := false
		for i, p := range planted {
			if p.Category == f.Category && p.Cell == f.Place && f.From.Before(p.To) && p.From.Before(f.To) {
				matched[i], hit = true, true
			}
		}
		if hit {
			tp++
		}
	}
	recalled := 0
	for _, m := range matched {
		if m {
			recalled++
		}
	}
	precision, recall := 1.0, 0.0
	if len(findings) > 0 {
		precision = float64(tp) / float64(len(findings))
	}
	if len(planted) > 0 {
		recall = float64(recalled) / float64(len(planted))
	}
	fmt.Fprintf(stdout, "%d scans of %s (day every 6 h, week every day, month every 7 days) over %d months: %s each on average, the slowest %s\n",
		scans, desc, *months, (total / time.Duration(max(scans, 1))).Round(time.Millisecond), slowest.Round(time.Millisecond))
	fmt.Fprintf(stdout, "planted %d, found %d (%d of them planted)\nprecision %.3f\nrecall    %.3f\n", len(planted), len(findings), tp, precision, recall)
	for _, f := range findings {
		if !slices.ContainsFunc(planted, func(p historygen.Planted) bool {
			return p.Category == f.Category && p.Cell == f.Place && f.From.Before(p.To) && p.From.Before(f.To)
		}) {
			fmt.Fprintf(stdout, "not planted: %s in %s, %d reports %s to %s (expected %.2f, score %.1f)\n", f.Category, f.Place, f.Count,
				f.From.Format("2006-01-02 15:04"), f.To.Format("2006-01-02 15:04"), f.Expected, f.Score)
		}
	}
	for i, m := range matched {
		if !m {
			p := planted[i]
			fmt.Fprintf(stdout, "missed: %s in %s, %d reports %s to %s\n", p.Category, p.Cell, p.Count, p.From.Format("2006-01-02 15:04"), p.To.Format("2006-01-02 15:04"))
		}
	}
	return nil
}

// mergeFindings joins the windows that found the same category in the
// same place and overlap or touch into one finding.
func mergeFindings(hs []ticketing.Hotspot) []ticketing.Hotspot {
	slices.SortFunc(hs, func(a, b ticketing.Hotspot) int {
		return cmp.Or(strings.Compare(a.Category, b.Category), strings.Compare(a.Place, b.Place), a.From.Compare(b.From))
	})
	var out []ticketing.Hotspot
	for _, h := range hs {
		if n := len(out); n > 0 && out[n-1].Category == h.Category && out[n-1].Place == h.Place && !h.From.After(out[n-1].To) {
			if h.To.After(out[n-1].To) {
				out[n-1].To = h.To
			}
			continue
		}
		out = append(out, h)
	}
	return out
}

// writePlanted writes the planted hotspots as CSV.
func writePlanted(path string, ps []historygen.Planted) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"category", "cell", "from", "to", "count"})
	for _, p := range ps {
		_ = w.Write([]string{p.Category, p.Cell, p.From.Format(time.RFC3339Nano), p.To.Format(time.RFC3339Nano), strconv.Itoa(p.Count)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func readPlanted(path string) ([]historygen.Planted, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []historygen.Planted
	for i, r := range rows {
		if i == 0 {
			continue
		}
		if len(r) != 5 {
			return nil, fmt.Errorf("%s: line %d: want category,cell,from,to,count", path, i+1)
		}
		from, err1 := time.Parse(time.RFC3339Nano, r[2])
		to, err2 := time.Parse(time.RFC3339Nano, r[3])
		n, err3 := strconv.Atoi(r[4])
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", path, i+1, err)
		}
		out = append(out, historygen.Planted{Category: r[0], Cell: r[1], From: from, To: to, Count: n})
	}
	return out, nil
}
