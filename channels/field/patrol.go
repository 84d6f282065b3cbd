package field

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/yihao-city/yihao/ticketing"
)

// Patrol keeps the supervisors' positions (ticketing.Store).
type Patrol interface {
	AddPosition(ctx context.Context, p ticketing.Position, day string) error
}

// postPosition is POST /api/v1/field/positions: where the supervisor on
// duty is now ({"lat","lon"}), placed in its cell. A position outside the
// city's grid is refused: the phone's position is wrong, or the
// supervisor is off the beat. Positions are not kept on the phone: only
// the latest matters.
func (s *Server) postPosition(c *gin.Context) {
	b, err := s.supervisor(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var in struct {
		Lat *float64 `json:"lat"`
		Lon *float64 `json:"lon"`
	}
	if err := s.decodeJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	if in.Lat == nil || in.Lon == nil {
		s.fail(c, ticketing.Invalid("lat", "lat and lon are required"))
		return
	}
	pt := ticketing.Point{Lat: *in.Lat, Lon: *in.Lon}
	if err := pt.Validate(); err != nil {
		s.fail(c, err)
		return
	}
	area, ok := s.Grid.Place(pt.Lat, pt.Lon)
	if !ok {
		s.fail(c, ticketing.Invalid("lat", "the position %.6f, %.6f is outside the city's grid", pt.Lat, pt.Lon))
		return
	}
	now := time.Now()
	p := ticketing.Position{User: b.User.Name, At: now, Lat: pt.Lat, Lon: pt.Lon, Area: area}
	if err := s.Patrol.AddPosition(c.Request.Context(), p, now.In(s.cfg.Location).Format(time.DateOnly)); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"grid": area.Grid, "community": area.Community, "street": area.Street})
}
