package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/control"
)

// failingBackend answers its name until fail is set, then 500; /healthz
// stays 200 so that only the guard, not the health checks, sees the trouble.
type failingBackend struct {
	*httptest.Server
	fail atomic.Bool
}

func newFailingBackend(t *testing.T, name string) *failingBackend {
	t.Helper()
	b := &failingBackend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && b.fail.Load() {
			http.Error(w, name+" broken", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(b.Close)
	return b
}

const guardSection = `
  [service.guard]
  window = %q
  max_error_rate = 0.05
  min_requests = %d
  watch = %q
`

// load sends requests at a fixed rate from a pool of workers and keeps
// what came back.
type load struct {
	mu      sync.Mutex
	results []result
	stop    chan struct{}
	wg      sync.WaitGroup
}

type result struct {
	sent, at time.Time // sent: the request left; at: its answer came
	status   int
	body     string
}

// startLoad sends GETs.
func startLoad(url string, rate int) *load { return startLoadMethod("GET", url, rate) }

// startPosts sends POSTs, which no client resends behind our back, so every
// failure switchd answers is counted.
func startPosts(url string, rate int) *load { return startLoadMethod("POST", url, rate) }

func startLoadMethod(method, url string, rate int) *load {
	l := &load{stop: make(chan struct{})}
	jobs := make(chan struct{}) // unbuffered: at most the 16 workers in flight, as the guard tests count
	for i := 0; i < 16; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			for range jobs {
				r := result{sent: time.Now()}
				var body io.Reader
				if method == "POST" {
					body = strings.NewReader("x")
				}
				req, _ := http.NewRequest(method, url, body)
				resp, err := cl.Do(req)
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					r.status, r.body = resp.StatusCode, string(b)
				}
				r.at = time.Now()
				l.mu.Lock()
				l.results = append(l.results, r)
				l.mu.Unlock()
			}
		}()
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer close(jobs)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
				select {
				case jobs <- struct{}{}:
				default: // every worker busy: this tick's request is skipped
				}
			}
		}
	}()
	return l
}

func (l *load) end() []result {
	close(l.stop)
	l.wg.Wait()
	return l.results
}

// guardRun flips to green under load at rate req/s, lets green serve well
// for a second, breaks it, and reports how many client requests failed and
// how long after the first failure the revert happened.
type guardRun struct {
	failed, needed int
	okBefore       int
	delay          time.Duration
	reverted       bool
}

func runGuardScenario(t *testing.T, rate int) guardRun {
	t.Helper()
	blue, green := newFailingBackend(t, "blue"), newFailingBackend(t, "green")
	text := fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue.Server), addrOf(green.Server)) +
		fmt.Sprintf(guardSection, "10s", 20, "10m")
	in := startRun(t, text)
	waitHealthy(t, in.control, "green")
	flip(t, in.control)
	l := startLoad(in.proxy+"/", rate)
	time.Sleep(time.Second)
	green.fail.Store(true)
	broke := time.Now()

	var svc control.Service
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		callAPI(t, "GET", in.control+"/v1/services/app", nil, &svc)
		if svc.Active == "blue" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // traffic after the revert must be fine
	results := l.end()

	var run guardRun
	run.reverted = svc.Active == "blue" && svc.Reason == "guard"
	var firstFail time.Time
	for _, r := range results {
		switch {
		case r.status == 500:
			run.failed++
			if firstFail.IsZero() || r.at.Before(firstFail) {
				firstFail = r.at
			}
		case r.status == 200 && r.body == "green" && r.at.Before(broke):
			run.okBefore++
		case r.status != 200:
			t.Errorf("unexpected answer %d %q", r.status, r.body)
		}
	}
	// The errors it takes to reach 5% of the window: e/(ok+e) >= 0.05.
	for run.needed = 0; float64(run.needed) < 0.05*float64(run.okBefore+run.needed) || run.okBefore+run.needed < 20; run.needed++ {
	}
	if run.reverted && !firstFail.IsZero() {
		run.delay = svc.ChangedAt.Sub(firstFail)
	}
	return run
}

// TestGuardRevertsUnderLoad: green fails under 400 req/s and is reverted;
// the failed client requests stay within the window arithmetic: the errors
// needed to cross the threshold plus at most 100 ms of traffic (and the
// requests already in flight at that moment).
func TestGuardRevertsUnderLoad(t *testing.T) {
	const rate = 400
	run := runGuardScenario(t, rate)
	if !run.reverted {
		t.Fatalf("not reverted; %+v", run)
	}
	allowed := run.needed + rate/10 + 16
	t.Logf("ok before %d, errors needed %d, failed %d (allowed %d), first failure → revert %v",
		run.okBefore, run.needed, run.failed, allowed, run.delay)
	if run.failed > allowed {
		t.Fatalf("%d requests failed; the window arithmetic allows %d", run.failed, allowed)
	}
	if run.delay > time.Second {
		t.Fatalf("revert took %v after the first failure", run.delay)
	}
}

