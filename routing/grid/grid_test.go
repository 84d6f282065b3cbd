package grid

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// feature returns a GeoJSON feature with the given properties (a JSON
// object body) and geometry.
func feature(props, geomType, coords string) string {
	return fmt.Sprintf(`{"type":"Feature","properties":{%s},"geometry":{"type":%q,"coordinates":%s}}`, props, geomType, coords)
}

func collection(features ...string) string {
	return `{"type":"FeatureCollection","features":[` + "\n" + strings.Join(features, ",\n") + "\n]}"
}

// rect is a closed counter-clockwise ring as GeoJSON text; coordinates are
// written as given so that neighbours share exactly the same floats.
func rect(w, s, e, n string) string {
	return fmt.Sprintf("[[%s,%s],[%s,%s],[%s,%s],[%s,%s],[%s,%s]]", w, s, e, s, e, n, w, n, w, s)
}

func unitProps(code string) string {
	return fmt.Sprintf(`"code":%q,"name":"网格%s","community":"110101001001","community_name":"南池子社区","street":"110101001","street_name":"东华门街道","district":"110101","district_name":"东城区"`, code, code[len(code)-3:])
}

// The test grid, in degrees (x = lon, y = lat):
//
//	39.3 +------+------+
//	     |  C   |  D   |   D has a hole [116.24,116.26]×[39.24,39.26];
//	39.2 +------+------+   island F fills its north-east quarter.
//	     |  A   |  B   |   E is a MultiPolygon of two squares further east.
//	39.1 +------+------+   R, a responsibility grid, covers A and B and
//	  116.1   116.2  116.3 extends south to 39.05.
const (
	codeA = "110101001001001"
	codeB = "110101001001002"
	codeC = "110101001001003"
	codeD = "110101001001004"
	codeE = "110101001001005"
	codeF = "110101001001006"
	codeR = "110101001001901"
)

func testGeoJSON() string {
	return collection(
		// Out of code order on purpose: the border rule must not depend on
		// file order.
		feature(unitProps(codeD), "Polygon", "["+rect("116.2", "39.2", "116.3", "39.3")+","+rect("116.24", "39.24", "116.26", "39.26")+"]"),
		feature(unitProps(codeB), "Polygon", "["+rect("116.2", "39.1", "116.3", "39.2")+"]"),
		feature(`"code":"`+codeR+`","name":"责任网格1","kind":"responsibility"`, "Polygon", "["+rect("116.1", "39.05", "116.3", "39.2")+"]"),
		feature(unitProps(codeA), "Polygon", "["+rect("116.1", "39.1", "116.2", "39.2")+"]"),
		feature(unitProps(codeC), "Polygon", "["+rect("116.1", "39.2", "116.2", "39.3")+"]"),
		feature(unitProps(codeE), "MultiPolygon", "[["+rect("116.4", "39.1", "116.5", "39.2")+"],["+rect("116.6", "39.1", "116.7", "39.2")+"]]"),
		feature(unitProps(codeF), "Polygon", "["+rect("116.25", "39.25", "116.26", "39.26")+"]"),
	)
}

