// In-process benchmarks of switchd's request path. They report ns/op,
// allocs/op and cpu-ns/op (process CPU time per request, the in-process
// analogue of the shared harness's "CPU us/req"); compare benchmarks of one
// run with each other (ratios), never with a fixed time.
//
//	go test -run '^$' -bench . -benchmem ./bench/
//	go test -run '^$' -bench 'SwitchdHTTP$' -cpuprofile cpu.prof -memprofile mem.prof ./bench/

package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/daemon"
	"github.com/switchd/switchd/internal/health"
	"github.com/switchd/switchd/internal/proxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// body is what the backend answers, the same 12 bytes as the backend of the
// harness run.sh drives (SHARED_BENCH).
const body = "hello, blue\n"

// pool is the idle keep-alive pool on every proxy -> backend hop (the
// harness's POOL).
const pool = 1024

// ---------------------------------------------------------------- backend

// cannedBackend is a minimal HTTP/1.1 server: it answers every request with
// the same bytes and allocates nothing per request, so allocs/op and CPU in
// these benchmarks belong to the client and the proxy, not to a net/http
// server standing in for the upstream. It understands keep-alive and
// request bodies with Content-Length (enough for GETs, health checks and
// the proxy's forwarding).
type cannedBackend struct {
	ln    net.Listener
	addr  string
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

var cannedResponse = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
	strconv.Itoa(len(body)) + "\r\n\r\n" + body)

func newCannedBackend(tb testing.TB) *cannedBackend {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &cannedBackend{ln: ln, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	tb.Cleanup(s.close)
	return s
}

func (s *cannedBackend) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.conns == nil { // closed
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *cannedBackend) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	br := bufio.NewReaderSize(c, 4096)
	prefix := []byte("content-length:")
	for {
		clen := 0
		for { // request line and headers, up to the empty line
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 { // "\r\n"
				break
			}
			if len(line) > len(prefix) && bytes.EqualFold(line[:len(prefix)], prefix) {
				v := bytes.TrimSpace(line[len(prefix):])
				for _, d := range v {
					clen = clen*10 + int(d-'0')
				}
			}
		}
		if clen > 0 {
			if _, err := br.Discard(clen); err != nil {
				return
			}
		}
		if _, err := c.Write(cannedResponse); err != nil {
			return
		}
	}
}

func (s *cannedBackend) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
	s.wg.Wait()
}

// ---------------------------------------------------------------- proxies

// goStd is the floor: a bare httputil.ReverseProxy set up like the
// harness's goproxy (SHARED_BENCH/goproxy).
func goStd(tb testing.TB, backend string) http.Handler {
	target := &url.URL{Scheme: "http", Host: backend}
	tr := &http.Transport{MaxIdleConns: pool, MaxIdleConnsPerHost: pool, IdleConnTimeout: 90 * time.Second}
	tb.Cleanup(tr.CloseIdleConnections)
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.SetXForwarded()
		},
		Transport: tr,
	}
}

// switchdHandler is switchd's request path without the switchboard: one
// default service whose active blue pool has one upstream recorded Up, an
// empty green pool, the preview header configured (secret off), no observer
// and no access log.
func switchdHandler(tb testing.TB, backend string) http.Handler {
	tg := health.NewTarget("bench", backend, config.Blue, 1, 1, nil)
	tg.Record(nil, time.Millisecond, time.Now())
	if !tg.Healthy() {
		tb.Fatal("target not Up after a passing check")
	}
	u, err := proxy.NewUpstream(backend, tg, proxy.TransportOptions{MaxIdle: pool})
	if err != nil {
		tb.Fatal(err)
	}
	var pools [2]*proxy.Pool
	pools[config.Blue.Index()] = proxy.NewPool(config.Blue, []*proxy.Upstream{u})
	pools[config.Green.Index()] = proxy.NewPool(config.Green, nil)
	svc := proxy.NewService("bench", &proxy.Snapshot{
		Active: config.Blue, Generation: 1, Pools: pools,
		PreviewHeader: "X-Switchd-Preview", DrainTimeout: time.Second,
	}, nil)
	tb.Cleanup(svc.Close)
	return proxy.NewHandler(proxy.NewRouter([]proxy.Route{{Service: svc}}), proxy.HandlerOptions{})
}

// writeCounter counts Write calls on the client connections a proxy
// accepted: the write syscalls it makes towards its clients.
type writeCounter struct{ n atomic.Int64 }

