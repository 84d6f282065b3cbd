package sqlite_test

import (
	"testing"

	"github.com/yihao-city/yihao/ticketing/storetest"
)

func TestUsers(t *testing.T) {
	storetest.RunUsers(t, newStore)
}
