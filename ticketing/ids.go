package ticketing

import (
	"context"
	"sync"
)

// IDBlocks hands out ticket ids from blocks reserved in the database, so a
// submit costs no extra round trip for its id. Blocks never overlap, across
// instances too; ids skipped when an instance stops are simply never used.
type IDBlocks struct {
	size    int64
	reserve func(ctx context.Context) (start int64, err error)

	mu         sync.Mutex
	next, stop int64
}

// NewIDBlocks returns an allocator whose reserve returns the first id of a
// fresh block of size ids.
func NewIDBlocks(size int64, reserve func(ctx context.Context) (int64, error)) *IDBlocks {
	return &IDBlocks{size: size, reserve: reserve}
}

// Next returns an id no caller, in any instance, has had before.
func (b *IDBlocks) Next(ctx context.Context) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next == b.stop {
		start, err := b.reserve(ctx)
		if err != nil {
			return 0, err
		}
		b.next, b.stop = start, start+b.size
	}
	id := b.next
	b.next++
	return id, nil
}
