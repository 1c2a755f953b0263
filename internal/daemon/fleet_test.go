package daemon

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/control"
	"github.com/switchd/switchd/internal/testkit"
)

// fleetConfig is baseConfig on the etcd backend, as host node.
func fleetConfig(t *testing.T, dir, blue, green, etcdURL, node, more string) string {
	t.Helper()
	text := fmt.Sprintf(baseConfig, dir, blue, green)
	state := fmt.Sprintf("dir = %q\n", dir)
	fleetKeys := fmt.Sprintf("backend = \"etcd\"\n[state.etcd]\nendpoints = [%q]\nprefix = \"/fleet-test/\"\nnode = %q\ndial_timeout = \"1s\"\n", etcdURL, node)
	if !strings.Contains(text, state) {
		t.Fatal("baseConfig has no state dir line")
	}
	return strings.Replace(text, state, state+fleetKeys, 1) + more
}

// fleetHost is one switchd of a test fleet, started through Run.
type fleetHost struct {
	*instance
	node, dir, text string
}

func startFleet(t *testing.T, etcdURL, blue, green, more string, nodes ...string) []*fleetHost {
	t.Helper()
	var out []*fleetHost
	for _, n := range nodes {
		dir := t.TempDir()
		text := fleetConfig(t, dir, blue, green, etcdURL, n, more)
		h := &fleetHost{instance: startRun(t, text), node: n, dir: dir, text: text}
		waitHealthy(t, h.control, "green")
		out = append(out, h)
	}
	return out
}

