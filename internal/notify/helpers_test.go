package notify

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/switchd/switchd/control/api"
	"github.com/switchd/switchd/internal/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait in these tests; nothing here should take long.
const wait = 5 * time.Second

// fast are Options that retry without making the tests slow.
func fast(o Options) Options {
	o.RetryWaitMin = time.Millisecond
	o.RetryWaitMax = 5 * time.Millisecond
	if o.Timeout == 0 {
		o.Timeout = wait
	}
	return o
}

// hit is one request a hook received.
type hit struct {
	Method string
	Header http.Header
	Body   []byte
	Event  api.Event
	Status int
}

// hook is a webhook receiver on loopback that records every request and
// answers status(id, attempt) (attempt counts from 1 per event id).
type hook struct {
	*httptest.Server
	hits chan hit

	mu       sync.Mutex
	attempts map[uint64]int
}

func newHook(t *testing.T, status func(id uint64, attempt int) int) *hook {
	t.Helper()
	h := &hook{hits: make(chan hit, 1024), attempts: map[uint64]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var e api.Event
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("hook: body %q: %v", body, err)
		}
		h.mu.Lock()
		h.attempts[e.ID]++
		n := h.attempts[e.ID]
		h.mu.Unlock()
		code := http.StatusOK
		if status != nil {
			code = status(e.ID, n)
		}
		if code >= 300 && code < 400 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(code)
		h.hits <- hit{Method: r.Method, Header: r.Header.Clone(), Body: body, Event: e, Status: code}
	}))
	t.Cleanup(h.Close)
	return h
}

// next returns the next request the hook received.
func (h *hook) next(t *testing.T) hit {
	t.Helper()
	select {
	case x := <-h.hits:
		return x
	case <-time.After(wait):
		t.Fatalf("hook %s: no request within %s", h.URL, wait)
		return hit{}
	}
}

// until returns the requests received up to and including the first one
// for event id.
func (h *hook) until(t *testing.T, id uint64) []hit {
	t.Helper()
	var hs []hit
	for {
		x := h.next(t)
		hs = append(hs, x)
		if x.Event.ID == id {
			return hs
		}
	}
}

func (h *hook) attemptsOf(id uint64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.attempts[id]
}

// hungHook is a receiver that accepts every request and answers none until
// the client goes away. started gets each request's event id.
func hungHook(t *testing.T) (srv *httptest.Server, started chan uint64) {
	t.Helper()
	started = make(chan uint64, 64)
	quit := make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e api.Event
		_ = json.NewDecoder(r.Body).Decode(&e)
		started <- e.ID
		select {
		case <-r.Context().Done():
		case <-quit: // never leave the test hanging on a handler
		}
	}))
	t.Cleanup(func() { close(quit); srv.Close() })
	return srv, started
}

// deadURL is a URL on a loopback listener that never accepts: the kernel
// completes the handshake, nobody ever reads or answers.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return "http://" + ln.Addr().String() + "/hook"
}

// start builds a Notifier that Cleanup closes (before the hooks made
// earlier, as Cleanup runs last-in first-out).
func start(t *testing.T, targets []config.Notify, o Options) *Notifier {
	t.Helper()
	n := New(targets, o)
	t.Cleanup(n.Close)
	return n
}

func newCounter() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped", Help: "test"})
}

// value reads a counter like prometheus/testutil.ToFloat64 does; testutil
// itself needs a module that go.sum does not list yet.
func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// eventually polls cond until it holds or wait runs out.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", wait, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	return zap.New(core), logs
}

func ev(id uint64, typ string) api.Event {
	return api.Event{ID: id, Time: time.Unix(1700000000, 0).UTC(), Type: typ, Service: "app"}
}
