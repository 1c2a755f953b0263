package h1

import (
	"sync"
	"time"
)

// idlePool keeps idle connections as a stack: the most recently used one
// goes out first (its socket and the upstream's worker are warm), and the
// bottom of the stack is the oldest, where the sweep starts. Nothing runs
// while the pool is empty; while it is not, one timer closes what has been
// idle for the idle timeout.
type idlePool struct {
	max     int
	timeout time.Duration

	mu    sync.Mutex
	conns []*conn // idleAt ascending
	timer *time.Timer
	armed bool
}

func (p *idlePool) init(max int, timeout time.Duration) {
	p.max, p.timeout = max, timeout
}

// get pops the newest idle connection that is still usable, closing the
// ones that are not on the way; nil when none is left.
func (p *idlePool) get() *conn {
	for {
		p.mu.Lock()
		n := len(p.conns)
		if n == 0 {
			p.mu.Unlock()
			return nil
		}
		c := p.conns[n-1]
		p.conns[n-1] = nil
		p.conns = p.conns[:n-1]
		p.mu.Unlock()
		if (p.timeout > 0 && time.Since(c.idleAt) >= p.timeout) || !c.alive() {
			c.close()
			continue
		}
		return c
	}
}

// put keeps c for the next request, or closes it when the pool is full.
func (p *idlePool) put(c *conn) {
	c.idleAt = time.Now()
	p.mu.Lock()
	if len(p.conns) >= p.max {
		p.mu.Unlock()
		c.close()
		return
	}
	p.conns = append(p.conns, c)
	if p.timeout > 0 && !p.armed {
		p.armed = true
		if p.timer == nil {
			p.timer = time.AfterFunc(p.timeout, p.sweep)
		} else {
			p.timer.Reset(p.timeout)
		}
	}
	p.mu.Unlock()
}

// sweep closes the connections idle for the timeout and sets the timer
// for the oldest of the rest.
func (p *idlePool) sweep() {
	now := time.Now()
	p.mu.Lock()
	i := 0
	for i < len(p.conns) && now.Sub(p.conns[i].idleAt) >= p.timeout {
		i++
	}
	old := make([]*conn, i)
	copy(old, p.conns[:i])
	n := copy(p.conns, p.conns[i:])
	clear(p.conns[n:])
	p.conns = p.conns[:n]
	if p.armed = n > 0; p.armed {
		p.timer.Reset(p.timeout - now.Sub(p.conns[0].idleAt))
	}
	p.mu.Unlock()
	for _, c := range old {
		c.close()
	}
}

// closeAll closes every idle connection.
func (p *idlePool) closeAll() {
	p.mu.Lock()
	old := p.conns
	p.conns = nil
	if p.armed {
		p.timer.Stop()
		p.armed = false
	}
	p.mu.Unlock()
	for _, c := range old {
		c.close()
	}
}
