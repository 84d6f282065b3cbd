package redis_test

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yihao-city/yihao/channels/hotline/sipauth"
	"github.com/yihao-city/yihao/channels/hotline/sipauth/sipauthtest"
	"github.com/yihao-city/yihao/redis"
)

// sharedPrefix gives each test one key prefix, so that two handles made in
// one test (two instances, each with its own connection) share their keys.
type sharedPrefix map[*testing.T]string

func (s sharedPrefix) get(t *testing.T, c *goredis.Client) string {
	if p, ok := s[t]; ok {
		return p
	}
	s[t] = testPrefix(t, c)
	return s[t]
}

func TestLockout(t *testing.T) {
	prefixes := sharedPrefix{}
	sipauthtest.RunLockout(t, func(t *testing.T, p sipauth.Policy) sipauth.Lockout {
		c := testClient(t)
		return redis.NewLockout(testCommands(t, c), prefixes.get(t, c), p)
	})
}

func TestNonceLedger(t *testing.T) {
	prefixes := sharedPrefix{}
	sipauthtest.RunNonceLedger(t, func(t *testing.T) sipauth.NonceLedger {
		c := testClient(t)
		return redis.NewNonceLedger(testCommands(t, c), prefixes.get(t, c))
	})
}