// TestMeasureGuard reports the median revert delay and failed requests over
// 10 runs at 400 and 20 req/s (SWITCHD_MEASURE=1; not part of CI).
func TestMeasureGuard(t *testing.T) {
	if os.Getenv("SWITCHD_MEASURE") == "" {
		t.Skip("set SWITCHD_MEASURE=1 to measure")
	}
	for _, rate := range []int{400, 20} {
		var delays []time.Duration
		var failed []int
		for i := 0; i < 10; i++ {
			var run guardRun
			t.Run(fmt.Sprint(rate), func(t *testing.T) { run = runGuardScenario(t, rate) })
			delays = append(delays, run.delay)
			failed = append(failed, run.failed)
		}
		sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
		sort.Ints(failed)
		t.Logf("%d req/s: first failure → revert median %v (min %v, max %v); failed requests median %d (min %d, max %d)",
			rate, delays[5], delays[0], delays[9], failed[5], failed[0], failed[9])
	}
}

// TestGuardNoVerdictBelowMinRequests: a handful of failures is not enough.
func TestGuardNoVerdictBelowMinRequests(t *testing.T) {
	blue, green := newFailingBackend(t, "blue"), newFailingBackend(t, "green")
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue.Server), addrOf(green.Server))+
		fmt.Sprintf(guardSection, "10s", 20, "10m"))
	waitHealthy(t, in.control, "green")
	events := subscribe(t, in.control)
	callAPI(t, "POST", in.control+"/v1/services/app/flip", nil, nil)
	green.fail.Store(true)
	for i := 0; i < 19; i++ {
		resp, err := http.Get(in.proxy + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	time.Sleep(300 * time.Millisecond)
	var svc control.Service
	callAPI(t, "GET", in.control+"/v1/services/app", nil, &svc)
	if svc.Active != "green" {
		t.Fatalf("reverted with 19 requests < min_requests 20: %+v", svc)
	}
	if svc.Guard == nil || svc.Guard.WindowRequests != 19 || svc.Guard.WindowErrorRate != 1 {
		t.Fatalf("guard status %+v", svc.Guard)
	}
	// One more crosses min_requests: reverted, then latched.
	resp, err := http.Get(in.proxy + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitActive(t, in.control, "blue", 2*time.Second)
	// Reverted, persisted, counted and told.
	if e := events.next(t, "guard", 2*time.Second); e.From != "green" || e.To != "blue" || e.Generation != 2 || e.Detail == "" {
		t.Fatalf("guard event %+v", e)
	}
	for series, want := range map[string]string{
		`switchd_guard_trips_total{service="app"}`:           "1",
		`switchd_flips_total{reason="guard",service="app"}`:  "1",
		`switchd_flips_total{reason="manual",service="app"}`: "1",
	} {
		if got := metric(t, in.control, series); got != want {
			t.Errorf("%s = %q, want %s", series, got, want)
		}
	}
	green.fail.Store(false)
	time.Sleep(300 * time.Millisecond)
	callAPI(t, "GET", in.control+"/v1/services/app", nil, &svc)
	if svc.Active != "blue" || svc.Generation != 2 || svc.Guard.LastTrip == nil {
		t.Fatalf("after the revert: %+v guard %+v", svc, svc.Guard)
	}
}

func waitActive(t *testing.T, ctl, colour string, d time.Duration) control.Service {
	t.Helper()
	var svc control.Service
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		callAPI(t, "GET", ctl+"/v1/services/app", nil, &svc)
		if svc.Active == colour {
			return svc
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never active; last %+v", colour, svc)
	return svc
}

// TestGuardBlockedWhenPreviousUnhealthy: the guard does not revert to a
// colour that is itself down; it says so with a guard_blocked event.
func TestGuardBlockedWhenPreviousUnhealthy(t *testing.T) {
	blue, green := newFailingBackend(t, "blue"), newFailingBackend(t, "green")
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue.Server), addrOf(green.Server))+
		fmt.Sprintf(guardSection, "10s", 5, "10m"))
	waitHealthy(t, in.control, "green")
	events := subscribe(t, in.control)
	callAPI(t, "POST", in.control+"/v1/services/app/flip", nil, nil)
	blue.Close() // blue's checks fail from now on
	deadline := time.Now().Add(5 * time.Second)
	for {
		var svc control.Service
		callAPI(t, "GET", in.control+"/v1/services/app", nil, &svc)
		if svc.Pools["blue"].Healthy == 0 && svc.Pools["blue"].Upstreams[0].State == "down" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("blue never marked down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	green.fail.Store(true)
	for i := 0; i < 10; i++ {
		resp, err := http.Get(in.proxy + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	e := events.next(t, "guard_blocked", 3*time.Second)
	if e.From != "green" || e.To != "blue" {
		t.Fatalf("guard_blocked event %+v", e)
	}
	var svc control.Service
	callAPI(t, "GET", in.control+"/v1/services/app", nil, &svc)
	if svc.Active != "green" {
		t.Fatalf("reverted to an unhealthy colour: %+v", svc)
	}
}

// TestFailover: the active pool dies (health checks, not traffic) and the
// idle one is healthy: switchd switches, with reason failover.
func TestFailover(t *testing.T) {
	blue, green := newFailingBackend(t, "blue"), newFailingBackend(t, "green")
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue.Server), addrOf(green.Server)))
	waitHealthy(t, in.control, "green")
	events := subscribe(t, in.control)
	blue.Close()
	svc := waitActive(t, in.control, "green", 5*time.Second)
	if svc.Reason != "failover" || svc.ChangedBy != "guard" {
		t.Fatalf("switched with reason %q by %q", svc.Reason, svc.ChangedBy)
	}
	if e := events.next(t, "failover", 2*time.Second); e.From != "blue" || e.To != "green" {
		t.Fatalf("failover event %+v", e)
	}
	if got := metric(t, in.control, `switchd_flips_total{reason="failover",service="app"}`); got != "1" {
		t.Errorf("flips_total{reason=failover} = %q", got)
	}
	if got := metric(t, in.control, `switchd_guard_trips_total{service="app"}`); got != "0" {
		t.Errorf("a failover counted as a guard trip: %q", got)
	}
	resp, err := http.Get(in.proxy + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "green" {
		t.Fatalf("after failover: %q", b)
	}
}

// TestWaitStable covers both outcomes of wait until=stable.
func TestWaitStable(t *testing.T) {
	blue, green := newFailingBackend(t, "blue"), newFailingBackend(t, "green")
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue.Server), addrOf(green.Server))+
		fmt.Sprintf(guardSection, "1s", 5, "500ms"))
	waitHealthy(t, in.control, "green")

	callAPI(t, "POST", in.control+"/v1/services/app/flip", nil, nil)
	start := time.Now()
	var res control.WaitResult
	if code := callAPI(t, "GET", in.control+"/v1/services/app/wait?until=stable&timeout=5s", nil, &res); code != 200 {
		t.Fatalf("wait stable after a clean flip: %d", code)
	}
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Fatalf("stable after %v, before the watch of 500ms ended", el)
	}

	callAPI(t, "POST", in.control+"/v1/services/app/flip", nil, nil) // back to blue
	blue.fail.Store(true)
	go func() {
		for i := 0; i < 10; i++ {
			if resp, err := http.Get(in.proxy + "/"); err == nil {
				resp.Body.Close()
			}
		}
	}()
	var e control.ErrorBody
	if code := callAPI(t, "GET", in.control+"/v1/services/app/wait?until=stable&timeout=5s", nil, &e); code != 409 || e.Error.Code != "reverted" {
		t.Fatalf("wait stable after a reverted flip: %d %+v", code, e)
	}
}

