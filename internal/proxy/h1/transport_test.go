package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestKeepAlive: sequential requests share one connection, each after the
// first says so to the trace, and the answers are the upstream's.
func TestKeepAlive(t *testing.T) {
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.URL.Path) })
	tr := newTransport(t, s.addr(), testOptions())
	var log connLog
	for i := range 5 {
		resp, body := get(t, tr, fmt.Sprintf("http://%s/n%d", s.addr(), i), &log)
		if resp.StatusCode != 200 || body != fmt.Sprintf("/n%d", i) {
			t.Fatalf("answer %d %q", resp.StatusCode, body)
		}
		if log.last() != (i > 0) {
			t.Fatalf("request %d: reused %v", i, log.last())
		}
	}
	if n := s.opened.Load(); n != 1 {
		t.Fatalf("%d connections for 5 sequential requests, want 1", n)
	}
	if n := log.answered(); n != 5 {
		t.Fatalf("%d attempts saw their first byte, want 5", n)
	}
}

// TestClosedIdleConnIsSkipped: an upstream that closed an idle connection
// (its keep-alive timeout) costs the next request nothing: the pool sees
// the close before sending and dials anew.
func TestClosedIdleConnIsSkipped(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the idle check peeks at the socket on Linux only")
	}
	s := newRawServer(t, func(c net.Conn, r *bufio.Reader) {
		if _, err := readRequest(r); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		// then close, as an upstream whose keep-alive timeout fired
	})
	tr := newTransport(t, s.addr(), testOptions())
	var log connLog
	get(t, tr, "http://"+s.addr()+"/", &log)
	eventually(t, "the upstream closed", func() bool {
		tr.idle.mu.Lock()
		defer tr.idle.mu.Unlock()
		if len(tr.idle.conns) != 1 {
			return false
		}
		return !tr.idle.conns[0].alive()
	})
	_, body := get(t, tr, "http://"+s.addr()+"/", &log)
	if body != "ok" || log.last() {
		t.Fatalf("second request: body %q reused %v; want ok on a new connection", body, log.last())
	}
}

// TestUnsolicitedBytesDropConn: bytes after an answer (a second response
// nobody asked for, a Content-Length shorter than the body) mean the
// upstream is out of step: that connection is not used again.
func TestUnsolicitedBytesDropConn(t *testing.T) {
	s := newRawServer(t, func(c net.Conn, r *bufio.Reader) {
		for {
			if _, err := readRequest(r); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil")
		}
	})
	tr := newTransport(t, s.addr(), testOptions())
	var log connLog
	for range 3 {
		if _, body := get(t, tr, "http://"+s.addr()+"/", &log); body != "ok" {
			t.Fatalf("body %q", body)
		}
		if log.last() {
			t.Fatal("a connection that carried unsolicited bytes was reused")
		}
	}
	if n := s.accepts.Load(); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}
}

// TestChunkedWithTrailers: a chunked answer with trailers arrives whole,
// trailers included, and the connection is reused after it.
func TestChunkedWithTrailers(t *testing.T) {
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		for i := range 3 {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
		w.Header().Set("X-Sum", "3")
	})
	tr := newTransport(t, s.addr(), testOptions())
	var log connLog
	for range 2 {
		resp, body := get(t, tr, "http://"+s.addr()+"/", &log)
		if body != "part0;part1;part2;" || resp.Trailer.Get("X-Sum") != "3" {
			t.Fatalf("body %q trailer %v", body, resp.Trailer)
		}
	}
	if !log.last() || s.opened.Load() != 1 {
		t.Fatalf("chunked answers: reused %v, %d connections", log.last(), s.opened.Load())
	}
}

