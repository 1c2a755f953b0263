package proxy

import (
	"sync/atomic"
	"time"
)

// logLimit lets through at most perSecond lines a second, so that an
// outage (every request failing) does not turn into a log flood; the lines
// it held back are counted in the next one it lets through.
type logLimit struct {
	perSecond int64
	sec       atomic.Int64
	n         atomic.Int64
	held      atomic.Int64
}

// allow reports whether a line may be written now and, if so, how many
// were held back before it.
func (l *logLimit) allow(now time.Time) (bool, int64) {
	s := now.Unix()
	if old := l.sec.Load(); old != s && l.sec.CompareAndSwap(old, s) {
		l.n.Store(0)
	}
	if l.n.Add(1) > l.perSecond {
		l.held.Add(1)
		return false, 0
	}
	return true, l.held.Swap(0)
}
