package framing

import (
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// parker holds the parked connections of one Listener in an epoll set of
// its own, each armed once (EPOLLONESHOT) for a byte, a hang-up or an
// error. The epoll descriptor is itself polled by Go's runtime, so waiting
// costs no thread; a parked connection costs its Conn and a map entry.
type parker struct {
	after time.Duration
	epfd  int
	file  *os.File // epfd, as the runtime polls it
	done  chan struct{}

	mu     sync.Mutex
	conns  map[int]*parked
	queue  []*Conn       // woken, for Accept
	wake   chan struct{} // a token when queue has something
	closed bool
}

type parked struct {
	c     *Conn
	timer *time.Timer // net/http's idle deadline; nil: none
}

const parkEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// newParker returns a parker that parks after d, or nil (never park) when
// d is not positive or the system refuses an epoll set.
func newParker(d time.Duration) *parker {
	if d <= 0 {
		return nil
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		_ = syscall.Close(epfd)
		return nil
	}
	p := &parker{after: d, epfd: epfd, file: os.NewFile(uintptr(epfd), "framing-park"), done: make(chan struct{}),
		conns: map[int]*parked{}, wake: make(chan struct{}, 1)}
	go p.loop()
	return p
}

// loop takes the epoll set's events until the parker closes.
func (p *parker) loop() {
	defer close(p.done)
	rc, err := p.file.SyscallConn()
	if err != nil {
		return
	}
	events := make([]syscall.EpollEvent, 64)
	_ = rc.Read(func(uintptr) bool {
		for {
			n, err := syscall.EpollWait(p.epfd, events, 0)
			if err == syscall.EINTR {
				continue
			}
			for i := range max(n, 0) {
				p.ready(int(events[i].Fd))
			}
			if n < len(events) {
				return false // drained: wait for the runtime to say more
			}
		}
	})
}

// hold parks c, whose Close net/http just called. False: the parker is
// closed (or epoll refused c), and c is to be closed for real.
func (p *parker) hold(c *Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	_ = c.Conn.SetReadDeadline(time.Time{})
	ev := syscall.EpollEvent{Events: parkEvents, Fd: int32(c.fd)}
	if syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev) != nil {
		return false
	}
	e := &parked{c: c}
	if !c.rd.IsZero() {
		e.timer = time.AfterFunc(time.Until(c.rd), func() { p.expire(c.fd, e) })
	}
	p.conns[c.fd] = e
	return true
}

// ready handles an event on fd: a byte wakes the connection, a hang-up or
// an error closes it, a spurious wake-up re-arms it.
func (p *parker) ready(fd int) {
	p.mu.Lock()
	e := p.conns[fd]
	if e == nil {
		p.mu.Unlock()
		return
	}
	switch peek(fd) {
	case peekEmpty:
		ev := syscall.EpollEvent{Events: parkEvents, Fd: int32(fd)}
		if syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, fd, &ev) == nil {
			p.mu.Unlock()
			return
		}
		p.remove(fd, e)
		p.mu.Unlock()
		e.c.closeParked()
	case peekData:
		p.remove(fd, e)
		p.push(e.c)
		p.mu.Unlock()
	default:
		p.remove(fd, e)
		p.mu.Unlock()
		e.c.closeParked()
	}
}

// expire closes a connection still parked at net/http's idle deadline.
func (p *parker) expire(fd int, e *parked) {
	p.mu.Lock()
	if p.conns[fd] != e {
		p.mu.Unlock()
		return
	}
	p.remove(fd, e)
	p.mu.Unlock()
	e.c.closeParked()
}

// remove takes e out of the set, before its descriptor can be closed.
// p.mu is held.
func (p *parker) remove(fd int, e *parked) {
	delete(p.conns, fd)
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	if e.timer != nil {
		e.timer.Stop()
	}
}

// push queues c for Accept. p.mu is held.
func (p *parker) push(c *Conn) {
	p.queue = append(p.queue, c)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// pop returns a woken connection for Accept, or nil.
func (p *parker) pop() net.Conn {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		return nil
	}
	c := p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	if len(p.queue) == 0 {
		p.queue = nil
	}
	c.unparked()
	return c.outer
}

// close ends parking: a parked connection with a request waiting goes to
// Accept (which returns what is queued before it says closed); the others
// are closed, as a draining server closes idle ones.
func (p *parker) close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	var quiet []*Conn
	for fd, e := range p.conns {
		p.remove(fd, e)
		if peek(fd) == peekData {
			p.push(e.c)
		} else {
			quiet = append(quiet, e.c)
		}
	}
	p.mu.Unlock()
	for _, c := range quiet {
		c.closeParked()
	}
	_ = p.file.Close()
	<-p.done
}

type peeked uint8

const (
	peekEmpty peeked = iota // nothing to read yet
	peekData                // a byte waits
	peekGone                // end of stream or an error
)

// peek looks, without waiting and without taking it, for a byte on fd.
func peek(fd int) peeked {
	var b [1]byte
	for {
		n, _, err := syscall.Recvfrom(fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return peekEmpty
		case err != nil, n == 0:
			return peekGone
		}
		return peekData
	}
}

// wakeup is signalled when Accept has a woken connection to take.
func (p *parker) wakeup() <-chan struct{} {
	if p == nil {
		return nil
	}
	return p.wake
}
