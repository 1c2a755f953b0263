package daemon

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/switchd/switchd/internal/control"
	"github.com/switchd/switchd/internal/testkit"
)

// strictLoad is workers sending testkit.PostOnce in a loop: nothing resends
// a POST, and an answer cut short counts as failed.
type strictLoad struct {
	stop       atomic.Bool
	wg         sync.WaitGroup
	ok, failed atomic.Int64
}

func startStrictLoad(url string, workers int, pause time.Duration) *strictLoad {
	l := &strictLoad{}
	for i := 0; i < workers; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			for !l.stop.Load() {
				if code, _, err := testkit.PostOnce(c, url, "payload"); err != nil || code != 200 {
					l.failed.Add(1)
				} else {
					l.ok.Add(1)
				}
				time.Sleep(pause)
			}
		}()
	}
	return l
}

func (l *strictLoad) end() (ok, failed int64) {
	l.stop.Store(true)
	l.wg.Wait()
	return l.ok.Load(), l.failed.Load()
}

// TestGuardRevertsWhenBodiesAreCutOff: green sends its headers, then resets
// every answer. The client got a 200 status line and a broken body: errors
// for the guard, which reverts.
func TestGuardRevertsWhenBodiesAreCutOff(t *testing.T) {
	blue := colourBackend(t, "blue")
	green := testkit.NewRawUpstream(t, testkit.RawOptions{Name: "green", Cut: testkit.CutReset})
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), green.Addr)+
		fmt.Sprintf(guardSection, "10s", 20, "10m"))
	waitHealthy(t, in.control, "green")
	flip(t, in.control)
	flipped := time.Now()
	l := startStrictLoad(in.proxy+"/", 8, 0)
	svc := waitActive(t, in.control, "blue", 10*time.Second)
	ok, failed := l.end()
	t.Logf("reverted %v after the flip; strict POSTs: %d ok, %d failed; green cut off %d answers",
		svc.ChangedAt.Sub(flipped).Round(time.Millisecond), ok, failed, green.CutShort())
	if svc.Reason != "guard" {
		t.Fatalf("blue active again with reason %q, want guard", svc.Reason)
	}
	if got := metric(t, in.control, `switchd_guard_trips_total{service="app"}`); got != "1" {
		t.Errorf("guard_trips_total = %q, want 1", got)
	}
	if got := metric(t, in.control, `switchd_requests_total{class="2xx",color="green",service="app"}`); got != "0" {
		t.Errorf("green answers cut off counted as 2xx: %q", got)
	}
}

// TestCutOffUpstreamLeavesRotation: one of two blue upstreams resets every
// answer after its headers while its health checks pass. The first request
// it breaks marks it down passively, it gets no more traffic, the failure is
// logged at warn, counted as an error and logged as aborted.
func TestCutOffUpstreamLeavesRotation(t *testing.T) {
	good := colourBackend(t, "good")
	bad := testkit.NewRawUpstream(t, testkit.RawOptions{Name: "bad", Cut: testkit.CutReset})
	text := fmt.Sprintf(baseConfig, t.TempDir(), addrOf(good), addrOf(colourBackend(t, "green")))
	text = strings.Replace(text, fmt.Sprintf("upstreams = [%q]", addrOf(good)), fmt.Sprintf("upstreams = [%q, %q]", addrOf(good), bad.Addr), 1)
	// A passive failure must take rise passes to undo: long enough here
	// that the checks, which pass, cannot put it back during the test.
	text = strings.Replace(text, "rise = 1", "rise = 100", 1)
	text = strings.Replace(text, "access_log = false", "access_log = true", 1)
	core, logs := observer.New(zap.InfoLevel)
	in := startRunLogged(t, text, zap.New(core))
	waitHealthy(t, in.control, "blue")

	c := &http.Client{Timeout: 5 * time.Second}
	failed := 0
	for i := 0; i < 20; i++ {
		if code, body, err := testkit.PostOnce(c, in.proxy+"/", "payload"); err != nil || code != 200 || body != "good" {
			failed++
		}
	}
	if failed != 1 || bad.CutShort() != 1 {
		t.Fatalf("%d of 20 strict POSTs failed, %d reached the bad upstream; want 1 and 1 (then out of rotation)", failed, bad.CutShort())
	}
	var svc control.Service
	callAPI(t, "GET", in.control+"/v1/services/app", nil, &svc)
	for _, u := range svc.Pools["blue"].Upstreams {
		want := "up"
		if u.Address == bad.Addr {
			want = "down"
		}
		if u.State != want {
			t.Errorf("upstream %s is %s, want %s", u.Address, u.State, want)
		}
	}
	if got := metric(t, in.control, `switchd_requests_total{class="error",color="blue",service="app"}`); got != "1" {
		t.Errorf("requests_total{class=error} = %q, want 1", got)
	}
	warn := logs.FilterMessage("upstream response cut off after its headers").FilterLevelExact(zap.WarnLevel).All()
	if len(warn) != 1 || warn[0].ContextMap()["upstream"] != bad.Addr {
		t.Errorf("warn lines %v, want one naming %s", warn, bad.Addr)
	}
	aborted := 0
	for _, e := range logs.FilterMessage("request").All() {
		if m := e.ContextMap(); m["aborted"] == "upstream" && m["status"] == int64(200) && m["upstream"] == bad.Addr {
			aborted++
		}
	}
	if aborted != 1 {
		t.Errorf("%d access log lines say status 200 aborted by %s, want 1", aborted, bad.Addr)
	}
}

