package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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

// The demo city's divisions: three districts, west to east; each has four
// streets (街道), north to south; each street has four communities (社区),
// north-west, north-east, south-west, south-east. Names are in the style of
// a Chinese city centre; the boundaries are invented.
type gridDemoDistrict struct {
	code, name string
	share      int // fifths of the grid's width
	streets    [4]gridDemoStreet
}

type gridDemoStreet struct {
	name        string
	communities [4]string
}

func gridDemoDivisions() []gridDemoDistrict {
	return []gridDemoDistrict{
		{"110102", "西城区", 2, [4]gridDemoStreet{
			{"新街口街道", [4]string{"西直门内社区", "赵登禹路社区", "新康社区", "玉桃园社区"}},
			{"金融街街道", [4]string{"丰盛社区", "砖塔社区", "太平桥社区", "二龙路社区"}},
			{"西长安街街道", [4]string{"府右街社区", "西单北社区", "六部口社区", "和平门社区"}},
			{"大栅栏街道", [4]string{"煤市街社区", "大栅栏西街社区", "铁树斜街社区", "延寿街社区"}},
		}},
		{"110101", "东城区", 2, [4]gridDemoStreet{
			{"安定门街道", [4]string{"国子监社区", "交道口社区", "钟楼湾社区", "宝钞社区"}},
			{"景山街道", [4]string{"黄化门社区", "吉祥社区", "三眼井社区", "景山东街社区"}},
			{"东华门街道", [4]string{"南池子社区", "韶九社区", "多福巷社区", "台基厂社区"}},
			{"天坛街道", [4]string{"天坛东里社区", "金鱼池社区", "永内东街社区", "体育馆路社区"}},
		}},
		{"110105", "朝阳区", 1, [4]gridDemoStreet{
			{"朝外街道", [4]string{"吉庆里社区", "雅宝里社区", "芳草地社区", "工体东路社区"}},
			{"建外街道", [4]string{"永安里社区", "光华里社区", "秀水社区", "建国里社区"}},
			{"劲松街道", [4]string{"劲松西社区", "劲松东社区", "农光里社区", "磨房北里社区"}},
			{"潘家园街道", [4]string{"华威西里社区", "潘家园东里社区", "武圣东里社区", "松榆里社区"}},
		}},
	}
}

type gridGenConfig struct {
	out                      string
	rows, cols               int
	south, west, north, east float64
}

// The demo grid: 48 × 60 squares of about 230 m over the demo city's
// centre. Real unit grids are 1–5 ha; these are 5 ha so that the whole demo
// area fits in 2,880 cells and under 2 MB.
func gridDefaultGenConfig() gridGenConfig {
	return gridGenConfig{rows: 48, cols: 60, south: 39.86, west: 116.30, north: 39.96, east: 116.46}
}

func gridGenerate(args []string, stdout io.Writer) error {
	cfg := gridDefaultGenConfig()
	fs := gridFlags("generate", stdout)
	fs.StringVar(&cfg.out, "out", "", "output GeoJSON file (required; - for standard output)")
	fs.IntVar(&cfg.rows, "rows", cfg.rows, "rows of cells, north to south (at least 8)")
	fs.IntVar(&cfg.cols, "cols", cfg.cols, "columns of cells, west to east (at least 10)")
	fs.Float64Var(&cfg.south, "south", cfg.south, "southern edge, degrees latitude")
	fs.Float64Var(&cfg.west, "west", cfg.west, "western edge, degrees longitude")
	fs.Float64Var(&cfg.north, "north", cfg.north, "northern edge, degrees latitude")
	fs.Float64Var(&cfg.east, "east", cfg.east, "eastern edge, degrees longitude")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := gridNoArgs(fs); err != nil {
		return err
	}
	if cfg.out == "" {
		return errors.New("grid generate: --out is required")
	}
	data, err := gridBuild(cfg)
	if err != nil {
		return fmt.Errorf("grid generate: %w", err)
	}
	if cfg.out == "-" {
		_, err := stdout.Write(data)
		return err
	}
	if err := gridWriteAtomic(cfg.out, data); err != nil {
		return fmt.Errorf("grid generate: %w", err)
	}
	midLat := (cfg.south + cfg.north) / 2 * math.Pi / 180
	h := (cfg.north - cfg.south) / float64(cfg.rows) * 111_195
	w := (cfg.east - cfg.west) / float64(cfg.cols) * 111_195 * math.Cos(midLat)
	fmt.Fprintf(stdout, "wrote %s: %d cells (%d rows × %d columns of about %.0f m × %.0f m), %d bytes\n",
		cfg.out, cfg.rows*cfg.cols, cfg.rows, cfg.cols, w, h, len(data))
	return nil
}

// gridGenCell is one square of the generated grid.
type gridGenCell struct {
	props    gridGenProps
	row, col int
}

