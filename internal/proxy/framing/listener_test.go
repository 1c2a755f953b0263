package framing

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// tempErr is what accept(2) running out of descriptors looks like to
// http.Server: an error that says it is temporary.
type tempErr struct{}

func (tempErr) Error() string   { return "accept: too many open files" }
func (tempErr) Temporary() bool { return true }
func (tempErr) Timeout() bool   { return false }

// scriptedListener accepts as its test says: each Accept waits for the
// next step, an error to fail with or nil to accept from the real listener.
type scriptedListener struct {
	net.Listener
	steps  chan error
	closed chan struct{}
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	select {
	case err := <-l.steps:
		if err != nil {
			return nil, err
		}
		return l.Listener.Accept()
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *scriptedListener) Close() error {
	close(l.closed)
	return l.Listener.Close()
}

// accept is ln.Accept, failing the test if it waits for more than a while
// (a listener whose loop stopped would wait for ever).
func accept(t *testing.T, ln net.Listener) (net.Conn, error) {
	t.Helper()
	type result struct {
		c   net.Conn
		err error
	}
	got := make(chan result, 1)
	go func() { c, err := ln.Accept(); got <- result{c, err} }()
	select {
	case r := <-got:
		return r.c, r.err
	case <-time.After(10 * time.Second):
		_ = ln.Close() // lets the Accept above return
		t.Fatal("Accept did not return: the accept loop stopped")
		return nil, nil
	}
}

// waitTaken waits until the listener's loop has taken the step queued.
func waitTaken(t *testing.T, steps chan error) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(steps) > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the accept loop did not take its step")
		}
	}
}

// TestAcceptErrors: the listeners that accept on a goroutine of their own
// (parking, TLS) pass an accept error to Accept as it came, accept nothing
// more until Accept has taken it, keep accepting after a temporary one (as
// http.Server retries), and stop after any other.
func TestAcceptErrors(t *testing.T) {
	donor := httptest.NewTLSServer(http.NotFoundHandler())
	cfg := &tls.Config{Certificates: donor.TLS.Certificates}
	roots := donor.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	donor.Close()
	quiet := log.New(io.Discard, "", 0)
	for _, tc := range []struct {
		name string
		wrap func(net.Listener) net.Listener
		dial func(addr string) (net.Conn, error)
	}{
		{"parking", func(l net.Listener) net.Listener {
			return NewListener(l, Options{ParkAfter: time.Hour})
		}, func(addr string) (net.Conn, error) { return net.Dial("tcp", addr) }},
		{"tls", func(l net.Listener) net.Listener {
			return NewTLSListener(l, cfg, Options{ErrorLog: quiet})
		}, func(addr string) (net.Conn, error) {
			// the timeout bounds the handshake: a listener that stopped accepting
			// leaves the client waiting for the server's hello
			d := &net.Dialer{Timeout: 10 * time.Second}
			return tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: "example.com"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			fatal := errors.New("accept: the listener broke")
			sl := &scriptedListener{Listener: raw, steps: make(chan error, 1), closed: make(chan struct{})}
			ln := tc.wrap(sl)
			defer ln.Close()

			sl.steps <- tempErr{} // the first Accept starts the loop
			if _, err := accept(t, ln); !errors.Is(err, tempErr{}) {
				t.Fatalf("first Accept: %v, want the temporary error", err)
			}
			// Until Accept takes an error the loop accepts nothing more, so
			// http.Server's backoff paces the retries: a second step stays
			// unread meanwhile.
			sl.steps <- tempErr{}
			waitTaken(t, sl.steps)
			sl.steps <- tempErr{}
			time.Sleep(10 * time.Millisecond)
			if len(sl.steps) != 1 {
				t.Fatal("the accept loop accepted again before Accept took its error")
			}
			for range 2 {
				if _, err := accept(t, ln); !errors.Is(err, tempErr{}) {
					t.Fatalf("Accept: %v, want the temporary error", err)
				}
			}
			sl.steps <- nil
			cl, err := tc.dial(raw.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			c, err := accept(t, ln)
			if err != nil {
				t.Fatalf("after a temporary error: %v, want the next connection", err)
			}
			c.Close()
			sl.steps <- fatal
			if _, err := accept(t, ln); !errors.Is(err, fatal) {
				t.Fatalf("Accept: %v, want %v", err, fatal)
			}
			// The loop has stopped: a step left now stays unread.
			sl.steps <- nil
			time.Sleep(10 * time.Millisecond)
			if len(sl.steps) != 1 {
				t.Fatal("the accept loop went on after a failure that is not temporary")
			}
		})
	}
}
