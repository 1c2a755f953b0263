package guard

import (
	"sync/atomic"
	"time"

	"github.com/switchd/switchd/internal/config"
)

// Service records the outcome of requests of one service. Get it from
// Guard.Service and keep the pointer (for example in the routing snapshot):
// it stays valid across Configure updates. A nil *Service records nothing.
type Service struct {
	clk *clock
	win [2]atomic.Pointer[Window] // by Color.Index()

	// Geometry of the windows; written under Guard.mu only.
	length  time.Duration
	latency bool
}

// RecordAt counts one request to colour c that completed at end. isErr is
// true for a 5xx from the upstream and for the 502/504 switchd answered
// because the upstream could not; a 4xx or a client that went away is not
// an error. latency feeds the p99 trigger when max_p99 is set. A proxy that
// has just read the clock to measure latency passes that reading, which
// saves a clock read (most of the cost). end must carry a monotonic reading
// (any time.Now() does); a zero end means now. O(1), no allocation, no lock
// shared between requests.
func (s *Service) RecordAt(c config.Color, isErr bool, latency time.Duration, end time.Time) {
	if s == nil || !c.Valid() {
		return
	}
	now := s.clk.mono(end)
	if end.IsZero() {
		now = s.clk.monoNow()
	}
	s.win[c.Index()].Load().Record(now, isErr, latency)
}
