package redis_test

import (
	"testing"

	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/pubsub/pubsubtest"
	"github.com/yihao-city/yihao/redis"
)

// Two buses on two connections stand for two instances.
func TestBus(t *testing.T) {
	pubsubtest.Run(t, func(t *testing.T) (pubsub.Bus, pubsub.Bus) {
		c1, c2 := testClient(t), testClient(t)
		prefix := testPrefix(t, c1)
		return redis.NewBus(c1, prefix), redis.NewBus(c2, prefix)
	})
}
