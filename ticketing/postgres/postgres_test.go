package postgres_test

import (
	"context"
	"testing"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
	"github.com/yihao-city/yihao/ticketing/storetest"
)

func open(t testing.TB, u string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newStore(t *testing.T) ticketing.Store { return open(t, pgtest.SchemaURL(t)) }

func TestConformance(t *testing.T) {
	storetest.Run(t, newStore)
}

func TestReopen(t *testing.T) {
	u := pgtest.SchemaURL(t)
	storetest.Reopen(t, func(t *testing.T) ticketing.Store { return open(t, u) })
}

func TestSharedDatabase(t *testing.T) {
	u := pgtest.SchemaURL(t)
	storetest.SharedDatabase(t, func(t *testing.T) ticketing.Store { return open(t, u) })
}

// BenchmarkSubmit: go test -bench Submit -benchtime 20000x ./ticketing/postgres
func BenchmarkSubmit(b *testing.B) {
	storetest.BenchmarkSubmit(b, open(b, pgtest.SchemaURL(b)+"&pool_max_conns=16"), 8)
}
