package daemon

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSameAddr(t *testing.T) {
	tcp := func(ip string, port int) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: port} }
	tests := []struct {
		configured string
		got        net.Addr
		want       bool
	}{
		{"127.0.0.1:9180", tcp("127.0.0.1", 9180), true},
		{"127.0.0.1:9180", tcp("127.0.0.1", 9181), false},
		{"127.0.0.1:9180", tcp("::1", 9180), false},
		{"127.0.0.1:0", tcp("127.0.0.1", 41234), true},
		{"0.0.0.0:80", tcp("::", 80), true}, // BindIPv6Only=both
		{"0.0.0.0:80", tcp("127.0.0.1", 80), false},
		{":80", tcp("::", 80), true},
		{"[::1]:9180", tcp("::1", 9180), true},
		{"localhost:9180", tcp("127.0.0.1", 9180), true},
		{"unix:/run/switchd/control.sock", tcp("127.0.0.1", 9180), false},
		{"unix:/run/switchd/control.sock", &net.UnixAddr{Name: "/run/switchd/control.sock", Net: "unix"}, true},
		{"unix:/run/switchd/control.sock", &net.UnixAddr{Name: "/tmp/other.sock", Net: "unix"}, false},
		{"127.0.0.1:9180", &net.UnixAddr{Name: "/tmp/x.sock", Net: "unix"}, false},
	}
	for _, tt := range tests {
		if got := sameAddr(tt.configured, tt.got); got != tt.want {
			t.Errorf("sameAddr(%q, %v) = %v, want %v", tt.configured, tt.got, got, tt.want)
		}
	}
}

// TestPassedSocketElsewhere: a control socket passed by systemd on TCP while
// config.toml asks for a unix socket is served, and the start says so,
// naming both addresses.
func TestPassedSocketElsewhere(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "control.sock")
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	text := strings.Replace(fmt.Sprintf(baseConfig, filepath.Join(dir, "state"), addrOf(blue), addrOf(green)),
		"[control]\nlisten = \"127.0.0.1:0\"", fmt.Sprintf("[control]\nlisten = %q", "unix:"+sock), 1)
	sd := newSystemd(t, writeConfig(t, dir, text))
	p := sd.start()
	passed := strings.TrimPrefix(sd.controlURL, "http://")
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := sd.output()
		if strings.Contains(out, "another address than the configuration names") &&
			strings.Contains(out, "unix:"+sock) && strings.Contains(out, passed) {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("switchd exited:\n%s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no warning naming unix:%s and %s:\n%s", sock, passed, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
