package health

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
)

// The tests in this file measure rather than assert, take tens of seconds,
// and mean something only without -race:
//
//	SWITCHD_MEASURE=1 go test -run Measure -v ./health/

func measuring(t *testing.T) {
	t.Helper()
	if os.Getenv("SWITCHD_MEASURE") != "1" {
		t.Skip("set SWITCHD_MEASURE=1 to measure")
	}
}

// production is the shipped default health section.
func production() config.Health {
	return config.Health{
		Path:         "/healthz",
		Interval:     config.Duration(time.Second),
		Timeout:      config.Duration(500 * time.Millisecond),
		Rise:         2,
		Fall:         2,
		ExpectStatus: config.StatusRange{Min: 200, Max: 399},
	}
}

// TestMeasureDetection reports how long an upstream that was up takes to be
// marked down once it is killed (its server closed: connection refused) or
// hung (a listener that accepts and never answers, on new and kept
// connections alike), with interval=1s, fall=2, timeout=500ms. The failure
// lands at a random point of the probe cycle, as in life; ten trials of
// each run side by side, each with its own Monitor.
func TestMeasureDetection(t *testing.T) {
	measuring(t)
	const trials = 10
	h := production()
	kinds := []string{"killed", "hung"}
	results := map[string][]time.Duration{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, kind := range kinds {
		for range trials {
			wg.Go(func() {
				d, err := detectOnce(h, kind)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("%s: %v", kind, err)
					return
				}
				results[kind] = append(results[kind], d)
			})
		}
	}
	wg.Wait()
	for _, kind := range kinds {
		ds := results[kind]
		if len(ds) == 0 {
			continue
		}
		slices.Sort(ds)
		med := (ds[(len(ds)-1)/2] + ds[len(ds)/2]) / 2
		t.Logf("%s upstream (interval=1s fall=2 timeout=500ms): median %v, min %v, max %v, bound fall×interval+timeout = 2.5s (2.7s with +10%% jitter); all: %v",
			kind, med.Round(time.Millisecond), ds[0].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond), rounded(ds))
	}
}

func rounded(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Millisecond)
	}
	return out
}

// detectOnce brings one upstream up, breaks it at a random moment and
// returns how long until its Target is Down.
func detectOnce(h config.Health, kind string) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	hl := &hangableListener{Listener: ln}
	hanging := make(chan struct{}) // closed: the handler waits until its connection closes
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hanging:
			<-r.Context().Done()
		default:
		}
	})}
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(hl) }()
	defer func() { srv.Close(); hl.Close(); <-served }()

	m := NewMonitor(Options{})
	defer m.Close()
	addr := ln.Addr().String()
	if err := m.Sync([]config.Service{service("app", h, []string{addr}, nil)}); err != nil {
		return 0, err
	}
	tg := m.Target("app", addr)
	if !pollState(tg, Up, 5*time.Second) {
		return 0, fmt.Errorf("never up: %q", tg.Status().LastError)
	}
	time.Sleep(time.Second + rand.N(h.Interval.D()))
	broke := time.Now()
	switch kind {
	case "killed":
		srv.Close()
	case "hung":
		close(hanging) // kept connections: the handler never answers
		hl.hang()      // new connections: accepted, never read
	}
	if !pollState(tg, Down, 10*time.Second) {
		return 0, fmt.Errorf("never down")
	}
	return time.Since(broke), nil
}

func pollState(tg *Target, want State, within time.Duration) bool {
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if tg.State() == want {
			return true
		}
	}
	return false
}

// hangableListener serves normally until hang; then it keeps accepting but
// hands nothing to the server, so new connections are never answered.
type hangableListener struct {
	net.Listener
	mu      sync.Mutex
	hanging bool
	held    []net.Conn
}

func (l *hangableListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if !l.hanging {
			l.mu.Unlock()
			return c, nil
		}
		l.held = append(l.held, c)
		l.mu.Unlock()
	}
}

func (l *hangableListener) hang() {
	l.mu.Lock()
	l.hanging = true
	l.mu.Unlock()
}

func (l *hangableListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.held {
		c.Close()
	}
	l.held = nil
	return err
}

// TestMeasureCPU reports the CPU this process spends checking 100 upstreams
// every second, as a share of one core. The upstreams run in a child
// process (this test binary, see TestHelperUpstreams) so that serving the
// checks is not counted.
func TestMeasureCPU(t *testing.T) {
	measuring(t)
	const (
		n      = 100
		warmup = 3 * time.Second
		window = 10 * time.Second
	)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperUpstreams$")
	cmd.Env = append(os.Environ(), "SWITCHD_HEALTH_HELPER=1", fmt.Sprintf("SWITCHD_HEALTH_HELPER_N=%d", n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	var addrs []string
	sc := bufio.NewScanner(stdout)
	for len(addrs) < n && sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "upstream "); ok {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) != n {
		t.Fatalf("helper gave %d upstreams, want %d", len(addrs), n)
	}
	go io.Copy(io.Discard, stdout) // the helper's PASS line

	met := newMetrics()
	m := NewMonitor(Options{Metrics: met})
	defer m.Close()
	if err := m.Sync([]config.Service{service("app", production(), addrs[:n/2], addrs[n/2:])}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(warmup)
	for _, a := range addrs {
		if m.Target("app", a).State() != Up {
			t.Fatalf("%s not up after warm-up", a)
		}
	}
	checks := func() float64 {
		s := series(t, met, "switchd_health_checks_total")
		return s["blue,pass,app"] + s["green,pass,app"] + s["blue,fail,app"] + s["green,fail,app"]
	}
	c0, r0, w0 := checks(), rusage(t), time.Now()
	time.Sleep(window)
	c1, r1, w1 := checks(), rusage(t), time.Now()
	cpu, wall := r1-r0, w1.Sub(w0)
	t.Logf("%d upstreams, interval 1s: %.0f checks in %v, CPU %v = %.2f%% of one core (%.1fµs per check)",
		n, c1-c0, wall.Round(time.Millisecond), cpu, 100*cpu.Seconds()/wall.Seconds(), float64(cpu.Microseconds())/(c1-c0))
}

// rusage returns the user+system CPU time of this process.
func rusage(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestHelperUpstreams is not a test: TestMeasureCPU runs this binary with
// SWITCHD_HEALTH_HELPER=1 to serve upstreams from another process. It
// prints "upstream ADDR" lines and serves until its stdin closes.
func TestHelperUpstreams(t *testing.T) {
	if os.Getenv("SWITCHD_HEALTH_HELPER") != "1" {
		t.Skip("helper process for TestMeasureCPU")
	}
	var n int
	fmt.Sscan(os.Getenv("SWITCHD_HEALTH_HELPER_N"), &n)
	var srvs []*http.Server
	var wg sync.WaitGroup
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("ok\n"))
		})}
		srvs = append(srvs, srv)
		wg.Go(func() { srv.Serve(ln) })
		fmt.Printf("upstream %s\n", ln.Addr())
	}
	io.Copy(io.Discard, os.Stdin)
	for _, s := range srvs {
		s.Close()
	}
	wg.Wait()
}
