package pubsub_test

import (
	"testing"

	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/pubsub/pubsubtest"
)

func TestMemory(t *testing.T) {
	pubsubtest.Run(t, func(t *testing.T) (pubsub.Bus, pubsub.Bus) {
		m := pubsub.NewMemory()
		return m, m
	})
}
