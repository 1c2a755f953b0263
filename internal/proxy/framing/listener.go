package framing

import (
	"context"
	"crypto/tls"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a listener.
type Options struct {
	// MaxHeaderBytes is the http.Server's MaxHeaderBytes. Zero means
	// http.DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// HandshakeTimeout bounds a TLS handshake (NewTLSListener). Zero means
	// 10s.
	HandshakeTimeout time.Duration
	// ErrorLog receives failed TLS handshakes, worded as net/http words
	// them. Nil means the log package's standard logger.
	ErrorLog *log.Logger
	// Refused, when set, is told of every refused request: the client and
	// why. It runs on the connection's reading goroutine and must be
	// cheap. Nil means nobody is told.
	Refused func(remote net.Addr, why error)
	// ParkAfter, when positive, is how long a keep-alive connection may
	// wait for its next request in net/http's hands before the Listener
	// holds it instead, with no goroutine and no buffer, until the client
	// sends again (park.go; Linux only, elsewhere nothing is parked).
	// NewListener only. Zero: connections stay with net/http.
	ParkAfter time.Duration
}

// NewListener returns a listener whose connections are Conns: plain HTTP/1.
// Serve it with http.Server.Serve and set the server's ConnState to
// ConnState, so that upgraded connections are left alone and idle ones can
// be parked (Options.ParkAfter).
func NewListener(ln net.Listener, o Options) net.Listener {
	p := newParker(o.ParkAfter)
	if p == nil {
		return &listener{Listener: ln, o: o}
	}
	return &parkingListener{listener: listener{Listener: ln, o: o}, park: p,
		accepted: make(chan net.Conn), failed: make(chan error), done: make(chan struct{})}
}

type listener struct {
	net.Listener
	o Options
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newConn(c, l.o), nil
}

// parkingListener is a listener that parks idle connections. Its Accept
// returns both new connections (taken by a goroutine of its own, so that
// Accept can also wait for woken ones) and parked ones that woke.
type parkingListener struct {
	listener
	park *parker

	start    sync.Once
	accepted chan net.Conn
	failed   chan error
	done     chan struct{}
	closing  atomic.Bool
	close    sync.Once
	wg       sync.WaitGroup
}

func (l *parkingListener) Accept() (net.Conn, error) {
	l.start.Do(func() {
		l.wg.Add(1)
		go l.acceptLoop()
	})
	return next(l.park, l.accepted, l.failed, l.done)
}

// next is Accept for a listener that may park (p nil: none): a parked
// connection that woke, or one from ready. Once done, it returns the woken
// connections still queued and then net.ErrClosed.
func next(p *parker, ready <-chan net.Conn, failed <-chan error, done <-chan struct{}) (net.Conn, error) {
	for {
		if c := p.pop(); c != nil {
			return c, nil
		}
		select {
		case c := <-ready:
			return c, nil
		case err := <-failed:
			return nil, err
		case <-p.wakeup():
		case <-done:
			if c := p.pop(); c != nil {
				return c, nil
			}
			return nil, net.ErrClosed
		}
	}
}

func (l *parkingListener) acceptLoop() {
	defer l.wg.Done()
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			if acceptFailed(err, &l.closing, l.failed, l.done) {
				continue
			}
			return
		}
		c := newConn(raw, l.o)
		c.parkable(l.park, raw)
		select {
		case l.accepted <- c:
		case <-l.done:
			_ = raw.Close()
			return
		}
	}
}

