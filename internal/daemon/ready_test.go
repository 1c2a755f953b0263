package daemon

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSystemdNotify plays systemd's notification socket (Type=notify,
// NotifyAccess=all): READY=1 once serving; after an upgrade the new
// process names itself the main one and is ready; the old one, no longer
// the main process, says nothing on its way out; STOPPING=1 from the last.
func TestSystemdNotify(t *testing.T) {
	dir, err := os.MkdirTemp("", "swd") // short: unix socket paths are limited to ~108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "notify")
	ns, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	msgs := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ns.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			// STATUS= (the active colours) comes and goes with the
			// processes; TestSystemdWatchdogStatus checks it.
			if m := string(buf[:n]); !strings.HasPrefix(m, "STATUS=") {
				msgs <- m
			}
		}
	}()
	next := func() string {
		t.Helper()
		select {
		case m := <-msgs:
			return m
		case <-time.After(15 * time.Second):
			t.Fatal("no notification in 15s")
		}
		return ""
	}

	sd := newSystemd(t, wsConfig(t))
	sd.env = []string{"NOTIFY_SOCKET=" + path}
	first := sd.start("-pid-file", sd.pidFile())
	if m := next(); m != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", m)
	}
	sd.waitServing(first.done)
	second, failure := sd.upgrade(first)
	if second == nil {
		t.Fatalf("upgrade: %s", failure)
	}
	if m, want := next(), fmt.Sprintf("MAINPID=%d\nREADY=1", second.pid); m != want {
		t.Fatalf("after the upgrade %q, want %q", m, want)
	}
	exited(t, first, sd)
	select { // a datagram is queued by the time its sender has exited
	case m := <-msgs:
		t.Fatalf("the old process, no longer systemd's main one, sent %q", m)
	case <-time.After(200 * time.Millisecond):
	}
	sigterm(t, second, sd)
	if m := next(); m != "STOPPING=1" {
		t.Fatalf("at the stop %q, want STOPPING=1 (and nothing from the old process)", m)
	}
}
