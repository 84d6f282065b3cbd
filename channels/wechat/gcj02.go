package wechat

import (
	"errors"
	"math"

	"github.com/yihao-city/yihao/ticketing"
)

// WeChat reports locations in GCJ-02, the datum that maps in China are
// required to use: a deliberate offset of a few hundred metres from
// WGS-84, which the unit grid (CGCS2000) practically equals. Placing a
// WeChat location on the grid without undoing it can put it in the
// neighbouring cell.

// Krasovsky 1940 ellipsoid, as the published GCJ-02 transform uses it.
const (
	gcjA  = 6378245.0
	gcjEE = 0.00669342162296594323
)

func outOfChina(lat, lon float64) bool {
	return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271
}

func gcjDeltaLat(x, y float64) float64 {
	r := -100.0 + 2.0*x + 3.0*y + 0.2*y*y + 0.1*x*y + 0.2*math.Sqrt(math.Abs(x))
	r += (20.0*math.Sin(6.0*x*math.Pi) + 20.0*math.Sin(2.0*x*math.Pi)) * 2.0 / 3.0
	r += (20.0*math.Sin(y*math.Pi) + 40.0*math.Sin(y/3.0*math.Pi)) * 2.0 / 3.0
	r += (160.0*math.Sin(y/12.0*math.Pi) + 320.0*math.Sin(y*math.Pi/30.0)) * 2.0 / 3.0
	return r
}

func gcjDeltaLon(x, y float64) float64 {
	r := 300.0 + x + 2.0*y + 0.1*x*x + 0.1*x*y + 0.1*math.Sqrt(math.Abs(x))
	r += (20.0*math.Sin(6.0*x*math.Pi) + 20.0*math.Sin(2.0*x*math.Pi)) * 2.0 / 3.0
	r += (20.0*math.Sin(x*math.Pi) + 40.0*math.Sin(x/3.0*math.Pi)) * 2.0 / 3.0
	r += (150.0*math.Sin(x/12.0*math.Pi) + 300.0*math.Sin(x/30.0*math.Pi)) * 2.0 / 3.0
	return r
}

// wgsToGCJ applies the GCJ-02 offset.
func wgsToGCJ(lat, lon float64) (float64, float64) {
	if outOfChina(lat, lon) {
		return lat, lon
	}
	dLat := gcjDeltaLat(lon-105.0, lat-35.0)
	dLon := gcjDeltaLon(lon-105.0, lat-35.0)
	rad := lat / 180.0 * math.Pi
	magic := math.Sin(rad)
	magic = 1 - gcjEE*magic*magic
	sq := math.Sqrt(magic)
	dLat = dLat * 180.0 / ((gcjA * (1 - gcjEE)) / (magic * sq) * math.Pi)
	dLon = dLon * 180.0 / (gcjA / sq * math.Cos(rad) * math.Pi)
	return lat + dLat, lon + dLon
}

// toWGS84 undoes the offset of a WeChat location (Location_X is the
// latitude, Location_Y the longitude) by fixed-point iteration: the
// offset changes slowly, so a few rounds bring it within millimetres.
func toWGS84(lat, lon float64) (*ticketing.Point, error) {
	p := &ticketing.Point{Lat: lat, Lon: lon}
	if err := p.Validate(); err != nil || (lat == 0 && lon == 0) {
		return nil, errors.New("not a location")
	}
	wLat, wLon := lat, lon
	for range 10 {
		gLat, gLon := wgsToGCJ(wLat, wLon)
		wLat, wLon = wLat-(gLat-lat), wLon-(gLon-lon)
	}
	return &ticketing.Point{Lat: wLat, Lon: wLon}, nil
}
