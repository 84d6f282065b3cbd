package postgres_test

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/storetest"
)

// testURL is the real server the suite runs against.
func testURL() string {
	if u := os.Getenv("YIHAO_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// schemaURL returns a URL whose connections use a fresh schema, dropped when the test ends.
func schemaURL(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testURL())
	if err != nil {
		t.Fatalf("PostgreSQL at %s is not reachable (set YIHAO_TEST_DATABASE_URL): %v", testURL(), err)
	}
	defer conn.Close(ctx)
	schema := "yihao_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), testURL())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") //nolint:errcheck
	})
	u, err := url.Parse(testURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func open(t testing.TB, u string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newStore(t *testing.T) ticketing.Store { return open(t, schemaURL(t)) }

func TestConformance(t *testing.T) {
	storetest.Run(t, newStore)
}

func TestReopen(t *testing.T) {
	u := schemaURL(t)
	storetest.Reopen(t, func(t *testing.T) ticketing.Store { return open(t, u) })
}

func TestSharedDatabase(t *testing.T) {
	u := schemaURL(t)
	storetest.SharedDatabase(t, func(t *testing.T) ticketing.Store { return open(t, u) })
}

// BenchmarkSubmit: go test -bench Submit -benchtime 20000x ./ticketing/postgres
func BenchmarkSubmit(b *testing.B) {
	storetest.BenchmarkSubmit(b, open(b, schemaURL(b)+"&pool_max_conns=16"), 8)
}