// acceptFailed hands an accept loop's error to Accept (through failed) and
// says whether the loop goes on: after an error that says it is temporary
// (too many open files, say), as http.Server retries. failed is unbuffered,
// so the loop waits for Accept to take each error: http.Server's backoff
// between Accepts paces the retries, and the loop never spins. A listener
// that is closing reports nothing: Accept says closed once the woken
// connections are taken.
func acceptFailed(err error, closing *atomic.Bool, failed chan<- error, done <-chan struct{}) bool {
	if closing.Load() {
		return false
	}
	select {
	case failed <- err:
	case <-done:
		return false
	}
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// Close stops accepting and ends parking: parked connections with a
// request waiting are still returned by Accept, the others are closed.
func (l *parkingListener) Close() error {
	var err error
	l.close.Do(func() {
		l.closing.Store(true)
		err = l.Listener.Close()
		l.park.close()
		close(l.done)
	})
	l.wg.Wait()
	return err
}

// NewTLSListener terminates TLS itself and hands net/http, by the protocol
// the client chose (ALPN), an HTTP/2 connection as the *tls.Conn it is
// (HTTP/2 frames its own messages, and net/http serves h2 only on a
// *tls.Conn) and an HTTP/1 one wrapped in a Conn, which gives net/http its
// ConnectionState for Request.TLS. cfg should offer "h2" and "http/1.1";
// give the http.Server the same cfg as TLSConfig so that it serves h2, and
// serve the listener with Serve, not ServeTLS.
//
// Handshakes run in goroutines of their own, so that a slow client cannot
// stall Accept; Close waits for them.
func NewTLSListener(ln net.Listener, cfg *tls.Config, o Options) net.Listener {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.ErrorLog == nil {
		o.ErrorLog = log.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &tlsListener{Listener: ln, cfg: cfg, o: o, ready: make(chan net.Conn), failed: make(chan error),
		ctx: ctx, cancel: cancel, park: newParker(o.ParkAfter)}
}

type tlsListener struct {
	net.Listener
	cfg *tls.Config
	o   Options

	start   sync.Once
	ready   chan net.Conn
	failed  chan error
	ctx     context.Context // done on Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	close   sync.Once
	closing atomic.Bool
	park    *parker // nil: nothing parks
}

func (l *tlsListener) Accept() (net.Conn, error) {
	l.start.Do(func() {
		l.wg.Add(1)
		go l.acceptLoop()
	})
	return next(l.park, l.ready, l.failed, l.ctx.Done())
}

func (l *tlsListener) acceptLoop() {
	defer l.wg.Done()
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			if acceptFailed(err, &l.closing, l.failed, l.ctx.Done()) {
				continue
			}
			return
		}
		l.wg.Add(1)
		go l.handshake(raw)
	}
}

func (l *tlsListener) handshake(raw net.Conn) {
	defer l.wg.Done()
	tc := tls.Server(raw, l.cfg)
	// A deadline bounds the handshake and Close ends it through the
	// connection: HandshakeContext would start a goroutine per handshake
	// to watch a context.
	stop := context.AfterFunc(l.ctx, func() { _ = raw.Close() })
	_ = raw.SetDeadline(time.Now().Add(l.o.HandshakeTimeout))
	err := tc.Handshake()
	if !stop() {
		_ = raw.Close() // closed by Close: no error to tell
		return
	}
	if err == nil {
		err = raw.SetDeadline(time.Time{})
	}
	if err != nil {
		l.o.ErrorLog.Printf("http: TLS handshake error from %s: %v", raw.RemoteAddr(), err)
		_ = raw.Close()
		return
	}
	var c net.Conn = tc
	if p := tc.ConnectionState().NegotiatedProtocol; p == "" || p == "http/1.1" {
		fc := newConn(tc, l.o)
		c = tlsConn{Conn: fc, tc: tc}
		fc.outer = c
		fc.parkable(l.park, raw)
	}
	select {
	case l.ready <- c:
	case <-l.ctx.Done():
		_ = c.Close()
	}
}

// Close stops accepting and waits for the handshakes under way, which it
// ends; parked connections go as with NewListener.
func (l *tlsListener) Close() error {
	var err error
	l.close.Do(func() {
		l.closing.Store(true)
		err = l.Listener.Close()
		l.park.close()
		l.cancel()
	})
	l.wg.Wait()
	return err
}
