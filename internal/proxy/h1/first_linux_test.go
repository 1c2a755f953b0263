package h1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// TestWaitHoldsNoBuffer: exchanges waiting for a slow upstream hold no
// read buffer; once the heads are in, each holds one until its body is
// read, and none is left after.
func TestWaitHoldsNoBuffer(t *testing.T) {
	buffersHeld := countBuffers(t)
	const n = 20
	release := make(chan struct{})
	s := newRawServer(t, func(c net.Conn, r *bufio.Reader) {
		if _, err := readRequest(r); err != nil {
			return
		}
		<-release
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	o := testOptions()
	o.MaxIdle = n
	tr := newTransport(t, s.addr(), o)
	if held := buffersHeld.Load(); held != 0 {
		t.Fatalf("%d read buffers held before any request", held)
	}

	resps := make(chan *http.Response, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", "http://"+s.addr()+"/", nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				errs <- err
				return
			}
			resps <- resp
		})
	}
	eventually(t, "every exchange blocked waiting for its answer", func() bool {
		return waitingInReadHead() == n
	})
	if held := buffersHeld.Load(); held != 0 {
		t.Errorf("%d read buffers held by %d exchanges waiting for an answer, want 0", held, n)
	}

	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("request: %v", err)
	}
	if held := buffersHeld.Load(); held != n {
		t.Errorf("%d read buffers held by %d answers with unread bodies, want %d", held, n, n)
	}
	for range n {
		resp := <-resps
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "ok" {
			t.Fatalf("body %q, %v", b, err)
		}
	}
	if held := buffersHeld.Load(); held != 0 {
		t.Errorf("%d read buffers held after every body was read, want 0", held)
	}
}

// countBuffers counts the read buffers exchanges hold, for one test.
func countBuffers(t *testing.T) *atomic.Int64 {
	var n atomic.Int64
	testBufferHeld = func(d int64) { n.Add(d) }
	t.Cleanup(func() { testBufferHeld = nil })
	return &n
}

// waitingInReadHead counts the goroutines blocked in the poller under
// readHead.
func waitingInReadHead() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	k := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "h1.(*conn).readHead") && strings.Contains(g, "runtime_pollWait") {
			k++
		}
	}
	return k
}

// TestFirstReadErrors: an upstream that closes or resets the connection
// instead of answering gives the errors a read on the connection gives,
// and the exchange keeps no buffer.
func TestFirstReadErrors(t *testing.T) {
	buffersHeld := countBuffers(t)
	for _, tc := range []struct {
		name  string
		reset bool
		want  func(error) bool
	}{
		{"close", false, func(err error) bool { return err == io.EOF }},
		{"reset", true, func(err error) bool {
			var oe *net.OpError
			return errors.As(err, &oe) && oe.Op == "read" && errors.Is(err, syscall.ECONNRESET)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRawServer(t, func(c net.Conn, r *bufio.Reader) {
				if _, err := readRequest(r); err != nil {
					return
				}
				if tc.reset {
					c.(*net.TCPConn).SetLinger(0)
				}
			})
			tr := newTransport(t, s.addr(), testOptions())
			log := &connLog{}
			req, _ := http.NewRequest("GET", "http://"+s.addr()+"/", nil)
			_, err := log.send(tr, req, true)
			if !tc.want(err) {
				t.Fatalf("error %#v (%v)", err, err)
			}
			if log.answered() != 0 {
				t.Error("an upstream that sent nothing counted as having answered")
			}
			if held := buffersHeld.Load(); held != 0 {
				t.Errorf("%d read buffers held after the failed exchange", held)
			}
		})
	}
}
