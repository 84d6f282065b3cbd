// Package pgtest gives tests an isolated schema on the real PostgreSQL.
package pgtest

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// URL is the server tests run against: YIHAO_TEST_DATABASE_URL, or the local one.
func URL() string {
	if u := os.Getenv("YIHAO_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// SchemaURL returns a URL whose connections use a fresh schema (through
// search_path), dropped when the test ends. Tests run in parallel without
// seeing each other's tables.
func SchemaURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, URL())
	if err != nil {
		t.Fatalf("PostgreSQL at %s is not reachable (set YIHAO_TEST_DATABASE_URL): %v", URL(), err)
	}
	defer func() { _ = conn.Close(ctx) }()
	schema := "yihao_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, URL())
		if err != nil {
			return
		}
		defer func() { _ = c.Close(ctx) }()
		_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE") // best effort
	})
	u, err := url.Parse(URL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
