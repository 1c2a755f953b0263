package framing

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// checkedServer is a real http.Server behind NewListener. Its handler
// answers "METHOD PATH LEN" (LEN: body bytes read), and on /upgrade
// switches protocols and echoes raw bytes. hits counts requests.
func checkedServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	return checkedServerTLS(t, nil)
}

// checkedServerTLS is checkedServer behind NewTLSListener with tlsCfg (nil:
// plain).
func checkedServerTLS(t *testing.T, tlsCfg *tls.Config) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/upgrade" {
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			_, _ = io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
			_ = brw.Flush()
			buf := make([]byte, 4096)
			for {
				n, err := brw.Read(buf)
				if _, werr := conn.Write(buf[:n]); werr != nil || err != nil {
					return
				}
			}
		}
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if r.TLS != nil {
			fmt.Fprintf(w, "tls HTTP/%d ", r.ProtoMajor)
		}
		fmt.Fprintf(w, "%s %s %d", r.Method, r.URL.Path, n)
	}))
	s.Config.MaxHeaderBytes = 4096
	s.Config.ConnState = ConnState
	if tlsCfg != nil {
		s.Config.TLSConfig = tlsCfg
		s.Listener = NewTLSListener(s.Listener, tlsCfg, Options{MaxHeaderBytes: 4096, ErrorLog: log.New(io.Discard, "", 0)})
	} else {
		s.Listener = NewListener(s.Listener, Options{MaxHeaderBytes: 4096})
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &hits
}

