package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/yihao-city/yihao/ticketing/sqlite"
	"github.com/yihao-city/yihao/ticketing/storetest"
)

func openDeliveries(t *testing.T, path string) storetest.DeliveryStore {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestDeliveries(t *testing.T) {
	storetest.RunDeliveries(t, func(t *testing.T) storetest.DeliveryStore {
		return openDeliveries(t, filepath.Join(t.TempDir(), "yihao.db"))
	})
}

// TestSharedDeliveries opens the file twice, as two processes would.
func TestSharedDeliveries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "yihao.db")
	storetest.SharedDeliveries(t, func(t *testing.T) storetest.DeliveryStore { return openDeliveries(t, path) })
}
