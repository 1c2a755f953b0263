//go:build !linux

package h1

// firstBytes waits for the upstream's first bytes with the read buffer
// held (first_linux.go waits without it).
func (c *conn) firstBytes() error { return c.fillBuffered() }

func (c *conn) firstFD(uintptr) bool { return true }

type fdReader struct{}

func (*fdReader) Read([]byte) (int, error) { return 0, nil }