func dial(t *testing.T, s *httptest.Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", s.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func answer(t *testing.T, r *bufio.Reader, method string) (int, string) {
	t.Helper()
	resp, err := http.ReadResponse(r, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

// TestPipelinedRequestsPass: keep-alive, pipelining, a chunked body with a
// trailer, Expect: 100-continue and HEAD work as without the check.
func TestPipelinedRequestsPass(t *testing.T) {
	s, _ := checkedServer(t)
	c, r := dial(t, s)
	_, _ = io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"+
		"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"+
		"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n"+
		"HEAD /d HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []struct{ method, body string }{
		{"GET", "GET /a 0"}, {"POST", "POST /b 5"}, {"POST", "POST /c 5"}, {"HEAD", ""},
	} {
		if code, body := answer(t, r, want.method); code != 200 || body != want.body {
			t.Fatalf("%s: %d %q, want 200 %q", want.method, code, body, want.body)
		}
	}
	_, _ = io.WriteString(c, "PUT /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
	if code, _ := answer(t, r, "PUT"); code != http.StatusContinue {
		t.Fatalf("Expect: 100-continue got %d first", code)
	}
	_, _ = io.WriteString(c, "xyz")
	if code, body := answer(t, r, "PUT"); code != 200 || body != "PUT /e 3" {
		t.Fatalf("after 100-continue: %d %q", code, body)
	}
}

// TestAmbiguousFramingRefused: each ambiguous request gets 400, the
// connection is closed, and nothing smuggled after it is served. Without
// the check net/http answered these 200 and served the smuggled request.
func TestAmbiguousFramingRefused(t *testing.T) {
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct{ name, head string }{
		{"cl and te", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"folded te", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX: 1\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"te after bare lf", "POST / HTTP/1.1\r\nHost: x\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"te in http/1.0", "POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, hits := checkedServer(t)
			c, r := dial(t, s)
			_, _ = io.WriteString(c, tc.head+smuggled)
			code, body := answer(t, r, "POST")
			if code != http.StatusBadRequest {
				t.Fatalf("status %d %q, want 400", code, body)
			}
			rest, err := io.ReadAll(r)
			if err != nil && !isReset(err) {
				t.Fatalf("connection not closed after the 400: %v", err)
			}
			if hits.Load() != 0 || strings.Contains(string(rest), "smuggled") {
				t.Fatalf("handler ran %d times; after the 400: %q", hits.Load(), rest)
			}
		})
	}
}

// TestRefusalAfterAGoodRequest: a good request pipelined before an
// ambiguous one is answered; the ambiguous one gets 400 and the connection
// ends there.
func TestRefusalAfterAGoodRequest(t *testing.T) {
	s, hits := checkedServer(t)
	c, r := dial(t, s)
	_, _ = io.WriteString(c, "GET /good HTTP/1.1\r\nHost: x\r\n\r\n"+
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"+
		"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
	if code, body := answer(t, r, "GET"); code != 200 || body != "GET /good 0" {
		t.Fatalf("good request: %d %q", code, body)
	}
	if code, _ := answer(t, r, "POST"); code != http.StatusBadRequest {
		t.Fatalf("ambiguous request: %d, want 400", code)
	}
	if rest, _ := io.ReadAll(r); len(rest) != 0 || hits.Load() != 1 {
		t.Fatalf("after the 400: %q; handler ran %d times, want 1", rest, hits.Load())
	}
}

// TestRefusedTrailerIsABadBody: a folded trailer field, which net/http
// would join, fails the body read (the handler answers 400).
func TestRefusedTrailerIsABadBody(t *testing.T) {
	s, _ := checkedServer(t)
	c, r := dial(t, s)
	_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX: a\r\n b\r\n\r\n")
	if code, body := answer(t, r, "POST"); code != http.StatusBadRequest {
		t.Fatalf("status %d %q, want 400", code, body)
	}
}

// TestNoCheckAfterSwitchingProtocols: once net/http hands the connection
// to a handler that switched protocols, bytes pass unparsed, even ones that
// look like a refused HTTP head; before that they are checked.
func TestNoCheckAfterSwitchingProtocols(t *testing.T) {
	s, _ := checkedServer(t)
	c, r := dial(t, s)
	_, _ = io.WriteString(c, "GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	raw := "POST / HTTP/1.1\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n\x00\xff"
	_, _ = io.WriteString(c, raw)
	got := make([]byte, len(raw))
	if _, err := io.ReadFull(r, got); err != nil || string(got) != raw {
		t.Fatalf("echo after 101: %q %v", got, err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// TestTLSListener: behind NewTLSListener an HTTP/1.1 connection is checked
// and its requests see TLS, an upgraded one passes raw bytes, and HTTP/2
// is served as before.
func TestTLSListener(t *testing.T) {
	// httptest's own certificate and a client that trusts it.
	donor := httptest.NewTLSServer(http.NotFoundHandler())
	cfg := &tls.Config{Certificates: donor.TLS.Certificates, NextProtos: []string{"h2", "http/1.1"}}
	client := donor.Client()
	roots := client.Transport.(*http.Transport).TLSClientConfig.RootCAs
	donor.Close()

	s, hits := checkedServerTLS(t, cfg)
	dialTLS := func(protos ...string) (net.Conn, *bufio.Reader) {
		c, err := tls.Dial("tcp", s.Listener.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "example.com", NextProtos: protos})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}

	c, r := dialTLS("http/1.1")
	_, _ = io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok")
	for _, want := range []string{"tls HTTP/1 GET /a 0", "tls HTTP/1 POST /b 2"} {
		if code, body := answer(t, r, "GET"); code != 200 || body != want {
			t.Fatalf("%d %q, want 200 %q", code, body, want)
		}
	}

	c, r = dialTLS()
	_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
	if code, _ := answer(t, r, "POST"); code != http.StatusBadRequest {
		t.Fatalf("smuggling over TLS: %d, want 400", code)
	}
	if rest, _ := io.ReadAll(r); len(rest) != 0 || hits.Load() != 2 {
		t.Fatalf("after the 400: %q, handler ran %d times (want 2)", rest, hits.Load())
	}

	c, r = dialTLS("http/1.1")
	_, _ = io.WriteString(c, "GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	if resp, err := http.ReadResponse(r, nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade over TLS: %v %v", resp, err)
	}
	raw := "GET / HTTP/1.1\nTransfer-Encoding: x\r\n\r\n\x81\x00"
	_, _ = io.WriteString(c, raw)
	got := make([]byte, len(raw))
	if _, err := io.ReadFull(r, got); err != nil || string(got) != raw {
		t.Fatalf("echo after 101 over TLS: %q %v", got, err)
	}

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "example.com"}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + s.Listener.Addr().String() + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(b) != "tls HTTP/2 GET /h2 0" {
		t.Fatalf("h2: %q over %s", b, resp.Proto)
	}
}

// TestTLSHandshakeBounded: a client that connects and never says hello is
// closed after the handshake timeout without holding up anyone else, and
// Close ends a handshake under way at once.
func TestTLSHandshakeBounded(t *testing.T) {
	donor := httptest.NewTLSServer(http.NotFoundHandler())
	cfg := &tls.Config{Certificates: donor.TLS.Certificates}
	roots := donor.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	donor.Close()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewTLSListener(raw, cfg, Options{HandshakeTimeout: 200 * time.Millisecond, ErrorLog: log.New(io.Discard, "", 0)})
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	mute, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	good, err := tls.Dial("tcp", raw.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "example.com"})
	if err != nil {
		t.Fatalf("a client behind a mute one: %v", err)
	}
	good.Close()
	(<-accepted).Close()
	_ = mute.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := mute.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the mute client: %v, want closed by the server", err)
	}

	ln.Close()

	// A minute's timeout: only Close can end this one within the test.
	raw2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln2 := NewTLSListener(raw2, cfg, Options{HandshakeTimeout: time.Minute, ErrorLog: log.New(io.Discard, "", 0)})
	go func() { _, _ = ln2.Accept() }()
	mute2, err := net.Dial("tcp", raw2.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer mute2.Close()
	time.Sleep(50 * time.Millisecond) // its handshake is under way
	ln2.Close()
	_ = mute2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := mute2.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after Close: %v, want the handshake ended", err)
	}
}

// TestIdleConnHoldsNoBuffer: once a request is delivered, a connection that
// waits for the next one holds no buffer of its own, whether the request
// arrived whole or in pieces (10,000 idle keep-alive connections would
// otherwise hold 40 MiB), and it reads the next request as before.
func TestIdleConnHoldsNoBuffer(t *testing.T) {
	req := "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
	for _, step := range []int{1, 10, 4096} {
		c := NewConn(&scripted{data: []byte(req + req), step: step}, 0)
		r := bufio.NewReaderSize(c, 4096)
		for i := range 2 {
			got := make([]byte, len(req))
			if _, err := io.ReadFull(r, got); err != nil || string(got) != req {
				t.Fatalf("step %d, request %d: read %q, %v", step, i, got, err)
			}
			if step == 4096 && i == 0 {
				continue // both requests came in one read; the second is buffered by r
			}
			if c.buf != nil || c.w != 0 {
				t.Fatalf("step %d, request %d delivered: conn holds a %d-byte buffer (%d bytes in it)", step, i, len(c.buf), c.w)
			}
		}
	}
}
