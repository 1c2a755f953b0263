package framing

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// refusal is what net/http reads instead of a refused request: a request
// line it cannot parse (it answers "400 Bad Request" with "Connection:
// close" and closes) and, in the middle of a body, a chunk line or trailer
// it cannot parse (the body read fails; the handler answers 400 and the
// connection is closed). Nothing of the refused bytes follows it.
const refusal = "\x00\r\n\r\n"

// lingerTime is how long Close of a refused connection waits for the client
// to stop sending before it closes, as net/http's rstAvoidanceDelay does:
// closing with unread bytes sends a reset, which can destroy the 400 before
// the client has read it.
const lingerTime = 500 * time.Millisecond

// minBuf is the buffer a connection starts with, the size of net/http's
// bufio.Reader; it grows for a longer head only.
const minBuf = 4096

type mode uint32

const (
	modeCheck    mode = iota // follow the framing
	modeRefused              // deliver the refusal, then read nothing more
	modeOverflow             // a head too long: deliver it as it is, then EOF
	modeTunnel               // switched protocols: bytes are the WebSocket's
)

// Conn checks the HTTP/1.1 request framing of the connection it wraps (see
// the package comment). Make one with NewConn or through a Listener.
type Conn struct {
	net.Conn
	s scanner

	// buf[r:v] is validated and not yet read by net/http, buf[v:w] read
	// from the connection and not yet validated (part of an element).
	buf     []byte
	pooled  *[]byte // buf's slice in bufPool, when it came from there
	r, v, w int
	maxBuf  int
	sent    int   // bytes of the refusal delivered
	pending error // a read error to return once buf[r:v] is delivered

	mode     atomic.Uint32
	refused  error // why, set with modeRefused
	onRefuse func(net.Addr, error)

	// Parking (park.go): nil park never parks.
	park      *parker
	outer     net.Conn      // what Accept returns: this Conn, or its tlsConn
	fd        int           // the socket's descriptor, -1 when it has none
	rd        time.Time     // net/http's read deadline
	idle      atomic.Uint32 // idleNone, idleMarked, idleWaiting
	parkArmed bool          // the park deadline is on, no byte yet
	restoreRD bool          // the park deadline is on, bytes came: put c.rd back
	parkState atomic.Uint32
}

// NewConn wraps c; maxHeaderBytes is the http.Server's MaxHeaderBytes
// (0: http.DefaultMaxHeaderBytes), so that a head net/http would take is
// never too long here.
func NewConn(c net.Conn, maxHeaderBytes int) *Conn {
	if maxHeaderBytes <= 0 {
		maxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	// net/http reads up to MaxHeaderBytes + 4096 for a head, through a
	// 4 KiB bufio.Reader; one more buffer of slack.
	limit := maxHeaderBytes + 8192
	fc := &Conn{Conn: c, s: newScanner(limit), maxBuf: limit + 4096, fd: -1}
	fc.outer = fc
	return fc
}

func newConn(c net.Conn, o Options) *Conn {
	fc := NewConn(c, o.MaxHeaderBytes)
	fc.onRefuse = o.Refused
	return fc
}

// Read implements net.Conn: it returns validated bytes only.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.idle.Load() == idleWaiting {
		c.idle.Store(idleNone)
		if c.idleReadable() {
			return c.idleRead(p)
		}
	}
	return c.read(p)
}

func (c *Conn) read(p []byte) (int, error) {
	for {
		if c.v > c.r {
			n := copy(p, c.buf[c.r:c.v])
			c.r += n
			if c.r == c.w {
				c.r, c.v, c.w = 0, 0, 0
				c.release()
			}
			return n, nil
		}
		switch mode(c.mode.Load()) {
		case modeTunnel:
			if c.w > c.r {
				n := copy(p, c.buf[c.r:c.w])
				c.r += n
				return n, nil
			}
			c.release()
			return c.Conn.Read(p)
		case modeRefused:
			if c.sent < len(refusal) {
				n := copy(p, refusal[c.sent:])
				c.sent += n
				return n, nil
			}
			// net/http reads no further once it has refused; should it,
			// it finds the connection as it is, minus the client's bytes.
			var scratch [512]byte
			for {
				if _, err := c.Conn.Read(scratch[:]); err != nil {
					return 0, err
				}
			}
		case modeOverflow:
			if c.w > c.r {
				n := copy(p, c.buf[c.r:c.w])
				c.r += n
				return n, nil
			}
			return 0, io.EOF
		}
		if c.pending != nil {
			err := c.pending
			c.pending = nil
			return 0, err
		}
		if c.w == 0 {
			// Body bytes nobody needs to look at go straight to the caller.
			if rem := c.s.bodyRemain(); rem > 0 {
				if uint64(len(p)) > rem {
					p = p[:rem]
				}
				n, err := c.rawRead(p)
				c.s.skipped(n)
				return n, err
			}
			if n, err, ok := c.direct(p); ok {
				return n, err
			}
			continue
		}
		c.fill()
	}
}

