package ticketing_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/sqlite"
)

// previewRouter knows street lights (路灯) and potholes (坑), places two
// addresses on the map, refuses unknown category hints and is down for
// any text about an outage (停电).
type previewRouter struct{}

var previewPlaces = map[string]ticketing.Point{
	"和平路12号": {Lat: 39.9000, Lon: 116.4000},
	"和平路14号": {Lat: 39.9002, Lon: 116.4001}, // about 25 m on
	"解放路88号": {Lat: 39.9300, Lon: 116.4400}, // kilometres away
}

func (previewRouter) Route(_ context.Context, r ticketing.Report) (ticketing.Assignment, error) {
	if strings.Contains(r.Text, "停电") {
		return ticketing.Assignment{}, errors.New("classifier unreachable")
	}
	a := ticketing.Assignment{Priority: ticketing.PriorityNormal, Suggestions: []ticketing.Suggestion{
		{Category: "0101", Name: "路灯", Confidence: 0.2}, {Category: "0102", Name: "道路坑洼", Confidence: 0.1}}}
	if p, ok := previewPlaces[r.Address]; ok {
		a.Location = &p
		a.Area = ticketing.Area{Grid: "g1", Street: "s1", District: "d1"}
	}
	cat := r.Category
	switch {
	case cat == "" && strings.Contains(r.Text, "路灯"):
		cat = "0101"
	case cat == "" && strings.Contains(r.Text, "坑"):
		cat = "0102"
	}
	switch cat {
	case "":
		a.Reason = "未能自动确定分类，转人工派单"
		return a, nil
	case "0101":
		a.Category, a.CategoryName, a.Department, a.DepartmentName = "0101", "路灯", "cgw", "城管委"
		a.Suggestions[0].Confidence = 0.9
	case "0102":
		a.Category, a.CategoryName, a.Department, a.DepartmentName = "0102", "道路坑洼", "jtw", "交通委"
		a.Suggestions[1].Confidence = 0.9
	default:
		return ticketing.Assignment{}, ticketing.Invalid("category", "unknown category %q", cat)
	}
	a.Deadline = r.ReceivedAt.Add(48 * time.Hour)
	a.AutoDispatch, a.Rule, a.Reason = true, "category:"+cat, "关键词；由"+a.DepartmentName+"主办；时限2天"
	return a, nil
}

func TestPreviewReport(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "yihao.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	svc := ticketing.NewService(store, previewRouter{}, ticketing.WithClock(func() time.Time { return now }),
		ticketing.WithDuplicates(ticketing.DuplicatePolicy{Radius: 100, Window: 72 * time.Hour, AutoMerge: 0.95}))

	// Open tickets: a street light next door, the same far away, a pothole
	// at the same place; and a street light here answered on the call.
	submit := func(id, text, address string) *ticketing.Ticket {
		t.Helper()
		tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: id, Text: text, Address: address,
			ReceivedAt: now.Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	light := submit("near", "和平路14号路灯不亮", "和平路14号")
	submit("far", "解放路88号路灯不亮", "解放路88号")
	pothole := submit("pothole", "和平路12号门口有个大坑", "和平路12号")
	if _, _, err := svc.SubmitResolved(ctx, ticketing.Report{Channel: ticketing.ChannelPhone, ExternalID: "answered",
		Text: "和平路12号路灯又坏了", Address: "和平路12号"}, "agent:2001", "已转告路灯所，今晚修复。"); err != nil {
		t.Fatal(err)
	}
	before, err := store.List(ctx, ticketing.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("routed, with the open ticket nearby", func(t *testing.T) {
		a, dups, err := svc.PreviewReport(ctx, ticketing.Report{Channel: ticketing.ChannelPhone, Text: "  和平路12号门口路灯不亮  ", Address: "和平路12号"})
		if err != nil {
			t.Fatal(err)
		}
		if a.Category != "0101" || a.Department != "cgw" || !a.AutoDispatch || a.Reason == "" || a.Area.Grid != "g1" {
			t.Errorf("assignment %+v", a)
		}
		if want := now.Add(48 * time.Hour); !a.Deadline.Equal(want) {
			t.Errorf("deadline %v, want %v: counted from now", a.Deadline, want)
		}
		if len(a.Suggestions) != 2 || a.Suggestions[0].Category != "0101" {
			t.Errorf("suggestions %+v", a.Suggestions)
		}
		if len(dups) != 1 || dups[0].Ticket.Number != light.Number {
			t.Fatalf("nearby %+v, want only %s (same category, open, within 100 m)", dups, light.Number)
		}
		if d := dups[0].Distance; d < 15 || d > 35 {
			t.Errorf("distance %.1f m, want about 25", d)
		}
	})

	for _, tc := range []struct {
		name     string
		r        ticketing.Report
		field    string // of a KindInvalid error
		category string
		reason   string // a substring of the reason
		nearby   string // the one open ticket nearby, if any
	}{
		{name: "category hint", r: ticketing.Report{Text: "和平路12号门口路灯不亮", Category: "0102", Address: "和平路12号"},
			category: "0102", reason: "交通委", nearby: pothole.Number},
		{name: "no place, no duplicates", r: ticketing.Report{Text: "家门口路灯不亮"}, category: "0101", reason: "城管委"},
		{name: "unclassified", r: ticketing.Report{Text: "想咨询一下政策", Address: "和平路12号"}, reason: "人工派单"},
		{name: "routing down", r: ticketing.Report{Text: "和平路12号停电了，路灯也不亮", Address: "和平路12号"}, reason: "不可用"},
		{name: "no text", r: ticketing.Report{Text: "   ", Address: "和平路12号"}, field: "text"},
		{name: "control characters", r: ticketing.Report{Text: "路灯\x00不亮"}, field: "text"},
		{name: "unknown category", r: ticketing.Report{Text: "路灯不亮", Category: "9999"}, field: "category"},
		{name: "address too long", r: ticketing.Report{Text: "路灯不亮", Address: strings.Repeat("路", ticketing.MaxAddressRunes+1)}, field: "address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.Channel = ticketing.ChannelPhone
			a, dups, err := svc.PreviewReport(ctx, tc.r)
			if tc.field != "" {
				var e *ticketing.Error
				if !errors.As(err, &e) || e.Kind != ticketing.KindInvalid || e.Field != tc.field {
					t.Fatalf("error %v, want invalid %s", err, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Category != tc.category || !strings.Contains(a.Reason, tc.reason) {
				t.Errorf("category %q reason %q; want %q and %q", a.Category, a.Reason, tc.category, tc.reason)
			}
			if tc.category == "" && (a.Department != "" || a.AutoDispatch) {
				t.Errorf("without a category: department %q, auto-dispatch %v", a.Department, a.AutoDispatch)
			}
			var got []string
			for _, d := range dups {
				got = append(got, d.Ticket.Number)
			}
			if want := []string{tc.nearby}; tc.nearby == "" && len(got) != 0 || tc.nearby != "" && !slices.Equal(got, want) {
				t.Errorf("nearby %v, want %q", got, tc.nearby)
			}
		})
	}

	// Previews stored nothing.
	after, err := store.List(ctx, ticketing.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("%d tickets after the previews, want %d", len(after), len(before))
	}
}
