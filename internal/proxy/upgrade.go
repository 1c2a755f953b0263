package proxy

import (
	"io"
	"sync"
	"time"
)

// connSet tracks the upgraded connections of one colour so that a flip can
// close them after the drain timeout. ReverseProxy copies both ways between
// the client and the upstream; closing the upstream side ends both copies.
type connSet struct {
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

type trackedConn struct {
	io.ReadWriteCloser
	set     *connSet
	up      *Upstream // where it goes, so that removing one upstream can drain its own
	started time.Time
	once    sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.set.remove(c) })
	return c.ReadWriteCloser.Close()
}

func (s *connSet) add(rwc io.ReadWriteCloser, up *Upstream) *trackedConn {
	c := &trackedConn{ReadWriteCloser: rwc, set: s, up: up, started: time.Now()}
	s.mu.Lock()
	if s.conns == nil {
		s.conns = map[*trackedConn]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return c
}

func (s *connSet) remove(c *trackedConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *connSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// closeBefore closes the connections opened before cutoff.
func (s *connSet) closeBefore(cutoff time.Time) {
	s.closeIf(cutoff, func(*Upstream) bool { return true })
}

// closeIf closes the connections opened before cutoff to an upstream for
// which which reports true.
func (s *connSet) closeIf(cutoff time.Time, which func(*Upstream) bool) {
	s.mu.Lock()
	var victims []*trackedConn
	for c := range s.conns {
		if c.started.Before(cutoff) && which(c.up) {
			victims = append(victims, c)
		}
	}
	s.mu.Unlock()
	for _, c := range victims {
		_ = c.Close()
	}
}
