//go:build linux

package framing

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// parkServer serves an echo of the method, path and body on a parking
// listener and counts the connections net/http saw begin (StateNew).
type parkServer struct {
	ln    *parkingListener
	srv   *http.Server
	news  atomic.Int64
	addr  string
	close sync.Once
}

func newParkServer(t *testing.T, parkAfter, idle time.Duration) *parkServer {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ps := &parkServer{addr: raw.Addr().String()}
	ps.ln = NewListener(raw, Options{ParkAfter: parkAfter}).(*parkingListener)
	ps.srv = &http.Server{
		IdleTimeout: idle, ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
		}),
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				ps.news.Add(1)
			}
			ConnState(c, s)
		},
	}
	go func() { _ = ps.srv.Serve(ps.ln) }()
	t.Cleanup(ps.stop)
	return ps
}

func (ps *parkServer) stop() { ps.close.Do(func() { _ = ps.srv.Close() }) }

// parkedCount is how many connections the parker holds.
func (ps *parkServer) parkedCount() int {
	ps.ln.park.mu.Lock()
	defer ps.ln.park.mu.Unlock()
	return len(ps.ln.park.conns)
}

// waitParked waits until the parker holds n connections.
func (ps *parkServer) waitParked(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for ps.parkedCount() != n {
		if time.Now().After(deadline) {
			t.Fatalf("parked: %d connections, want %d", ps.parkedCount(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// client is one keep-alive connection that reads answers in order.
type client struct {
	c net.Conn
	r *bufio.Reader
}

func dialClient(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{c: c, r: bufio.NewReader(c)}
}

func (cl *client) send(t *testing.T, raw string) {
	t.Helper()
	if _, err := io.WriteString(cl.c, raw); err != nil {
		t.Fatal(err)
	}
}

func (cl *client) answer(t *testing.T, want string) {
	t.Helper()
	resp, err := http.ReadResponse(cl.r, nil)
	if err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != want || resp.StatusCode != 200 {
		t.Fatalf("answer %d %q (%v), want 200 %q", resp.StatusCode, b, err, want)
	}
}

func get(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n" }

func post(path, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
}

// A connection idle for ParkAfter leaves net/http (it sees it close) and
// the parker holds it; the client's next request, a POST no client would
// resend, is answered on the same TCP connection.
func TestParkedConnServesNextRequest(t *testing.T) {
	ps := newParkServer(t, 30*time.Millisecond, time.Minute)
	cl := dialClient(t, ps.addr)
	cl.send(t, get("/one"))
	cl.answer(t, "GET /one ")
	ps.waitParked(t, 1)
	cl.send(t, post("/two", "hello"))
	cl.answer(t, "POST /two hello")
	if n := ps.news.Load(); n != 2 {
		t.Fatalf("net/http saw %d connections begin, want 2 (the second after parking)", n)
	}
	ps.waitParked(t, 1) // and again
	cl.send(t, get("/three"))
	cl.answer(t, "GET /three ")
}

// Parked connections cost no goroutine: net/http's serving goroutine ends.
func TestParkedConnsHoldNoGoroutine(t *testing.T) {
	ps := newParkServer(t, 20*time.Millisecond, time.Minute)
	const n = 50
	var cls []*client
	for i := range n {
		cl := dialClient(t, ps.addr)
		cl.send(t, get(fmt.Sprintf("/%d", i)))
		cl.answer(t, fmt.Sprintf("GET /%d ", i))
		cls = append(cls, cl)
	}
	ps.waitParked(t, n)
	before := runtime.NumGoroutine()
	if before > 20 {
		t.Fatalf("%d goroutines with %d connections parked", before, n)
	}
	for i, cl := range cls {
		cl.send(t, get(fmt.Sprintf("/again%d", i)))
		cl.answer(t, fmt.Sprintf("GET /again%d ", i))
	}
}

// Pipelined requests are all answered, in order, around parking: nothing
// net/http had read ahead is lost.
func TestParkKeepsPipelinedRequests(t *testing.T) {
	ps := newParkServer(t, 20*time.Millisecond, time.Minute)
	cl := dialClient(t, ps.addr)
	cl.send(t, get("/a")+post("/b", "bb")+get("/c"))
	cl.answer(t, "GET /a ")
	cl.answer(t, "POST /b bb")
	cl.answer(t, "GET /c ")
	ps.waitParked(t, 1)
	cl.send(t, post("/d", "dd")+get("/e"))
	cl.answer(t, "POST /d dd")
	cl.answer(t, "GET /e ")
}

// A request whose first bytes come before the park deadline and the rest
// after it is read whole: the park deadline covers only the wait.
func TestParkDeadlineOnlyCoversTheWait(t *testing.T) {
	ps := newParkServer(t, 50*time.Millisecond, time.Minute)
	cl := dialClient(t, ps.addr)
	cl.send(t, get("/a"))
	cl.answer(t, "GET /a ")
	time.Sleep(10 * time.Millisecond)
	req := get("/slow")
	cl.send(t, req[:2])
	time.Sleep(150 * time.Millisecond) // well past the park deadline
	cl.send(t, req[2:])
	cl.answer(t, "GET /slow ")
	if n := ps.news.Load(); n != 1 {
		t.Fatalf("net/http saw %d connections begin, want 1 (never parked mid-request)", n)
	}
}

// A parked connection is closed at net/http's idle timeout, as net/http
// would have closed it.
func TestParkedConnIdleTimeout(t *testing.T) {
	ps := newParkServer(t, 20*time.Millisecond, 300*time.Millisecond)
	cl := dialClient(t, ps.addr)
	cl.send(t, get("/a"))
	cl.answer(t, "GET /a ")
	ps.waitParked(t, 1)
	start := time.Now()
	if _, err := cl.r.ReadByte(); err != io.EOF {
		t.Fatalf("read on a connection past its idle timeout: %v, want EOF", err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Fatalf("closed %v after parking, before the idle timeout", waited)
	}
	ps.waitParked(t, 0)
}

// A client that closes a parked connection frees it.
func TestParkedConnClosedByClient(t *testing.T) {
	ps := newParkServer(t, 20*time.Millisecond, time.Minute)
	cl := dialClient(t, ps.addr)
	cl.send(t, get("/a"))
	cl.answer(t, "GET /a ")
	ps.waitParked(t, 1)
	cl.c.Close()
	ps.waitParked(t, 0)
}

// Closing the listener (a drain) closes the quiet parked connections and
// still serves one whose request has arrived; Accept then says closed.
func TestParkedConnsOnListenerClose(t *testing.T) {
	ps := newParkServer(t, 20*time.Millisecond, time.Minute)
	quiet, busy := dialClient(t, ps.addr), dialClient(t, ps.addr)
	for _, cl := range []*client{quiet, busy} {
		cl.send(t, get("/a"))
		cl.answer(t, "GET /a ")
	}
	ps.waitParked(t, 2)
	// Hold the poller so that the request below is still parked when the
	// listener closes.
	ps.ln.park.mu.Lock()
	busy.send(t, post("/late", "x"))
	time.Sleep(20 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- ps.ln.Close() }()
	time.Sleep(20 * time.Millisecond)
	ps.ln.park.mu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	busy.answer(t, "POST /late x")
	if _, err := quiet.r.ReadByte(); err != io.EOF {
		t.Fatalf("quiet parked connection after close: %v, want EOF", err)
	}
	if _, err := ps.ln.Accept(); err != net.ErrClosed {
		t.Fatalf("Accept after close: %v, want net.ErrClosed", err)
	}
}

// Without ParkAfter, NewListener is the plain one: nothing parks.
func TestNoParkingByDefault(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, ok := NewListener(raw, Options{}).(*listener); !ok {
		t.Fatal("NewListener without ParkAfter is not the plain listener")
	}
}

// A refused request is not parked: the refusal and its close stand.
func TestRefusedConnNotParked(t *testing.T) {
	ps := newParkServer(t, 20*time.Millisecond, time.Minute)
	cl := dialClient(t, ps.addr)
	cl.send(t, get("/a"))
	cl.answer(t, "GET /a ")
	cl.send(t, "GET /b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
	resp, err := http.ReadResponse(cl.r, nil)
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("smuggling attempt: %v %v, want 400", resp, err)
	}
	resp.Body.Close()
	if _, err := io.Copy(io.Discard, cl.r); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("after the 400: %v", err)
	}
	if n := ps.parkedCount(); n != 0 {
		t.Fatalf("%d connections parked after a refusal", n)
	}
}

// Over TLS, an idle HTTP/1.1 connection parks too, and comes back with
// its TLS state (Request.TLS); an HTTP/2 one, which is not net/http's
// HTTP/1 loop, never parks.
func TestParkedTLSConn(t *testing.T) {
	donor := httptest.NewTLSServer(http.NotFoundHandler())
	cfg := &tls.Config{Certificates: donor.TLS.Certificates, NextProtos: []string{"h2", "http/1.1"}}
	roots := donor.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	donor.Close()

	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewTLSListener(raw, cfg, Options{ParkAfter: 20 * time.Millisecond}).(*tlsListener)
	var news atomic.Int64
	srv := &http.Server{TLSConfig: cfg, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s %s tls=%v", r.Proto, r.URL.Path, b, r.TLS != nil)
		}),
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				news.Add(1)
			}
			ConnState(c, s)
		}}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	parked := func() int {
		ln.park.mu.Lock()
		defer ln.park.mu.Unlock()
		return len(ln.park.conns)
	}
	waitParked := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); parked() != n; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("parked: %d, want %d", parked(), n)
			}
		}
	}

	tc, err := tls.Dial("tcp", raw.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "example.com", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	cl := &client{c: tc, r: bufio.NewReader(tc)}
	cl.send(t, get("/a"))
	cl.answer(t, "HTTP/1.1 /a  tls=true")
	waitParked(1)
	cl.send(t, post("/b", "bb"))
	cl.answer(t, "HTTP/1.1 /b bb tls=true")
	if news.Load() != 2 {
		t.Fatalf("net/http saw %d connections begin, want 2", news.Load())
	}
	tc.Close()
	waitParked(0)

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "example.com"}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	h2 := &http.Client{Transport: tr}
	for i := range 2 {
		resp, err := h2.Get("https://" + raw.Addr().String() + "/h2")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "HTTP/2.0 /h2  tls=true" {
			t.Fatalf("h2 request %d: %q", i, b)
		}
		time.Sleep(60 * time.Millisecond) // past ParkAfter
		if n := parked(); n != 0 {
			t.Fatalf("%d connections parked with only an h2 one open", n)
		}
	}
}
