package examples

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/control/api"
	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/daemon"
)

// The test binary stands in for the containers and for switchctl: the
// fake docker starts it with EXAMPLE_ROLE=app, the switchctl shim with
// EXAMPLE_ROLE=switchctl (see TestMain).

// runApp is a "container": it serves on $PORT, and its image tag decides
// how it behaves: bad-health fails /healthz, bad-smoke fails /smoke,
// bad-errors passes its checks but answers every other request 500.
func runApp() {
	tag := os.Getenv("TAG")
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz" && tag == "bad-health",
			r.URL.Path == "/smoke" && tag == "bad-smoke",
			r.URL.Path != "/healthz" && tag == "bad-errors":
			http.Error(w, tag, http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, tag)
	}))
}

// fakeDocker understands what deploy.sh runs: run -d --name N ... -p P:8080
// IMAGE:TAG starts the test binary as the app; rm -f N and stop N kill it.
const fakeDocker = `#!/usr/bin/env bash
dir=$(dirname "$0")
cmd=$1; shift
case $cmd in
run)
	name= port= image=
	while [ $# -gt 0 ]; do
		case $1 in
		-d) ;;
		--name) name=$2; shift ;;
		--restart) shift ;;
		-p) port=${2%%:*}; shift ;;
		*) image=$1 ;;
		esac
		shift
	done
	EXAMPLE_ROLE=app PORT=$port TAG=${image##*:} "$TESTBIN" </dev/null >/dev/null 2>&1 &
	echo $! >"$dir/$name.pid"
	echo "$cmd $name $image" >>"$dir/docker.log"
	;;
rm|stop)
	[ "$1" = -f ] && shift
	echo "$cmd $1" >>"$dir/docker.log"
	if [ -f "$dir/$1.pid" ]; then kill "$(cat "$dir/$1.pid")" 2>/dev/null; rm -f "$dir/$1.pid"; fi
	;;
esac
`

// fakeSSH runs the remote command here, through a shell as ssh does.
const fakeSSH = `#!/usr/bin/env bash
[ "$1" = deploy.example ] || { echo "ssh to $1?" >&2; exit 255; }
shift
exec bash -c "$*"
`

const shim = `#!/bin/sh
EXAMPLE_ROLE=switchctl exec "$TESTBIN" "$@"
`

// exampleConfig: blue and green on the containers' ports, green empty.
const exampleConfig = `
[server]
http_listen = "127.0.0.1:0"
shutdown_grace = "2s"
[control]
listen = "127.0.0.1:0"
[log]
level = "error"
access_log = false
[state]
dir = %q

[[service]]
name = "app"
  [service.blue]
  upstreams = ["127.0.0.1:%s"]
  [service.green]
  upstreams = []
  [service.health]
  interval = "100ms"
  timeout = "100ms"
  rise = 1
  fall = 2
  [service.guard]
  window = "2s"
  min_requests = 5
  watch = "3s"
  [service.drain]
  timeout = "1s"
`

type rig struct {
	dir, proxy, control string
	env                 []string
}