// direct reads into the caller's buffer when nothing is held back, and
// returns what of it is validated (ok). Only the start of an element not yet
// complete is copied aside, so that a connection between two requests, or
// one whose requests arrive whole, holds no buffer of its own: an idle
// keep-alive connection costs 4 KiB less, and a request is copied once
// less. Not ok: nothing to return yet, the caller goes on.
func (c *Conn) direct(p []byte) (int, error, bool) {
	n, err := c.rawRead(p)
	if n == 0 {
		return 0, err, err != nil
	}
	k, serr := c.s.step(p[:n])
	switch {
	case serr == errOverflow:
		// Delivered as it is, and then EOF, as fill has it.
		c.mode.Store(uint32(modeOverflow))
		return n, nil, true
	case serr != nil:
		c.refuse(serr)
		return k, nil, k > 0 // the refusal follows what was validated
	}
	if k < n {
		c.keep(p[k:n])
	}
	c.pending = err
	return k, nil, k > 0
}

// keep holds b, the start of an element, in buf (empty before).
func (c *Conn) keep(b []byte) {
	if len(b) > len(c.buf) {
		c.release()
		if len(b) <= minBuf {
			c.pooled = bufPool.Get().(*[]byte)
			c.buf = *c.pooled
		} else {
			c.buf = make([]byte, min(max(2*len(b), minBuf), c.maxBuf))
		}
	}
	c.r, c.v, c.w = 0, 0, copy(c.buf, b)
}

// release gives back buf once everything in it was delivered: a connection
// that waits for its next request holds none.
func (c *Conn) release() {
	if c.pooled != nil {
		bufPool.Put(c.pooled)
		c.pooled = nil
	}
	c.buf = nil
}

// bufPool holds the minBuf buffers of the elements that arrive in pieces.
var bufPool = sync.Pool{New: func() any { b := make([]byte, minBuf); return &b }}

// fill reads once from the connection into buf and validates what it can.
func (c *Conn) fill() {
	if c.r > 0 { // only an incomplete element is left: move it to the front
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.v -= c.r
		c.r = 0
	}
	if c.w == len(c.buf) {
		size := max(2*len(c.buf), minBuf)
		if size > c.maxBuf {
			size = c.maxBuf
		}
		if size <= len(c.buf) { // cannot happen: step refuses first
			c.refuse(errOverflow)
			return
		}
		var pooled *[]byte
		var nb []byte
		if size == minBuf {
			pooled = bufPool.Get().(*[]byte)
			nb = *pooled
		} else {
			nb = make([]byte, size)
		}
		copy(nb, c.buf[:c.w])
		c.release()
		c.buf, c.pooled = nb, pooled
	}
	n, err := c.rawRead(c.buf[c.w:])
	c.w += n
	c.pending = err
	if n == 0 {
		return
	}
	k, serr := c.s.step(c.buf[c.v:c.w])
	c.v += k
	switch {
	case serr == errOverflow:
		c.mode.Store(uint32(modeOverflow))
	case serr != nil:
		c.refuse(serr)
	}
}

func (c *Conn) refuse(why error) {
	c.refused = why
	c.mode.Store(uint32(modeRefused))
	if c.onRefuse != nil {
		c.onRefuse(c.RemoteAddr(), why)
	}
}

// Tunnel stops the checking: the connection switched protocols (net/http
// hijacked it for a WebSocket), and what follows is no HTTP.
func (c *Conn) Tunnel() { c.mode.Store(uint32(modeTunnel)) }

// CloseWrite half-closes the connection when the wrapped one can; net/http
// and the proxy's WebSocket tunnel look for it.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close closes the connection; a refused one after the client stopped
// sending (for up to lingerTime), so that it reads the 400.
func (c *Conn) Close() error {
	if c.closeLater() {
		return nil
	}
	if mode(c.mode.Load()) == modeRefused {
		if c.CloseWrite() == nil && c.Conn.SetReadDeadline(time.Now().Add(lingerTime)) == nil {
			_, _ = io.CopyN(io.Discard, c.Conn, 1<<20)
		}
	}
	return c.Conn.Close()
}

// tlsConn is a Conn over a *tls.Conn. net/http sets Request.TLS from
// ConnectionState when the connection is not a *tls.Conn itself.
type tlsConn struct {
	*Conn
	tc *tls.Conn
}

func (c tlsConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

// ConnState is for http.Server.ConnState: it stops the checking on a
// connection net/http hands over to a handler (a switch of protocols).
// On a connection gone idle it readies parking, and it parks one net/http
// has closed to park (park.go): it must run after any other hook.
func ConnState(c net.Conn, s http.ConnState) {
	var fc *Conn
	switch t := c.(type) {
	case *Conn:
		fc = t
	case tlsConn:
		fc = t.Conn
	default:
		return
	}
	switch s {
	case http.StateHijacked:
		fc.Tunnel()
	case http.StateIdle:
		fc.idle.Store(idleMarked)
	case http.StateClosed:
		fc.parkClosed()
	}
}
