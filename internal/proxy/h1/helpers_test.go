package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testOptions are short, test-sized limits.
func testOptions() Options {
	return Options{DialTimeout: 2 * time.Second, KeepAlive: 30 * time.Second, HandshakeTimeout: 5 * time.Second,
		MaxIdle: 8, IdleTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
}

// newTransport returns a Transport to addr whose idle connections close
// with the test.
func newTransport(t *testing.T, addr string, o Options) *Transport {
	t.Helper()
	tr := New(addr, o)
	t.Cleanup(tr.CloseIdle)
	return tr
}

// countingServer is an httptest server that counts the connections it
// accepted and closed.
type countingServer struct {
	*httptest.Server
	opened, closed atomic.Int64
}

func newCountingServer(t *testing.T, h http.HandlerFunc) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.closed.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *countingServer) addr() string { return strings.TrimPrefix(s.URL, "http://") }

// rawServer accepts connections on 127.0.0.1 and hands each to serve.
type rawServer struct {
	ln      net.Listener
	wg      sync.WaitGroup
	accepts atomic.Int64
	mu      sync.Mutex
	conns   []net.Conn
}

func newRawServer(t *testing.T, serve func(c net.Conn, r *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepts.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) addr() string { return s.ln.Addr().String() }

// readRequest reads one request and its body from r.
func readRequest(r *bufio.Reader) (*http.Request, error) {
	req, err := http.ReadRequest(r)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, req.Body)
	return req, err
}

// connLog is a trace that records what each attempt went out on.
type connLog struct {
	mu     sync.Mutex
	reused []bool
	first  int
}

func (l *connLog) context(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) {
			l.mu.Lock()
			l.reused = append(l.reused, i.Reused)
			l.mu.Unlock()
		},
		GotFirstResponseByte: func() {
			l.mu.Lock()
			l.first++
			l.mu.Unlock()
		},
	})
}

func (l *connLog) last() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reused[len(l.reused)-1]
}

// get sends a GET through tr with log's trace and returns the body.
func get(t *testing.T, tr http.RoundTripper, url string, log *connLog) (*http.Response, string) {
	t.Helper()
	ctx := context.Background()
	if log != nil {
		ctx = log.context(ctx)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET %s body: %v", url, err)
	}
	return resp, string(b)
}

// eventually polls cond for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("not within 5s: %s", what)
		}
	}
}
