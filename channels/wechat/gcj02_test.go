package wechat

import (
	"math"
	"testing"
)

// Undoing the offset returns the WGS-84 point the offset was applied to;
// in Beijing the offset is some hundreds of metres; outside China there is none.
func TestGCJ02(t *testing.T) {
	for _, w := range [][2]float64{{39.9042, 116.4074}, {31.2304, 121.4737}, {22.5431, 114.0579}, {45.75, 126.65}} {
		gLat, gLon := wgsToGCJ(w[0], w[1])
		shift := math.Hypot((gLat-w[0])*111_000, (gLon-w[1])*111_000*math.Cos(w[0]*math.Pi/180))
		if shift < 100 || shift > 1000 {
			t.Errorf("offset at %v is %.0f m", w, shift)
		}
		p, err := toWGS84(gLat, gLon)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(p.Lat-w[0]) > 1e-7 || math.Abs(p.Lon-w[1]) > 1e-7 {
			t.Errorf("round trip of %v: %v", w, p)
		}
	}
	if p, _ := toWGS84(48.8566, 2.3522); p.Lat != 48.8566 || p.Lon != 2.3522 {
		t.Errorf("Paris moved: %v", p)
	}
	for _, bad := range [][2]float64{{0, 0}, {91, 10}, {math.NaN(), 1}} {
		if _, err := toWGS84(bad[0], bad[1]); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
