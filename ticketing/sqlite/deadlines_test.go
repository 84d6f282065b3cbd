package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/storetest"
)

func TestDeadlines(t *testing.T) {
	storetest.RunDeadlines(t, newStore)
}

// TestSharedDeadlines opens the file twice, as two processes would.
func TestSharedDeadlines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "yihao.db")
	storetest.SharedDeadlines(t, func(t *testing.T) ticketing.Store { return open(t, path) })
}