// servedBy returns what the proxy of in answers for one GET.
func servedBy(t *testing.T, in *instance) string {
	t.Helper()
	resp, err := http.Get(in.proxy + "/")
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// waitServed waits until every host's proxy answers colour.
func waitServed(t *testing.T, colour string, hosts ...*fleetHost) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, h := range hosts {
		for got := servedBy(t, h.instance); got != colour; got = servedBy(t, h.instance) {
			if time.Now().After(deadline) {
				t.Fatalf("host %s serves %q, want %q", h.node, got, colour)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func flipExpect(t *testing.T, ctl, expect string) (int, control.ErrorBody) {
	t.Helper()
	var body control.ErrorBody
	code := callAPI(t, "POST", ctl+"/v1/services/app/flip", control.ChangeRequest{Expect: expect}, &body)
	return code, body
}

func TestFleetFlipServedByAll(t *testing.T) {
	e := testkit.StartEtcd(t)
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	hosts := startFleet(t, e.ClientURL, addrOf(blue), addrOf(green), "", "a", "b", "c")
	waitServed(t, "blue", hosts...)
	if code, body := flipExpect(t, hosts[0].control, "blue"); code != 200 {
		t.Fatalf("flip: %d %+v", code, body)
	}
	waitServed(t, "green", hosts...)

	// Every host is listed, serving generation 1, from any host.
	var f control.Fleet
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code := callAPI(t, "GET", hosts[2].control+"/v1/fleet", nil, &f); code != 200 {
			t.Fatalf("GET /v1/fleet: %d", code)
		}
		var nodes []string
		all := true
		for _, n := range f.Nodes {
			nodes = append(nodes, n.Node)
			all = all && n.Services["app"] == 1
		}
		if slices.Equal(nodes, []string{"a", "b", "c"}) && all && f.Backend == "etcd" && f.StoreUp && f.Self == "c" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fleet %+v, want a, b and c on generation 1", f)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFleetConcurrentFlipsOneWins(t *testing.T) {
	e := testkit.StartEtcd(t)
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	hosts := startFleet(t, e.ClientURL, addrOf(blue), addrOf(green), "", "a", "b")
	expect := "blue"
	for round := range 10 {
		waitServed(t, expect, hosts...)
		codes := make([]int, 2)
		bodies := make([]control.ErrorBody, 2)
		var wg sync.WaitGroup
		for i, h := range hosts {
			wg.Add(1)
			go func() { defer wg.Done(); codes[i], bodies[i] = flipExpect(t, h.control, expect) }()
		}
		wg.Wait()
		slices.Sort(codes)
		if codes[0] != 200 || codes[1] != 409 {
			t.Fatalf("round %d: answers %v (%+v), want one 200 and one 409", round, codes, bodies)
		}
		if expect == "blue" {
			expect = "green"
		} else {
			expect = "blue"
		}
	}
}

func TestFleetGuardRevertsAll(t *testing.T) {
	e := testkit.StartEtcd(t)
	blue, green := newFailingBackend(t, "blue"), newFailingBackend(t, "green")
	hosts := startFleet(t, e.ClientURL, addrOf(blue.Server), addrOf(green.Server), fmt.Sprintf(guardSection, "10s", 20, "10m"), "a", "b", "c")
	if code, body := flipExpect(t, hosts[0].control, "blue"); code != 200 {
		t.Fatalf("flip: %d %+v", code, body)
	}
	waitServed(t, "green", hosts...)
	green.fail.Store(true)
	// Only host c sees traffic: its guard trips and every host reverts.
	l := startLoad(hosts[2].proxy+"/", 200)
	svc := waitActive(t, hosts[2].control, "blue", 20*time.Second)
	l.end()
	if svc.Reason != "guard" {
		t.Fatalf("c: %+v, want a guard revert", svc)
	}
	green.fail.Store(false)
	waitServed(t, "blue", hosts...)
	for _, h := range hosts[:2] {
		if s := waitActive(t, h.control, "blue", 20*time.Second); s.Reason != "guard" || s.Generation != svc.Generation {
			t.Errorf("%s: %+v, want c's guard revert (generation %d)", h.node, s, svc.Generation)
		}
	}
}

// etcd stops: all hosts serve on, flips are refused with 503
// store_unavailable, a restarted host comes back on the last colour; etcd
// returns: a flip works again and every host agrees.
func TestFleetEtcdAway(t *testing.T) {
	e := testkit.StartEtcd(t)
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	hosts := startFleet(t, e.ClientURL, addrOf(blue), addrOf(green), "", "a", "b", "c")
	if code, body := flipExpect(t, hosts[0].control, "blue"); code != 200 {
		t.Fatalf("flip: %d %+v", code, body)
	}
	waitServed(t, "green", hosts...)

	e.Stop()
	waitMetric(t, hosts[1].control, "switchd_store_up 0")
	waitServed(t, "green", hosts...)
	code, body := flipExpect(t, hosts[1].control, "green")
	if code != 503 || body.Error.Code != control.CodeStoreUnavailable {
		t.Fatalf("flip while etcd is away: %d %+v, want 503 store_unavailable", code, body)
	}
	// c restarts while etcd is away and comes back on green.
	c := hosts[2]
	c.stop()
	c.instance = startRun(t, c.text)
	waitServed(t, "green", hosts...)

	e.Start()
	e.WaitHealthy()
	for _, h := range hosts {
		waitMetric(t, h.control, "switchd_store_up 1")
	}
	if code, body := flipExpect(t, hosts[2].control, "green"); code != 200 {
		t.Fatalf("flip after etcd returned: %d %+v", code, body)
	}
	waitServed(t, "blue", hosts...)
	for _, h := range hosts {
		waitMetric(t, h.control, `switchd_store_applied_generation{service="app"} 2`)
	}
}

// waitMetric waits until GET /metrics has a line starting with line.
func waitMetric(t *testing.T, ctl, line string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(ctl + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, line) {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/metrics never had %q", ctl, line)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFleetFlipsUnderLoad: POSTs (never resent) on all three hosts while
// one host flips back and forth; no request fails. SWITCHD_MEASURE=1 makes
// it 100 flips and logs each host's flip-to-serving latency.
func TestFleetFlipsUnderLoad(t *testing.T) {
	flips := 10
	if os.Getenv("SWITCHD_MEASURE") == "1" {
		flips = 100
	}
	e := testkit.StartEtcd(t)
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	hosts := startFleet(t, e.ClientURL, addrOf(blue), addrOf(green), "", "a", "b", "c")
	var loads []*load
	for _, h := range hosts {
		loads = append(loads, startPosts(h.proxy+"/", 100))
	}
	expect := "blue"
	for i := range flips {
		if code, body := flipExpect(t, hosts[i%3].control, expect); code != 200 {
			t.Fatalf("flip %d: %d %+v", i, code, body)
		}
		if expect == "blue" {
			expect = "green"
		} else {
			expect = "blue"
		}
		waitServed(t, expect, hosts...)
	}
	total, failed := 0, 0
	for _, l := range loads {
		for _, r := range l.end() {
			total++
			if r.status != 200 || (r.body != "blue" && r.body != "green") {
				failed++
			}
		}
	}
	t.Logf("%d flips, %d POSTs on three hosts, %d failed", flips, total, failed)
	if failed != 0 || total == 0 {
		t.Fatalf("%d of %d requests failed across %d flips", failed, total, flips)
	}
}

// switchctl flip --wait-fleet returns once every host serves the flip;
// switchctl fleet lists the hosts; with etcd away a flip exits 1 saying
// the store is unavailable.
func TestFleetSwitchctl(t *testing.T) {
	e := testkit.StartEtcd(t)
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	hosts := startFleet(t, e.ClientURL, addrOf(blue), addrOf(green), "", "a", "b", "c")
	code, out, errs := switchctl(t, hosts[0].control, "flip", "--wait-fleet")
	if code != 0 {
		t.Fatalf("flip --wait-fleet: %d %q %q", code, out, errs)
	}
	for _, h := range hosts {
		if got := servedBy(t, h.instance); got != "green" {
			t.Errorf("after flip --wait-fleet, %s serves %q", h.node, got)
		}
	}
	code, out, errs = switchctl(t, hosts[1].control, "fleet")
	if code != 0 || !strings.Contains(out, "b (this)") || !strings.Contains(out, "app@1") {
		t.Fatalf("fleet: %d %q %q", code, out, errs)
	}
	for _, n := range []string{"a ", "c "} {
		if !strings.Contains(out, "\n"+n) {
			t.Errorf("fleet does not list %s: %q", n, out)
		}
	}
	e.Stop()
	waitMetric(t, hosts[0].control, "switchd_store_up 0")
	code, out, errs = switchctl(t, hosts[0].control, "flip")
	if code != 1 || !strings.Contains(errs, "state store unavailable") {
		t.Fatalf("flip with etcd away: %d %q %q, want exit 1 and the store unavailable", code, out, errs)
	}
}