type countingListener struct {
	net.Listener
	w *writeCounter
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.w}, nil
}

type countingConn struct {
	net.Conn
	w *writeCounter
}

func (c countingConn) Write(p []byte) (int, error) {
	c.w.n.Add(1)
	return c.Conn.Write(p)
}

// proxyAddr is a proxy under test: its host:port and its client-side writes.
type proxyAddr struct {
	addr   string
	writes *writeCounter // nil: not counted
}

// serve runs h on a loopback httptest server.
func serve(tb testing.TB, h http.Handler) proxyAddr {
	s := httptest.NewUnstartedServer(h)
	s.Config.ReadHeaderTimeout = 10 * time.Second
	w := &writeCounter{}
	s.Listener = countingListener{s.Listener, w}
	s.Start()
	tb.Cleanup(s.Close)
	return proxyAddr{s.Listener.Addr().String(), w}
}

// startDaemon runs the whole of switchd in-process (daemon.Run: switchboard,
// health checks, guard, metrics observer, control API) with the bench
// config of bench/run.sh, and returns the proxy's host:port once it answers.
func startDaemon(tb testing.TB, backend string) proxyAddr {
	tb.Helper()
	text := fmt.Sprintf(`
[server]
http_listen = "127.0.0.1:0"
upstream_max_idle = %d
[control]
listen = "127.0.0.1:0"
[log]
level = "warn"
access_log = false
[state]
dir = %q
[[service]]
name = "bench"
  [service.blue]
  upstreams = [%q]
  [service.green]
  upstreams = []
  [service.health]
  path = "/health"
`, pool, tb.TempDir(), backend)
	cfg, err := config.Parse([]byte(text), "bench.toml")
	if err != nil {
		tb.Fatal(err)
	}
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pl.Close()
		tb.Fatal(err)
	}
	w := &writeCounter{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- daemon.Run(ctx, daemon.Options{Config: cfg, Logger: zap.NewNop(), Version: "bench",
			ProxyListener: countingListener{pl, w}, ControlListener: cl, Ready: func(daemon.Addrs) { close(ready) }})
	}()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			tb.Error("switchd did not stop within 20s")
		}
	})
	select {
	case <-ready:
	case err := <-done:
		tb.Fatalf("switchd did not start: %v", err)
	case <-time.After(10 * time.Second):
		tb.Fatal("switchd did not start within 10s")
	}
	addr := pl.Addr().String()
	// The first health check decides; until then blue has no Up upstream
	// (switchd still forwards, in panic mode), so wait for a plain 200.
	c := newClient(tb, addr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got, err := c.get(); err == nil && got == body {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatal("switchd does not proxy to the backend after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return proxyAddr{addr, w}
}

// ---------------------------------------------------------------- client

// client is a keep-alive HTTP/1.1 client for GET / on one address, reusing
// one request value so that its own allocations stay small and constant.
type client struct {
	tr  *http.Transport
	req *http.Request
}

func newClient(tb testing.TB, addr string) *client {
	tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true, Proxy: nil}
	tb.Cleanup(tr.CloseIdleConnections)
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &client{tr: tr, req: req}
}

// do sends one request and discards the answer; a non-200 is an error.
func (c *client) do() error {
	resp, err := c.tr.RoundTrip(c.req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

func (c *client) get() (string, error) {
	resp, err := c.tr.RoundTrip(c.req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), err
}

// ---------------------------------------------------------------- runners

// reportCPU adds cpu-ns/op: CPU time (user+system) of the whole test process
// per operation, client, proxy and backend together. Subtract the Direct
// benchmark's figure to get the proxy's own.
func reportCPU(b *testing.B, run func()) {
	c0 := processCPU()
	run()
	if c := processCPU() - c0; c > 0 && b.N > 0 {
		b.ReportMetric(float64(c.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// benchHTTP measures GET / over loopback with one keep-alive connection.
// writes/op is the proxy's write calls to its client per request.
func benchHTTP(b *testing.B, p proxyAddr) {
	c := newClient(b, p.addr)
	if got, err := c.get(); err != nil || got != body {
		b.Fatalf("GET via %s: %q, %v", p.addr, got, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var w0 int64
	if p.writes != nil {
		w0 = p.writes.n.Load()
	}
	reportCPU(b, func() {
		for b.Loop() {
			if err := c.do(); err != nil {
				b.Fatal(err)
			}
		}
	})
	if p.writes != nil && b.N > 0 {
		b.ReportMetric(float64(p.writes.n.Load()-w0)/float64(b.N), "writes/op")
	}
}

// benchHTTPParallel is benchHTTP with GOMAXPROCS*4 concurrent connections.
func benchHTTPParallel(b *testing.B, p proxyAddr) {
	c := newClient(b, p.addr)
	if got, err := c.get(); err != nil || got != body {
		b.Fatalf("GET via %s: %q, %v", p.addr, got, err)
	}
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	reportCPU(b, func() {
		b.RunParallel(func(pb *testing.PB) {
			req := c.req.Clone(context.Background()) // one request value per goroutine
			cc := &client{tr: c.tr, req: req}
			for pb.Next() {
				if err := cc.do(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// discardWriter is a reusable http.ResponseWriter (with Flush, which
// switchd's FlushInterval -1 uses) that keeps only the status, so
// ServeHTTP benchmarks count the handler's allocations, not a recorder's.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}
func (w *discardWriter) Flush() {}

func (w *discardWriter) reset() {
	clear(w.h)
	w.status, w.n = 0, 0
}

// benchServeHTTP calls h.ServeHTTP directly: no client, no server-side
// request parsing or response writing; the proxy -> backend hop is real.
func benchServeHTTP(b *testing.B, h http.Handler) {
	req := httptest.NewRequest(http.MethodGet, "http://bench.example/", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, req)
	if w.status != http.StatusOK || w.n != len(body) {
		b.Fatalf("ServeHTTP: status %d, %d bytes", w.status, w.n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	reportCPU(b, func() {
		for b.Loop() {
			w.reset()
			h.ServeHTTP(w, req)
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		}
	})
}

// ---------------------------------------------------------------- benchmarks

// BenchmarkDirectHTTP: client -> backend, no proxy. The baseline to subtract.
func BenchmarkDirectHTTP(b *testing.B) {
	benchHTTP(b, proxyAddr{addr: newCannedBackend(b).addr})
}

// BenchmarkGoStdHTTP: client -> bare httputil.ReverseProxy -> backend (the floor).
func BenchmarkGoStdHTTP(b *testing.B) {
	benchHTTP(b, serve(b, goStd(b, newCannedBackend(b).addr)))
}

// BenchmarkSwitchdHTTP: client -> proxy.Handler -> backend.
func BenchmarkSwitchdHTTP(b *testing.B) {
	benchHTTP(b, serve(b, switchdHandler(b, newCannedBackend(b).addr)))
}

// BenchmarkSwitchdDaemonHTTP: client -> the whole daemon (metrics + guard
// observer, health checks running) -> backend.
func BenchmarkSwitchdDaemonHTTP(b *testing.B) {
	benchHTTP(b, startDaemon(b, newCannedBackend(b).addr))
}

func BenchmarkGoStdHTTPParallel(b *testing.B) {
	benchHTTPParallel(b, serve(b, goStd(b, newCannedBackend(b).addr)))
}

func BenchmarkSwitchdHTTPParallel(b *testing.B) {
	benchHTTPParallel(b, serve(b, switchdHandler(b, newCannedBackend(b).addr)))
}

// BenchmarkGoStdServeHTTP: ReverseProxy.ServeHTTP called directly.
func BenchmarkGoStdServeHTTP(b *testing.B) {
	benchServeHTTP(b, goStd(b, newCannedBackend(b).addr))
}

// BenchmarkSwitchdServeHTTP: proxy.Handler.ServeHTTP called directly; its
// allocs/op are the proxy's own and its upstream client's (TestServeHTTPAllocs
// bounds them).
func BenchmarkSwitchdServeHTTP(b *testing.B) {
	benchServeHTTP(b, switchdHandler(b, newCannedBackend(b).addr))
}

// TestSetups checks that every benchmarked path answers the backend's body,
// so `go test ./bench/` (without -bench) still exercises the fixtures.
func TestSetups(t *testing.T) {
	be := newCannedBackend(t)
	for name, p := range map[string]proxyAddr{
		"direct":  {addr: be.addr},
		"gostd":   serve(t, goStd(t, be.addr)),
		"switchd": serve(t, switchdHandler(t, be.addr)),
		"daemon":  startDaemon(t, be.addr),
	} {
		c := newClient(t, p.addr)
		for i := 0; i < 3; i++ { // keep-alive: the same connection again
			if got, err := c.get(); err != nil || got != body {
				t.Errorf("%s: GET / = %q, %v; want %q", name, got, err, body)
			}
		}
	}
}
