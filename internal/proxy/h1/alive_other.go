//go:build !linux

package h1

// alive cannot peek at the socket here: an idle connection the upstream
// closed shows up as an error on a reused connection, which the proxy
// resends on a new one.
func (c *conn) alive() bool { return true }

func (c *conn) peekFD(uintptr) bool { return true }
