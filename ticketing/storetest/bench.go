package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

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
