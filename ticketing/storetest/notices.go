package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

func optOutTests() []storeTest { return []storeTest{{"OptOuts", testOptOuts}} }

// testOptOuts: an opt-out holds until taken back, and again is a no-op.
func testOptOuts(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	const phone = "+8613800138000"
	if out, err := s.OptedOut(ctx, phone); err != nil || out {
		t.Fatalf("OptedOut before = %v, %v", out, err)
	}
	for range 2 {
		if err := s.OptOut(ctx, phone, "sms", base); err != nil {
			t.Fatalf("OptOut: %v", err)
		}
	}
	if out, err := s.OptedOut(ctx, phone); err != nil || !out {
		t.Fatalf("OptedOut after = %v, %v", out, err)
	}
	if out, _ := s.OptedOut(ctx, "+8613900139000"); out {
		t.Error("another number opted out too")
	}
	if err := s.OptOut(ctx, " ", "sms", base); !errors.Is(err, ticketing.ErrInvalid) {
		t.Errorf("OptOut of no address: %v", err)
	}
	if err := s.OptIn(ctx, phone); err != nil {
		t.Fatalf("OptIn: %v", err)
	}
	if out, err := s.OptedOut(ctx, phone); err != nil || out {
		t.Fatalf("OptedOut after OptIn = %v, %v", out, err)
	}
}

func hotspotTests() []storeTest { return []storeTest{{"PlaceCounts", testPlaceCounts}} }

// testPlaceCounts: tickets counted by category and cell, or community,
// within the window, those under the minimum left out, and tickets with
// no category or place not counted.
func testPlaceCounts(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	if first, err := s.FirstReceived(ctx); err != nil || !first.IsZero() {
		t.Errorf("FirstReceived of an empty store = %v, %v", first, err)
	}
	put := func(id int64, category, grid string, at time.Time) {
		t.Helper()
		tk := fullTicket(id)
		tk.ID, tk.Number, tk.ExternalID = id, ticketing.FormatNumber(id, at), fmt.Sprint("hot-", id)
		tk.Category, tk.ReceivedAt, tk.CreatedAt, tk.UpdatedAt = category, at, at, at
		tk.Area = ticketing.Area{Grid: grid}
		if grid != "" {
			tk.Area.Community = grid[:12]
		}
		if _, _, err := s.Create(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	day := base.Truncate(24 * time.Hour)
	id := int64(7000)
	next := func() int64 { id++; return id }
	for range 3 {
		put(next(), "0901", "110101001001003", day.Add(time.Hour))
	}
	put(next(), "0901", "110101001001004", day.Add(2*time.Hour))
	put(next(), "0210", "110101001001003", day.Add(3*time.Hour))
	put(next(), "0901", "110101001001003", day.Add(25*time.Hour)) // the next day
	put(next(), "", "110101001001003", day.Add(time.Hour))        // no category
	put(next(), "0901", "", day.Add(time.Hour))                   // no place
	got, err := s.PlaceCounts(ctx, ticketing.PlaceCell, day, day.Add(24*time.Hour), 1)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b ticketing.PlaceCount) int { return strings.Compare(a.Category+a.Place, b.Category+b.Place) })
	want := []ticketing.PlaceCount{{Category: "0210", Place: "110101001001003", N: 1}, {Category: "0901", Place: "110101001001003", N: 3},
		{Category: "0901", Place: "110101001001004", N: 1}}
	if !slices.Equal(got, want) {
		t.Errorf("cells: %+v, want %+v", got, want)
	}
	if got, err := s.PlaceCounts(ctx, ticketing.PlaceCommunity, day, day.Add(48*time.Hour), 2); err != nil ||
		!slices.Equal(got, []ticketing.PlaceCount{{Category: "0901", Place: "110101001001", N: 5}}) {
		t.Errorf("communities, at least 2: %+v, %v", got, err)
	}
	if got, err := s.PlaceCounts(ctx, ticketing.PlaceCity, day, day.Add(48*time.Hour), 2); err != nil ||
		!slices.Equal(got, []ticketing.PlaceCount{{Category: "0901", Place: "city", N: 6}}) {
		t.Errorf("the city, at least 2: %+v, %v", got, err)
	}
	if first, err := s.FirstReceived(ctx); err != nil || !first.Equal(day.Add(time.Hour)) {
		t.Errorf("FirstReceived = %v, %v; want %v", first, err, day.Add(time.Hour))
	}
	if _, err := s.PlaceCounts(ctx, "street", day, day.Add(time.Hour), 1); !errors.Is(err, ticketing.ErrInvalid) {
		t.Errorf("an unknown level: %v", err)
	}
}