// TestAnswersWithoutBody: HEAD (with a Content-Length), 204 and 304 have no
// body to read, and the connection goes back to the pool at once.
func TestAnswersWithoutBody(t *testing.T) {
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(204)
		case "/304":
			w.WriteHeader(304)
		default:
			w.Header().Set("Content-Length", "1000")
			if r.Method != "HEAD" {
				w.Write(make([]byte, 1000))
			}
		}
	})
	tr := newTransport(t, s.addr(), testOptions())
	for _, tc := range []struct{ method, path string }{{"HEAD", "/"}, {"GET", "/204"}, {"GET", "/304"}, {"HEAD", "/"}} {
		req, _ := http.NewRequest(tc.method, "http://"+s.addr()+tc.path, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Body != http.NoBody {
			t.Fatalf("%s %s: body %T, want none", tc.method, tc.path, resp.Body)
		}
		if tc.method == "HEAD" && resp.ContentLength != 1000 {
			t.Fatalf("HEAD: Content-Length %d", resp.ContentLength)
		}
	}
	if n := s.opened.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

// TestInformational: 1xx answers go to the trace (ReverseProxy forwards
// them), the final one is returned; a flood of them is an error.
func TestInformational(t *testing.T) {
	s := newRawServer(t, func(c net.Conn, r *bufio.Reader) {
		for {
			req, err := readRequest(r)
			if err != nil {
				return
			}
			n := 2
			if req.URL.Path == "/flood" {
				n = 100
			}
			for range n {
				io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	tr := newTransport(t, s.addr(), testOptions())
	var got informationals
	req, _ := http.NewRequest("GET", "http://"+s.addr()+"/", nil)
	resp, err := tr.Send(req, false, &Attempt{Informational: &got})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok" || len(got) != 2 || got[0] != "103 </style.css>; rel=preload" {
		t.Fatalf("final %d %q, 1xx %q", resp.StatusCode, b, got)
	}
	req, _ = http.NewRequest("GET", "http://"+s.addr()+"/flood", nil)
	if _, err := tr.Send(req, false, &Attempt{Informational: &got}); err == nil || !strings.Contains(err.Error(), "1xx") {
		t.Fatalf("100 informational answers: %v, want an error", err)
	}
}

// informationals records the 1xx answers of an exchange.
type informationals []string

func (g *informationals) Got1xx(code int, h http.Header) error {
	*g = append(*g, fmt.Sprint(code, " ", h.Get("Link")))
	return nil
}

// TestUpgrade: a 101 answer's body is the connection, both ways, starting
// with the bytes the upstream sent right after the head.
func TestUpgrade(t *testing.T) {
	s := newRawServer(t, func(c net.Conn, r *bufio.Reader) {
		if _, err := http.ReadRequest(r); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nhello")
		buf := make([]byte, 4)
		if _, err := io.ReadFull(r, buf); err == nil {
			c.Write(buf)
		}
	})
	tr := newTransport(t, s.addr(), testOptions())
	req, _ := http.NewRequest("GET", "http://"+s.addr()+"/", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if resp.StatusCode != 101 || !ok {
		t.Fatalf("status %d, body %T", resp.StatusCode, resp.Body)
	}
	defer rwc.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(rwc, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("first bytes %q %v", buf, err)
	}
	rwc.Write([]byte("ping"))
	if _, err := io.ReadFull(rwc, buf[:4]); err != nil || string(buf[:4]) != "ping" {
		t.Fatalf("echo %q %v", buf[:4], err)
	}
}

// TestResponseHeaderTimeout: an upstream that answers nothing in time, or
// stalls in the middle of its status line or headers, times out (a 504 in
// the proxy), not as a malformed answer.
func TestResponseHeaderTimeout(t *testing.T) {
	for _, part := range []string{"", "H", "HTTP/1.1 200 OK\r\nContent-Le"} {
		s := newRawServer(t, func(c net.Conn, r *bufio.Reader) {
			readRequest(r)
			io.WriteString(c, part)
			io.Copy(io.Discard, r) // until the client gives up
		})
		o := testOptions()
		o.ResponseHeaderTimeout = 100 * time.Millisecond
		tr := newTransport(t, s.addr(), o)
		req, _ := http.NewRequest("GET", "http://"+s.addr()+"/", nil)
		_, err := tr.RoundTrip(req)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("after %q: error %v, want a timeout", part, err)
		}
	}
}

// TestResponseHeaderTimeoutStartsAfterTheBody: the limit is for the
// answer, not the upload: an upstream slow to take a large body, that
// answers as soon as it has it, is not timed out.
func TestResponseHeaderTimeoutStartsAfterTheBody(t *testing.T) {
	const size = 64 << 20 // more than the loopback socket buffers hold
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n)
	})
	o := testOptions()
	o.ResponseHeaderTimeout = 200 * time.Millisecond
	tr := newTransport(t, s.addr(), o)
	req, _ := http.NewRequest("POST", "http://"+s.addr()+"/", io.LimitReader(zeros{}, size))
	req.ContentLength = size
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%v: the header timeout ran during the upload", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != fmt.Sprint(size) {
		t.Fatalf("upstream read %s bytes", b)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestHeadTooLarge: an upstream cannot make switchd hold an endless head.
func TestHeadTooLarge(t *testing.T) {
	s := newRawServer(t, func(c net.Conn, r *bufio.Reader) {
		readRequest(r)
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := "X-Big: " + strings.Repeat("a", 1000) + "\r\n"
		for range 1000 {
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
	})
	tr := newTransport(t, s.addr(), testOptions())
	req, _ := http.NewRequest("GET", "http://"+s.addr()+"/", nil)
	if _, err := tr.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "exceed") {
		t.Fatalf("1 MB of headers: %v, want an error saying they exceed the limit", err)
	}
}

// TestCancelWhileWaiting: a client that goes away ends the exchange at
// once, and the upstream sees its connection closed.
func TestCancelWhileWaiting(t *testing.T) {
	closed := make(chan struct{})
	s := newRawServer(t, func(c net.Conn, r *bufio.Reader) {
		readRequest(r)
		io.Copy(io.Discard, r)
		close(closed)
	})
	tr := newTransport(t, s.addr(), testOptions())
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.addr()+"/", nil)
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := tr.RoundTrip(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream connection stayed open after the cancel")
	}
}

// TestCancelDuringBody: cancelling while the body streams ends the read.
func TestCancelDuringBody(t *testing.T) {
	s := newRawServer(t, func(c net.Conn, r *bufio.Reader) {
		readRequest(r)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst")
		io.Copy(io.Discard, r)
	})
	tr := newTransport(t, s.addr(), testOptions())
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.addr()+"/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 5)
	io.ReadFull(resp.Body, buf)
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("the body read went on after the cancel")
	}
}

