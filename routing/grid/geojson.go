package grid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/paulmach/orb"
)

// The GeoJSON is decoded with encoding/json into raw parts and a small
// reader for the coordinates, rather than with orb/geojson, so that every
// error can say which feature is wrong and why.

// rawCollection is the fast path: the whole document in one decoding. When
// it fails on a value of the wrong type, the document is decoded again as
// rawFeatures so that the error can name the feature.
type rawCollection struct {
	Type     string       `json:"type"`
	CRS      *rawCRS      `json:"crs"`
	Features []rawFeature `json:"features"`
}

type rawFeatures struct {
	Features []json.RawMessage `json:"features"`
}

// rawCRS is the "crs" member of GeoJSON 2008, which RFC 7946 dropped but
// GIS exports still write. Only geographic WGS-84/CGCS2000 is accepted.
type rawCRS struct {
	Type       string `json:"type"`
	Properties struct {
		Name string `json:"name"`
	} `json:"properties"`
}

type rawFeature struct {
	Type       string       `json:"type"`
	Geometry   *rawGeometry `json:"geometry"`
	Properties rawProps     `json:"properties"`
}

// rawProps are the properties Load reads; the rest are skipped.
type rawProps struct {
	Code          json.RawMessage `json:"code"`
	Name          json.RawMessage `json:"name"`
	Kind          json.RawMessage `json:"kind"`
	Community     json.RawMessage `json:"community"`
	CommunityName json.RawMessage `json:"community_name"`
	Street        json.RawMessage `json:"street"`
	StreetName    json.RawMessage `json:"street_name"`
	District      json.RawMessage `json:"district"`
	DistrictName  json.RawMessage `json:"district_name"`
}

type rawGeometry struct {
	Type        string          `json:"type"`
	Coordinates json.RawMessage `json:"coordinates"`
}

func parseCollection(data []byte) ([]cell, error) {
	var fc rawCollection
	if err := json.Unmarshal(data, &fc); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && strings.HasPrefix(typ.Field, "features.") {
			return nil, findFeatureError(data)
		}
		return nil, jsonError(data, err)
	}
	if fc.Type != "FeatureCollection" {
		return nil, fmt.Errorf("GeoJSON type is %q, want \"FeatureCollection\"", fc.Type)
	}
	if fc.CRS != nil {
		if err := checkCRS(fc.CRS.Properties.Name); err != nil {
			return nil, err
		}
	}
	if len(fc.Features) == 0 {
		return nil, errors.New("no features: a grid needs at least one cell")
	}
	cells := make([]cell, 0, len(fc.Features))
	seen := make(map[string]int, len(fc.Features))
	for i := range fc.Features {
		n := i + 1
		c, err := featureCell(&fc.Features[i])
		if err != nil {
			return nil, featureError(n, c.Code, err)
		}
		if first, dup := seen[c.Code]; dup {
			return nil, fmt.Errorf("duplicate code %q in features %d and %d", c.Code, first, n)
		}
		seen[c.Code] = n
		cells = append(cells, c)
	}
	return cells, nil
}

func featureError(n int, code string, err error) error {
	if code != "" {
		return fmt.Errorf("feature %d (code %q): %w", n, code, err)
	}
	return fmt.Errorf("feature %d: %w", n, err)
}

// findFeatureError decodes the features one by one to find the first that
// does not decode, and says which and why.
func findFeatureError(data []byte) error {
	var fs rawFeatures
	if err := json.Unmarshal(data, &fs); err != nil {
		return jsonError(data, err)
	}
	for i, raw := range fs.Features {
		var f rawFeature
		err := json.Unmarshal(raw, &f)
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			// The code, if it decodes, names the feature.
			var p struct {
				Properties struct {
					Code json.RawMessage `json:"code"`
				} `json:"properties"`
			}
			_ = json.Unmarshal(raw, &p)
			code, _ := stringProperty(p.Properties.Code)
			return featureError(i+1, code, fmt.Errorf("%s is a JSON %s, want %s", typ.Field, typ.Value, typeName(typ.Type.String())))
		}
	}
	return errors.New("malformed GeoJSON") // not reached: the fast path failed on some feature
}

