package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// parallel runs op b.N times from parallelism × GOMAXPROCS goroutines,
// each call with a number of its own from 1 up, and reports the rate in
// unit per second.
func parallel(b *testing.B, parallelism int, unit string, op func(i int64)) {
	var n atomic.Int64
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			op(n.Add(1))
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit+"/s")
}

// BenchmarkSubmit measures Service.Submit on s from many goroutines at once
// (parallelism × GOMAXPROCS), the way concurrent intake requests arrive.
func BenchmarkSubmit(b *testing.B, s ticketing.Store, parallelism int) {
	ctx := context.Background()
	svc, _ := newService(s)
	parallel(b, parallelism, "tickets", func(i int64) {
		_, created, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: fmt.Sprint("bench-", i),
			Text: fmt.Sprint("小区门口井盖缺失，编号", i), Address: "东华门街道", Reporter: ticketing.Contact{Phone: "13800138000"}})
		if err != nil || !created {
			b.Fatalf("submit %d: created=%v err=%v", i, created, err)
		}
	})
}

// BenchmarkPositions measures AddPosition on s from many goroutines at
// once: supervisors (3,000 of them, over 40,000 cells) reporting where they
// are, each position its own commit, as the phones send them.
func BenchmarkPositions(b *testing.B, s ticketing.Store, parallelism int) {
	ctx := context.Background()
	day := base.Format("2006-01-02")
	parallel(b, parallelism, "positions", func(i int64) {
		cell := fmt.Sprintf("c%05d", i*7919%40000)
		p := ticketing.Position{User: fmt.Sprintf("sup%04d", i%3000), At: base.Add(time.Duration(i) * time.Millisecond),
			Lat: 39.9, Lon: 116.4, Area: ticketing.Area{Grid: cell, Community: cell[:4], Street: cell[:3], District: cell[:2]}}
		if err := s.AddPosition(ctx, p, day); err != nil {
			b.Fatalf("position %d: %v", i, err)
		}
	})
}

// BenchmarkCallLog measures ApplyCallEvents on s as the SIP proxy's call
// log drives it: one writer, each batch a call's arrival with the answer
// of the call before and the end of the one before that, on a table that
// grows with the run (a plan good for an empty table must still be good
// at 20,000 calls). The rate is in calls a second.
func BenchmarkCallLog(b *testing.B, s ticketing.CallStore) {
	ctx := context.Background()
	id := func(i int64) string { return fmt.Sprintf("bench-call-%d@127.0.0.1", i) }
	b.ReportAllocs()
	b.ResetTimer()
	for i := int64(1); i <= int64(b.N); i++ {
		at := base.Add(time.Duration(i) * time.Millisecond)
		evs := []ticketing.CallEvent{{CallID: id(i), Type: ticketing.CallNew, From: "13800138000", To: "12345",
			Direction: ticketing.DirectionIn, At: at}}
		if i > 1 {
			evs = append(evs, ticketing.CallEvent{CallID: id(i - 1), Type: ticketing.CallAnswer, AnsweringNumber: "5001", At: at})
		}
		if i > 2 {
			evs = append(evs, ticketing.CallEvent{CallID: id(i - 2), Type: ticketing.CallHangup, Cause: "normalClearing", At: at})
		}
		if _, err := s.ApplyCallEvents(ctx, evs); err != nil {
			b.Fatalf("call %d: %v", i, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
