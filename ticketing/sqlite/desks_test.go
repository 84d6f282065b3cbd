package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/storetest"
)

func TestQueue(t *testing.T) {
	storetest.RunQueue(t, newStore)
}

func TestAudit(t *testing.T) {
	storetest.RunAudit(t, newStore)
}

func TestIndicators(t *testing.T) {
	storetest.RunIndicators(t, newStore)
}

// TestSharedIndicators opens the file twice, as two processes would.
func TestSharedIndicators(t *testing.T) {
	path := filepath.Join(t.TempDir(), "yihao.db")
	storetest.SharedIndicators(t, func(t *testing.T) ticketing.Store { return open(t, path) })
}