func checkCRS(name string) error {
	n := strings.ToUpper(name)
	for _, ok := range []string{"CRS84", "EPSG::4326", "EPSG:4326", "EPSG::4490", "EPSG:4490"} {
		if strings.HasSuffix(n, ok) {
			return nil
		}
	}
	return fmt.Errorf("crs %q not supported: export the grid as geographic lon/lat on WGS-84 or CGCS2000 (EPSG:4326 or EPSG:4490)", name)
}

// jsonError turns a decoding error into one that says where the input is
// wrong, as a byte offset and a line and column.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// Offsets count the bytes read, the offending one included.
		at := syn.Offset - 1
		if strings.HasPrefix(syn.Error(), "unexpected end") {
			at = int64(len(data))
		}
		return fmt.Errorf("malformed JSON at %s: %v", position(data, at), err)
	case errors.As(err, &typ):
		what := typ.Field
		if what == "" {
			what = "document"
		}
		return fmt.Errorf("malformed GeoJSON at %s: %s is a JSON %s, want %s", position(data, typ.Offset-1), what, typ.Value, typeName(typ.Type.String()))
	}
	return fmt.Errorf("malformed JSON: %w", err)
}

func typeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "grid."), strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "*grid."):
		return "an object"
	}
	return goType
}

// position describes a byte offset (from 0) with its line and column (from
// 1; the column counts characters, as editors do).
func position(data []byte, offset int64) string {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return fmt.Sprintf("byte %d (line %d, column %d)", offset, line, col)
}

// featureCell returns the cell, with its code as soon as it is known so
// that later errors can name it.
func featureCell(f *rawFeature) (cell, error) {
	var c cell
	if f.Type != "Feature" {
		return c, fmt.Errorf("type is %q, want \"Feature\"", f.Type)
	}
	fp := &f.Properties
	props := [...]struct {
		name string
		raw  json.RawMessage
		dst  *string
	}{
		{"code", fp.Code, &c.Code}, {"name", fp.Name, &c.Name}, {"kind", fp.Kind, &c.Kind},
		{"community", fp.Community, &c.Community}, {"community_name", fp.CommunityName, &c.CommunityName},
		{"street", fp.Street, &c.Street}, {"street_name", fp.StreetName, &c.StreetName},
		{"district", fp.District, &c.District}, {"district_name", fp.DistrictName, &c.DistrictName},
	}
	for _, p := range props {
		v, err := stringProperty(p.raw)
		if err != nil {
			return c, fmt.Errorf("property %q: %w", p.name, err)
		}
		*p.dst = v
	}
	if c.Code == "" {
		return c, errors.New(`missing property "code"`)
	}
	switch c.Kind {
	case "":
		c.Kind = KindUnit
	case KindUnit, KindResponsibility:
	default:
		return c, fmt.Errorf("property \"kind\" is %q, want %q or %q", c.Kind, KindUnit, KindResponsibility)
	}
	if f.Geometry == nil {
		return c, errors.New("missing geometry")
	}
	var err error
	c.shape, err = parseGeometry(f.Geometry)
	return c, err
}

