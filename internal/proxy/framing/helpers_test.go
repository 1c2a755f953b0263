package framing

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scripted is a net.Conn whose reads return in at most step bytes at a time
// from data, then EOF; writes are dropped.
type scripted struct {
	data []byte
	step int
}

func (s *scripted) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), s.step, len(s.data))
	copy(p, s.data[:n])
	s.data = s.data[n:]
	return n, nil
}

func (s *scripted) Write(p []byte) (int, error)      { return len(p), nil }
func (s *scripted) Close() error                     { return nil }
func (s *scripted) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *scripted) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (s *scripted) SetDeadline(time.Time) error      { return nil }
func (s *scripted) SetReadDeadline(time.Time) error  { return nil }
func (s *scripted) SetWriteDeadline(time.Time) error { return nil }

// through returns what a Conn over data (read step bytes at a time, then
// EOF) lets net/http read, and why it refused, if it did.
func through(data []byte, step int) ([]byte, error) {
	c := NewConn(&scripted{data: data, step: step}, 4096)
	var out bytes.Buffer
	buf := make([]byte, 1000)
	for {
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return out.Bytes(), c.refused
}

// goBoundaries parses b as net/http would, request after request, and
// returns the offset where each request (head and body) ended; it stops at
// the first one net/http refuses or cannot finish.
func goBoundaries(b []byte) []int {
	var ends []int
	src := bytes.NewReader(b)
	r := bufio.NewReader(src)
	for {
		req, err := http.ReadRequest(r)
		if err != nil {
			return ends
		}
		_, err = io.Copy(io.Discard, req.Body)
		req.Body.Close()
		if err != nil {
			return ends
		}
		ends = append(ends, len(b)-src.Len()-r.Buffered())
	}
}

// checkerBoundaries feeds b to a scanner one byte more at a time, as the
// slowest client would send it, and returns the offset where each request
// ended, how much was validated and why the rest was refused.
func checkerBoundaries(b []byte, maxHead int) (ends []int, validated int, err error) {
	s := newScanner(maxHead)
	for i := 1; i <= len(b); i++ {
		before := s.requests
		n, serr := s.step(b[validated:i])
		validated += n
		if s.requests != before {
			ends = append(ends, validated)
		}
		if serr != nil {
			return ends, validated, serr
		}
	}
	return ends, validated, nil
}
