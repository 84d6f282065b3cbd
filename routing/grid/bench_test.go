package grid

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// squareGrid returns a GeoJSON FeatureCollection of rows×cols square unit
// cells of 0.001° (about 110 m × 85 m at Beijing's latitude) whose south-west
// corner is 39.8, 116.2, with properties like a real grid's.
func squareGrid(rows, cols int) []byte {
	const south, west, step = 39.8, 116.2, 0.001
	lat := func(r int) string { return strconv.FormatFloat(south+float64(r)*step, 'f', 6, 64) }
	lon := func(c int) string { return strconv.FormatFloat(west+float64(c)*step, 'f', 6, 64) }
	var b bytes.Buffer
	b.WriteString(`{"type":"FeatureCollection","features":[`)
	for r := range rows {
		for c := range cols {
			if r+c > 0 {
				b.WriteString(",\n")
			}
			n := r*cols + c
			district, street, community := 110101+n%3, n%12+1, n%48+1
			fmt.Fprintf(&b, `{"type":"Feature","properties":{"code":"%d%03d%03d%05d","name":"第%d网格","kind":"unit",`+
				`"community":"%d%03d%03d","community_name":"第%d社区","street":"%d%03d","street_name":"第%d街道","district":"%d","district_name":"示范区%d"},`+
				`"geometry":{"type":"Polygon","coordinates":[[[%s,%s],[%s,%s],[%s,%s],[%s,%s],[%s,%s]]]}}`,
				district, street, community, n, n,
				district, street, community, community, district, street, street, district, district,
				lon(c), lat(r), lon(c+1), lat(r), lon(c+1), lat(r+1), lon(c), lat(r+1), lon(c), lat(r))
		}
	}
	b.WriteString("]}\n")
	return b.Bytes()
}

func TestSquareGrid(t *testing.T) {
	ix, err := Load(bytes.NewReader(squareGrid(20, 30)))
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 600 {
		t.Fatalf("Len() = %d, want 600", ix.Len())
	}
	// Every point of the covered area is in exactly one cell as Locate
	// sees it, and in the one the arithmetic says, or a lower-coded
	// neighbour when it lies on a border.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		r, c := rng.IntN(20), rng.IntN(30)
		lat := 39.8 + (float64(r)+0.5)*0.001
		lon := 116.2 + (float64(c)+0.5)*0.001
		cell, ok := ix.Locate(lat, lon)
		if want := fmt.Sprintf("%05d", r*30+c); !ok || !strings.HasSuffix(cell.Code, want) {
			t.Fatalf("Locate(%v, %v) = %q, %v; want a code ending in %s", lat, lon, cell.Code, ok, want)
		}
	}
}

var sink Cell

// BenchmarkLocate measures one lookup among 40,000 square cells, at random
// points of the covered area (and a few outside it).
func BenchmarkLocate(b *testing.B) {
	ix, err := Load(bytes.NewReader(squareGrid(200, 200)))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pts := make([][2]float64, 4096)
	for i := range pts {
		pts[i] = [2]float64{39.8 + rng.Float64()*0.201, 116.2 + rng.Float64()*0.201}
	}
	i := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p := pts[i%len(pts)]
		sink, _ = ix.Locate(p[0], p[1])
		i++
	}
}

// BenchmarkLoad40k measures parsing, checking and indexing 40,000 cells.
func BenchmarkLoad40k(b *testing.B) {
	data := squareGrid(200, 200)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		ix, err := Load(bytes.NewReader(data))
		if err != nil || ix.Len() != 40000 {
			b.Fatal(err)
		}
	}
}

// BenchmarkGazetteerFind measures finding a place in a typical address
// among 2,000 names.
func BenchmarkGazetteerFind(b *testing.B) {
	ix, err := Load(bytes.NewReader(squareGrid(50, 40)))
	if err != nil {
		b.Fatal(err)
	}
	var y strings.Builder
	i := 0
	for c := range ix.Cells() {
		fmt.Fprintf(&y, "- {name: 示范路%d号院, aliases: [幸福%d小区], cell: %q}\n", i, i, c.Code)
		i++
	}
	g, err := LoadGazetteer(strings.NewReader(y.String()), ix)
	if err != nil {
		b.Fatal(err)
	}
	addrs := []string{"示范市东城区东华门街道幸福1234小区5号楼2单元301", "示范路77号院北门", "长安街与王府井大街交叉口西北角"}
	b.ReportAllocs()
	i = 0
	for b.Loop() {
		g.Find(addrs[i%len(addrs)])
		i++
	}
}
