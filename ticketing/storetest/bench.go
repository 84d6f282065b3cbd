package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// BenchmarkSubmit measures Service.Submit on s from many goroutines at once
// (parallelism × GOMAXPROCS), the way concurrent intake requests arrive.
func BenchmarkSubmit(b *testing.B, s ticketing.Store, parallelism int) {
	ctx := context.Background()
	svc, _ := newService(s)
	var n atomic.Int64
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			_, created, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: fmt.Sprint("bench-", i),
				Text: fmt.Sprint("小区门口井盖缺失，编号", i), Address: "东华门街道", Reporter: ticketing.Contact{Phone: "13800138000"}})
			if err != nil || !created {
				b.Fatalf("submit %d: created=%v err=%v", i, created, err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tickets/s")
}

// BenchmarkPositions measures AddPosition on s from many goroutines at
// once: supervisors (3,000 of them, over 40,000 cells) reporting where they
// are, each position its own commit, as the phones send them.
func BenchmarkPositions(b *testing.B, s ticketing.Store, parallelism int) {
	ctx := context.Background()
	var n atomic.Int64
	day := base.Format("2006-01-02")
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			cell := fmt.Sprintf("c%05d", i*7919%40000)
			p := ticketing.Position{User: fmt.Sprintf("sup%04d", i%3000), At: base.Add(time.Duration(i) * time.Millisecond),
				Lat: 39.9, Lon: 116.4, Area: ticketing.Area{Grid: cell, Community: cell[:4], Street: cell[:3], District: cell[:2]}}
			if err := s.AddPosition(ctx, p, day); err != nil {
				b.Fatalf("position %d: %v", i, err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "positions/s")
}