// eventStream reads /v1/events.
type eventStream struct {
	ch     chan control.Event
	cancel context.CancelFunc
}

func subscribe(t *testing.T, ctl string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ctl+"/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &eventStream{ch: make(chan control.Event, 256), cancel: cancel}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		readEvents(resp.Body, s.ch)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func (s *eventStream) next(t *testing.T, typ string, d time.Duration) control.Event {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e := <-s.ch:
			if e.Type == typ {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event within %v", typ, d)
		}
	}
}

// TestGuardLatencyTrigger: with max_p99 set, a new colour whose answers
// slow down past it is reverted like one that fails.
func TestGuardLatencyTrigger(t *testing.T) {
	var slow atomic.Bool
	green := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && slow.Load() {
			time.Sleep(250 * time.Millisecond)
		}
		_, _ = io.WriteString(w, "green")
	}))
	defer green.Close()
	blue := colourBackend(t, "blue")
	text := fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green)) +
		fmt.Sprintf(guardSection, "2s", 10, "10m") + "  max_p99 = \"100ms\"\n"
	in := startRun(t, text)
	waitHealthy(t, in.control, "green")
	flip(t, in.control)
	slow.Store(true)
	l := startLoad(in.proxy+"/", 100)
	svc := waitActive(t, in.control, "blue", 5*time.Second)
	l.end()
	if svc.Reason != "guard" || !strings.Contains(svc.Detail, "p99") {
		t.Fatalf("reverted with reason %q detail %q", svc.Reason, svc.Detail)
	}
}
