package routing

import (
	"sync"
	"time"

	"github.com/6tail/lunar-go/HolidayUtil"
)

// Calendar knows which days are working days: weekdays, minus China's
// public holidays, plus the make-up working weekends (调休) announced by the
// State Council each year.
type Calendar struct {
	loc *time.Location
	// days caches the answer per date (yyyymmdd → bool): the holiday table
	// is searched as text, ~10 µs a day, and deadlines ask for many days.
	days sync.Map
}

// NewCalendar returns a calendar in the city's time zone.
func NewCalendar(loc *time.Location) *Calendar { return &Calendar{loc: loc} }

// IsWorkday reports whether the day containing t is a working day.
func (c *Calendar) IsWorkday(t time.Time) bool {
	t = t.In(c.loc)
	key := t.Year()*10000 + int(t.Month())*100 + t.Day()
	if v, ok := c.days.Load(key); ok {
		return v.(bool)
	}
	work := t.Weekday() != time.Saturday && t.Weekday() != time.Sunday
	if h := HolidayUtil.GetHolidayByYmd(t.Year(), int(t.Month()), t.Day()); h != nil {
		work = h.IsWork()
	}
	c.days.Store(key, work)
	return work
}

// AddWorkdays returns the same clock time n working days after t. A report
// received on a holiday starts counting from the next working day.
func (c *Calendar) AddWorkdays(t time.Time, n int) time.Time {
	d := t.In(c.loc)
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		if c.IsWorkday(d) {
			n--
		}
	}
	return d
}
