package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/control"
)

// binPath is the switchd binary built once for the tests that run the real
// process (restart, signals, exit codes).
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "switchd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "switchd")
	if err := becomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if out, err := exec.Command("go", "build", "-o", binPath, "github.com/switchd/switchd/cmd/switchd").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building switchd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// colourBackend answers with its colour and serves /healthz.
func colourBackend(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

func addrOf(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

// configHead is the start of every test config: loopback listeners on
// free ports, quiet logs, a 5s grace; %s is the state dir.
const configHead = `
[server]
http_listen = "127.0.0.1:0"
shutdown_grace = "5s"
[control]
listen = "127.0.0.1:0"
[log]
level = "warn"
access_log = false
[state]
dir = %q
`

// baseConfig is a one-service config; %s are the state dir, blue and green.
const baseConfig = configHead + `
[[service]]
name = "app"
  [service.blue]
  upstreams = [%q]
  [service.green]
  upstreams = [%q]
  [service.health]
  interval = "200ms"
  timeout = "200ms"
  rise = 1
  fall = 3
  [service.drain]
  timeout = "2s"
`

func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// instance is switchd started in-process through Run.
type instance struct {
	proxy, control string
	cancel         context.CancelFunc
	done           chan error
	once           sync.Once
}

func startRun(t *testing.T, text string) *instance {
	t.Helper()
	return startRunLogged(t, text, zap.NewNop())
}

// startRunLogged is startRun with log lines going to log.
func startRunLogged(t *testing.T, text string, log *zap.Logger) *instance {
	t.Helper()
	cfg, err := config.Parse([]byte(text), "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	return runConfig(t, cfg, log)
}

// startFile is startRun on a config file, so that reloads read it.
func startFile(t *testing.T, path string) *instance {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return runConfig(t, cfg, zap.NewNop())
}

// runConfig runs switchd on cfg until the test ends; a cfg from
// config.Load is re-read by POST /v1/reload.
func runConfig(t *testing.T, cfg *config.Config, log *zap.Logger) *instance {
	t.Helper()
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{proxy: "http://" + pl.Addr().String(), control: "http://" + cl.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		in.done <- Run(ctx, Options{Config: cfg, Logger: log, Version: "test",
			ProxyListener: pl, ControlListener: cl, Ready: func(Addrs) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-in.done:
		t.Fatalf("switchd did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("switchd did not start in 10s")
	}
	t.Cleanup(in.stop)
	return in
}

// stop ends Run and waits for it; safe to call more than once.
func (in *instance) stop() {
	in.once.Do(func() {
		in.cancel()
		select {
		case <-in.done:
		case <-time.After(15 * time.Second):
			panic("switchd did not stop")
		}
	})
}

// callAPI sends a control request and decodes the JSON answer into out (if not nil).
func callAPI(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if method != "GET" {
		req.Header.Set("Content-Type", "application/json") // the control API refuses anything else
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func waitHealthy(t *testing.T, ctl, colour string) {
	t.Helper()
	waitServiceHealthy(t, ctl, "app", colour)
}

func waitServiceHealthy(t *testing.T, ctl, service, colour string) {
	t.Helper()
	var res control.WaitResult
	if code := callAPI(t, "GET", ctl+"/v1/services/"+service+"/wait?until=healthy:"+colour+"&timeout=10s", nil, &res); code != 200 {
		t.Fatalf("%s never healthy: %d", colour, code)
	}
}

// proc is the real switchd binary running.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	return startProcWith(t, binPath, args...)
}

// startProcWith runs the binary at bin (startProc's, or another build).
func startProcWith(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	return startProcEnv(t, nil, bin, args...)
}

// startProcEnv runs bin with env as its whole environment (nil: the test's).
func startProcEnv(t *testing.T, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill() // by PID: only the process this test started
			<-p.done
		}
	})
	return p
}

// wait returns the exit code, failing the test after d.
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("switchd still running after %v; output:\n%s", d, p.stderr.String())
	}
	return -1
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitUp polls url until it answers.
func waitUp(t *testing.T, url string, p *proc) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-p.done:
			t.Fatalf("switchd exited: %s", p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s never answered; output:\n%s", url, p.stderr.String())
}

func runtimeVersion() string { return runtime.Version() }

// withAppHost gives the base config's "app" service a host, as a config
// with a second service needs (only one may be the default).
func withAppHost(text, host string) string {
	return strings.Replace(text, `name = "app"`, fmt.Sprintf("name = \"app\"\nhosts = [%q]", host), 1)
}

// extraService is a second [[service]] with host NAME.test and one blue
// upstream (and green, when given); more is appended inside it verbatim.
func extraService(name, blue, green, more string) string {
	s := fmt.Sprintf("\n[[service]]\nname = %q\nhosts = [\"%s.test\"]\n  [service.blue]\n  upstreams = [%q]\n", name, name, blue)
	if green != "" {
		s += fmt.Sprintf("  [service.green]\n  upstreams = [%q]\n", green)
	}
	return s + more
}

// flip flips "app" through the API and fails the test unless it worked.
func flip(t *testing.T, ctl string) {
	t.Helper()
	var e control.ErrorBody
	if code := callAPI(t, "POST", ctl+"/v1/services/app/flip", nil, &e); code != 200 {
		t.Fatalf("flip: %d %+v", code, e)
	}
}

// startServing runs the real binary on cfgPath and waits until its control
// API answers.
func startServing(t *testing.T, cfgPath, ctl string) *proc {
	t.Helper()
	p := startProc(t, "-config", cfgPath)
	waitUp(t, ctl+"/healthz", p)
	return p
}