// gridGenProps are a cell's GeoJSON properties, in the order written.
type gridGenProps struct {
	Code          string `json:"code"`
	Name          string `json:"name"`
	Kind          string `json:"kind"`
	Community     string `json:"community"`
	CommunityName string `json:"community_name"`
	Street        string `json:"street"`
	StreetName    string `json:"street_name"`
	District      string `json:"district"`
	DistrictName  string `json:"district_name"`
}

// gridBuild lays the demo divisions over a rows × cols grid and returns
// the GeoJSON, one feature per line, in code order. Cell codes are GB/T
// 2260-style: district (6 digits) + street (3) + community (3) + cell (3),
// cells numbered within their community in reading order from the
// north-west. The output depends only on cfg.
func gridBuild(cfg gridGenConfig) ([]byte, error) {
	switch {
	case cfg.rows < 8 || cfg.cols < 10:
		return nil, fmt.Errorf("need at least 8 rows and 10 columns (4 streets × 2 communities high, 5 fifths × 2 wide), got %d × %d", cfg.rows, cfg.cols)
	case !(cfg.south >= -90 && cfg.south < cfg.north && cfg.north <= 90):
		return nil, fmt.Errorf("need -90 ≤ south < north ≤ 90, got south %v, north %v", cfg.south, cfg.north)
	case !(cfg.west >= -180 && cfg.west < cfg.east && cfg.east <= 180):
		return nil, fmt.Errorf("need -180 ≤ west < east ≤ 180, got west %v, east %v", cfg.west, cfg.east)
	}
	divs := gridDemoDivisions()
	// Column ranges of the districts, west to east.
	bounds := make([]int, len(divs)+1)
	fifths := 0
	for i, d := range divs {
		fifths += d.share
		bounds[i+1] = cfg.cols * fifths / 5
	}
	half := func(lo, hi, v int) int { // 0 in the first half of [lo, hi), else 1
		if v < lo+(hi-lo)/2 {
			return 0
		}
		return 1
	}
	var cells []gridGenCell
	counts := map[string]int{}
	for r := range cfg.rows { // reading order: north to south, west to east
		band := r * 4 / cfg.rows
		bandLo, bandHi := cfg.rows*band/4, cfg.rows*(band+1)/4
		for c := range cfg.cols {
			di := 0
			for c >= bounds[di+1] {
				di++
			}
			d := divs[di]
			ci := 2*half(bandLo, bandHi, r) + half(bounds[di], bounds[di+1], c)
			street := fmt.Sprintf("%s%03d", d.code, band+1)
			community := fmt.Sprintf("%s%03d", street, ci+1)
			counts[community]++
			n := counts[community]
			if n > 999 {
				return nil, fmt.Errorf("community %s would have more than 999 cells; use fewer rows or columns", community)
			}
			cname := d.streets[band].communities[ci]
			cells = append(cells, gridGenCell{row: r, col: c, props: gridGenProps{
				Code: fmt.Sprintf("%s%03d", community, n), Name: fmt.Sprintf("%s第%03d网格", cname, n), Kind: grid.KindUnit,
				Community: community, CommunityName: cname,
				Street: street, StreetName: d.streets[band].name,
				District: d.code, DistrictName: d.name,
			}})
		}
	}
	slices.SortFunc(cells, func(a, b gridGenCell) int { return strings.Compare(a.props.Code, b.props.Code) })

	// Edges are computed once per grid line so neighbours share exactly the
	// same coordinates, rounded to 1e-7° (about 1 cm).
	edge := func(lo, hi float64, i, n int) string {
		v := lo + (hi-lo)*float64(i)/float64(n)
		return strconv.FormatFloat(math.Round(v*1e7)/1e7, 'f', -1, 64)
	}
	lats := make([]string, cfg.rows+1) // lats[r] is the northern edge of row r
	for r := range lats {
		lats[r] = edge(cfg.north, cfg.south, r, cfg.rows)
	}
	lons := make([]string, cfg.cols+1)
	for c := range lons {
		lons[c] = edge(cfg.west, cfg.east, c, cfg.cols)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"type":"FeatureCollection","generator":"yihao grid generate --rows %d --cols %d --south %s --west %s --north %s --east %s","features":[`+"\n",
		cfg.rows, cfg.cols, gridFtoa(cfg.south), gridFtoa(cfg.west), gridFtoa(cfg.north), gridFtoa(cfg.east))
	for i, c := range cells {
		props, err := json.Marshal(c.props)
		if err != nil {
			return nil, err
		}
		n, s, w, e := lats[c.row], lats[c.row+1], lons[c.col], lons[c.col+1]
		// Counter-clockwise from the south-west corner (RFC 7946).
		fmt.Fprintf(&b, `{"type":"Feature","properties":%s,"geometry":{"type":"Polygon","coordinates":[[[%s,%s],[%s,%s],[%s,%s],[%s,%s],[%s,%s]]]}}`,
			props, w, s, e, s, e, n, w, n, w, s)
		if i < len(cells)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]}\n")
	return b.Bytes(), nil
}

func gridFtoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
