package h1

import (
	"io"
	"net"
	"os"
	"syscall"
)

// firstBytes waits for the upstream's first bytes of the answer and leaves
// them in c.br. The wait holds no read buffer: the socket is read from the
// poller's callback, into a buffer taken from the pool for that read, and
// given back when it finds nothing. At 1000 requests in flight on a slow
// upstream that is 2 MiB that is not held, and GC slack on top of it. The
// read is the one the exchange would have made anyway: no extra syscall.
//
// A TLS connection reads through crypto/tls, which may hold bytes of its
// own, so it waits with its buffer, as does a connection without a
// descriptor.
func (c *conn) firstBytes() error {
	if c.raw == nil || c.tlsState != nil {
		return c.fillBuffered()
	}
	c.firstErr = nil
	if err := c.raw.Read(c.first); err != nil {
		return err // the read deadline (header timeout), or abort closed it
	}
	return c.firstErr
}

// firstFD is firstBytes' callback, made once (newConn): it runs with the
// socket's read lock held, reads once, and returns false to wait for the
// socket to be readable when there was nothing to read.
func (c *conn) firstFD(fd uintptr) bool {
	br := c.takeReader()
	c.fdr.fd = int(fd)
	c.lr.r = &c.fdr
	_, err := br.Peek(1)
	c.lr.r = c.nc
	if err == syscall.EAGAIN {
		putReader(br)
		return false
	}
	if err != nil && err != io.EOF {
		err = &net.OpError{Op: "read", Net: "tcp", Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: err}
	}
	c.br, c.firstErr = br, err
	return true
}

// fdReader reads a non-blocking socket directly, as net's Read would
// after the poller, returning EAGAIN as it is.
type fdReader struct{ fd int }

func (r *fdReader) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(r.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, err
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}
