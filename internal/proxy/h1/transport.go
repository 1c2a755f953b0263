package h1

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// Options configure a Transport. Every field must be set (the proxy
// passes config's values); zero durations mean no limit, a zero MaxIdle
// keeps no idle connection.
type Options struct {
	// DialTimeout bounds connecting.
	DialTimeout time.Duration
	// KeepAlive is the TCP keep-alive period of upstream connections.
	KeepAlive time.Duration
	// TLS, when not nil, makes the upstream https: its ServerName is
	// filled from the address when empty, and ALPN offers only http/1.1.
	TLS *tls.Config
	// HandshakeTimeout bounds the TLS handshake.
	HandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response headers once
	// the request (with its body) is written.
	ResponseHeaderTimeout time.Duration
	// MaxIdle is how many idle kept-alive connections are kept.
	MaxIdle int
	// IdleTimeout closes a kept-alive connection idle this long.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the response head (status line and headers,
	// 1xx heads included).
	MaxHeaderBytes int64
}

// Transport sends requests to one upstream address (host:port) over
// HTTP/1.1 and keeps its idle connections.
type Transport struct {
	addr   string
	o      Options
	tls    *tls.Config
	dialer net.Dialer
	idle   idlePool
}

// New returns a Transport for addr (host:port).
func New(addr string, o Options) *Transport {
	t := &Transport{addr: addr, o: o, dialer: net.Dialer{Timeout: o.DialTimeout, KeepAlive: o.KeepAlive}}
	if o.TLS != nil {
		t.tls = o.TLS.Clone()
		if t.tls.ServerName == "" {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				t.tls.ServerName = host
			}
		}
		t.tls.NextProtos = []string{"http/1.1"}
	}
	t.idle.init(o.MaxIdle, o.IdleTimeout)
	return t
}

// RoundTrip implements http.RoundTripper: it sends req on an idle
// connection when there is one, on a new one otherwise.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.Send(req, false, nil)
}

// Attempt is what one exchange learned of its connection, for a caller
// that decides whether to resend: a failure on a reused connection before
// any byte of an answer is most likely a close by the upstream that
// crossed the request. It stands in for httptrace's GotConn and
// GotFirstResponseByte, which would cost a context value and a trace per
// request, and which this Transport does not call.
type Attempt struct {
	Reused       bool // the request went out on a kept-alive connection
	GotFirstByte bool // some byte of an answer came back

	// Informational receives the 1xx answers before the final one (not
	// 101, which is final); nil drops them. Set by the caller.
	Informational Informational
}

// Informational is told of each 1xx answer as it is read, on the
// exchange's goroutine; an error ends the exchange.
type Informational interface {
	Got1xx(code int, header http.Header) error
}

// Send is RoundTrip on a new connection when fresh (a resend after a
// kept-alive connection turned out closed; the connection is kept
// afterwards), filling in a when it is not nil.
func (t *Transport) Send(req *http.Request, fresh bool, a *Attempt) (*http.Response, error) {
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		closeBody(req)
		return nil, err
	}
	var c *conn
	if !fresh {
		c = t.idle.get()
	}
	reused := c != nil
	if a != nil {
		a.Reused = reused
	}
	if c == nil {
		var err error
		if c, err = t.dial(ctx); err != nil {
			closeBody(req)
			return nil, err
		}
	}
	return c.roundTrip(ctx, req, a)
}

// CloseIdle closes the idle connections. Connections in use go back to
// the pool when their exchange ends, as with http.Transport.
func (t *Transport) CloseIdle() { t.idle.closeAll() }

func (t *Transport) dial(ctx context.Context) (*conn, error) {
	nc, err := t.dialer.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	c := newConn(t, nc)
	if t.tls != nil {
		tc := tls.Client(nc, t.tls)
		hctx, cancel := ctx, context.CancelFunc(func() {})
		if t.o.HandshakeTimeout > 0 {
			hctx, cancel = context.WithTimeout(ctx, t.o.HandshakeTimeout)
		}
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = nc.Close()
			return nil, err
		}
		st := tc.ConnectionState()
		c.nc, c.tlsState = tc, &st
	}
	c.lr.r = c.nc
	return c, nil
}

// closeBody closes the body of a request that was never written, as the
// RoundTripper contract asks.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

var (
	bufReaders sync.Pool // *bufio.Reader, readBufferSize
	bufWriters sync.Pool // *bufio.Writer, 4 KiB
)