func loadTestIndex(t testing.TB) *Index {
	t.Helper()
	ix, err := Load(strings.NewReader(testGeoJSON()))
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestLocate(t *testing.T) {
	ix := loadTestIndex(t)
	tests := []struct {
		name     string
		lat, lon float64
		want     string // "" means outside every cell
	}{
		{"inside A", 39.15, 116.15, codeA},
		{"inside B", 39.15, 116.25, codeB},
		{"inside C", 39.25, 116.15, codeC},
		{"inside D", 39.22, 116.22, codeD},
		{"edge shared by A and B", 39.15, 116.2, codeA},
		{"edge shared by A and C", 39.2, 116.15, codeA},
		{"edge shared by C and D", 39.25, 116.2, codeC},
		{"edge shared by B and D", 39.2, 116.25, codeB},
		{"vertex shared by A, B, C and D", 39.2, 116.2, codeA},
		{"vertex shared by B and D", 39.2, 116.3, codeB},
		{"outer edge of A", 39.15, 116.1, codeA},
		{"outer corner of C", 39.3, 116.1, codeC},
		{"outer edge of D", 39.3, 116.25, codeD},
		{"in D's hole", 39.245, 116.245, ""},
		{"on the edge of D's hole", 39.25, 116.24, codeD},
		{"on a corner of D's hole", 39.24, 116.24, codeD},
		{"on the island F in D's hole", 39.255, 116.255, codeF},
		{"edge shared by D's hole and F", 39.255, 116.26, codeD},
		{"MultiPolygon, first part", 39.15, 116.45, codeE},
		{"MultiPolygon, second part", 39.15, 116.65, codeE},
		{"MultiPolygon, edge of second part", 39.1, 116.7, codeE},
		{"between the parts of the MultiPolygon", 39.15, 116.55, ""},
		{"only in the responsibility grid", 39.07, 116.15, codeR},
		{"edge of the responsibility grid", 39.05, 116.2, codeR},
		{"outside, south-west", 39.0, 116.0, ""},
		{"outside, just east of B", 39.15, math.Nextafter(116.3, 200), ""},
		{"outside, just north of C", math.Nextafter(39.3, 100), 116.15, ""},
		{"outside, far away", -33.86, 151.2, ""},
		{"NaN", math.NaN(), 116.15, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ix.Locate(tt.lat, tt.lon)
			if ok != (tt.want != "") || got.Code != tt.want {
				t.Errorf("Locate(%v, %v) = %q, %v; want %q", tt.lat, tt.lon, got.Code, ok, tt.want)
			}
			all := ix.LocateAll(tt.lat, tt.lon)
			if ok && (len(all) == 0 || all[0].Code != got.Code) {
				t.Errorf("LocateAll(%v, %v)[0] = %v; want Locate's %q", tt.lat, tt.lon, all, got.Code)
			}
			if !ok && all != nil {
				t.Errorf("LocateAll(%v, %v) = %v outside every cell", tt.lat, tt.lon, all)
			}
		})
	}
}

func TestLocateAll(t *testing.T) {
	ix := loadTestIndex(t)
	codes := func(cells []Cell) []string {
		var s []string
		for _, c := range cells {
			s = append(s, c.Code)
		}
		return s
	}
	tests := []struct {
		name     string
		lat, lon float64
		want     []string
	}{
		{"unit cell under a responsibility grid", 39.15, 116.15, []string{codeA, codeR}},
		{"shared edge under a responsibility grid", 39.15, 116.2, []string{codeA, codeB, codeR}},
		{"shared vertex", 39.2, 116.2, []string{codeA, codeB, codeC, codeD, codeR}},
		{"hole edge shared with the island", 39.255, 116.26, []string{codeD, codeF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := codes(ix.LocateAll(tt.lat, tt.lon)); !slices.Equal(got, tt.want) {
				t.Errorf("LocateAll(%v, %v) = %v; want %v", tt.lat, tt.lon, got, tt.want)
			}
		})
	}
}

func TestLocateSlantedEdge(t *testing.T) {
	// Two triangles sharing a diagonal: a point on or next to the diagonal
	// is in one of them, never in neither.
	ix, err := Load(strings.NewReader(collection(
		feature(`"code":"T1"`, "Polygon", `[[[116.8,39.1],[116.9,39.1],[116.9,39.2],[116.8,39.1]]]`),
		feature(`"code":"T2"`, "Polygon", `[[[116.8,39.1],[116.9,39.2],[116.8,39.2],[116.8,39.1]]]`),
	)))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 100; i++ {
		f := float64(i) / 100
		for _, d := range []float64{-1e-12, 0, 1e-12} {
			lat, lon := 39.1+0.1*f+d, 116.8+0.1*f
			if _, ok := ix.Locate(lat, lon); !ok {
				t.Fatalf("Locate(%v, %v) on the diagonal found no cell", lat, lon)
			}
		}
	}
}

