package h1

import (
	"bufio"
	"io"
	"net"
)

// An exchange is the response body: at its end the exchange finishes, and
// the connection goes back to the pool as soon as the last byte is read
// (net/http's body returns io.EOF with the last bytes of a known length).
// Closed before its end, the connection is closed: reading the rest could
// take for ever.
func (x *exchange) Read(p []byte) (int, error) {
	if x.done {
		return 0, io.EOF
	}
	n, err := x.rc.Read(p)
	if err != nil {
		x.done = true
		x.finish(x.reuse && err == io.EOF)
	}
	return n, err
}

// Close ends the exchange. It does not read what is left.
func (x *exchange) Close() error {
	if !x.done {
		x.done = true
		x.finish(false)
	}
	return nil
}

// upgraded is the body of a 101 answer: the connection itself, for the
// protocol the upstream switched to, starting with what was read past the
// head.
type upgraded struct {
	br *bufio.Reader
	net.Conn
}

func (u *upgraded) Read(p []byte) (int, error) {
	if u.br != nil {
		if u.br.Buffered() > 0 {
			return u.br.Read(p)
		}
		u.br.Reset(nil)
		bufReaders.Put(u.br)
		u.br = nil
	}
	return u.Conn.Read(p)
}
