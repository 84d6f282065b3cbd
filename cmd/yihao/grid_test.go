package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yihao-city/yihao/routing/grid"
)

const (
	gridDemoPath          = "../../configs/grid/demo.geojson"
	gridDemoGazetteerPath = "../../configs/grid/gazetteer.yaml"
)

func runGridCmd(t *testing.T, dataDir string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := gridCommand(context.Background(), args, &out, dataDir)
	return out.String(), err
}

// gridSmallFile writes a generated 8 × 10 grid to a temporary file.
func gridSmallFile(t *testing.T) (path string, data []byte) {
	t.Helper()
	cfg := grid.DemoLayout()
	cfg.Rows, cfg.Cols = 8, 10
	data, err := grid.Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "small.geojson")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func TestGridImport(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data") // does not exist yet
	dst := filepath.Join(dataDir, "grid.geojson")
	good, goodData := gridSmallFile(t)

	out, err := runGridCmd(t, dataDir, "import", "--in", good)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"80 cells (80 unit, 0 responsibility) in 3 districts, 12 streets, 48 communities",
		"110101  东城区  4 streets  16 communities  32 cells", "installed as " + dst} {
		if !strings.Contains(out, want) {
			t.Errorf("import output\n%s\nlacks %q", out, want)
		}
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, goodData) {
		t.Fatal("the installed grid is not the imported file")
	}

	// A malformed grid: the second feature's ring is not closed. The error
	// names the file and the feature; the installed grid stays as it was.
	bad := filepath.Join(t.TempDir(), "bad.geojson")
	lines := strings.Split(string(goodData), "\n")
	lines[2] = strings.Replace(lines[2], `]]]}}`, `],[116.1,39.1]]]}}`, 1)
	if err := os.WriteFile(bad, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = runGridCmd(t, dataDir, "import", "--in", bad, "--data-dir", dataDir)
	if err == nil {
		t.Fatal("importing a malformed grid succeeded")
	}
	for _, want := range []string{bad, `feature 2 (code "110101001001002"): polygon ring not closed`, "nothing installed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Not JSON at all: the error gives the place in the file.
	if err := os.WriteFile(bad, []byte("{\"type\":\"FeatureCollection\",\n\"features\":[}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runGridCmd(t, dataDir, "import", "--in", bad); err == nil || !strings.Contains(err.Error(), "malformed JSON at byte 41 (line 2, column 13)") {
		t.Errorf("error %v; want the byte, line and column", err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, goodData) {
		t.Error("a failed import changed the installed grid")
	}
	entries, _ := os.ReadDir(dataDir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %v; want only grid.geojson (no temporary files left)", entries)
	}

	if _, err := runGridCmd(t, dataDir, "import"); err == nil || !strings.Contains(err.Error(), "--in is required") {
		t.Errorf("import without --in: %v", err)
	}
	if _, err := runGridCmd(t, dataDir, "import", "--in", filepath.Join(t.TempDir(), "none.geojson")); err == nil {
		t.Error("importing a missing file succeeded")
	}
}

func TestGridImportWarnings(t *testing.T) {
	in := filepath.Join(t.TempDir(), "g.geojson")
	const sq = `"geometry":{"type":"Polygon","coordinates":[[[116.1,39.1],[116.2,39.1],[116.2,39.2],[116.1,39.2],[116.1,39.1]]]}`
	data := `{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"code":"A","district":"1","district_name":"东城区","street":"11","community":"111"},` + sq + `},
{"type":"Feature","properties":{"code":"B","district":"1","district_name":"东城"},` + sq + `},
{"type":"Feature","properties":{"code":"R","kind":"responsibility","district":"1","street":"11","community":"111"},` + sq + `}]}`
	if err := os.WriteFile(in, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runGridCmd(t, t.TempDir(), "import", "--in", in)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3 cells (2 unit, 1 responsibility) in 1 districts, 1 streets, 1 communities",
		"warning: 1 cells lack a district, street or community code (first: B)",
		`warning: district 1 is named "东城区" in cell A but "东城" in cell B`} {
		if !strings.Contains(out, want) {
			t.Errorf("import output\n%s\nlacks %q", out, want)
		}
	}
}

// The shipped demo grid is what `yihao grid generate` writes with its
// defaults, and it loads.
func TestGridGenerateDemo(t *testing.T) {
	want, err := os.ReadFile(gridDemoPath)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "demo.geojson")
	msg, err := runGridCmd(t, "", "generate", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "2880 cells (48 rows × 60 columns of about 227 m × 232 m)") {
		t.Errorf("generate printed %q", msg)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, want) {
		t.Fatalf("generate --out wrote %d bytes that differ from %s (%d bytes); regenerate it with `yihao grid generate --out configs/grid/demo.geojson`", len(got), gridDemoPath, len(want))
	}
	ix, err := grid.Load(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 2880 {
		t.Errorf("demo grid has %d cells, want 2880", ix.Len())
	}
	// Every cell centre is in its own cell, and cells are in their
	// communities: the codes nest.
	for c := range ix.Cells() {
		lat, lon, _ := ix.Centroid(c.Code)
		if got, _ := ix.Locate(lat, lon); got.Code != c.Code {
			t.Fatalf("centre of %s locates to %s", c.Code, got.Code)
		}
		if len(c.Code) != 15 || c.Code[:12] != c.Community || c.Community[:9] != c.Street || c.Street[:6] != c.District {
			t.Fatalf("cell %+v: codes do not nest", c)
		}
	}

	// Other sizes and areas, and bad flags.
	small, err := runGridCmd(t, "", "generate", "--out", "-", "--rows", "8", "--cols", "10", "--south", "30", "--north", "30.1", "--west", "120", "--east", "120.1")
	if err != nil {
		t.Fatal(err)
	}
	if ix, err := grid.Load(strings.NewReader(small)); err != nil || ix.Len() != 80 {
		t.Errorf("small grid: %v", err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"generate"}, "--out is required"},
		{[]string{"generate", "--out", "-", "--rows", "4"}, "need at least 8 rows and 10 columns"},
		{[]string{"generate", "--out", "-", "--south", "40", "--north", "39"}, "need -90 ≤ south < north ≤ 90"},
		{[]string{"generate", "--out", "-", "--east", "200"}, "need -180 ≤ west < east ≤ 180"},
		{[]string{"generate", "--out", "-", "--rows", "400", "--cols", "400"}, "more than 999 cells"},
		{[]string{"generate", "--out", "-", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"frobnicate"}, `grid: unknown subcommand "frobnicate"`},
		{nil, "grid: missing subcommand"},
	} {
		if _, err := runGridCmd(t, "", tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("grid %v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestGridLocate(t *testing.T) {
	dataDir := t.TempDir()
	if _, err := runGridCmd(t, dataDir, "import", "--in", gridDemoPath); err != nil {
		t.Fatal(err)
	}
	// The point of the README's example report, in the installed grid.
	out, err := runGridCmd(t, dataDir, "locate", "--lat", "39.9042", "--lon", "116.4074")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cell       110101003002029  韶九社区第029网格 (unit)", "street     110101003        东华门街道", "district   110101           东城区"} {
		if !strings.Contains(out, want) {
			t.Errorf("locate printed\n%s\nlacking %q", out, want)
		}
	}
	// On the border between two streets: one cell, the lower code, and
	// the other named.
	out, err = runGridCmd(t, dataDir, "locate", "--in", gridDemoPath, "--lat", "39.91", "--lon", "116.39")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "cell       110101002003070") || !strings.Contains(out, "also in    110101003001010") {
		t.Errorf("locate on a border printed\n%s", out)
	}
	out, err = runGridCmd(t, dataDir, "locate", "--gazetteer", gridDemoGazetteerPath, "--address", "东华门街道南池子社区３号楼")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `place      南池子社区 (found "东华门街道南池子社区")`) || !strings.Contains(out, "cell       110101003001031") {
		t.Errorf("locate --address printed\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"locate", "--lat", "39.9", "--lon", "116.5"}, "contains lat 39.9, lon 116.5"},
		{[]string{"locate", "--lat", "39.9"}, "give both --lat and --lon"},
		{[]string{"locate"}, "give --lat and --lon, or --address"},
		{[]string{"locate", "--address", "南池子"}, "--address needs --gazetteer"},
		{[]string{"locate", "--gazetteer", gridDemoGazetteerPath, "--address", "海淀区中关村"}, `no gazetteer name or alias in "海淀区中关村"`},
		{[]string{"locate", "--data-dir", t.TempDir(), "--lat", "39.9", "--lon", "116.4"}, "grid.geojson: no such file"},
	} {
		if _, err := runGridCmd(t, dataDir, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("grid %v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// The shipped gazetteer resolves against the demo grid, and each place
// lies in the street or community its name says.
func TestDemoGazetteer(t *testing.T) {
	ix, err := loadGridFile(gridDemoPath)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(gridDemoGazetteerPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := grid.LoadGazetteer(f, ix)
	if err != nil {
		t.Fatal(err)
	}
	if gz.Len() < 30 {
		t.Errorf("demo gazetteer has %d entries, want about 30", gz.Len())
	}
	tests := []struct {
		address, place, street, community string
	}{
		{"东城区东华门街道南池子社区3号楼", "南池子社区", "东华门街道", "南池子社区"},
		{"东华门街道办事处", "东华门街道", "东华门街道", ""},
		{"王府井大街１２号", "王府井大街", "东华门街道", ""},
		{"西城区西长安街街道西单北社区", "西单北社区", "西长安街街道", "西单北社区"}, // the full alias
		{"西长安街街道西单北", "西长安街街道", "西长安街街道", ""},          // the longest name wins
		{"西长安街88号", "西长安街", "西长安街街道", ""},
		{"东长安街与王府井交叉口", "长安街", "东华门街道", ""},
		{"前门大街北口", "前门大街", "大栅栏街道", ""},
		{"朝外大街丙10号", "朝阳门外大街", "朝外街道", ""},
		{"天坛公园东门", "天坛公园", "天坛街道", ""},
		{"工体北路工人体育场", "工人体育场", "朝外街道", ""},
		{"秀水街", "秀水街", "建外街道", ""},
		{"潘家园旧货市场", "潘家园旧货市场", "潘家园街道", ""},
		{"潘家园东里5号楼", "潘家园东里社区", "潘家园街道", "潘家园东里社区"},
		{"市一院急诊", "示范市第一人民医院", "景山街道", ""},
		{"火车站南广场", "示范市火车站", "劲松街道", ""},
		{"建国门外大街1号", "建国门外大街", "建外街道", ""},
		{"新街口外大街", "新街口街道", "新街口街道", ""},
		{"芳草地西街", "芳草地社区", "朝外街道", "芳草地社区"},
	}
	for _, tt := range tests {
		p, ok := gz.Find(tt.address)
		if !ok || p.Name != tt.place || p.Cell.StreetName != tt.street || (tt.community != "" && p.Cell.CommunityName != tt.community) {
			t.Errorf("Find(%q) = %q in %s/%s (%v); want %q in %s/%s", tt.address, p.Name, p.Cell.StreetName, p.Cell.CommunityName, ok, tt.place, tt.street, tt.community)
		}
	}
	// Every street and community name, on its own, finds an entry in that
	// street or community.
	seen := map[string]bool{}
	for c := range ix.Cells() {
		for _, name := range []string{c.StreetName, c.CommunityName} {
			if seen[name] {
				continue
			}
			seen[name] = true
			p, ok := gz.Find(name)
			if !ok {
				continue // not every community is in the gazetteer
			}
			if p.Name == name && p.Cell.StreetName != name && p.Cell.CommunityName != name {
				t.Errorf("entry %s is placed in %s/%s", name, p.Cell.StreetName, p.Cell.CommunityName)
			}
		}
	}
}
