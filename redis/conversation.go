package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Conversations keep each WeChat citizen's open ticket in Redis, so the
// next message finds it whichever instance WeChat pushes it to.
type Conversations struct {
	c      goredis.Cmdable
	prefix string
}

// NewConversations keeps conversations under prefix.
func NewConversations(c goredis.Cmdable, prefix string) *Conversations {
	return &Conversations{c: c, prefix: prefix}
}

// Open returns the ticket of the citizen's conversation, if one is under way.
func (s *Conversations) Open(ctx context.Context, openID string) (string, bool, error) {
	n, err := s.c.Get(ctx, s.prefix+openID).Result()
	if errors.Is(err, goredis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("redis: conversation: %w", err)
	}
	return n, true, nil
}

// Keep starts or extends the conversation for ttl.
func (s *Conversations) Keep(ctx context.Context, openID, number string, ttl time.Duration) error {
	if err := s.c.Set(ctx, s.prefix+openID, number, ttl).Err(); err != nil {
		return fmt.Errorf("redis: conversation: %w", err)
	}
	return nil
}

// End closes the conversation.
func (s *Conversations) End(ctx context.Context, openID string) error {
	if err := s.c.Del(ctx, s.prefix+openID).Err(); err != nil {
		return fmt.Errorf("redis: conversation: %w", err)
	}
	return nil
}
