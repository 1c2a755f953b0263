package daemon

import (
	"fmt"
	"github.com/switchd/switchd/internal/testkit"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestRestartWithSocketActivationLosesNothing plays systemd: the test holds
// the listening sockets and hands them to switchd (LISTEN_FDS). Under load
// from 16 kept-alive clients, the first process gets SIGTERM and a second
// one starts on the same sockets: not one request fails.
func TestRestartWithSocketActivationLosesNothing(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	dir := t.TempDir()
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pf, _ := pl.(*net.TCPListener).File()
	defer pf.Close()
	cf, _ := cl.(*net.TCPListener).File()
	defer cf.Close()
	// The configured addresses are never bound: the passed sockets win.
	cfgPath := writeConfig(t, dir, fmt.Sprintf(baseConfig, filepath.Join(dir, "state"), addrOf(blue), addrOf(green)))
	proxyURL, ctlURL := "http://"+pl.Addr().String(), "http://"+cl.Addr().String()

	start := func() *proc {
		p := &proc{cmd: exec.Command(binPath, "-config", cfgPath), stderr: &syncBuffer{}, done: make(chan struct{})}
		p.cmd.Stderr, p.cmd.Stdout = p.stderr, p.stderr
		p.cmd.ExtraFiles = []*os.File{pf, cf} // fds 3 and 4
		p.cmd.Env = append(os.Environ(), "LISTEN_FDS=2", "LISTEN_FDNAMES=http:control")
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = p.cmd.Wait(); close(p.done) }()
		t.Cleanup(func() {
			select {
			case <-p.done:
			default:
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		})
		return p
	}
	first := start()
	waitUp(t, ctlURL+"/healthz", first)

	load := testkit.StartClients[struct{}](16, proxyURL+"/", nil, nil)
	time.Sleep(300 * time.Millisecond)
	before := load.OK()
	_ = first.cmd.Process.Signal(syscall.SIGTERM)
	second := start()
	if code := first.wait(t, 15*time.Second); code != 0 {
		t.Errorf("first process exit %d:\n%s", code, first.stderr.String())
	}
	waitUp(t, ctlURL+"/healthz", second)
	time.Sleep(300 * time.Millisecond)
	ok, failed, errs := load.Stop()
	_ = second.cmd.Process.Signal(syscall.SIGTERM)
	second.wait(t, 15*time.Second)
	t.Logf("%d requests (%d before the restart), %d failed", ok, before, failed)
	if failed != 0 || ok <= before {
		t.Fatalf("%d failed, %d succeeded (%d before the restart): %v", failed, ok, before, errs)
	}
}
