package daemon

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Quiet periods of a drain. A kept-alive connection that has just been
// answered may be carrying its client's next request right now; closing it
// then loses that request, and clients resend only idempotent ones. So a
// drain first makes every answer say "Connection: close", and closes an
// idle connection only once it has been quiet for idleQuiet: a busy client
// sends its next request well within that, gets it answered, and leaves;
// a connection quiet for longer belongs to a client that is not sending.
// A connection that has not sent its first request (or is still in its TLS
// handshake) gets newQuiet.
const (
	idleQuiet = 250 * time.Millisecond
	newQuiet  = time.Second
)

// drainer follows one http.Server's connections (through ConnState) so
// that shutdown can stop it without closing a connection a request is
// on its way on. http.Server.Shutdown cannot: it closes idle connections
// at once, and a request read after it began is dropped unanswered (the
// HTTP/1 loop returns on shuttingDown right after reading one). Create it
// with newDrainer before the server serves.
type drainer struct {
	draining atomic.Bool
	mu       sync.Mutex
	conns    map[net.Conn]connState
	ln       *onceCloseListener // set by listener
}

type connState struct {
	state http.ConnState
	since time.Time
}

// newDrainer hooks itself into srv: ConnState, and a handler that asks
// clients to close once the drain began.
func newDrainer(srv *http.Server) *drainer {
	d := &drainer{conns: map[net.Conn]connState{}}
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		d.track(c, s)
		if prev != nil {
			prev(c, s)
		}
	}
	next := srv.Handler
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.draining.Load() && r.ProtoMajor == 1 {
			// The server closes the connection after this answer, and the
			// client opens its next one where someone accepts. HTTP/2 gets
			// Shutdown's GOAWAY instead.
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
	return d
}

func (d *drainer) track(c net.Conn, s http.ConnState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch s {
	case http.StateHijacked, http.StateClosed:
		delete(d.conns, c) // upgraded connections are the proxy's to close
	default:
		d.conns[c] = connState{state: s, since: time.Now()}
	}
}

// listener wraps the server's listener so that drain can stop accepting
// without Shutdown, and Shutdown's own close after it is harmless.
func (d *drainer) listener(ln net.Listener) net.Listener {
	d.ln = &onceCloseListener{Listener: ln}
	return d.ln
}

// drain stops accepting, lets every HTTP/1 connection end (answered with
// Connection: close, or closed once quiet) and then shuts srv down, which
// sends HTTP/2 connections a GOAWAY and waits for their streams. At ctx's
// end it closes whatever is left. The listener must have come from
// d.listener.
func (d *drainer) drain(ctx context.Context, srv *http.Server) error {
	d.draining.Store(true)
	_ = d.ln.Close()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for d.closeQuiet(time.Now()) > 0 {
		select {
		case <-ctx.Done():
			_ = srv.Close()
			return ctx.Err()
		case <-tick.C:
		}
	}
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		return err
	}
	return nil
}

// closeQuiet closes the HTTP/1 connections quiet for long enough and
// returns how many HTTP/1 connections are left.
func (d *drainer) closeQuiet(now time.Time) int {
	var quiet []net.Conn
	defer func() {
		for _, c := range quiet {
			_ = c.Close() // outside the lock: a TLS close writes an alert
		}
	}()
	d.mu.Lock()
	defer d.mu.Unlock()
	left := 0
	for c, st := range d.conns {
		switch st.state {
		case http.StateNew:
			if now.Sub(st.since) >= newQuiet {
				quiet = append(quiet, c)
				delete(d.conns, c)
				continue
			}
		case http.StateIdle:
			if isHTTP2(c) {
				continue // Shutdown's GOAWAY ends it without a race
			}
			if now.Sub(st.since) >= idleQuiet {
				quiet = append(quiet, c)
				delete(d.conns, c)
				continue
			}
		case http.StateActive:
			if isHTTP2(c) {
				continue
			}
		}
		left++
	}
	return left
}

// isHTTP2 tells an HTTP/2 connection, whose handshake is over by the time
// it is idle or active (so ConnectionState does not wait for one).
func isHTTP2(c net.Conn) bool {
	tc, ok := c.(*tls.Conn)
	return ok && tc.ConnectionState().NegotiatedProtocol == "h2"
}

// onceCloseListener closes its listener once; later calls return nil.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}