func TestCellAndCentroid(t *testing.T) {
	ix := loadTestIndex(t)
	if ix.Len() != 7 {
		t.Errorf("Len() = %d, want 7", ix.Len())
	}
	c, ok := ix.Cell(codeA)
	want := Cell{Code: codeA, Name: "网格001", Community: "110101001001", CommunityName: "南池子社区",
		Street: "110101001", StreetName: "东华门街道", District: "110101", DistrictName: "东城区", Kind: KindUnit}
	if !ok || c != want {
		t.Errorf("Cell(%q) = %+v, %v; want %+v", codeA, c, ok, want)
	}
	if r, _ := ix.Cell(codeR); r.Kind != KindResponsibility {
		t.Errorf("Cell(%q).Kind = %q, want %q", codeR, r.Kind, KindResponsibility)
	}
	if _, ok := ix.Cell("nope"); ok {
		t.Error("Cell(nope) found a cell")
	}
	if _, _, ok := ix.Centroid("nope"); ok {
		t.Error("Centroid(nope) found a cell")
	}
	lat, lon, ok := ix.Centroid(codeA)
	if !ok || math.Abs(lat-39.15) > 1e-9 || math.Abs(lon-116.15) > 1e-9 {
		t.Errorf("Centroid(A) = %v, %v, %v; want 39.15, 116.15", lat, lon, ok)
	}
	// Every cell's representative point locates to the cell itself, even
	// D, whose area centroid lies in its hole, and the MultiPolygon E,
	// whose area centroid lies between its parts.
	for c := range ix.Cells() {
		if c.Kind != KindUnit {
			continue
		}
		lat, lon, _ := ix.Centroid(c.Code)
		if got, _ := ix.Locate(lat, lon); got.Code != c.Code {
			t.Errorf("Locate(Centroid(%s)) = %q (%v, %v)", c.Code, got.Code, lat, lon)
		}
	}
	var order []string
	for c := range ix.Cells() {
		order = append(order, c.Code)
	}
	if want := []string{codeA, codeB, codeC, codeD, codeE, codeF, codeR}; !slices.Equal(order, want) {
		t.Errorf("Cells() order = %v, want %v", order, want)
	}
}

