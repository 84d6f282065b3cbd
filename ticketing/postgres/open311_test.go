package postgres_test

import (
	"testing"

	"github.com/yihao-city/yihao/ticketing/storetest"
)

func TestListings(t *testing.T) {
	storetest.RunListings(t, newStore)
}
