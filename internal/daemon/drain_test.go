package daemon

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestDrainAnswersRequestsOnIdleConnections: a request that arrives on a
// kept-alive connection just after the drain began is answered, with
// Connection: close, instead of meeting a closed connection (what
// http.Server.Shutdown does to it); a connection that stays quiet is
// closed, and the drain ends.
func TestDrainAnswersRequestsOnIdleConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})}
	dr := newDrainer(srv)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(dr.listener(ln)) }()

	busy, quiet := dial(t, ln.Addr().String()), dial(t, ln.Addr().String())
	for _, c := range []*rawConn{busy, quiet} {
		if resp := c.get(t); resp == nil || resp.Close {
			t.Fatalf("before the drain: %+v, want a kept-alive answer", resp)
		}
	}
	drained := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { drained <- dr.drain(ctx, srv) }()
	for !dr.draining.Load() {
		time.Sleep(time.Millisecond)
	}
	resp := busy.get(t)
	if resp == nil || resp.StatusCode != http.StatusOK || !resp.Close {
		t.Fatalf("a request on an idle connection after the drain began: %+v, want 200 with Connection: close", resp)
	}
	for _, c := range []*rawConn{busy, quiet} {
		_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.r.ReadByte(); err == nil {
			t.Fatal("a connection is still open after the drain")
		}
	}
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("drain: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the drain did not end")
	}
	<-served
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("still accepting after the drain")
	}
}

type rawConn struct {
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c: c, r: bufio.NewReader(c)}
}

// get sends one GET and reads the answer; nil when the connection closed.
func (c *rawConn) get(t *testing.T) *http.Response {
	t.Helper()
	return rawRequest(t, c.c, c.r, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
}
