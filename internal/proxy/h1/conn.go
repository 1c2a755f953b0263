package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// max1xx bounds the informational answers read before the final one.
const max1xx = 16

// readBufferSize is the read buffer an exchange holds until its answer is
// read: enough for a usual response head in one read, and a body read of
// that size or more goes straight into the caller's buffer (bufio reads
// past an empty buffer), so a larger one would only cost memory for every
// request in flight. A longer head line is read in pieces by textproto.
const readBufferSize = 2 << 10

// conn is one connection to the upstream. Between two exchanges it sits in
// the pool holding nothing but its socket.
type conn struct {
	t        *Transport
	nc       net.Conn // *net.TCPConn, or *tls.Conn over it
	raw      syscall.RawConn
	tlsState *tls.ConnectionState
	lr       headLimit
	br       *bufio.Reader // while a response is read
	idleAt   time.Time

	// peek is the liveness check's callback, made once (alive_linux.go).
	peek      func(fd uintptr) bool
	peekAlive bool
	peekBuf   [1]byte

	// first is firstBytes' callback, made once (first_linux.go).
	first    func(fd uintptr) bool
	firstErr error
	fdr      fdReader

	aborted atomic.Bool // abort closed the connection

	// hmu orders the writer goroutine's start of the header timeout after
	// the body against the reader's end of the headers.
	hmu      sync.Mutex
	headDone bool
}

func newConn(t *Transport, nc net.Conn) *conn {
	c := &conn{t: t, nc: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	c.peek = c.peekFD
	c.first = c.firstFD
	return c
}

func (c *conn) close() { _ = c.nc.Close() }

// abort ends the exchange from outside (the request's context is done, or
// its body failed): the connection closes, which ends the read or write it
// is blocked in and tells the upstream at once.
func (c *conn) abort() {
	c.aborted.Store(true)
	c.close()
}

// exchange is what one request keeps while its answer is read; it is
// also the answer's body (body.go), so that it costs one allocation.
type exchange struct {
	c      *conn
	stop   func() bool // stops the context's abort
	writer *bodyWriter // nil: the request had no body

	rc    io.ReadCloser // net/http's body, reading from the connection's buffer
	reuse bool
	done  bool
}

// bodyWriter writes a request with a body from its own goroutine.
type bodyWriter struct {
	done chan struct{}
	err  error // the write's, set before done closes
}

func (c *conn) roundTrip(ctx context.Context, req *http.Request, a *Attempt) (*http.Response, error) {
	c.headDone = false
	x := &exchange{c: c, stop: context.AfterFunc(ctx, c.abort)}
	timeout := c.t.o.ResponseHeaderTimeout
	if req.Body == nil || req.Body == http.NoBody {
		if err := c.write(req); err != nil {
			x.stop()
			c.close()
			return nil, c.failure(ctx, err, false)
		}
		if timeout > 0 {
			_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
		}
	} else {
		x.writer = &bodyWriter{done: make(chan struct{})}
		go c.writeBody(req, x.writer, timeout)
	}
	resp, err := c.readHead(req, a, timeout > 0)
	if err != nil {
		x.stop()
		c.close()
		c.releaseReader()
		if w := x.writer; w != nil {
			// The writer's error says more when it came first (a client
			// body that failed ends the exchange through abort).
			if w.wait() && w.err != nil {
				return nil, c.failure(ctx, w.err, false)
			}
		}
		return nil, c.failure(ctx, err, timeout > 0)
	}
	resp.TLS = c.tlsState
	if resp.StatusCode == http.StatusSwitchingProtocols {
		x.stop()
		resp.Body = &upgraded{br: c.br, Conn: c.nc}
		c.br = nil
		bufferHeld(-1) // the tunnel's now, back to the pool when read
		return resp, nil
	}
	reuse := !resp.Close && !req.Close
	if resp.Body == http.NoBody {
		x.finish(reuse)
		return resp, nil
	}
	x.rc, x.reuse = resp.Body, reuse
	resp.Body = x
	return resp, nil
}

// write sends the request head and body through a pooled buffer.
func (c *conn) write(req *http.Request) error {
	bw, _ := bufWriters.Get().(*bufio.Writer)
	if bw == nil {
		bw = bufio.NewWriterSize(c.nc, 4<<10)
	} else {
		bw.Reset(c.nc)
	}
	err := req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	bufWriters.Put(bw)
	return err
}

// writeWait is how long an answered exchange waits for its body's writer
// to finish before it gives up the connection, as http.Transport does: an
// upstream that answered after reading the whole body leaves the writer a
// moment from done; one that answered without reading it leaves the
// writer stuck, and its connection must close.
const writeWait = 50 * time.Millisecond

// wait reports whether the writer finished within writeWait.
func (w *bodyWriter) wait() bool {
	select {
	case <-w.done:
		return true
	default:
	}
	t := time.NewTimer(writeWait)
	defer t.Stop()
	select {
	case <-w.done:
		return true
	case <-t.C:
		return false
	}
}

// writeBody is the writer goroutine of a request with a body. A failure to
// read the client's body ends the exchange (the upstream would wait for
// the rest of it for ever); a failure to write leaves the read alone: an
// upstream that answered early and closed has its answer read.
func (c *conn) writeBody(req *http.Request, w *bodyWriter, timeout time.Duration) {
	r2 := *req
	b := &watchedBody{rc: req.Body}
	r2.Body = b
	err := c.write(&r2)
	if b.err != nil {
		c.abort()
		err = b.err
	} else if err == nil && timeout > 0 {
		c.hmu.Lock()
		if !c.headDone {
			_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
		}
		c.hmu.Unlock()
	}
	w.err = err
	close(w.done)
}

// watchedBody keeps the client body's read error apart from the write's.
type watchedBody struct {
	rc  io.ReadCloser
	err error
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (b *watchedBody) Close() error { return b.rc.Close() }

// readHead reads the final response head, passing informational ones on
// to a.Informational (the proxy forwards them to the client).
func (c *conn) readHead(req *http.Request, a *Attempt, deadline bool) (*http.Response, error) {
	c.lr.n, c.lr.err = c.t.o.MaxHeaderBytes, nil
	if err := c.firstBytes(); err != nil {
		return nil, err
	}
	br := c.br
	if a != nil {
		a.GotFirstByte = true
	}
	for n := 0; ; n++ {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			if c.lr.n <= 0 {
				err = fmt.Errorf("upstream response headers exceed %d bytes", c.t.o.MaxHeaderBytes)
			} else if ne, ok := errors.AsType[net.Error](c.lr.err); ok && ne.Timeout() {
				// The header timeout in the middle of a line: bufio hands
				// the partial line on without the error, which then reads
				// as a malformed answer, not as the timeout it is.
				err = c.lr.err
			}
			return nil, err
		}
		code := resp.StatusCode
		if code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
			c.lr.n = 1 << 62
			c.endHead(deadline)
			return resp, nil
		}
		if n == max1xx {
			return nil, errors.New("upstream sent too many 1xx responses")
		}
		if a != nil && a.Informational != nil {
			if err := a.Informational.Got1xx(code, resp.Header); err != nil {
				return nil, err
			}
		}
	}
}

