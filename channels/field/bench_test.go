package field_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// BenchmarkPositionsHTTP measures POST /api/v1/field/positions end to end
// on PostgreSQL: the bearer token and its user looked up, the point placed
// in the demo grid, the position and the cell's visit committed; 100
// supervisors' phones over loopback, 32 requests in flight.
func BenchmarkPositionsHTTP(b *testing.B) {
	e := newEnv(b, stores[1].open(b))
	ctx := context.Background()
	hash, err := ticketing.HashPassword("correct horse battery")
	if err != nil {
		b.Fatal(err)
	}
	var tokens []string
	for i := range 100 {
		u := &ticketing.User{Name: fmt.Sprintf("sup%03d", i), Role: ticketing.RoleSupervisor, PasswordHash: hash, UpdatedAt: time.Now()}
		if err := e.store.PutUser(ctx, u); err != nil {
			b.Fatal(err)
		}
		secret, tok, err := ticketing.NewUserToken(u, "phone", time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if err := e.store.CreateToken(ctx, tok); err != nil {
			b.Fatal(err)
		}
		tokens = append(tokens, secret)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"lat":%.5f,"lon":%.5f}`, 39.95+float64(i%10)*0.0004, 116.37+float64(i%7)*0.0004)
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/field/positions", bytes.NewReader([]byte(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tokens[i%int64(len(tokens))])
			res, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Fatalf("position %d: %d", i, res.StatusCode)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "positions/s")
}
