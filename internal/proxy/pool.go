package proxy

import (
	"sync/atomic"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/health"
)

// Pool is the upstreams of one colour of one service. Its slice never
// changes after NewPool; a reload builds a new Pool.
type Pool struct {
	color     config.Color
	upstreams []*Upstream
	next      atomic.Uint32 // round-robin cursor
}

// NewPool returns a pool of the given upstreams (which may be empty).
func NewPool(c config.Color, ups []*Upstream) *Pool {
	return &Pool{color: c, upstreams: ups}
}

// Color returns the pool's colour.
func (p *Pool) Color() config.Color { return p.color }

// Upstreams returns the pool's upstreams; the caller must not modify it.
func (p *Pool) Upstreams() []*Upstream { return p.upstreams }

// Counts returns how many upstreams are Up, how many are known Down (a
// probe confirmed it: a failed live request alone does not count), and the
// total.
func (p *Pool) Counts() (up, down, total int) {
	for _, u := range p.upstreams {
		switch {
		case u.health.State() == health.Up:
			up++
		case u.health.ConfirmedDown():
			down++
		}
	}
	return up, down, len(p.upstreams)
}

// Panic reports whether no upstream is healthy, so selection uses them all.
func (p *Pool) Panic() bool {
	up, _, total := p.Counts()
	return total > 0 && up == 0
}

// pick returns the next upstream in round-robin order other than skip:
// healthy ones first, and any of them when none is healthy ("panic").
// It returns nil when the pool has no upstream other than skip.
func (p *Pool) pick(skip *Upstream) *Upstream {
	n := uint32(len(p.upstreams))
	if n == 0 {
		return nil
	}
	start := p.next.Add(1)
	var fallback *Upstream
	for i := uint32(0); i < n; i++ {
		u := p.upstreams[(start+i)%n]
		if u == skip {
			continue
		}
		if u.health.State() == health.Up {
			return u
		}
		if fallback == nil {
			fallback = u
		}
	}
	return fallback
}
