package postgres_test

import (
	"testing"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
	"github.com/yihao-city/yihao/ticketing/storetest"
)

func TestDeadlines(t *testing.T) {
	storetest.RunDeadlines(t, newStore)
}

// TestSharedDeadlines escalates through two pools on one schema, as two
// instances would.
func TestSharedDeadlines(t *testing.T) {
	u := pgtest.SchemaURL(t)
	storetest.SharedDeadlines(t, func(t *testing.T) ticketing.Store { return open(t, u) })
}
