package daemon

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// activated returns the listeners systemd passed (socket activation,
// sd_listen_fds(3)) by name: FileDescriptorName= of the socket unit, "http"
// and "control" for switchd. With systemd holding the sockets, a restart
// loses no connection: the kernel queues them until the new process accepts.
// Without LISTEN_FDS it returns nil.
func activated() (map[string]net.Listener, error) {
	nfds, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || nfds <= 0 {
		return nil, nil
	}
	if pid := os.Getenv("LISTEN_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return nil, nil // meant for another process
	}
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	// Children must not inherit them.
	for _, k := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
		os.Unsetenv(k)
	}
	const first = 3 // SD_LISTEN_FDS_START
	out := map[string]net.Listener{}
	for i := 0; i < nfds; i++ {
		fd := first + i
		syscall.CloseOnExec(fd)
		name := "http"
		if i < len(names) && names[i] != "" {
			name = names[i]
		} else if i == 1 {
			name = "control"
		}
		f := os.NewFile(uintptr(fd), name)
		ln, err := net.FileListener(f)
		f.Close() // FileListener dup'ed it
		if err != nil {
			return nil, fmt.Errorf("socket activation: fd %d (%s): %w", fd, name, err)
		}
		if _, dup := out[name]; dup {
			ln.Close()
			return nil, fmt.Errorf("socket activation: two sockets named %q", name)
		}
		out[name] = ln
	}
	return out, nil
}

// sameAddr reports whether a socket bound at got is what the configured
// address asks for, so that a socket unit and config.toml that disagree
// are reported rather than silently served. A port of 0, an empty host and
// the wildcard hosts (0.0.0.0, [::], which BindIPv6Only=both makes one)
// match loosely; a host name matches any address on its port.
func sameAddr(configured string, got net.Addr) bool {
	if path, ok := strings.CutPrefix(configured, "unix:"); ok {
		u, isUnix := got.(*net.UnixAddr)
		return isUnix && u.Name == path
	}
	t, ok := got.(*net.TCPAddr)
	if !ok {
		return false
	}
	host, port, err := net.SplitHostPort(configured)
	if err != nil {
		return false
	}
	if port != "0" && port != strconv.Itoa(t.Port) {
		return false
	}
	ip := net.ParseIP(host)
	switch {
	case host == "" || ip == nil:
		return true
	case ip.IsUnspecified():
		return t.IP.IsUnspecified()
	}
	return ip.Equal(t.IP)
}
