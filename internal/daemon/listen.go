package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// socketMode is the mode of the control socket: only the service's user
// and group can drive the API.
const socketMode = 0o660

// listen opens a TCP "host:port" or a "unix:/path" listener (listenUnix).
func listen(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen %s: %w", addr, err)
		}
		return ln, nil
	}
	ln, err := listenUnix(path)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln, nil
}

// listenUnix binds a unix socket at path that is never reachable with a
// mode wider than socketMode. bind(2) creates the socket with the umask's
// mode (0777 under umask 0), and a chmod afterwards leaves a window in
// which anyone may connect and keep the connection. So the socket is bound
// inside a fresh 0700 folder next to path, where no one else can reach it,
// chmod'ed there, and then hard-linked to path: link(2) fails rather than
// replace what another process put there meanwhile. A stale socket left by
// a crash is removed first, unless a process still answers on it.
//
// A parent folder that anyone may write to without the sticky bit is
// refused: anyone could then rename our socket away and put theirs in its
// place, and switchctl would hand them its token.
func listenUnix(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return nil, err
	} else if m := fi.Mode(); m.Perm()&0o002 != 0 && m&os.ModeSticky == 0 {
		return nil, fmt.Errorf("folder %q is writable by every user (mode %v) without the sticky bit: anyone could replace the socket; use a folder only switchd's user can write, such as /run/switchd", dir, m.Perm())
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%q exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, errors.New("another process is serving it")
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the stale socket: %w", err)
		}
	}
	private, err := os.MkdirTemp(dir, ".switchd-sock-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(private)
	tmp := filepath.Join(private, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, err
	}
	// Closing must not remove tmp (gone by then) but path, and only while
	// it is still this socket.
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, socketMode); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.Link(tmp, path); err != nil {
		ln.Close()
		if errors.Is(err, os.ErrExist) {
			return nil, errors.New("another process created it meanwhile")
		}
		return nil, err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return &unixListener{UnixListener: ln, addr: &net.UnixAddr{Name: path, Net: "unix"}, file: fi}, nil
}

// unixListener is a socket bound under another name and linked to addr:
// it reports addr, and removes it on Close unless it was replaced or handed
// over to a successor process (which serves the very same socket).
type unixListener struct {
	*net.UnixListener
	addr       *net.UnixAddr
	file       os.FileInfo
	handedOver atomic.Bool
}

func (l *unixListener) Addr() net.Addr { return l.addr }

// handOver keeps the socket file on Close: a successor serves it now.
func (l *unixListener) handOver() { l.handedOver.Store(true) }

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	if l.handedOver.Load() {
		return err
	}
	if fi, lerr := os.Lstat(l.addr.Name); lerr == nil && os.SameFile(fi, l.file) {
		_ = os.Remove(l.addr.Name)
	}
	return err
}
