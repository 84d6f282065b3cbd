package sqlite_test

import (
	"testing"

	"github.com/yihao-city/yihao/ticketing/storetest"
)

func TestCalls(t *testing.T) {
	storetest.RunCalls(t, newStore)
}

func TestAgents(t *testing.T) {
	storetest.RunAgents(t, newStore)
}
