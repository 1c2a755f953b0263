package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/health"
)

// countingBackend counts the requests it saw and reads their bodies; aborted
// counts those whose body could not be read to the end.
type countingBackend struct {
	*httptest.Server
	hits, aborted atomic.Int64
}

func newCountingBackend(t *testing.T) *countingBackend {
	t.Helper()
	b := &countingBackend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			b.aborted.Add(1)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(b.Close)
	return b
}

// dialFront opens a raw connection to the fixture's front server.
func dialFront(t *testing.T, f *fixture) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(f.front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c.(*net.TCPConn)
}

// readAnswer reads one response from r, body included.
func readAnswer(t *testing.T, r *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// closedWithin reports whether the server closes c (EOF or reset) within d,
// reading and dropping whatever else arrives.
func closedWithin(c net.Conn, r *bufio.Reader, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, r)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// TestClientBodyFailureIsTheClients: a body the client breaks (bad chunking
// after 64 KiB, cut short by a half-close, below or above 64 KiB) gets 400,
// class 4xx, never a 502 or 200 and never an error against the colour.
func TestClientBodyFailureIsTheClients(t *testing.T) {
	big := strings.Repeat("x", 70<<10)
	for _, tc := range []struct {
		name, send string
		halfClose  bool
	}{
		{"bad chunk after 64 KiB", fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\nzz\r\n", len(big), big), false},
		{"half-closed small upload", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b", true},
		{"half-closed large upload", fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", 2*len(big), big), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newCountingBackend(t)
			ups := upstreams(t, []string{hostOf(b.Server)}, health.Up, TransportOptions{})
			f := newFixture(t, ups, nil, nil, HandlerOptions{})
			c := dialFront(t, f)
			if _, err := io.WriteString(c, tc.send); err != nil {
				t.Fatal(err)
			}
			if tc.halfClose {
				_ = c.CloseWrite()
			}
			resp, body := readAnswer(t, bufio.NewReader(c))
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d %q, want 400", resp.StatusCode, body)
			}
			if o := f.obs.next(t); o.Class != Class4xx || o.Class.IsError() || o.Status != 400 {
				t.Fatalf("outcome %+v, want class 4xx, status 400", o)
			}
			if n := ups[0].Health().State(); n != health.Up {
				t.Fatalf("the client's failure marked the upstream %s", n)
			}
			// The upstream learns of the abort when its read fails, a
			// moment after the client has its answer.
			for end := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				hits, aborted := b.hits.Load(), b.aborted.Load()
				if hits == aborted {
					break
				}
				if time.Now().After(end) {
					t.Fatalf("upstream finished %d of %d requests; it must see none or an aborted one", hits-aborted, hits)
				}
			}
		})
	}
}

// TestStreamedBodyIdleTimeout: a body over 64 KiB that stops arriving gets
// 408 after the body timeout (not never), the upstream's request is aborted
// and the client connection closed.
func TestStreamedBodyIdleTimeout(t *testing.T) {
	b := newCountingBackend(t)
	ups := upstreams(t, []string{hostOf(b.Server)}, health.Up, TransportOptions{})
	f := newFixture(t, ups, nil, nil, HandlerOptions{BodyTimeout: 300 * time.Millisecond})
	c := dialFront(t, f)
	first := strings.Repeat("x", 100<<10)
	_, _ = fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", 1<<20, first)
	// Then nothing: the client holds the rest back.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("no answer within 5s to a body stalled past a 300ms timeout: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", resp.StatusCode)
	}
	if o := f.obs.next(t); o.Class != Class4xx || o.Status != 408 {
		t.Fatalf("outcome %+v, want 4xx 408", o)
	}
	if !closedWithin(c, r, 3*time.Second) {
		t.Fatal("connection still open 3s after the 408")
	}
	deadline := time.Now().Add(3 * time.Second)
	for b.aborted.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if b.hits.Load() != 1 || b.aborted.Load() != 1 {
		t.Fatalf("upstream: %d requests, %d aborted; want its one request aborted", b.hits.Load(), b.aborted.Load())
	}
}

// TestSmallBodyTimeoutClosesConnection: after the 408 for a trickled small
// body the server closes the connection at once instead of reading the rest
// of the body without a deadline.
func TestSmallBodyTimeoutClosesConnection(t *testing.T) {
	b := newCountingBackend(t)
	ups := upstreams(t, []string{hostOf(b.Server)}, health.Up, TransportOptions{})
	f := newFixture(t, ups, nil, nil, HandlerOptions{BodyTimeout: 200 * time.Millisecond})
	c := dialFront(t, f)
	_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a little")
	r := bufio.NewReader(c)
	resp, _ := readAnswer(t, r)
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", resp.StatusCode)
	}
	// Keep trickling, as a slow client would: the server must not wait for it.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; i < 50; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := c.Write([]byte("y")); err != nil {
				return
			}
		}
	}()
	if !closedWithin(c, r, 3*time.Second) {
		t.Fatal("connection still open 3s after the 408")
	}
	if b.hits.Load() != 0 {
		t.Fatalf("upstream saw %d requests", b.hits.Load())
	}
}
