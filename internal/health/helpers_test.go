package health

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fast is a health section for end-to-end tests: short enough that a test
// takes well under a second, long enough to stay stable under -race on a
// busy machine.
func fast() config.Health {
	return config.Health{
		Path:         "/healthz",
		Interval:     config.Duration(40 * time.Millisecond),
		Timeout:      config.Duration(200 * time.Millisecond),
		Rise:         2,
		Fall:         2,
		ExpectStatus: config.StatusRange{Min: 200, Max: 399},
	}
}

func service(name string, h config.Health, blue, green []string) config.Service {
	return config.Service{Name: name, Blue: config.Pool{Upstreams: blue}, Green: config.Pool{Upstreams: green}, Health: h}
}

// upstream is a loopback test backend whose answer can be changed while it
// is being probed.
type upstream struct {
	srv    *httptest.Server
	status atomic.Int32
	hang   atomic.Bool
	hits   atomic.Int64

	mu   sync.Mutex
	reqs []*http.Request // clones, for header assertions
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.status.Store(http.StatusOK)
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.hits.Add(1)
	u.mu.Lock()
	u.reqs = append(u.reqs, r.Clone(r.Context()))
	u.mu.Unlock()
	if u.hang.Load() {
		// The prober's timeout closes the connection, which ends this.
		<-r.Context().Done()
		return
	}
	w.WriteHeader(int(u.status.Load()))
}

// addr returns "127.0.0.1:port", the form operators write most.
func (u *upstream) addr() string { return strings.TrimPrefix(u.srv.URL, "http://") }

func (u *upstream) lastRequest() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		return nil
	}
	return u.reqs[len(u.reqs)-1]
}

// hungListener accepts connections and never answers: an upstream whose
// process is stuck but whose kernel still completes handshakes.
type hungListener struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	done  chan struct{}
}

func newHungListener(t *testing.T) *hungListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hungListener{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
		}
	}()
	t.Cleanup(h.close)
	return h
}

func (h *hungListener) addr() string { return h.ln.Addr().String() }

func (h *hungListener) close() {
	h.ln.Close()
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
}

// recorder is an Observer that keeps every transition.
type recorder struct {
	mu  sync.Mutex
	trs []Transition
}

func (r *recorder) HealthChanged(tr Transition) {
	r.mu.Lock()
	r.trs = append(r.trs, tr)
	r.mu.Unlock()
}

func (r *recorder) all() []Transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Transition(nil), r.trs...)
}

// of returns the transitions of one upstream.
func (r *recorder) of(addr string) []Transition {
	var out []Transition
	for _, tr := range r.all() {
		if tr.Address == addr {
			out = append(out, tr)
		}
	}
	return out
}

// newMonitor returns a Monitor closed at the end of the test.
func newMonitor(t *testing.T, o Options) *Monitor {
	t.Helper()
	m := NewMonitor(o)
	t.Cleanup(m.Close)
	return m
}

func mustSync(t *testing.T, m *Monitor, svcs ...config.Service) {
	t.Helper()
	if err := m.Sync(svcs); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// waitState waits until the target reaches want and returns when it did.
func waitState(t *testing.T, tg *Target, want State, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if tg.State() == want {
			return time.Now()
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("%s: state %v after %v, want %v (last error %q)", tg.Address(), tg.State(), within, want, tg.Status().LastError)
	return time.Time{}
}

// waitFor polls cond until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", within, what)
}

func newMetrics() *metrics.Metrics { return metrics.New(prometheus.NewRegistry(), "test") }

// series returns the values of one metric family by its labels joined with
// ",", in label-name order; a missing series is absent from the map.
func series(t *testing.T, m *metrics.Metrics, name string) map[string]float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			var vals []string
			for _, l := range s.GetLabel() {
				vals = append(vals, l.GetValue())
			}
			v := s.GetGauge().GetValue() + s.GetCounter().GetValue()
			out[strings.Join(vals, ",")] = v
		}
	}
	return out
}
