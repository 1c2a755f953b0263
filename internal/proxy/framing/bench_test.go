package framing

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// benchHead is a browser-like request head (about 500 bytes).
const benchHead = "GET /api/items?page=2 HTTP/1.1\r\nHost: app.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: en-GB,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n" +
	"Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n" +
	"Connection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\n" +
	"Sec-Fetch-Mode: navigate\r\nSec-Fetch-Site: none\r\nPriority: u=0, i\r\n\r\n"

// benchPost is benchHead as a POST, without its empty line.
var benchPost = strings.TrimSuffix(strings.Replace(benchHead, "GET", "POST", 1), "\r\n")

// endless serves the same request for ever, a segment at a time.
type endless struct {
	scripted
	req []byte
	off int
}

func (e *endless) Read(p []byte) (int, error) {
	n := copy(p, e.req[e.off:])
	e.off = (e.off + n) % len(e.req)
	return n, nil
}

// BenchmarkConn is the check's own cost per request: one head and a small
// Content-Length body per op, read as net/http reads them.
func BenchmarkConn(b *testing.B) {
	for _, tc := range []struct{ name, req string }{
		{"get", benchHead},
		{"post", benchPost + "Content-Length: 64\r\n\r\n" + strings.Repeat("b", 64)},
		{"chunked", benchPost + "Transfer-Encoding: chunked\r\n\r\n40\r\n" + strings.Repeat("b", 64) + "\r\n0\r\n\r\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := NewConn(&endless{req: []byte(tc.req)}, 0)
			buf := make([]byte, 4096)
			b.SetBytes(int64(len(tc.req)))
			b.ReportAllocs()
			b.ResetTimer()
			done := 0
			for i := 0; i < b.N; i++ {
				for c.s.requests == done {
					if _, err := c.Read(buf); err != nil {
						b.Fatal(err)
					}
				}
				done = c.s.requests
			}
		})
	}
}

// BenchmarkServer is one request and its answer on a kept-alive loopback
// connection to a real http.Server, with and without the check (and with
// parking ready, which never fires here): the differences are what each
// adds to a request.
func BenchmarkServer(b *testing.B) {
	for _, tc := range []struct {
		name      string
		checked   bool
		parkAfter time.Duration
	}{{"plain", false, 0}, {"checked", true, 0}, {"parking", true, time.Minute}} {
		b.Run(tc.name, func(b *testing.B) {
			s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "ok")
			}))
			if tc.checked {
				s.Listener = NewListener(s.Listener, Options{ParkAfter: tc.parkAfter})
				s.Config.ConnState = ConnState
			}
			s.Start()
			defer s.Close()
			c, err := net.Dial("tcp", s.Listener.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(time.Minute))
			r := bufio.NewReader(c)
			req := []byte(benchHead)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(r, nil)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
