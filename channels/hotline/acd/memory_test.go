package acd_test

import (
	"testing"

	"github.com/yihao-city/yihao/channels/hotline/acd"
	"github.com/yihao-city/yihao/channels/hotline/acd/acdtest"
)

func TestMemory(t *testing.T) {
	acdtest.Run(t, func(t *testing.T, s acd.Strategy) acd.Presence { return acd.NewMemory(s) })
}
