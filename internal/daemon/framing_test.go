package daemon

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/control"
)

// pathsBackend answers its name and "proto=" the X-Forwarded-Proto it got,
// and keeps every path it was asked for.
type pathsBackend struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
}

func newPathsBackend(t *testing.T, name string) *pathsBackend {
	t.Helper()
	b := &pathsBackend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			b.mu.Lock()
			b.paths = append(b.paths, r.URL.Path)
			b.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = fmt.Fprintf(w, "%s proto=%s", name, r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *pathsBackend) saw(path string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.paths {
		if p == path {
			return true
		}
	}
	return false
}

// rawExchange sends raw bytes on a new connection made by dial and returns
// the first response's status and whether the server then closed the
// connection (within 3s) without answering anything else.
func rawExchange(t *testing.T, dial func() (net.Conn, error), send string) (int, bool) {
	t.Helper()
	c, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, send); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	rest, err := io.ReadAll(r)
	closed := len(rest) == 0 && !isTimeoutErr(err)
	return resp.StatusCode, closed
}

func isTimeoutErr(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

const smuggle = "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
	"GET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n"

// TestClientMistakesDoNotRevert: right after a flip, 50 requests a client
// framed badly (a Content-Length trailer, bad chunking after 64 KiB,
// CONNECT, Content-Length with Transfer-Encoding, a folded trailer) get 4xx and leave the
// new colour in place. They used to get 502 "upstream unreachable" while the
// upstream saw nothing, and the guard reverted the deploy (error rate 1.0).
func TestClientMistakesDoNotRevert(t *testing.T) {
	blue, green := newPathsBackend(t, "blue"), newPathsBackend(t, "green")
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue.Server), addrOf(green.Server))+
		fmt.Sprintf(guardSection, "10s", 20, "10m"))
	waitHealthy(t, in.control, "green")
	flip(t, in.control)

	big := strings.Repeat("x", 70<<10)
	mistakes := []struct{ name, send string }{
		{"content-length trailer", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"},
		{"bad chunk after 64 KiB", fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\nzz\r\n", len(big), big)},
		{"connect", "CONNECT app.test:443 HTTP/1.1\r\nHost: app.test:443\r\n\r\n"},
		{"content-length and chunked", smuggle},
		{"folded trailer", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX: a\r\n b\r\n\r\n"},
	}
	dial := func() (net.Conn, error) { return net.Dial("tcp", strings.TrimPrefix(in.proxy, "http://")) }
	statuses := map[string]map[int]int{}
	for _, m := range mistakes {
		statuses[m.name] = map[int]int{}
		for i := 0; i < 10; i++ {
			code, _ := rawExchange(t, dial, m.send)
			statuses[m.name][code]++
			if code < 400 || code > 499 {
				t.Errorf("%s: status %d, want 4xx", m.name, code)
			}
		}
	}
	time.Sleep(1500 * time.Millisecond) // the guard acts within a second
	var svc control.Service
	callAPI(t, "GET", in.control+"/v1/services/app", nil, &svc)
	if svc.Active != "green" || svc.Guard == nil || svc.Guard.WindowErrorRate != 0 {
		t.Fatalf("after 50 client mistakes (%v): active %s, guard %+v; want green, error rate 0", statuses, svc.Active, svc.Guard)
	}
	if green.saw("/smuggled") {
		t.Fatal("a smuggled request reached the upstream")
	}
}

// TestFramingOverTLS: HTTP/1.1 over TLS is checked like plain HTTP (a
// request with Content-Length and chunked gets 400 and a closed connection,
// and what it smuggled is never served) while requests still see TLS
// (X-Forwarded-Proto https, HSTS) and HTTP/2 still works; on the plain
// listener the same smuggling is refused before the redirect to https.
func TestFramingOverTLS(t *testing.T) {
	blue, green := newPathsBackend(t, "blue"), newPathsBackend(t, "green")
	addrs, roots := startInternalTLS(t, addrOf(blue.Server), addrOf(green.Server))
	dialTLS := func(protos ...string) func() (net.Conn, error) {
		return func() (net.Conn, error) {
			return tls.Dial("tcp", addrs.HTTPS.String(), &tls.Config{RootCAs: roots, ServerName: "app.test", NextProtos: protos})
		}
	}

	c, err := dialTLS("http/1.1")()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, "GET /one HTTP/1.1\r\nHost: app.test\r\n\r\nGET /two HTTP/1.1\r\nHost: app.test\r\n\r\n")
	r := bufio.NewReader(c)
	for _, path := range []string{"/one", "/two"} { // kept alive, pipelined
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "blue proto=https" || resp.Header.Get("Strict-Transport-Security") != "max-age=600" || resp.ProtoMajor != 1 {
			t.Fatalf("%s over TLS: %q over %s, HSTS %q", path, b, resp.Proto, resp.Header.Get("Strict-Transport-Security"))
		}
	}

	for name, dial := range map[string]func() (net.Conn, error){
		"https http/1.1":      dialTLS("http/1.1"),
		"https without alpn":  dialTLS(),
		"plain with redirect": func() (net.Conn, error) { return net.Dial("tcp", addrs.Proxy.String()) },
	} {
		if code, closed := rawExchange(t, dial, smuggle); code != http.StatusBadRequest || !closed {
			t.Errorf("%s: smuggling got %d (closed %v), want 400 and closed", name, code, closed)
		}
	}
	if blue.saw("/smuggled") {
		t.Fatal("a smuggled request reached the upstream")
	}

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "app.test"}, ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addrs.HTTPS.String())
		}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://app.test/h2")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(b) != "blue proto=https" {
		t.Fatalf("h2: %q over %s", b, resp.Proto)
	}
}

// TestBodyReadTimeout: [server] body_read_timeout bounds a stalled body,
// small (buffered) or large (streamed to the upstream): 408, then the
// connection is closed at once rather than drained without a deadline.
func TestBodyReadTimeout(t *testing.T) {
	blue, green := newPathsBackend(t, "blue"), newPathsBackend(t, "green")
	text := fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue.Server), addrOf(green.Server))
	in := startRun(t, strings.Replace(text, "[server]\n", "[server]\nbody_read_timeout = \"300ms\"\n", 1))
	dial := func() (net.Conn, error) { return net.Dial("tcp", strings.TrimPrefix(in.proxy, "http://")) }
	for name, send := range map[string]string{
		"small": "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b",
		"large": fmt.Sprintf("POST /large HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", 1<<20, strings.Repeat("x", 100<<10)),
	} {
		start := time.Now()
		code, closed := rawExchange(t, dial, send)
		if code != http.StatusRequestTimeout || !closed {
			t.Errorf("%s body stalled: %d (closed %v) after %v, want 408 and closed", name, code, closed, time.Since(start))
		}
	}
}