// TestEarlyAnswerDuringUpload: an upstream that answers (and closes)
// before it has read the body gets its answer to the client, not an error.
func TestEarlyAnswerDuringUpload(t *testing.T) {
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	})
	tr := newTransport(t, s.addr(), testOptions())
	req, _ := http.NewRequest("POST", "http://"+s.addr()+"/", io.LimitReader(zeros{}, 64<<20))
	req.ContentLength = 64 << 20
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%v, want the upstream's 413", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// failingBody fails after some bytes, as a client that broke its upload.
type failingBody struct{ n int }

var errClientGone = errors.New("client body failed")

func (b *failingBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errClientGone
	}
	n := min(len(p), b.n)
	clear(p[:n])
	b.n -= n
	return n, nil
}

// TestClientBodyFailure: a request body that fails ends the exchange with
// that error at once (the upstream would wait for the rest for ever), and
// the upstream sees its request cut short.
func TestClientBodyFailure(t *testing.T) {
	aborted := make(chan error, 1)
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		aborted <- err
	})
	tr := newTransport(t, s.addr(), testOptions())
	req, _ := http.NewRequest("POST", "http://"+s.addr()+"/", &failingBody{n: 100 << 10})
	req.ContentLength = 1 << 20
	if _, err := tr.RoundTrip(req); !errors.Is(err, errClientGone) {
		t.Fatalf("error %v, want the body's", err)
	}
	if err := <-aborted; err == nil {
		t.Fatal("the upstream read a whole body")
	}
}

// TestIdleTimeout: an idle connection closes after the idle timeout even
// when no request comes to notice.
func TestIdleTimeout(t *testing.T) {
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {})
	o := testOptions()
	o.IdleTimeout = 100 * time.Millisecond
	tr := newTransport(t, s.addr(), o)
	get(t, tr, "http://"+s.addr()+"/", nil)
	eventually(t, "the idle connection closed", func() bool { return s.closed.Load() == 1 })
	get(t, tr, "http://"+s.addr()+"/", nil)
	eventually(t, "the second idle connection closed", func() bool { return s.closed.Load() == 2 })
}

// TestMaxIdle: past MaxIdle, a connection whose exchange ends is closed.
func TestMaxIdle(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 3)
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	})
	o := testOptions()
	o.MaxIdle = 1
	tr := newTransport(t, s.addr(), o)
	done := make(chan struct{}, 3)
	for range 3 {
		go func() {
			req, _ := http.NewRequest("GET", "http://"+s.addr()+"/", nil)
			if resp, err := tr.RoundTrip(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			done <- struct{}{}
		}()
	}
	for range 3 {
		<-arrived
	}
	close(release)
	for range 3 {
		<-done
	}
	eventually(t, "two of three connections closed", func() bool { return s.closed.Load() == 2 })
}

