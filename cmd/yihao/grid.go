package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"text/tabwriter"

	"github.com/yihao-city/yihao/routing/grid"
)

const gridUsage = `usage:
  yihao grid generate --out FILE.geojson [--rows N --cols N --south LAT --west LON --north LAT --east LON]
      write the demo city's grid of square unit cells (deterministic; the defaults
      produce configs/grid/demo.geojson)
  yihao grid import --in FILE.geojson [--data-dir DIR]
      check a grid and install it as DIR/grid.geojson, the file the server loads;
      an invalid file leaves the installed one untouched
  yihao grid locate [--in FILE.geojson | --data-dir DIR] (--lat LAT --lon LON | --gazetteer FILE.yaml --address TEXT)
      print the cell that contains a point, or that an address is placed in
`

func gridCommand(ctx context.Context, args []string, stdout io.Writer, dataDir string) error {
	if len(args) == 0 {
		return fmt.Errorf("grid: missing subcommand\n%s", gridUsage)
	}
	var err error
	switch args[0] {
	case "generate":
		err = gridGenerate(args[1:], stdout)
	case "import":
		err = gridImport(ctx, args[1:], stdout, dataDir)
	case "locate":
		err = gridLocate(args[1:], stdout, dataDir)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, gridUsage)
		return nil
	default:
		return fmt.Errorf("grid: unknown subcommand %q\n%s", args[0], gridUsage)
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func gridFlags(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("yihao grid "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

func gridNoArgs(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	return nil
}

// ---- import ----

func gridImport(ctx context.Context, args []string, stdout io.Writer, dataDir string) error {
	fs := gridFlags("import", stdout)
	in := fs.String("in", "", "GeoJSON FeatureCollection of grid cells (required)")
	fs.StringVar(&dataDir, "data-dir", dataDir, "the server's data directory; the grid is installed as DIR/grid.geojson")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := gridNoArgs(fs); err != nil {
		return err
	}
	if *in == "" {
		return errors.New("grid import: --in is required")
	}
	data, err := os.ReadFile(*in)
	if err != nil {
		return fmt.Errorf("grid import: %w", err)
	}
	ix, err := grid.Load(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("grid import: %s: %w (nothing installed)", *in, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dst := filepath.Join(dataDir, "grid.geojson")
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return fmt.Errorf("grid import: %w", err)
	}
	if err := gridWriteAtomic(dst, data); err != nil {
		return fmt.Errorf("grid import: %w", err)
	}
	fmt.Fprintf(stdout, "%s: ", *in)
	printGridSummary(stdout, ix)
	fmt.Fprintf(stdout, "installed as %s\n", dst)
	return nil
}

// printGridSummary prints the counts of cells and areas, a line per
// district, and warnings about cells missing from the hierarchy or areas
// named two ways.
func printGridSummary(w io.Writer, ix *grid.Index) {
	type area struct{ name, first string }
	units, resp := 0, 0
	districts, streets, communities := map[string]*area{}, map[string]*area{}, map[string]*area{}
	perDistrict := map[string]*[3]int{} // streets, communities, cells
	var missing []string
	var warnings []string
	note := func(m map[string]*area, level, code, name, cell string) bool {
		if code == "" {
			missing = append(missing, cell)
			return false
		}
		a, ok := m[code]
		if !ok {
			m[code] = &area{name, cell}
			return true
		}
		if name != "" && a.name != "" && name != a.name {
			warnings = append(warnings, fmt.Sprintf("%s %s is named %q in cell %s but %q in cell %s", level, code, a.name, a.first, name, cell))
			a.name, a.first = name, cell // report the next spelling against this one
		}
		return false
	}
	for c := range ix.Cells() {
		if c.Kind == grid.KindUnit {
			units++
		} else {
			resp++
		}
		note(districts, "district", c.District, c.DistrictName, c.Code)
		d := perDistrict[c.District]
		if d == nil {
			d = &[3]int{}
			perDistrict[c.District] = d
		}
		if note(streets, "street", c.Street, c.StreetName, c.Code) {
			d[0]++
		}
		if note(communities, "community", c.Community, c.CommunityName, c.Code) {
			d[1]++
		}
		d[2]++
	}
	fmt.Fprintf(w, "%d cells (%d unit, %d responsibility) in %d districts, %d streets, %d communities\n",
		ix.Len(), units, resp, len(districts), len(streets), len(communities))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	codes := make([]string, 0, len(perDistrict))
	for code := range perDistrict {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	for _, code := range codes {
		d, name := perDistrict[code], ""
		if a := districts[code]; a != nil {
			name = a.name
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d streets\t%d communities\t%d cells\n", cmp.Or(code, "(none)"), name, d[0], d[1], d[2])
	}
	tw.Flush()
	if len(missing) > 0 {
		slices.Sort(missing)
		missing = slices.Compact(missing)
		fmt.Fprintf(w, "warning: %d cells lack a district, street or community code (first: %s)\n", len(missing), missing[0])
	}
	const maxWarnings = 10
	for i, s := range warnings {
		if i == maxWarnings {
			fmt.Fprintf(w, "warning: ... and %d more names that differ\n", len(warnings)-maxWarnings)
			break
		}
		fmt.Fprintln(w, "warning:", s)
	}
}

// gridWriteAtomic replaces path with data so that a reader sees the old
// file or the new one, never a part: a temporary file in the same
// directory, flushed to disk, then renamed over path.
func gridWriteAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()           // the write already failed
			_ = os.Remove(f.Name()) // a stray temporary file is harmless
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // the data itself is synced; this only hurries the rename
		_ = d.Close()
	}
	return nil
}

// ---- locate ----

func gridLocate(args []string, stdout io.Writer, dataDir string) error {
	fs := gridFlags("locate", stdout)
	in := fs.String("in", "", "GeoJSON grid (default DIR/grid.geojson)")
	fs.StringVar(&dataDir, "data-dir", dataDir, "the server's data directory")
	lat := fs.Float64("lat", math.NaN(), "latitude, WGS-84/CGCS2000 degrees")
	lon := fs.Float64("lon", math.NaN(), "longitude, WGS-84/CGCS2000 degrees")
	gazPath := fs.String("gazetteer", "", "gazetteer YAML, to place --address")
	address := fs.String("address", "", "an address to place through the gazetteer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := gridNoArgs(fs); err != nil {
		return err
	}
	hasPoint := !math.IsNaN(*lat) || !math.IsNaN(*lon)
	switch {
	case hasPoint && *address != "":
		return errors.New("grid locate: give --lat and --lon, or --address, not both")
	case hasPoint && (math.IsNaN(*lat) || math.IsNaN(*lon)):
		return errors.New("grid locate: give both --lat and --lon")
	case !hasPoint && *address == "":
		return errors.New("grid locate: give --lat and --lon, or --address with --gazetteer")
	case *address != "" && *gazPath == "":
		return errors.New("grid locate: --address needs --gazetteer")
	}
	path := cmp.Or(*in, filepath.Join(dataDir, "grid.geojson"))
	ix, err := loadGridFile(path)
	if err != nil {
		return fmt.Errorf("grid locate: %w", err)
	}
	if *address != "" {
		f, err := os.Open(*gazPath)
		if err != nil {
			return fmt.Errorf("grid locate: %w", err)
		}
		defer f.Close()
		gz, err := grid.LoadGazetteer(f, ix)
		if err != nil {
			return fmt.Errorf("grid locate: %s: %w", *gazPath, err)
		}
		place, ok := gz.Find(*address)
		if !ok {
			return fmt.Errorf("grid locate: no gazetteer name or alias in %q", *address)
		}
		fmt.Fprintf(stdout, "place      %s (found %q) at %s, %s\n", place.Name, place.Matched, gridFtoa6(place.Lat), gridFtoa6(place.Lon))
		gridPrintCell(stdout, place.Cell)
		return nil
	}
	cells := ix.LocateAll(*lat, *lon)
	if len(cells) == 0 {
		return fmt.Errorf("grid locate: no cell of %s contains lat %v, lon %v", path, *lat, *lon)
	}
	gridPrintCell(stdout, cells[0])
	for _, c := range cells[1:] {
		fmt.Fprintf(stdout, "also in    %s  %s (%s)\n", c.Code, c.Name, c.Kind)
	}
	return nil
}

func loadGridFile(path string) (*grid.Index, error) { return parseFile(path, grid.Load) }

func gridPrintCell(w io.Writer, c grid.Cell) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "cell\t%s\t%s (%s)\n", c.Code, c.Name, c.Kind)
	fmt.Fprintf(tw, "community\t%s\t%s\n", c.Community, c.CommunityName)
	fmt.Fprintf(tw, "street\t%s\t%s\n", c.Street, c.StreetName)
	fmt.Fprintf(tw, "district\t%s\t%s\n", c.District, c.DistrictName)
	tw.Flush()
}

func gridFtoa6(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }

// ---- generate ----

func gridGenerate(args []string, stdout io.Writer) error {
	cfg := grid.DemoLayout()
	var out string
	fs := gridFlags("generate", stdout)
	fs.StringVar(&out, "out", "", "output GeoJSON file (required; - for standard output)")
	fs.IntVar(&cfg.Rows, "rows", cfg.Rows, "rows of cells, north to south (at least 8)")
	fs.IntVar(&cfg.Cols, "cols", cfg.Cols, "columns of cells, west to east (at least 10)")
	fs.Float64Var(&cfg.South, "south", cfg.South, "southern edge, degrees latitude")
	fs.Float64Var(&cfg.West, "west", cfg.West, "western edge, degrees longitude")
	fs.Float64Var(&cfg.North, "north", cfg.North, "northern edge, degrees latitude")
	fs.Float64Var(&cfg.East, "east", cfg.East, "eastern edge, degrees longitude")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := gridNoArgs(fs); err != nil {
		return err
	}
	if out == "" {
		return errors.New("grid generate: --out is required")
	}
	data, err := grid.Generate(cfg)
	if err != nil {
		return fmt.Errorf("grid generate: %w", err)
	}
	if out == "-" {
		_, err := stdout.Write(data)
		return err
	}
	if err := gridWriteAtomic(out, data); err != nil {
		return fmt.Errorf("grid generate: %w", err)
	}
	midLat := (cfg.South + cfg.North) / 2 * math.Pi / 180
	h := (cfg.North - cfg.South) / float64(cfg.Rows) * 111_195
	w := (cfg.East - cfg.West) / float64(cfg.Cols) * 111_195 * math.Cos(midLat)
	fmt.Fprintf(stdout, "wrote %s: %d cells (%d rows × %d columns of about %.0f m × %.0f m), %d bytes\n",
		out, cfg.Rows*cfg.Cols, cfg.Rows, cfg.Cols, w, h, len(data))
	return nil
}