// TestStaleKeepAliveConnectionsLoseNothing: green's kept-alive connections
// are dead once idle 200 ms (the upstream's keep-alive timeout firing as a
// request is sent, every time), and a strict POST comes every 250 ms. With
// the default upstream_idle_timeout each POST meets a dead connection and is
// resent on a new one; with upstream_idle_timeout below the upstream's,
// switchd closes first and meets none. Either way nothing fails, the
// upstream is never marked down, and the guard counts no error.
func TestStaleKeepAliveConnectionsLoseNothing(t *testing.T) {
	for _, c := range []struct {
		name     string
		server   string // [server] keys added to the base config
		wantDead bool
	}{
		{name: "default idle timeout: resent", wantDead: true},
		{name: "idle timeout below the upstream's", server: `upstream_idle_timeout = "50ms"` + "\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			blue := colourBackend(t, "blue")
			green := testkit.NewRawUpstream(t, testkit.RawOptions{Name: "green", DeadAfter: 200 * time.Millisecond})
			text := fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), green.Addr) + fmt.Sprintf(guardSection, "10s", 5, "10m")
			text = strings.Replace(text, "[server]\n", "[server]\n"+c.server, 1)
			in := startRun(t, text)
			waitHealthy(t, in.control, "green")
			events := subscribe(t, in.control)
			flip(t, in.control)

			hc := &http.Client{Timeout: 5 * time.Second}
			const posts = 16
			failed := 0
			for i := 0; i < posts; i++ {
				if code, body, err := testkit.PostOnce(hc, in.proxy+"/", "payload"); err != nil || code != 200 || body != "green:7" {
					failed++
					t.Logf("POST %d: %d %q %v", i, code, body, err)
				}
				time.Sleep(250 * time.Millisecond)
			}
			t.Logf("%d of %d strict POSTs failed; %d met a dead connection, over %d connections", failed, posts, green.Dead(), green.Conns())
			if failed != 0 {
				t.Errorf("%d of %d strict POSTs failed", failed, posts)
			}
			if dead := green.Dead() > 0; dead != c.wantDead {
				t.Errorf("%d POSTs met a dead connection; want some: %v", green.Dead(), c.wantDead)
			}
			var svc control.Service
			callAPI(t, "GET", in.control+"/v1/services/app", nil, &svc)
			if svc.Active != "green" || svc.Guard == nil || svc.Guard.WindowRequests < posts || svc.Guard.WindowErrorRate != 0 {
				t.Errorf("active %s, guard %+v; want green with %d+ requests at error rate 0", svc.Active, svc.Guard, posts)
			}
			if up := svc.Pools["green"].Upstreams; len(up) != 1 || up[0].State != "up" {
				t.Errorf("green upstreams %+v, want one up", up)
			}
		seen:
			for {
				select {
				case e := <-events.ch:
					if e.Type == "health" && e.Upstream == green.Addr && e.State == "down" {
						t.Fatalf("green was marked down: %+v", e)
					}
				default:
					break seen
				}
			}
		})
	}
}
