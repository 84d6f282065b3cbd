package redis_test

import (
	"testing"

	"github.com/yihao-city/yihao/channels/live"
	"github.com/yihao-city/yihao/channels/live/livetest"
	"github.com/yihao-city/yihao/redis"
)

// Two buses on two connections stand for two instances.
func TestBus(t *testing.T) {
	livetest.Run(t, func(t *testing.T) (live.Bus, live.Bus) {
		c1, c2 := testClient(t), testClient(t)
		prefix := testPrefix(t, c1)
		return redis.NewBus(c1, prefix), redis.NewBus(c2, prefix)
	})
}