// newRig starts the fakes, v1 as app-blue, and switchd in front of it.
func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"docker": fakeDocker, "ssh": fakeSSH, "switchctl": shim} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	blue, green := freePort(t), freePort(t)
	r := &rig{dir: dir}
	r.env = append(os.Environ(), "TESTBIN="+self, "PATH="+dir+":"+os.Getenv("PATH"),
		"DEPLOY_HOST=deploy.example", "SSH="+filepath.Join(dir, "ssh"), "DOCKER="+filepath.Join(dir, "docker"),
		"PORT_BLUE="+blue, "PORT_GREEN="+green, "TAGS_DIR="+filepath.Join(dir, "tags"), "SMOKE=/smoke")
	t.Cleanup(func() { // every "container" still running
		pids, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
		for _, p := range pids {
			b, _ := os.ReadFile(p)
			_ = exec.Command("kill", strings.TrimSpace(string(b))).Run()
		}
	})
	start := exec.Command(filepath.Join(dir, "docker"), "run", "-d", "--name", "app-blue", "-p", blue+":8080", "example/app:v1")
	start.Env = r.env
	if out, err := start.CombinedOutput(); err != nil {
		t.Fatalf("fake docker: %v %s", err, out)
	}

	cfg, err := config.Parse(fmt.Appendf(nil, exampleConfig, filepath.Join(dir, "state"), blue), "example.toml")
	if err != nil {
		t.Fatal(err)
	}
	pl, _ := net.Listen("tcp", "127.0.0.1:0")
	cl, _ := net.Listen("tcp", "127.0.0.1:0")
	r.proxy, r.control = "http://"+pl.Addr().String(), "http://"+cl.Addr().String()
	r.env = append(r.env, "SWITCHD_ADDR="+r.control)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{Config: cfg, Logger: zap.NewNop(), Version: "test", ProxyListener: pl, ControlListener: cl})
	}()
	t.Cleanup(func() { cancel(); <-done })
	r.waitServing(t, "v1")
	return r
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// served is the proxy's answer now.
func (r *rig) served() string {
	resp, err := http.Get(r.proxy + "/")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (r *rig) waitServing(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.served() != want {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy serves %q, want %q", r.served(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *rig) service(t *testing.T) api.Service {
	t.Helper()
	resp, err := http.Get(r.control + "/v1/services/app")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s api.Service
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// deploy runs bash examples/deploy.sh example/app TAG.
func (r *rig) deploy(t *testing.T, tag string, env ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "deploy.sh", "example/app", tag)
	cmd.Env = append(append([]string(nil), r.env...), env...)
	out, _ := cmd.CombinedOutput()
	return cmd.ProcessState.ExitCode(), string(out)
}

// TestDeployScript runs examples/deploy.sh against a real switchd, with
// local processes standing in for docker containers on an SSH host.
func TestDeployScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	t.Run("good deploys, twice", func(t *testing.T) {
		r := newRig(t)
		code, out := r.deploy(t, "v2")
		if code != 0 || !strings.Contains(out, "flipped: blue → green") || !strings.Contains(out, "stable") {
			t.Fatalf("deploy v2: exit %d\n%s", code, out)
		}
		if got := r.served(); got != "v2" {
			t.Fatalf("after deploy v2 the proxy serves %q", got)
		}
		log, _ := os.ReadFile(filepath.Join(r.dir, "docker.log"))
		if !strings.Contains(string(log), "stop app-blue") {
			t.Errorf("the old colour's container was not stopped:\n%s", log)
		}
		// The second deploy goes to blue, the idle colour then.
		code, out = r.deploy(t, "v3", "WAIT_STABLE=0")
		if code != 0 || !strings.Contains(out, "flipped: green → blue") || r.served() != "v3" {
			t.Fatalf("deploy v3: exit %d, serving %q\n%s", code, r.served(), out)
		}
		if prev, _ := os.ReadFile(filepath.Join(r.dir, "tags", "previous")); strings.TrimSpace(string(prev)) != "v2" {
			t.Errorf("previous tag %q, want v2", prev)
		}
	})
	t.Run("failing health check moves nothing", func(t *testing.T) {
		r := newRig(t)
		code, out := r.deploy(t, "bad-health")
		if code != 3 || !strings.Contains(out, "healthy green") || !strings.Contains(out, "blue still serves") {
			t.Fatalf("exit %d\n%s", code, out)
		}
		if s := r.service(t); s.Active != "blue" || s.Generation != 0 || r.served() != "v1" {
			t.Fatalf("traffic moved: %s generation %d, serving %q", s.Active, s.Generation, r.served())
		}
	})
	t.Run("failing smoke test moves nothing", func(t *testing.T) {
		r := newRig(t)
		code, out := r.deploy(t, "bad-smoke")
		if code != 1 || !strings.Contains(out, "smoke /smoke") || !strings.Contains(out, "answered 500") {
			t.Fatalf("exit %d\n%s", code, out)
		}
		if s := r.service(t); s.Active != "blue" || r.served() != "v1" {
			t.Fatalf("traffic moved: %s, serving %q", s.Active, r.served())
		}
	})
	t.Run("guard revert during the wait", func(t *testing.T) {
		r := newRig(t)
		var stop atomic.Bool
		done := make(chan struct{})
		go func() { // traffic, for the guard to judge green by
			defer close(done)
			for !stop.Load() {
				r.served()
				time.Sleep(5 * time.Millisecond)
			}
		}()
		code, out := r.deploy(t, "bad-errors", "SMOKE=")
		stop.Store(true)
		<-done
		if code != 4 || !strings.Contains(out, "the guard reverted to blue") {
			t.Fatalf("exit %d\n%s", code, out)
		}
		if s := r.service(t); s.Active != "blue" || s.Reason != "guard" || r.served() != "v1" {
			t.Fatalf("after the revert: %s (%s), serving %q", s.Active, s.Reason, r.served())
		}
	})
}
