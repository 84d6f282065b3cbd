package hotline

import "time"

// SweepOnce runs one pass of the stale-call sweep at now.
func (s *SIP) SweepOnce(now time.Time) { s.sweepOnce(now) }
