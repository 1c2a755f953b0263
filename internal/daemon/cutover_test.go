package daemon

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/control"
	"github.com/switchd/switchd/internal/testkit"
)

// TestGaplessCutover is the promise of the product: 16 kept-alive clients
// send requests while the API flips 200 times. No request fails, and every
// answer comes from a colour that was active at some moment of its request.
// It also reports the flip round trip through the API.
func TestGaplessCutover(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green)))
	waitHealthy(t, in.control, "green")
	waitHealthy(t, in.control, "blue")

	// Generation g has blue active when g is even: every flip alternates.
	colourAt := func(g int64) string {
		if g%2 == 0 {
			return "blue"
		}
		return "green"
	}
	var lo, hi atomic.Int64 // lo: generation certainly in force; hi: may be in force
	load := testkit.StartClients(16, in.proxy+"/", lo.Load, func(g0 int64, resp *http.Response, body []byte) error {
		g1 := hi.Load()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		for g := g0; g <= g1; g++ {
			if colourAt(g) == string(body) {
				return nil
			}
		}
		return fmt.Errorf("answer from %s while generations %d..%d were in force", body, g0, g1)
	})
	const flips = 200
	rtt := make([]time.Duration, 0, flips)
	for i := 1; i <= flips; i++ {
		time.Sleep(3 * time.Millisecond)
		hi.Store(int64(i))
		var res struct {
			control.ChangeResult
			control.ErrorBody
		}
		start := time.Now()
		code := callAPI(t, "POST", in.control+"/v1/services/app/flip", map[string]any{"reason": "load test"}, &res)
		rtt = append(rtt, time.Since(start))
		if code != 200 || res.Service.Generation != uint64(i) {
			load.Stop()
			t.Fatalf("flip %d: %d generation %d %+v", i, code, res.Service.Generation, res.Error)
		}
		lo.Store(int64(i))
	}
	total, bad, errs := load.Stop()
	total += bad
	sort.Slice(rtt, func(i, j int) bool { return rtt[i] < rtt[j] })
	t.Logf("%d requests during %d flips: %d failed; flip round trip p50 %v p99 %v (with 16 clients running)",
		total, flips, bad, rtt[flips/2], rtt[flips*99/100])
	if bad != 0 {
		t.Fatalf("%d of %d requests failed or went to the wrong colour: %v", bad, total, errs)
	}
	if total < flips {
		t.Fatalf("only %d requests during %d flips: the load was too thin to prove anything", total, flips)
	}
}

// TestWaitDrained: wait until=drained:blue answers only once the request
// still in flight on blue after the flip has finished.
func TestWaitDrained(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	blue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "blue")
	}))
	defer blue.Close()
	green := colourBackend(t, "green")
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green)))
	waitHealthy(t, in.control, "green")

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(in.proxy + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-entered
	flip(t, in.control)
	waited := make(chan int, 1)
	go func() {
		waited <- callAPI(t, "GET", in.control+"/v1/services/app/wait?until=drained:blue&timeout=10s", nil, nil)
	}()
	select {
	case code := <-waited:
		t.Fatalf("wait answered %d while a request was still in flight on blue", code)
	case <-time.After(300 * time.Millisecond):
	}
	var svc control.Service
	callAPI(t, "GET", in.control+"/v1/services/app", nil, &svc)
	if svc.Pools["blue"].Inflight != 1 {
		t.Fatalf("blue in flight = %d, want 1", svc.Pools["blue"].Inflight)
	}
	close(release)
	if code := <-waited; code != 200 {
		t.Fatalf("wait drained: %d", code)
	}
	if b := <-got; b != "blue" {
		t.Fatalf("in-flight request ended with %q, want blue", b)
	}
	// A timeout is 408.
	var e control.ErrorBody
	if code := callAPI(t, "GET", in.control+"/v1/services/app/wait?until=drained:green&timeout=100ms", nil, &e); code != 408 || e.Error.Code != "timeout" {
		t.Fatalf("wait on the active colour: %d %+v", code, e)
	}
}