// TestBodyClosedEarly: a body closed before its end costs its connection,
// not a read of the rest, and the next request works.
func TestBodyClosedEarly(t *testing.T) {
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 8<<20)) })
	tr := newTransport(t, s.addr(), testOptions())
	var log connLog
	req, _ := http.NewRequest("GET", "http://"+s.addr()+"/", nil)
	resp, err := log.send(tr, req, false)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(resp.Body, make([]byte, 10))
	resp.Body.Close()
	if _, body := get(t, tr, "http://"+s.addr()+"/", &log); len(body) != 8<<20 || log.last() {
		t.Fatalf("next request: %d bytes, reused %v", len(body), log.last())
	}
}

// TestCloseDelimited: an answer without a length ends with the connection,
// which is not reused.
func TestCloseDelimited(t *testing.T) {
	s := newRawServer(t, func(c net.Conn, r *bufio.Reader) {
		readRequest(r)
		io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nuntil the end")
	})
	tr := newTransport(t, s.addr(), testOptions())
	var log connLog
	for range 2 {
		if _, body := get(t, tr, "http://"+s.addr()+"/", &log); body != "until the end" || log.last() {
			t.Fatalf("body %q reused %v", body, log.last())
		}
	}
}

// TestFullDuplex: an upstream that streams its answer while it reads a
// large body (an echo) does not deadlock against switchd.
func TestFullDuplex(t *testing.T) {
	const size = 32 << 20
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		w.WriteHeader(200)
		io.Copy(w, r.Body)
	})
	tr := newTransport(t, s.addr(), testOptions())
	req, _ := http.NewRequest("POST", "http://"+s.addr()+"/", io.LimitReader(zeros{}, size))
	req.ContentLength = size
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("echoed %d of %d bytes: %v", n, size, err)
	}
}

// TestFresh: Send with fresh dials a new connection even with idle ones kept.
func TestFresh(t *testing.T) {
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {})
	tr := newTransport(t, s.addr(), testOptions())
	var log connLog
	get(t, tr, "http://"+s.addr()+"/", &log)
	req, _ := http.NewRequest("GET", "http://"+s.addr()+"/", nil)
	resp, err := log.send(tr, req, true)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if log.answered() != 2 {
		t.Fatalf("attempts %+v, want both answered", log.attempts)
	}
	if log.last() || s.opened.Load() != 2 {
		t.Fatalf("Fresh: reused %v, %d connections", log.last(), s.opened.Load())
	}
}

// TestTLS: an https upstream, verified against its own root, speaks
// HTTP/1.1 over a kept-alive TLS connection.
func TestTLS(t *testing.T) {
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Proto) }))
	s.EnableHTTP2 = true
	s.StartTLS()
	t.Cleanup(s.Close)
	roots := x509.NewCertPool()
	roots.AddCert(s.Certificate())
	o := testOptions()
	o.TLS = &tls.Config{RootCAs: roots}
	addr := strings.TrimPrefix(s.URL, "https://")
	tr := newTransport(t, addr, o)
	var log connLog
	for range 2 {
		resp, body := get(t, tr, s.URL+"/", &log)
		if body != "HTTP/1.1" || resp.TLS == nil {
			t.Fatalf("body %q TLS %v", body, resp.TLS)
		}
	}
	if !log.last() {
		t.Fatal("the TLS connection was not reused")
	}
	o.TLS = &tls.Config{} // system roots: the test certificate is not trusted
	bad := newTransport(t, addr, o)
	req, _ := http.NewRequest("GET", s.URL+"/", nil)
	if _, err := bad.RoundTrip(req); err == nil {
		t.Fatal("an untrusted certificate was accepted")
	}
}

// TestLongHeaderLine: a head line longer than the read buffer (a big
// cookie) is read whole.
func TestLongHeaderLine(t *testing.T) {
	long := strings.Repeat("c", 10<<10)
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "big="+long)
		fmt.Fprint(w, "ok")
	})
	tr := newTransport(t, s.addr(), testOptions())
	resp, body := get(t, tr, "http://"+s.addr()+"/", nil)
	if body != "ok" || resp.Header.Get("Set-Cookie") != "big="+long {
		t.Fatalf("body %q, cookie of %d bytes", body, len(resp.Header.Get("Set-Cookie")))
	}
}

// TestPostReusesConn: a request with a body whose answer comes as soon as
// the body is read leaves its connection for the next one, however the
// body writer's end and the answer's race.
func TestPostReusesConn(t *testing.T) {
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n)
	})
	tr := newTransport(t, s.addr(), testOptions())
	for range 200 {
		req, _ := http.NewRequest("POST", "http://"+s.addr()+"/", strings.NewReader("payload"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if n := s.opened.Load(); n != 1 {
		t.Fatalf("%d connections for 200 sequential POSTs, want 1", n)
	}
}
