package hotline

import "time"

// SweepOnce runs one pass of the stale-call sweep at now.
func (s *SIP) SweepOnce(now time.Time) { s.sweepOnce(now) }

// RenewHolds runs one round of hold renewal at now.
func (s *SIP) RenewHolds(now time.Time) { s.renewHolds(now) }

// Dialogs is how many answered calls this instance is keeping.
func (s *SIP) Dialogs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.dialogs)
}

// EarlierOf looks up many callers' earlier tickets at once, as the pop
// relay does for a batch of pops.
var EarlierOf = earlierOf
