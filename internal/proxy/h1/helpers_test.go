package h1

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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

// connLog records the Attempt of each request sent through it.
type connLog struct {
	mu       sync.Mutex
	attempts []Attempt
}

// send is tr.Send (a new connection when fresh), recording the attempt.
func (l *connLog) send(tr *Transport, req *http.Request, fresh bool) (*http.Response, error) {
	var a Attempt
	resp, err := tr.Send(req, fresh, &a)
	l.mu.Lock()
	l.attempts = append(l.attempts, a)
	l.mu.Unlock()
	return resp, err
}

// last reports whether the last request went out on a reused connection.
func (l *connLog) last() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.attempts[len(l.attempts)-1].Reused
}

// answered counts the requests that got some byte of an answer.
func (l *connLog) answered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, a := range l.attempts {
		if a.GotFirstByte {
			n++
		}
	}
	return n
}

// get sends a GET through tr, recorded in log (nil: not recorded), and
// returns the body.
func get(t *testing.T, tr *Transport, url string, log *connLog) (*http.Response, string) {
	t.Helper()
	if log == nil {
		log = &connLog{}
	}
	req, _ := http.NewRequest("GET", url, nil)
	resp, err := log.send(tr, req, false)
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
