package daemon

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// shortDir is a fresh folder with a path short enough for a unix socket
// (~108 bytes), removed after the test.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "swd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestUnixSocketNeverWide: under umask 0, bind(2) makes a 0777 socket. The
// control socket must appear at its path already 0660: the folder sees
// the socket created and never chmod'ed afterwards (the old bind-then-chmod
// did exactly that, leaving a window in which anyone could connect). The
// socket works, leaves nothing behind, and is removed on Close.
func TestUnixSocketNeverWide(t *testing.T) {
	dir := shortDir(t)
	sock := filepath.Join(dir, "control.sock")
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		t.Fatal(err)
	}

	old := syscall.Umask(0)
	ln, err := listen("unix:" + sock)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(sock)
	if err != nil || fi.Mode().Perm() != socketMode || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket: %v, mode %v", err, fi.Mode())
	}
	if ln.Addr().String() != sock {
		t.Errorf("Addr %q, want %q", ln.Addr(), sock)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.Close()
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %d entries after listen, want the socket alone", len(entries))
	}
	ln.Close()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket still there after Close: %v", err)
	}

	// Every event about the socket's own path, until the folder is quiet.
	var created bool
	for {
		select {
		case ev := <-w.Events:
			if ev.Name != sock {
				continue
			}
			if ev.Has(fsnotify.Create) {
				created = true
			}
			if ev.Has(fsnotify.Chmod) && !ev.Has(fsnotify.Remove) {
				t.Errorf("the socket was chmod'ed at its path (%v): it existed there first with the umask's mode", ev)
			}
		case err := <-w.Errors:
			t.Fatal(err)
		case <-time.After(300 * time.Millisecond):
			if !created {
				t.Error("never saw the socket created")
			}
			return
		}
	}
}

// TestUnixSocketFolderChecks: a world-writable parent without the sticky
// bit is refused with its name; one with it (like /tmp) is fine; a file
// that is not a socket is never replaced.
func TestUnixSocketFolderChecks(t *testing.T) {
	open := filepath.Join(shortDir(t), "o")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := listen("unix:" + filepath.Join(open, "c.sock"))
	if err == nil || !strings.Contains(err.Error(), open) || !strings.Contains(err.Error(), "writable by every user") {
		t.Fatalf("world-writable folder: %v", err)
	}
	if err := os.Chmod(open, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	ln, err := listen("unix:" + filepath.Join(open, "c.sock"))
	if err != nil {
		t.Fatalf("sticky folder: %v", err)
	}
	ln.Close()

	plain := filepath.Join(shortDir(t), "file")
	if err := os.WriteFile(plain, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := listen("unix:" + plain); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(plain); string(b) != "keep" {
		t.Fatal("the regular file was replaced")
	}
}