func TestLoadProperties(t *testing.T) {
	// Codes exported as numbers keep their digits; unknown properties,
	// ids, bounding boxes, altitudes and a CGCS2000 crs are accepted.
	ix, err := Load(strings.NewReader(`{"type":"FeatureCollection",
		"crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::4490"}},
		"features":[{"type":"Feature","id":7,"bbox":[116.1,39.1,116.2,39.2],
		"properties":{"code":110101001001001,"name":" 网格 ","area_m2":10000,"district":null},
		"geometry":{"type":"Polygon","coordinates":[[[116.1,39.1,44.5],[116.2,39.1,44.5],[116.2,39.2,44.5],[116.1,39.2,44.5],[116.1,39.1,44.5]]]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c, ok := ix.Locate(39.15, 116.15)
	if !ok || c.Code != "110101001001001" || c.Name != "网格" || c.Kind != KindUnit || c.District != "" {
		t.Errorf("Locate = %+v, %v", c, ok)
	}
}

func TestLoadErrors(t *testing.T) {
	good := func(code string) string {
		return feature(`"code":"`+code+`"`, "Polygon", "["+rect("116.1", "39.1", "116.2", "39.2")+"]")
	}
	tests := []struct {
		name  string
		input string
		want  string // fragment of the error
	}{
		{"empty input", ``, "malformed JSON at byte 0"},
		{"truncated", `{"type":"FeatureCollection","features":[`, "malformed JSON at byte 40 (line 1, column 41): unexpected end of JSON input"},
		{"column counts characters", "{\"type\":\"FeatureCollection\",\"name\":\"网格\",,}", "malformed JSON at byte 44 (line 1, column 41)"},
		{"bad last byte", `{"type":"FeatureCollection","features":[}`, "malformed JSON at byte 40 (line 1, column 41): invalid character '}'"},
		{"syntax error on line 3", "{\"type\":\"FeatureCollection\",\n\"features\":[\n{\"type\":\"Feature\",,}]}", "malformed JSON at byte 60 (line 3, column 19): invalid character ','"},
		{"not an object", `[1,2]`, "malformed GeoJSON at byte 0 (line 1, column 1): document is a JSON array, want an object"},
		{"features not an array", `{"type":"FeatureCollection","features":{}}`, "features is a JSON object, want an array"},
		{"a Feature, not a collection", feature(`"code":"A"`, "Polygon", "["+rect("116.1", "39.1", "116.2", "39.2")+"]"), `GeoJSON type is "Feature", want "FeatureCollection"`},
		{"no features", `{"type":"FeatureCollection","features":[]}`, "no features"},
		{"projected crs", `{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::4547"}},"features":[]}`, `crs "urn:ogc:def:crs:EPSG::4547" not supported`},
		{"missing code", collection(good("A"), feature(`"name":"x"`, "Polygon", "["+rect("116.1", "39.1", "116.2", "39.2")+"]")), `feature 2: missing property "code"`},
		{"empty code", collection(feature(`"code":""`, "Polygon", "["+rect("116.1", "39.1", "116.2", "39.2")+"]")), `feature 1: missing property "code"`},
		{"no properties", collection(`{"type":"Feature","geometry":null}`), `feature 1: missing property "code"`},
		{"code is an object", collection(feature(`"code":{}`, "Polygon", "[]")), `feature 1: property "code": want a string, got {}`},
		{"duplicate code", collection(good("A"), good("B"), good("A")), `duplicate code "A" in features 1 and 3`},
		{"bad kind", collection(feature(`"code":"A","kind":"责任"`, "Polygon", "["+rect("116.1", "39.1", "116.2", "39.2")+"]")), `feature 1 (code "A"): property "kind" is "责任", want "unit" or "responsibility"`},
		{"feature type", collection(`{"type":"Point","properties":{"code":"A"}}`), `feature 1: type is "Point", want "Feature"`},
		{"missing geometry", collection(`{"type":"Feature","properties":{"code":"A"}}`), `feature 1 (code "A"): missing geometry`},
		{"point geometry", collection(feature(`"code":"A"`, "Point", "[116.1,39.1]")), `feature 1 (code "A"): geometry type "Point" not supported, want Polygon or MultiPolygon`},
		{"ring not closed", collection(good("A"), feature(`"code":"110101001001"`, "Polygon", `[[[116.1,39.1],[116.2,39.1],[116.2,39.2],[116.1,39.2],[116.1,39.15]]]`)),
			`feature 2 (code "110101001001"): polygon ring not closed: the outer ring starts at [116.1 39.1] and ends at [116.1 39.15]`},
		{"hole not closed", collection(feature(`"code":"A"`, "Polygon", "["+rect("116.1", "39.1", "116.2", "39.2")+`,[[116.12,39.12],[116.13,39.12],[116.13,39.13],[116.12,39.12],[116.12,39.125]]]`)),
			`feature 1 (code "A"): polygon ring not closed: the hole 1 starts at`},
		{"too few positions", collection(feature(`"code":"A"`, "Polygon", `[[[116.1,39.1],[116.2,39.1],[116.1,39.1]]]`)), `feature 1 (code "A"): polygon ring has 3 positions, want at least 4 (outer ring)`},
		{"no rings", collection(feature(`"code":"A"`, "Polygon", `[]`)), `feature 1 (code "A"): polygon has no rings`},
		{"flat ring", collection(feature(`"code":"A"`, "Polygon", `[[[116.1,39.1],[116.2,39.1],[116.3,39.1],[116.1,39.1]]]`)), `feature 1 (code "A"): polygon ring has no area`},
		{"longitude out of range", collection(feature(`"code":"A"`, "Polygon", `[[[196.1,39.1],[116.2,39.1],[116.2,39.2],[196.1,39.1]]]`)), `feature 1 (code "A"): coordinate [196.1 39.1] of the outer ring out of range (lon -180..180, lat -90..90)`},
		{"lat and lon swapped", collection(feature(`"code":"A"`, "Polygon", `[[[39.1,116.1],[39.1,116.2],[39.2,116.2],[39.1,116.1]]]`)), `out of range (lon -180..180, lat -90..90); positions are [lon, lat]: are these [lat, lon]?`},
		{"one number", collection(feature(`"code":"A"`, "Polygon", `[[[116.1],[116.2,39.1],[116.2,39.2],[116.1,39.1]]]`)), `feature 1 (code "A"): position 1 of the outer ring has 1 numbers, want [lon, lat]`},
		{"coordinates not numbers", collection(feature(`"code":"A"`, "Polygon", `[[["116.1","39.1"]]]`)), `feature 1 (code "A"): coordinates: found a JSON string where a Polygon's coordinates are`},
		{"polygon coordinates in a MultiPolygon", collection(feature(`"code":"A"`, "MultiPolygon", "["+rect("116.1", "39.1", "116.2", "39.2")+"]")), `feature 1 (code "A"): coordinates: found a JSON number where a MultiPolygon's coordinates are`},
		{"MultiPolygon second part not closed", collection(feature(`"code":"A"`, "MultiPolygon", "[["+rect("116.1", "39.1", "116.2", "39.2")+`],[[[116.3,39.1],[116.4,39.1],[116.4,39.2],[116.3,39.2]]]]`)),
			`feature 1 (code "A"): polygon ring not closed: the polygon 2 outer ring starts at`},
		{"empty MultiPolygon", collection(feature(`"code":"A"`, "MultiPolygon", `[]`)), `feature 1 (code "A"): MultiPolygon has no polygons`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix, err := Load(strings.NewReader(tt.input))
			if err == nil {
				t.Fatalf("Load succeeded with %d cells; want error %q", ix.Len(), tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "grid: ") {
				t.Errorf("error %q does not start with \"grid: \"", err)
			}
		})
	}
}

func TestLoadReadError(t *testing.T) {
	_, err := Load(failingReader{})
	if err == nil || !strings.Contains(err.Error(), "grid: read: disk on fire") {
		t.Errorf("Load(failing reader) error = %v", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, fmt.Errorf("disk on fire") }

func TestLocateConcurrently(t *testing.T) {
	ix := loadTestIndex(t)
	done := make(chan bool)
	for g := range 4 {
		go func() {
			ok := true
			for i := range 1000 {
				lat := 39.1 + float64((i+g)%200)/1000
				if _, found := ix.Locate(lat, 116.15); !found {
					ok = false
				}
			}
			done <- ok
		}()
	}
	for range 4 {
		if !<-done {
			t.Error("a point of A found no cell")
		}
	}
}

// FuzzLoad checks that no input makes Load panic, and that whatever it
// accepts answers lookups.
func FuzzLoad(f *testing.F) {
	f.Add(testGeoJSON())
	f.Add(collection(feature(`"code":"A"`, "MultiPolygon", "[["+rect("116.1", "39.1", "116.2", "39.2")+"]]")))
	f.Add(collection(feature(`"code":"A"`, "Polygon", `[[[116.1,39.1],[116.2],[116.2,39.2],[116.1,39.1]]]`)))
	f.Add(collection(feature(`"code":1e3`, "Polygon", `[[[1,2,3,4],[ 5 , 6 ],[-7e-1,8],[1,2]]]`)))
	f.Fuzz(func(t *testing.T, s string) {
		ix, err := Load(strings.NewReader(s))
		if err != nil {
			return
		}
		for c := range ix.Cells() {
			lat, lon, _ := ix.Centroid(c.Code)
			ix.Locate(lat, lon)
			ix.LocateAll(lat, lon)
		}
	})
}

func TestOutline(t *testing.T) {
	ix := loadTestIndex(t)
	rings, ok := ix.Outline(codeD)
	// D's hole is left out: one outer ring, closed, as written.
	want := [][][2]float64{{{116.2, 39.2}, {116.3, 39.2}, {116.3, 39.3}, {116.2, 39.3}, {116.2, 39.2}}}
	if !ok || fmt.Sprint(rings) != fmt.Sprint(want) {
		t.Errorf("Outline(D) = %v, %v; want %v", rings, ok, want)
	}
	if rings, _ := ix.Outline(codeE); len(rings) != 2 {
		t.Errorf("Outline(E) has %d rings, want one per part (2)", len(rings))
	}
	if _, ok := ix.Outline("nope"); ok {
		t.Error("Outline(nope) found a cell")
	}
}