// takeReader is a read buffer from the pool, reading through c.lr.
func (c *conn) takeReader() *bufio.Reader {
	bufferHeld(1)
	br, _ := bufReaders.Get().(*bufio.Reader)
	if br == nil {
		return bufio.NewReaderSize(&c.lr, readBufferSize)
	}
	br.Reset(&c.lr)
	return br
}

// putReader gives a read buffer back to the pool.
func putReader(br *bufio.Reader) {
	br.Reset(nil)
	bufReaders.Put(br)
	bufferHeld(-1)
}

// testBufferHeld, when set (by tests, before any exchange), is told of
// each read buffer an exchange takes (+1) and gives back (-1): those
// reading an answer (an exchange waiting for one holds none on Linux). A
// counter kept on every exchange would be one more shared cache line on
// the request path. A plain variable: the tests that set it do not run in
// parallel, and no exchange of theirs outlives them.
var testBufferHeld func(delta int64)

func bufferHeld(delta int64) {
	if testBufferHeld != nil {
		testBufferHeld(delta)
	}
}

// fillBuffered is firstBytes the usual way: a buffer held while the read
// waits.
func (c *conn) fillBuffered() error {
	c.br = c.takeReader()
	_, err := c.br.Peek(1)
	return err
}

// releaseReader gives the exchange's read buffer back to the pool.
func (c *conn) releaseReader() {
	if c.br != nil {
		putReader(c.br)
		c.br = nil
	}
}

// endHead lifts the header timeout once the head is in.
func (c *conn) endHead(deadline bool) {
	c.hmu.Lock()
	c.headDone = true
	if deadline {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	c.hmu.Unlock()
}

// failure turns an exchange's error into the one the caller sees: the
// context's when it ended the exchange, a timeout error when the header
// timeout did.
func (c *conn) failure(ctx context.Context, err error, headerTimeout bool) error {
	if c.aborted.Load() && ctx.Err() != nil {
		return ctx.Err()
	}
	if ne, ok := errors.AsType[net.Error](err); headerTimeout && ok && ne.Timeout() {
		return errHeaderTimeout{}
	}
	return err
}

// errHeaderTimeout is the response header timeout: a net.Error whose
// Timeout is true, as http.Transport's.
type errHeaderTimeout struct{}

func (errHeaderTimeout) Error() string   { return "timeout awaiting upstream response headers" }
func (errHeaderTimeout) Timeout() bool   { return true }
func (errHeaderTimeout) Temporary() bool { return true }

// finish ends an exchange: the connection goes back to the pool when the
// answer was read whole, the request was written whole, nothing else
// arrived, and the context did not end it; it is closed otherwise.
func (x *exchange) finish(reuse bool) {
	c := x.c
	ok := x.stop() && reuse
	if ok && x.writer != nil {
		ok = x.writer.wait() && x.writer.err == nil
	}
	if ok && c.br.Buffered() > 0 {
		ok = false // bytes after the answer: the upstream is out of step
	}
	c.releaseReader()
	if !ok {
		c.close()
		return
	}
	c.t.idle.put(c)
}

// headLimit bounds what the head of a response may read.
type headLimit struct {
	r   io.Reader
	n   int64
	err error // the last error r returned
}

func (l *headLimit) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if err != nil {
		l.err = err
	}
	return n, err
}

var errHeadTooLarge = errors.New("upstream response head too large")
