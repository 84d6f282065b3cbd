package live_test

import (
	"testing"

	"github.com/yihao-city/yihao/channels/live"
	"github.com/yihao-city/yihao/channels/live/livetest"
)

func TestMemory(t *testing.T) {
	livetest.Run(t, func(t *testing.T) (live.Bus, live.Bus) {
		m := live.NewMemory()
		return m, m
	})
}
