package framing

import (
	"context"
	"crypto/tls"
	"log"
	"net"
	"sync"
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
}

// NewListener returns a listener whose connections are Conns: plain HTTP/1.
// Serve it with http.Server.Serve and set the server's ConnState to
// ConnState, so that upgraded connections are left alone.
func NewListener(ln net.Listener, o Options) net.Listener {
	return &listener{Listener: ln, o: o}
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
		ctx: ctx, cancel: cancel}
}

type tlsListener struct {
	net.Listener
	cfg *tls.Config
	o   Options

	start  sync.Once
	ready  chan net.Conn
	failed chan error
	ctx    context.Context // done on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	close  sync.Once
}

func (l *tlsListener) Accept() (net.Conn, error) {
	l.start.Do(func() {
		l.wg.Add(1)
		go l.acceptLoop()
	})
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.failed:
		return nil, err
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	}
}

func (l *tlsListener) acceptLoop() {
	defer l.wg.Done()
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.failed <- err:
			case <-l.ctx.Done():
				return
			}
			// http.Server retries after an error that says it is temporary
			// (too many open files, say); so does this loop.
			if t, ok := err.(interface{ Temporary() bool }); ok && t.Temporary() {
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
		c = tlsConn{Conn: newConn(tc, l.o), tc: tc}
	}
	select {
	case l.ready <- c:
	case <-l.ctx.Done():
		_ = c.Close()
	}
}

// Close stops accepting and waits for the handshakes under way, which it
// ends.
func (l *tlsListener) Close() error {
	var err error
	l.close.Do(func() {
		l.cancel()
		err = l.Listener.Close()
	})
	l.wg.Wait()
	return err
}
