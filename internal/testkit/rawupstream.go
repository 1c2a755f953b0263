package testkit

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
)

// Cut is how a RawUpstream breaks off its answers.
type Cut uint8

const (
	// CutNone answers whole.
	CutNone Cut = iota
	// CutClose announces more body than it sends, then closes the
	// connection (a short Content-Length, a process that exits).
	CutClose
	// CutReset sends the headers and part of the body, then resets the
	// connection (a crash, an OOM kill).
	CutReset
)

// RawOptions configure a RawUpstream.
type RawOptions struct {
	// Name starts the body of every whole answer: "NAME:<request body
	// length>", or "NAME" for GET /healthz.
	Name string
	// Cut breaks off every answer but /healthz's. Zero: CutNone.
	Cut Cut
	// DeadAfter makes a kept-alive connection idle this long dead: the
	// upstream has closed it as far as it is concerned, and the client
	// learns it only from its next request on it, which is read and gets a
	// reset, no answer. That is the race of an upstream's keep-alive
	// timeout firing just as a request is sent, every time. Zero:
	// connections never die.
	DeadAfter time.Duration
}

// RawUpstream is a hand-written HTTP/1.1 upstream for faults a net/http
// server cannot be made to commit on purpose. It keeps connections alive
// and never says "Connection: close".
type RawUpstream struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	o    RawOptions
	ln   net.Listener

	answered, cut, dead, conns atomic.Int64

	mu    sync.Mutex
	open  map[net.Conn]struct{}
	wg    sync.WaitGroup
	close sync.Once
}

// NewRawUpstream starts one on 127.0.0.1:0; it stops when the test ends.
func NewRawUpstream(t testing.TB, o RawOptions) *RawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &RawUpstream{Addr: ln.Addr().String(), o: o, ln: ln, open: map[net.Conn]struct{}{}}
	u.wg.Add(1)
	go u.accept()
	t.Cleanup(u.Close)
	return u
}

// Answered counts whole answers, /healthz's left out.
func (u *RawUpstream) Answered() int64 { return u.answered.Load() }

// CutShort counts answers broken off by Cut.
func (u *RawUpstream) CutShort() int64 { return u.cut.Load() }

// Dead counts requests that met a dead connection (DeadAfter), /healthz's
// left out.
func (u *RawUpstream) Dead() int64 { return u.dead.Load() }

// Conns counts the connections accepted.
func (u *RawUpstream) Conns() int64 { return u.conns.Load() }

// Refuse stops listening: new connections are refused, open ones stay.
func (u *RawUpstream) Refuse() { u.ln.Close() }

// Close stops listening, closes every connection and waits for them.
func (u *RawUpstream) Close() {
	u.close.Do(func() {
		u.ln.Close()
		u.mu.Lock()
		for c := range u.open {
			c.Close()
		}
		u.mu.Unlock()
		u.wg.Wait()
	})
}

func (u *RawUpstream) accept() {
	defer u.wg.Done()
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.mu.Lock()
		u.open[c] = struct{}{}
		u.mu.Unlock()
		u.conns.Add(1)
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			defer func() {
				u.mu.Lock()
				delete(u.open, c)
				u.mu.Unlock()
				c.Close()
			}()
			u.serve(c)
		}()
	}
}

func (u *RawUpstream) serve(c net.Conn) {
	br := bufio.NewReader(c)
	var last time.Time // end of the previous answer; zero on a new connection
	for {
		if _, err := br.Peek(1); err != nil {
			return
		}
		dead := u.o.DeadAfter > 0 && !last.IsZero() && time.Since(last) >= u.o.DeadAfter
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		n, err := io.Copy(io.Discard, req.Body)
		if err != nil {
			return
		}
		if dead {
			if req.URL.Path != config.DefaultHealthPath {
				u.dead.Add(1)
			}
			reset(c)
			return
		}
		if req.URL.Path == config.DefaultHealthPath {
			if !answer(c, u.o.Name) {
				return
			}
		} else if u.o.Cut != CutNone {
			u.cut.Add(1)
			u.breakOff(c)
			return
		} else {
			if !answer(c, u.o.Name+":"+strconv.FormatInt(n, 10)) {
				return
			}
			u.answered.Add(1)
		}
		last = time.Now()
	}
}

func answer(c net.Conn, body string) bool {
	_, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	return err == nil
}

// breakOff sends the headers of a 1000-byte answer and 10 bytes of it.
func (u *RawUpstream) breakOff(c net.Conn) {
	if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n0123456789"); err != nil {
		return
	}
	if u.o.Cut == CutReset {
		// Time for the client to read the headers: a reset makes the
		// kernel drop what it has not read yet. Generous, as the machine
		// running the tests may be busy.
		time.Sleep(100 * time.Millisecond)
		reset(c)
	}
}

// reset closes c with an RST instead of a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}
