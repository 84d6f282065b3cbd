package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/sqlite"
	"github.com/yihao-city/yihao/ticketing/storetest"
)

func newStore(t *testing.T) ticketing.Store { return open(t, filepath.Join(t.TempDir(), "yihao.db")) }

func open(t testing.TB, path string) ticketing.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStore runs the conformance suite, each case on a file of its own.
func TestStore(t *testing.T) {
	storetest.Run(t, newStore)
}

// TestShared runs the cases of two stores on one file, as two processes.
func TestShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) storetest.NewStore {
		path := filepath.Join(t.TempDir(), "yihao.db")
		return func(t *testing.T) ticketing.Store { return open(t, path) }
	})
}

// TestCacheBudget: the connections open with the page cache's budget, the
// readers' share half the writer's (sqlite.go, writerCache), so SQLite's one
// page pool stays bounded as the call log grows.
func TestCacheBudget(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "yihao.db")).(*sqlite.Store)
	w, r, err := sqlite.CacheSizes(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if w != -2000 || r != -1000 {
		t.Fatalf("cache_size: writer %d, reader %d; want -2000 and -1000 (KiB)", w, r)
	}
}

// BenchmarkSubmit: go test -bench Submit -benchtime 20000x ./ticketing/sqlite
func BenchmarkSubmit(b *testing.B) {
	storetest.BenchmarkSubmit(b, open(b, filepath.Join(b.TempDir(), "yihao.db")), 8)
}

// BenchmarkCallLog: the SIP proxy's call log, batch after batch, on a
// growing table.
func BenchmarkCallLog(b *testing.B) {
	storetest.BenchmarkCallLog(b, open(b, filepath.Join(b.TempDir(), "yihao.db")))
}

// BenchmarkPositions: the supervisors' patrol positions, one commit each.
func BenchmarkPositions(b *testing.B) {
	storetest.BenchmarkPositions(b, open(b, filepath.Join(b.TempDir(), "yihao.db")), 8)
}
