package daemon

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchd/control"
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
	var stop atomic.Bool
	var total, bad atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for !stop.Load() {
				g0 := lo.Load()
				resp, err := cl.Get(in.proxy + "/")
				if err != nil {
					bad.Add(1)
					t.Errorf("transport error: %v", err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				g1 := hi.Load()
				total.Add(1)
				if resp.StatusCode != 200 {
					bad.Add(1)
					t.Errorf("status %d: %s", resp.StatusCode, body)
					continue
				}
				ok := false
				for g := g0; g <= g1; g++ {
					ok = ok || colourAt(g) == string(body)
				}
				if !ok {
					bad.Add(1)
					t.Errorf("answer from %s while generations %d..%d were in force", body, g0, g1)
				}
			}
		}()
	}
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
		code := api(t, "POST", in.control+"/v1/services/app/flip", map[string]any{"reason": "load test"}, &res)
		rtt = append(rtt, time.Since(start))
		if code != 200 || res.Service.Generation != uint64(i) {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("flip %d: %d generation %d %+v", i, code, res.Service.Generation, res.Error)
		}
		lo.Store(int64(i))
	}
	stop.Store(true)
	wg.Wait()
	sort.Slice(rtt, func(i, j int) bool { return rtt[i] < rtt[j] })
	t.Logf("%d requests during %d flips: %d failed; flip round trip p50 %v p99 %v (with 16 clients running)",
		total.Load(), flips, bad.Load(), rtt[flips/2], rtt[flips*99/100])
	if bad.Load() != 0 {
		t.Fatalf("%d of %d requests failed or went to the wrong colour", bad.Load(), total.Load())
	}
	if total.Load() < flips {
		t.Fatalf("only %d requests during %d flips: the load was too thin to prove anything", total.Load(), flips)
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
	if code := api(t, "POST", in.control+"/v1/services/app/flip", nil, nil); code != 200 {
		t.Fatalf("flip: %d", code)
	}
	waited := make(chan int, 1)
	go func() {
		waited <- api(t, "GET", in.control+"/v1/services/app/wait?until=drained:blue&timeout=10s", nil, nil)
	}()
	select {
	case code := <-waited:
		t.Fatalf("wait answered %d while a request was still in flight on blue", code)
	case <-time.After(300 * time.Millisecond):
	}
	var svc control.Service
	api(t, "GET", in.control+"/v1/services/app", nil, &svc)
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
	if code := api(t, "GET", in.control+"/v1/services/app/wait?until=drained:green&timeout=100ms", nil, &e); code != 408 || e.Error.Code != "timeout" {
		t.Fatalf("wait on the active colour: %d %+v", code, e)
	}
}
