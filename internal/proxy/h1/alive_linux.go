package h1

import "syscall"

// alive reports whether an idle connection may carry a request: its
// socket is open and holds no byte nobody asked for. A TLS connection may
// hold a record the upstream sent after its handshake (a session ticket),
// which the next read handles, so only a closed socket disqualifies it.
// One non-blocking recv(MSG_PEEK), no wait.
func (c *conn) alive() bool {
	if c.raw == nil {
		return true
	}
	c.peekAlive = false
	if err := c.raw.Read(c.peek); err != nil {
		return false
	}
	return c.peekAlive
}

func (c *conn) peekFD(fd uintptr) bool {
	n, _, err := syscall.Recvfrom(int(fd), c.peekBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case err == syscall.EAGAIN:
		c.peekAlive = true
	case err != nil, n == 0:
		c.peekAlive = false
	default:
		c.peekAlive = c.tlsState != nil
	}
	return true // never wait for the socket to be readable
}