// stringProperty accepts a JSON string, a number (kept as written) or null.
func stringProperty(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch raw[0] {
	case '"':
		if in := raw[1 : len(raw)-1]; bytes.IndexByte(in, '\\') < 0 {
			return strings.TrimSpace(string(in)), nil // no escapes: the common case, and fast
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return strings.TrimSpace(s), nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(raw), nil
	}
	return "", fmt.Errorf("want a string, got %s", raw)
}

const (
	wantPolygon      = "a Polygon's coordinates are an array of rings, each an array of [lon, lat] positions"
	wantMultiPolygon = "a MultiPolygon's coordinates are an array of polygons, each an array of rings of [lon, lat] positions"
)

func parseGeometry(g *rawGeometry) (orb.MultiPolygon, error) {
	r := coordReader{b: g.Coordinates}
	switch g.Type {
	case "Polygon":
		p, err := r.polygon("")
		if err != nil {
			return nil, shapeError(err, wantPolygon)
		}
		return orb.MultiPolygon{p}, nil
	case "MultiPolygon":
		var mp orb.MultiPolygon
		err := r.array(func(i int) error {
			p, err := r.polygon(fmt.Sprintf("polygon %d ", i+1))
			mp = append(mp, p)
			return err
		})
		if err != nil {
			return nil, shapeError(err, wantMultiPolygon)
		}
		if len(mp) == 0 {
			return nil, errors.New("MultiPolygon has no polygons")
		}
		return mp, nil
	case "":
		return nil, errors.New("geometry has no type")
	}
	return nil, fmt.Errorf("geometry type %q not supported, want Polygon or MultiPolygon", g.Type)
}

// shapeErr is a JSON value where the coordinates need something else.
type shapeErr struct{ found string }

func (e shapeErr) Error() string { return "found a JSON " + e.found }

func shapeError(err error, want string) error {
	var se shapeErr
	if errors.As(err, &se) {
		return fmt.Errorf("coordinates: found a JSON %s where %s", se.found, want)
	}
	return err
}

// coordReader reads GeoJSON coordinates, nested arrays of numbers, straight
// into orb types: several times faster than decoding them into
// [][][]float64 with encoding/json. The input is valid JSON (the document
// was decoded before); the reader checks only the shape.
type coordReader struct {
	b []byte
	i int
}

func (r *coordReader) skipSpace() {
	for r.i < len(r.b) && (r.b[r.i] == ' ' || r.b[r.i] == '\n' || r.b[r.i] == '\r' || r.b[r.i] == '\t') {
		r.i++
	}
}

// kind names the JSON value at the reader.
func (r *coordReader) kind() string {
	r.skipSpace()
	if r.i >= len(r.b) {
		return "nothing"
	}
	switch r.b[r.i] {
	case '[':
		return "array"
	case '{':
		return "object"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// array reads an array, calling elem for each element with its index.
func (r *coordReader) array(elem func(i int) error) error {
	if k := r.kind(); k != "array" {
		return shapeErr{k}
	}
	r.i++
	r.skipSpace()
	if r.i < len(r.b) && r.b[r.i] == ']' {
		r.i++
		return nil
	}
	for n := 0; ; n++ {
		if err := elem(n); err != nil {
			return err
		}
		r.skipSpace()
		if r.i >= len(r.b) {
			return shapeErr{"array without its end"}
		}
		c := r.b[r.i]
		r.i++
		if c == ']' {
			return nil
		}
	}
}

func (r *coordReader) number() (float64, error) {
	if k := r.kind(); k != "number" {
		return 0, shapeErr{k}
	}
	start := r.i
	for r.i < len(r.b) && strings.IndexByte("+-0123456789.eE", r.b[r.i]) >= 0 {
		r.i++
	}
	return strconv.ParseFloat(string(r.b[start:r.i]), 64)
}

// polygon reads and checks the rings of a polygon: at least 4 positions,
// in range, closed, with an area. where names the polygon of a MultiPolygon
// in messages.
func (r *coordReader) polygon(where string) (orb.Polygon, error) {
	var p orb.Polygon
	err := r.array(func(i int) error {
		name := where + "outer ring"
		if i > 0 {
			name = fmt.Sprintf("%shole %d", where, i)
		}
		ring, err := r.ring(name)
		p = append(p, ring)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("%spolygon has no rings", where)
	}
	return p, nil
}

func (r *coordReader) ring(name string) (orb.Ring, error) {
	ring := make(orb.Ring, 0, 5)
	err := r.array(func(j int) error {
		var pos [2]float64
		n := 0
		err := r.array(func(k int) error {
			v, err := r.number()
			if k < 2 {
				pos[k] = v
			}
			n++
			return err
		})
		if err != nil {
			return err
		}
		if n < 2 {
			return fmt.Errorf("position %d of the %s has %d numbers, want [lon, lat]", j+1, name, n)
		}
		lon, lat := pos[0], pos[1]
		if lon < -180 || lon > 180 || lat < -90 || lat > 90 {
			hint := ""
			if lat >= -180 && lat <= 180 && lon >= -90 && lon <= 90 {
				hint = "; positions are [lon, lat]: are these [lat, lon]?"
			}
			return fmt.Errorf("coordinate %v of the %s out of range (lon -180..180, lat -90..90)%s", pos, name, hint)
		}
		ring = append(ring, orb.Point(pos))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(ring) < 4 {
		return nil, fmt.Errorf("polygon ring has %d positions, want at least 4 (%s)", len(ring), name)
	}
	if first, last := ring[0], ring[len(ring)-1]; first != last {
		return nil, fmt.Errorf("polygon ring not closed: the %s starts at %v and ends at %v", name, [2]float64(first), [2]float64(last))
	}
	if ringArea(ring) == 0 {
		return nil, fmt.Errorf("polygon ring has no area: the %s's positions are all on one line", name)
	}
	return ring, nil
}
