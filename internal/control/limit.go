package control

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Failed authentication is limited per source: a burst of failBurst, then
// one more every failEvery. A source with nothing left is refused (429)
// before its token is even looked at, so that guessing is slowed for real,
// also for a guess that would have been right.
const (
	failBurst = 10
	failEvery = 6 * time.Second
	// maxSources bounds the limiters kept: an attacker with many
	// addresses must not grow memory without limit.
	maxSources = 4096
)

// failLimiter is the per-source limiter of failed authentication. Sources
// beyond maxSources whose buckets are not full share one overflow bucket:
// under an attack from that many addresses a new source is limited with
// them rather than given a fresh burst.
type failLimiter struct {
	mu        sync.Mutex
	limit     rate.Limit
	burst     int
	max       int
	sources   map[string]*rate.Limiter
	overflow  *rate.Limiter
	lastSweep time.Time
}

func newFailLimiter(every time.Duration, burst, max int) *failLimiter {
	return &failLimiter{limit: rate.Every(every), burst: burst, max: max,
		sources: map[string]*rate.Limiter{}, overflow: rate.NewLimiter(rate.Every(every), burst)}
}

// blocked reports whether src may not try now, and when it may again.
func (l *failLimiter) blocked(src string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.sources[src]
	if lim == nil {
		if len(l.sources) < l.max {
			return 0, false // a fresh source has its whole burst
		}
		lim = l.overflow
	}
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - tokens) / float64(l.limit) * float64(time.Second)), true
}

// failed takes one try from src's bucket.
func (l *failLimiter) failed(src string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.sources[src]
	if lim == nil {
		if len(l.sources) >= l.max {
			l.sweep(now)
		}
		if len(l.sources) >= l.max {
			lim = l.overflow
		} else {
			lim = rate.NewLimiter(l.limit, l.burst)
			l.sources[src] = lim
		}
	}
	lim.AllowN(now, 1)
}

// sweep forgets the sources whose bucket has refilled: a full bucket is
// what a new source gets, so nothing is lost. At most once a second, so
// that a full map of active attackers does not cost a scan per request.
func (l *failLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < time.Second {
		return
	}
	l.lastSweep = now
	for k, lim := range l.sources {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.sources, k)
		}
	}
}

// size is how many sources are tracked (tests).
func (l *failLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sources)
}

// sourceKey is the limiter's key for a RemoteAddr: the IPv4 address, the
// /64 of an IPv6 one (what one subscriber usually gets, so a host cannot
// walk its own prefix for fresh buckets), or "unix" for a unix socket.
func sourceKey(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		if a, err := netip.ParseAddr(remote); err == nil {
			ap = netip.AddrPortFrom(a, 0)
		} else {
			return "unix"
		}
	}
	ip := ap.Addr().WithZone("").Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
