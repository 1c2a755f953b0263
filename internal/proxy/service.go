package proxy

import (
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchd/switchd/internal/config"
)

// Snapshot is the routing state of one service. It is immutable once
// published: a change builds a new one (copy-on-write).
type Snapshot struct {
	Active     config.Color
	Generation uint64
	// Pools is indexed by Color.Index().
	Pools [2]*Pool
	// PreviewHeader is the canonical header name; PreviewSecret "" turns
	// preview off (the header is still stripped).
	PreviewHeader string
	PreviewSecret string
	// DrainTimeout is how long upgraded connections to the old colour stay
	// after a flip.
	DrainTimeout time.Duration
}

// Pool returns the pool of colour c.
func (s *Snapshot) Pool(c config.Color) *Pool { return s.Pools[c.Index()] }

// Panic reports whether colour c serves in panic: it is the active colour
// and none of its upstreams is healthy, so its traffic goes to all of them.
// An idle colour gets no traffic (preview aside), so it is never in panic,
// however dead its pool: that is what the flip gate and health report.
func (s *Snapshot) Panic(c config.Color) bool { return c == s.Active && s.Pool(c).Panic() }

// With returns a copy of s with another active colour and generation.
func (s *Snapshot) With(active config.Color, gen uint64) *Snapshot {
	n := *s
	n.Active, n.Generation = active, gen
	return &n
}

// Service is one service's live routing state. Create it with NewService.
type Service struct {
	name     string
	snap     atomic.Pointer[Snapshot]
	observer Observer // set once by NewService, never nil
	inflight [2]atomic.Int64
	entering atomic.Int64 // requests between snapshot load and inflight count
	// errLimit keeps one service's outage from flooding the log or hiding
	// another's errors; metrics count every one.
	errLimit logLimit
	upgrades [2]connSet

	mu      sync.Mutex
	timers  map[*time.Timer]struct{}
	retired [2]uint64 // Retire calls per colour
}

// NewService returns a service that routes by first. obs may be nil.
func NewService(name string, first *Snapshot, obs Observer) *Service {
	s := &Service{name: name, timers: map[*time.Timer]struct{}{}, errLimit: logLimit{perSecond: 20}}
	s.Publish(first)
	if obs == nil {
		obs = nopObserver{}
	}
	s.observer = obs
	return s
}

// Name returns the service's name.
func (s *Service) Name() string { return s.name }

// Snapshot returns the current routing state.
func (s *Service) Snapshot() *Snapshot { return s.snap.Load() }

// Publish makes next the routing state for every request that starts from
// now on. Callers serialise Publish themselves (one owner of the switch).
func (s *Service) Publish(next *Snapshot) {
	next.PreviewHeader = http.CanonicalHeaderKey(next.PreviewHeader)
	s.snap.Store(next)
}

// Inflight returns the requests to colour c being proxied now, upgraded
// connections included.
func (s *Service) Inflight(c config.Color) int64 { return s.inflight[c.Index()].Load() }

// Drained reports whether no request is in flight to colour c, nor about
// to start on it. It is only meaningful once c is no longer active.
//
// entering is read first: a request counts itself in flight before it
// leaves entering, so a zero entering followed by a zero in-flight count
// cannot miss one (the other order can).
func (s *Service) Drained(c config.Color) bool {
	return s.entering.Load() == 0 && s.inflight[c.Index()].Load() == 0
}

// Upgraded returns the open upgraded (WebSocket) connections to colour c.
func (s *Service) Upgraded(c config.Color) int { return s.upgrades[c.Index()].len() }

// Retire is called after old stopped being the active colour: it closes the
// old pool's idle keep-alive connections now, and after drain closes the
// upgraded connections to old that were opened before the flip, unless old
// is active again by then.
func (s *Service) Retire(old config.Color, drain time.Duration) {
	snap := s.snap.Load()
	for _, u := range snap.Pool(old).upstreams {
		u.CloseIdle()
	}
	cutoff := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timers == nil { // closed
		return
	}
	// Only the latest retirement of a colour counts: after blue → green →
	// blue → green, blue's connections get the full drain from the last
	// flip, not from the first.
	s.retired[old.Index()]++
	gen := s.retired[old.Index()]
	var t *time.Timer
	t = time.AfterFunc(drain, func() {
		s.mu.Lock()
		delete(s.timers, t)
		latest := s.retired[old.Index()] == gen
		s.mu.Unlock()
		if latest && s.snap.Load().Active != old {
			s.upgrades[old.Index()].closeBefore(cutoff)
		}
	})
	s.timers[t] = struct{}{}
}

// RetireUpstreams is called after gone left the service's pools (a pool
// change): their idle connections close now, and after drain the upgraded
// connections to them opened before now, unless a pool holds them again by
// then. Requests in flight to them finish on their own.
func (s *Service) RetireUpstreams(gone []*Upstream, drain time.Duration) {
	if len(gone) == 0 {
		return
	}
	for _, u := range gone {
		u.CloseIdle()
	}
	cutoff := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timers == nil { // closed
		return
	}
	var t *time.Timer
	t = time.AfterFunc(drain, func() {
		s.mu.Lock()
		delete(s.timers, t)
		s.mu.Unlock()
		snap := s.snap.Load()
		back := map[*Upstream]bool{}
		for _, p := range snap.Pools {
			for _, u := range p.upstreams {
				back[u] = true
			}
		}
		for _, u := range gone {
			if !back[u] {
				u.CloseIdle() // the ones in flight at removal have finished by now
			}
		}
		for i := range s.upgrades {
			s.upgrades[i].closeIf(cutoff, func(u *Upstream) bool { return slices.Contains(gone, u) && !back[u] })
		}
	})
	s.timers[t] = struct{}{}
}

// Close stops pending drain timers and closes every upgraded connection and
// idle upstream connection. Used at shutdown and when a reload removes the
// service.
func (s *Service) Close() {
	s.mu.Lock()
	for t := range s.timers {
		t.Stop()
	}
	s.timers = nil
	s.mu.Unlock()
	snap := s.snap.Load()
	for i := range s.upgrades {
		s.upgrades[i].closeBefore(time.Now().Add(time.Hour))
		for _, u := range snap.Pools[i].upstreams {
			u.CloseIdle()
		}
	}
}
