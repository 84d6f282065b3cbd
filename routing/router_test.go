package routing_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/configs"
	"github.com/yihao-city/yihao/routing"
	"github.com/yihao-city/yihao/ticketing"
)

func demoRouter(t *testing.T) *routing.Router {
	t.Helper()
	c, err := routing.LoadCatalogue(bytes.NewReader(configs.DemoCatalogue))
	if err != nil {
		t.Fatal(err)
	}
	r, err := routing.NewRouter(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoute(t *testing.T) {
	r := demoRouter(t)
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	// Wednesday 25 November 2026, 10:00.
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, shanghai)
	tests := []struct {
		name     string
		rep      ticketing.Report
		category string
		dept     string
		auto     bool
		due      time.Time
		reason   string
	}{
		{"keyword", ticketing.Report{Text: "小区门口井盖缺失，晚上很危险"}, "0103", "swj", true, at.Add(24 * time.Hour), "井盖缺失"},
		{"longer keyword wins", ticketing.Report{Text: "自来水井盖松动"}, "0101", "swj", true, at.Add(24 * time.Hour), "自来水井盖"},
		{"working days skip the weekend", ticketing.Report{Text: "楼下路灯不亮好几天了"}, "0210", "cgw", true,
			time.Date(2026, 11, 30, 10, 0, 0, 0, shanghai), "路灯"},
		{"citizen's category", ticketing.Report{Text: "随便说点", Category: "labor"}, "labor", "rsj", true,
			time.Date(2026, 12, 4, 10, 0, 0, 0, shanghai), "劳动保障"},
		{"line default", ticketing.Report{Text: "我要反映个情况", Line: "12315"}, "consumer", "scjgj", true,
			time.Date(2026, 12, 4, 10, 0, 0, 0, shanghai), "12315"},
		{"no match goes to triage", ticketing.Report{Text: "我要反映个情况", Line: "12345"}, "", "", false, time.Time{}, "人工"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.rep.ReceivedAt = at
			a, err := r.Route(context.Background(), tc.rep)
			if err != nil {
				t.Fatal(err)
			}
			if a.Category != tc.category || a.Department != tc.dept || a.AutoDispatch != tc.auto || !a.Deadline.Equal(tc.due) {
				t.Errorf("got category %q dept %q auto %v due %v; want %q %q %v %v", a.Category, a.Department, a.AutoDispatch, a.Deadline, tc.category, tc.dept, tc.auto, tc.due)
			}
			if !strings.Contains(a.Reason, tc.reason) {
				t.Errorf("reason %q does not mention %q", a.Reason, tc.reason)
			}
		})
	}
}

func TestRouteUnknownCategory(t *testing.T) {
	_, err := demoRouter(t).Route(context.Background(), ticketing.Report{Text: "x", Category: "9999", ReceivedAt: time.Now()})
	var e *ticketing.Error
	if !errors.As(err, &e) || e.Kind != ticketing.KindInvalid || e.Field != "category" {
		t.Fatalf("err = %v, want invalid category", err)
	}
}

func TestCalendarHolidays(t *testing.T) {
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	cal := routing.NewCalendar(shanghai)
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 9, 0, 0, 0, shanghai) }
	tests := []struct {
		day  time.Time
		work bool
	}{
		{day(10, 1), false},  // National Day
		{day(10, 7), false},  // still the Golden Week
		{day(11, 25), true},  // an ordinary Wednesday
		{day(11, 28), false}, // an ordinary Saturday
	}
	for _, tc := range tests {
		if got := cal.IsWorkday(tc.day); got != tc.work {
			t.Errorf("IsWorkday(%s) = %v, want %v", tc.day.Format("2006-01-02"), got, tc.work)
		}
	}
	// 2026-09-30 (Wed) + 1 working day skips the whole National Day holiday.
	got := cal.AddWorkdays(day(9, 30), 1)
	if got.Month() != 10 || got.Day() < 8 {
		t.Errorf("AddWorkdays(9-30, 1) = %s, want a day after the holiday", got.Format("2006-01-02"))
	}
}

func TestLoadCatalogueRejectsBadConfig(t *testing.T) {
	for name, y := range map[string]string{
		"unknown department": "default_deadline: {hours: 1}\ncategories: [{code: a, name: A, department: x}]",
		"no default":         "departments: [{code: d, name: D}]",
		"unknown field":      "default_deadline: {hours: 1}\nbogus: 1",
		"bad line default":   "default_deadline: {hours: 1}\nlines: [{number: '1', default_category: zz}]",
	} {
		if _, err := routing.LoadCatalogue(strings.NewReader(y)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
