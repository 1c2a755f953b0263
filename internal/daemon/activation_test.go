package daemon

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// systemd plays the service manager for the real binary: it holds the
// listening sockets, as switchd.socket and switchd-control.socket do, and
// passes them (LISTEN_FDS) to every switchd it starts. Every process, the
// successors an upgrade starts included, writes to one log file: a pipe
// would keep the first process's Wait open for as long as its successor
// lives.
type systemd struct {
	t                    *testing.T
	cfgPath              string
	files                []*os.File
	proxyURL, controlURL string
	logPath              string
	log                  *os.File
	env                  []string // more environment for every process
}

func newSystemd(t *testing.T, cfgPath string) *systemd {
	t.Helper()
	s := &systemd{t: t, cfgPath: cfgPath, logPath: filepath.Join(t.TempDir(), "switchd.log")}
	for _, u := range []*string{&s.proxyURL, &s.controlURL} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		ln.Close() // f keeps the socket
		*u = "http://" + ln.Addr().String()
		s.files = append(s.files, f)
		t.Cleanup(func() { f.Close() })
	}
	var err error
	if s.log, err = os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.log.Close() })
	return s
}

// newSupervisor is newSystemd without socket activation: every switchd
// binds its own listeners (and hands them on in an upgrade).
func newSupervisor(t *testing.T, cfgPath string) *systemd {
	t.Helper()
	s := &systemd{t: t, cfgPath: cfgPath, logPath: filepath.Join(t.TempDir(), "switchd.log")}
	var err error
	if s.log, err = os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.log.Close() })
	return s
}

// output is what every process wrote so far.
func (s *systemd) output() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// sdProc is one switchd process on the sockets: one the test started, or
// a successor an upgrade started.
type sdProc struct {
	pid  int
	done chan struct{}
	code int // the exit code once done is closed; -1 when unknown
}

// start starts switchd on the sockets (fds 3 and 4) with extra arguments.
func (s *systemd) start(args ...string) *sdProc {
	s.t.Helper()
	cmd := exec.Command(binPath, append([]string{"-config", s.cfgPath}, args...)...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.Env = append(os.Environ(), s.env...)
	if len(s.files) > 0 {
		cmd.ExtraFiles = s.files
		cmd.Env = append(cmd.Env, "LISTEN_FDS=2", "LISTEN_FDNAMES=http:control")
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	p := &sdProc{pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	s.cleanup(p)
	return p
}

// adopt follows the successor pid that parent started. The test process is
// a child subreaper (see TestMain), so the successor becomes its child once
// parent exits, and can be waited for from then on.
func (s *systemd) adopt(pid int, parent *sdProc) *sdProc {
	p := &sdProc{pid: pid, done: make(chan struct{}), code: -1}
	go func() {
		defer close(p.done)
		<-parent.done
		proc, err := os.FindProcess(pid)
		if err != nil {
			return
		}
		if st, err := proc.Wait(); err == nil {
			p.code = st.ExitCode()
		}
	}()
	s.cleanup(p)
	return p
}

func (s *systemd) cleanup(p *sdProc) {
	s.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(p.pid, syscall.SIGKILL) // by PID: only a process this test started
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
			}
		}
	})
}

// waitServing polls the control API until it answers, failing the test if
// the process exits first.
func (s *systemd) waitServing(done <-chan struct{}) {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.controlURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-done:
			s.t.Fatalf("switchd exited:\n%s", s.output())
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.t.Fatalf("switchd never answered:\n%s", s.output())
}

// echoBackend answers a request with its body.
func echoBackend(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
	}))
	t.Cleanup(s.Close)
	return s
}

// strictPosts are n kept-alive clients sending POSTs in a loop, none of
// which can be resent: net/http's Transport retries a request on a reused
// connection only when it is idempotent, or when nothing was written and
// GetBody can rewind the body, and these have a body and no GetBody. Every
// transport error and every wrong answer counts as lost.
type strictPosts struct {
	stop     atomic.Bool
	wg       sync.WaitGroup
	ok, lost atomic.Int64
	mu       sync.Mutex
	errs     []string
	start    time.Time
}

func startStrictPosts(n int, url string) *strictPosts {
	c := &strictPosts{start: time.Now()}
	for i := 0; i < n; i++ {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for seq := 0; !c.stop.Load(); seq++ {
				body := fmt.Sprintf("client %d request %d", i, seq)
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				req.GetBody = nil
				resp, err := hc.Do(req)
				if err != nil {
					c.fail(err.Error())
					continue
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, []byte(body)) {
					c.fail(fmt.Sprintf("%d %q %v", resp.StatusCode, got, err))
					continue
				}
				c.ok.Add(1)
			}
		}()
	}
	return c
}

func (c *strictPosts) fail(msg string) {
	c.lost.Add(1)
	c.mu.Lock()
	if len(c.errs) < 10 {
		c.errs = append(c.errs, fmt.Sprintf("%v: %s", time.Since(c.start).Round(time.Millisecond), msg))
	}
	c.mu.Unlock()
}

// finish stops the clients and returns the answered and lost requests with
// the first errors.
func (c *strictPosts) finish() (ok, lost int64, errs []string) {
	c.stop.Store(true)
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ok.Load(), c.lost.Load(), c.errs
}

// sigterm stops p and waits for its exit 0.
func sigterm(t *testing.T, p *sdProc, s *systemd) {
	t.Helper()
	_ = syscall.Kill(p.pid, syscall.SIGTERM)
	exited(t, p, s)
}

// exited waits for p's exit 0.
func exited(t *testing.T, p *sdProc, s *systemd) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("switchd (pid %d) still running after 20s:\n%s", p.pid, s.output())
	}
	if p.code != 0 {
		t.Fatalf("switchd (pid %d) exited %d:\n%s", p.pid, p.code, s.output())
	}
}

// pidFile is where start's -pid-file argument points.
func (s *systemd) pidFile() string { return filepath.Join(filepath.Dir(s.logPath), "switchd.pid") }

// readPID returns the PID in the pid file, 0 when there is none yet.
func (s *systemd) readPID() int {
	b, _ := os.ReadFile(s.pidFile())
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// upgrade sends POST /v1/upgrade and, when it worked, returns the successor
// of p, which then serves; the error body otherwise.
func (s *systemd) upgrade(p *sdProc) (*sdProc, string) {
	s.t.Helper()
	resp, err := http.Post(s.controlURL+"/v1/upgrade", "application/json", nil)
	if err != nil {
		s.t.Fatalf("upgrade: %v\n%s", err, s.output())
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Sprintf("%d %s", resp.StatusCode, b)
	}
	pid := s.readPID()
	if pid == p.pid || pid == 0 {
		s.t.Fatalf("upgrade answered 200 but the pid file says %d (old %d)", pid, p.pid)
	}
	return s.adopt(pid, p), ""
}

// signalUpgrade sends p SIGUSR2 and returns its successor once the pid file
// names it.
func (s *systemd) signalUpgrade(p *sdProc) *sdProc {
	s.t.Helper()
	_ = syscall.Kill(p.pid, syscall.SIGUSR2)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if pid := s.readPID(); pid != 0 && pid != p.pid {
			return s.adopt(pid, p)
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.t.Fatalf("no successor 15s after SIGUSR2:\n%s", s.output())
	return nil
}
