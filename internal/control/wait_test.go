package control

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/proxy"
)

// waitResult is one answer of a wait started in the background.
type waitResult struct {
	status int
	body   []byte
	at     time.Time
}

// startWait runs GET path in the background and delivers its answer.
func (f *fixture) startWait(t *testing.T, path string) <-chan waitResult {
	t.Helper()
	ch := make(chan waitResult, 1)
	go func() {
		resp, err := f.srv.Client().Get(f.srv.URL + path)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			ch <- waitResult{}
			return
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		ch <- waitResult{resp.StatusCode, []byte(sb.String()), time.Now()}
	}()
	return ch
}

func receive(t *testing.T, ch <-chan waitResult) waitResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not answer")
		return waitResult{}
	}
}

// notYet fails if ch answers within d.
func notYet(t *testing.T, ch <-chan waitResult, d time.Duration, why string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("wait answered %d %s early: %s", r.status, r.body, why)
	case <-time.After(d):
	}
}

func TestWaitHealthy(t *testing.T) {
	tg := newFakeTargets()
	tg.Up("app", blueAddrs...)
	f := newFixture(t, fixtureOptions{targets: tg})

	start := time.Now()
	ch := f.startWait(t, "/v1/services/app/wait?until=healthy:green&timeout=10s")
	time.Sleep(100 * time.Millisecond)
	tg.Up("app", greenAddrs[0])
	// 1 of 2 is not the 100% the gate needs.
	notYet(t, ch, 100*time.Millisecond, "green is only half up")
	upAt := time.Now()
	tg.Up("app", greenAddrs[1])
	r := receive(t, ch)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r.at.Before(upAt) {
		t.Error("answered before green was up")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	w := decode[WaitResult](t, r.body)
	if w.Reached != "healthy:green" || w.Service.Name != "app" || w.Service.Pools["green"].Healthy != 2 {
		t.Errorf("result %+v", w)
	}

	// Already reached: answered at once.
	status, body := f.do(t, "GET", "/v1/services/app/wait?until=healthy:blue&timeout=10s", "")
	if status != 200 {
		t.Errorf("healthy:blue: %d %s", status, body)
	}
}

func TestWaitHealthyMinHealthy(t *testing.T) {
	sc := service("app", blueAddrs, greenAddrs)
	sc.Health.MinHealthy = config.MinHealthy{Percent: true, Pct: 50}
	tg := newFakeTargets()
	tg.Up("app", blueAddrs...)
	tg.Up("app", greenAddrs[1])
	f := newFixture(t, fixtureOptions{targets: tg, services: []config.Service{sc}})
	status, body := f.do(t, "GET", "/v1/services/app/wait?until=healthy:green&timeout=5s", "")
	if status != 200 {
		t.Errorf("1 of 2 with 50%%: %d %s", status, body)
	}
}

func TestWaitTimeout(t *testing.T) {
	tg := newFakeTargets()
	tg.Up("app", blueAddrs...)
	f := newFixture(t, fixtureOptions{targets: tg})
	start := time.Now()
	status, body := f.do(t, "GET", "/v1/services/app/wait?until=healthy:green&timeout=150ms", "")
	d := time.Since(start)
	wantError(t, status, body, http.StatusRequestTimeout, CodeTimeout, "app: healthy:green not reached in time (green: 0 of 2 upstreams healthy, 2 needed)")
	if d < 150*time.Millisecond || d > 5*time.Second {
		t.Errorf("answered after %v, want about 150ms", d)
	}

	// An empty pool is never healthy.
	f2 := newFixture(t, fixtureOptions{services: []config.Service{service("app", blueAddrs, nil)}})
	status, body = f2.do(t, "GET", "/v1/services/app/wait?until=healthy:green&timeout=50ms", "")
	wantError(t, status, body, http.StatusRequestTimeout, CodeTimeout, "")
}

func TestWaitBadInput(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	for _, q := range []string{
		"",
		"until=",
		"until=healthy",
		"until=healthy:",
		"until=healthy:purple",
		"until=drained:Blue",
		"until=ready:blue",
		"until=stable", // no guard
		"until=stable:blue",
		"until=healthy:green&timeout=soon",
		"until=healthy:green&timeout=0s",
		"until=healthy:green&timeout=-1s",
		"until=healthy:green&timeout=10",
	} {
		start := time.Now()
		status, body := f.do(t, "GET", "/v1/services/app/wait?"+q, "")
		e := wantError(t, status, body, http.StatusBadRequest, CodeBadRequest, "")
		if !strings.HasPrefix(e.Message, "until: ") && !strings.HasPrefix(e.Message, "timeout: ") {
			t.Errorf("%q: message %q names neither until nor timeout", q, e.Message)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%q: took %v to refuse", q, d)
		}
	}
	status, body := f.do(t, "GET", "/v1/services/app/wait?until=stable", "")
	wantError(t, status, body, 400, CodeBadRequest, "until: stable needs the guard")
}

func TestWaitStable(t *testing.T) {
	t.Run("reverted", func(t *testing.T) {
		g := &fakeGuard{stability: "reverted", status: &GuardStatus{Enabled: true, LastTrip: &GuardTrip{
			Reason: "guard", From: "green", To: "blue", Detail: "error rate 50% over 40 requests"}}}
		f := newFixture(t, fixtureOptions{guard: g})
		status, body := f.do(t, "GET", "/v1/services/app/wait?until=stable&timeout=5s", "")
		e := wantError(t, status, body, http.StatusConflict, CodeReverted, "")
		if !strings.Contains(e.Message, "error rate 50% over 40 requests") || !strings.Contains(e.Message, "reverted to blue") {
			t.Errorf("message %q", e.Message)
		}
	})
	t.Run("reverted without a trip", func(t *testing.T) {
		g := &fakeGuard{stability: "reverted"}
		f := newFixture(t, fixtureOptions{guard: g})
		status, body := f.do(t, "GET", "/v1/services/app/wait?until=stable&timeout=5s", "")
		wantError(t, status, body, http.StatusConflict, CodeReverted, "app: the guard reverted to blue")
	})
	t.Run("stable", func(t *testing.T) {
		g := &fakeGuard{stability: "stable"}
		f := newFixture(t, fixtureOptions{guard: g})
		status, body := f.do(t, "GET", "/v1/services/app/wait?until=stable&timeout=5s", "")
		if status != 200 || decode[WaitResult](t, body).Reached != "stable" {
			t.Errorf("%d %s", status, body)
		}
	})
	t.Run("watching then stable", func(t *testing.T) {
		g := &fakeGuard{stability: "watching"}
		f := newFixture(t, fixtureOptions{guard: g})
		ch := f.startWait(t, "/v1/services/app/wait?until=stable&timeout=10s")
		notYet(t, ch, 150*time.Millisecond, "still watching")
		g.set("stable")
		if r := receive(t, ch); r.status != 200 {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	t.Run("watching times out", func(t *testing.T) {
		g := &fakeGuard{stability: "watching"}
		f := newFixture(t, fixtureOptions{guard: g})
		status, body := f.do(t, "GET", "/v1/services/app/wait?until=stable&timeout=100ms", "")
		wantError(t, status, body, http.StatusRequestTimeout, CodeTimeout, "")
	})
}

// TestWaitDrained drives a real request through proxy.Handler over the
// board's router to a slow blue backend: drained:blue is reached only when
// blue is idle and that request has finished.
func TestWaitDrained(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	entered := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		_, _ = w.Write([]byte("blue"))
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(free) // before slow.Close, which waits for the request
	green := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("green"))
	}))
	t.Cleanup(green.Close)

	blueAddr := strings.TrimPrefix(slow.URL, "http://")
	greenAddr := strings.TrimPrefix(green.URL, "http://")
	tg := newFakeTargets()
	tg.Up("app", blueAddr, greenAddr)
	f := newFixture(t, fixtureOptions{targets: tg, services: []config.Service{service("app", []string{blueAddr}, []string{greenAddr})}})

	front := httptest.NewServer(proxy.NewHandler(f.board.Router(), proxy.HandlerOptions{}))
	t.Cleanup(front.Close)

	// The idle colour with nothing in flight is drained already.
	if status, body := f.do(t, "GET", "/v1/services/app/wait?until=drained:green&timeout=5s", ""); status != 200 {
		t.Fatalf("drained:green while idle: %d %s", status, body)
	}

	inflight := make(chan string, 1)
	go func() {
		resp, err := front.Client().Get(front.URL)
		if err != nil {
			inflight <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		buf := make([]byte, 16)
		n, _ := resp.Body.Read(buf)
		inflight <- string(buf[:n])
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the request did not reach blue")
	}
	v, _ := f.board.View("app")
	if n := v.Service.Inflight(config.Blue); n != 1 {
		t.Fatalf("blue in flight %d, want 1", n)
	}

	ch := f.startWait(t, "/v1/services/app/wait?until=drained:blue&timeout=10s")
	notYet(t, ch, 100*time.Millisecond, "blue is still active")

	status, body := f.do(t, "POST", "/v1/services/app/flip", "")
	if status != 200 {
		t.Fatalf("flip: %d %s", status, body)
	}
	notYet(t, ch, 200*time.Millisecond, "a request to blue is still in flight")

	// New requests go to green meanwhile.
	resp, err := front.Client().Get(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, _ := resp.Body.Read(buf)
	resp.Body.Close()
	if string(buf[:n]) != "green" {
		t.Errorf("after the flip a new request went to %q", buf[:n])
	}

	freedAt := time.Now()
	free()
	if got := <-inflight; got != "blue" {
		t.Errorf("the in-flight request answered %q, want blue (it finishes where it started)", got)
	}
	r := receive(t, ch)
	if r.status != 200 {
		t.Fatalf("drained:blue: %d %s", r.status, r.body)
	}
	if r.at.Before(freedAt) {
		t.Error("drained before the in-flight request finished")
	}
	w := decode[WaitResult](t, r.body)
	if w.Reached != "drained:blue" || w.Service.Active != "green" || w.Service.Pools["blue"].Inflight != 0 {
		t.Errorf("result %+v", w)
	}
}

// TestWaitClientGone: a client that hangs up ends the long poll (goleak
// would find the handler otherwise).
func TestWaitClientGone(t *testing.T) {
	tg := newFakeTargets()
	tg.Up("app", blueAddrs...)
	f := newFixture(t, fixtureOptions{targets: tg})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 100 * time.Millisecond}
	if _, err := cl.Get(f.srv.URL + "/v1/services/app/wait?until=healthy:green&timeout=10m"); err == nil {
		t.Fatal("want a client timeout")
	}
	// srv.Close in Cleanup waits for the handler; it must not take 10m.
}

// TestWaitServiceRemoved: a reload that removes the service ends a wait on
// it with 404, naming the service.
func TestWaitServiceRemoved(t *testing.T) {
	tg := newFakeTargets()
	tg.Up("app", blueAddrs...)
	other := service("other", []string{"127.0.0.1:51"}, nil)
	other.Hosts = []string{"other.example.com"}
	app := service("app", blueAddrs, greenAddrs)
	app.Hosts = []string{"app.example.com"}
	f := newFixture(t, fixtureOptions{targets: tg, services: []config.Service{app, other}})

	ch := f.startWait(t, "/v1/services/app/wait?until=healthy:green&timeout=10s")
	notYet(t, ch, 100*time.Millisecond, "green is down")
	if _, err := f.board.Apply(&config.Config{Services: []config.Service{other}}); err != nil {
		t.Fatal(err)
	}
	r := receive(t, ch)
	wantError(t, r.status, r.body, http.StatusNotFound, CodeNotFound, `service "app" was removed`)
}
