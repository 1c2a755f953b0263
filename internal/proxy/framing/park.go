package framing

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// Parking. An idle keep-alive connection costs net/http a goroutine (8 KiB
// of stack once it has served a request) and a 4 KiB bufio.Reader and
// Writer, for as long as the client keeps it open; 10,000 of them cost more
// than 200 MiB. A Listener with Options.ParkAfter takes a connection back
// from net/http once it has been idle for that long, between two requests,
// and holds it with no goroutine and no buffer (the kernel tells when the
// client sends again, see park_linux.go); it then hands it to net/http
// again through Accept, as a new connection.
//
// The hand-back: net/http marks the connection idle (ConnState) and sets
// its idle deadline, then reads to wait for the next request. That read,
// when the scanner stands between requests and holds nothing (so no byte
// net/http has not read is anywhere but in the kernel), runs under a
// deadline of ParkAfter instead. When it expires first, net/http is told
// the read failed, and it closes the connection: that Close is put off,
// and ConnState parks the connection when net/http reports it closed (so
// that every ConnState hook has seen the old connection end before the
// parked one can come back as new).
//
// Nothing is lost: net/http reads for its next request only when its
// buffer is empty (a pipelined request it holds is served first), and the
// framing check delivers whole requests only at this point, so what net/http
// read and did not use is nothing. A client that sends while the connection
// is parked wakes it; one that stays quiet until net/http's idle timeout is
// closed then, as net/http would have.

// Park states of a Conn.
const (
	parkNone    uint32 = iota
	parkAsked          // the idle read ended on ParkAfter; net/http closes next
	parkClosing        // closed by net/http: ConnState's StateClosed parks it
	parkHeld           // held by the parker, or closed
)

// closeLater reports whether Close is to leave the connection to
// ConnState's parking.
func (c *Conn) closeLater() bool {
	switch c.parkState.Load() {
	case parkAsked, parkClosing:
		c.parkState.Store(parkClosing)
		return true
	}
	return false
}

// parkClosed parks the connection net/http has closed, or closes it when
// the parker will not take it (it is closed: the server is stopping).
func (c *Conn) parkClosed() {
	if c.parkState.CompareAndSwap(parkClosing, parkHeld) && !c.park.hold(c) {
		c.closeParked()
	}
}

// idleReadable reports whether this read, net/http's wait for its next
// request, may end in parking.
func (c *Conn) idleReadable() bool {
	return c.park != nil && c.fd >= 0 && c.w == 0 && c.pending == nil &&
		mode(c.mode.Load()) == modeCheck && c.s.between()
}

// What net/http is doing, as far as parking cares (Conn.idle).
const (
	idleNone    uint32 = iota
	idleMarked         // ConnState said idle; net/http sets its idle deadline next
	idleWaiting        // the idle deadline is set: the next Read waits for a request
)

// idleRead is Read while net/http waits for the next request: under the
// park deadline, unless net/http's own idle deadline comes first, until
// the first byte arrives (then net/http's deadline is back, see rawRead).
func (c *Conn) idleRead(p []byte) (int, error) {
	until := time.Now().Add(c.park.after)
	if !c.rd.IsZero() && !until.Before(c.rd) {
		return c.read(p)
	}
	if err := c.Conn.SetReadDeadline(until); err != nil {
		return c.read(p)
	}
	c.parkArmed = true
	n, err := c.read(p)
	if !c.parkArmed {
		return n, err
	}
	c.parkArmed = false
	if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) && (c.rd.IsZero() || time.Now().Before(c.rd)) {
		c.parkState.Store(parkAsked)
		return 0, err
	}
	_ = c.Conn.SetReadDeadline(c.rd)
	return n, err
}

// rawRead reads from the connection. The first byte after an idle wait
// ends the park deadline: net/http's is put back before the next read,
// unless net/http sets one first (it does once it has its 4 bytes).
func (c *Conn) rawRead(p []byte) (int, error) {
	if c.restoreRD {
		c.restoreRD = false
		_ = c.Conn.SetReadDeadline(c.rd)
	}
	n, err := c.Conn.Read(p)
	if c.parkArmed && n > 0 {
		c.parkArmed = false
		c.restoreRD = true
	}
	return n, err
}

// SetReadDeadline implements net.Conn; the deadline is kept for parking,
// and the one net/http sets after it went idle is its idle deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.deadline(t)
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline implements net.Conn, as SetReadDeadline for reads.
func (c *Conn) SetDeadline(t time.Time) error {
	c.deadline(t)
	return c.Conn.SetDeadline(t)
}

// deadline records net/http's read deadline t. The first one after it
// went idle starts its wait for the next request; any later one (the
// request's own, when net/http had it buffered) ends that.
func (c *Conn) deadline(t time.Time) {
	c.rd = t
	if c.restoreRD {
		c.restoreRD = false
	}
	switch c.idle.Load() {
	case idleMarked:
		c.idle.Store(idleWaiting)
	case idleWaiting:
		c.idle.Store(idleNone)
	}
}

// unparked readies a Conn the parker hands back for net/http's Accept.
func (c *Conn) unparked() {
	c.rd = time.Time{}
	_ = c.Conn.SetReadDeadline(time.Time{})
	c.parkState.Store(parkNone)
}

// parkable lets c be parked by p (nil: never) on raw's descriptor.
func (c *Conn) parkable(p *parker, raw net.Conn) {
	if p == nil {
		return
	}
	if c.fd = connFD(raw); c.fd >= 0 {
		c.park = p
	}
}

// connFD returns c's file descriptor, or -1 when it has none to poll.
func connFD(c net.Conn) int {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if rc.Control(func(f uintptr) { fd = int(f) }) != nil {
		return -1
	}
	return fd
}

// closeParked closes a connection the parker held: no linger, it was
// between requests.
func (c *Conn) closeParked() {
	c.release()
	_ = c.Conn.Close()
}
