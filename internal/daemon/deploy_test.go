package daemon

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/control"
)

// deployConfig is one service with blue live and green empty (nothing
// deployed yet); %s are the state dir and blue's upstream.
const deployConfig = configHead + `
[[service]]
name = "app"
  [service.blue]
  upstreams = [%q]
  [service.green]
  upstreams = []
  [service.health]
  interval = "100ms"
  timeout = "100ms"
  rise = 1
  fall = 2
  host = "app.test"
  [service.drain]
  timeout = "1s"
`

// smokeBackend answers its name, and 500 on /smoke when bad.
func smokeBackend(t *testing.T, name string, bad bool) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/smoke" && (bad || r.Host != "app.test") {
			http.Error(w, "smoke failed", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

func service(t *testing.T, ctl string) control.Service {
	t.Helper()
	var s control.Service
	if code := callAPI(t, "GET", ctl+"/v1/services/app", nil, &s); code != 200 {
		t.Fatalf("GET service: %d", code)
	}
	return s
}

func poolAddrs(s control.Service, color string) []string {
	var out []string
	for _, u := range s.Pools[color].Upstreams {
		out = append(out, u.Address)
	}
	return out
}

// served is what the proxy answers now for app.test.
func served(t *testing.T, proxy string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", proxy+"/", nil)
	req.Host = "app.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestDeployToIdleAndFlip: switchctl deploy puts the new upstream into the
// empty idle pool, waits for it, smoke-tests it with the service's Host,
// and flips; the next deploy goes to the other colour (the idle one then),
// so the same command works for every deploy, not only the first.
func TestDeployToIdleAndFlip(t *testing.T) {
	v1, v2, v3 := smokeBackend(t, "v1", false), smokeBackend(t, "v2", false), smokeBackend(t, "v3", false)
	in := startRun(t, fmt.Sprintf(deployConfig, t.TempDir(), addrOf(v1)))
	waitHealthy(t, in.control, "blue")

	code, out, errs := switchctl(t, in.control, "deploy", "app", "--upstream", addrOf(v2), "--smoke", "/smoke", "--reason", "v2")
	if code != 0 {
		t.Fatalf("deploy v2: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"pool set: green", "healthy 1/1", "smoke /smoke passed", "flipped: blue → green"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, out)
		}
	}
	if got := served(t, in.proxy); got != "v2" {
		t.Fatalf("after deploy v2 the proxy serves %q", got)
	}
	s := service(t, in.control)
	if s.Active != "green" || s.Idle != "blue" || s.Pools["green"].Source != "api" || s.Pools["blue"].Source != "config" {
		t.Fatalf("after deploy v2: active %s idle %s sources %s/%s", s.Active, s.Idle, s.Pools["blue"].Source, s.Pools["green"].Source)
	}

	code, out, errs = switchctl(t, in.control, "deploy", "app", "--upstream", addrOf(v3))
	if code != 0 || !strings.Contains(out, "flipped: green → blue") {
		t.Fatalf("deploy v3: exit %d\n%s%s", code, out, errs)
	}
	if got := served(t, in.proxy); got != "v3" {
		t.Fatalf("after deploy v3 the proxy serves %q", got)
	}
	s = service(t, in.control)
	if !slices.Equal(poolAddrs(s, "blue"), []string{addrOf(v3)}) || s.Pools["blue"].Source != "api" {
		t.Fatalf("blue pool %v from %s", poolAddrs(s, "blue"), s.Pools["blue"].Source)
	}
	if got := metric(t, in.control, fmt.Sprintf(`switchd_upstream_healthy{color="blue",service="app",upstream=%q}`, addrOf(v1))); got != "" {
		t.Errorf("v1 left every pool, but its upstream_healthy series is still there: %q", got)
	}
	if got := metric(t, in.control, fmt.Sprintf(`switchd_upstream_healthy{color="blue",service="app",upstream=%q}`, addrOf(v3))); got != "1" {
		t.Errorf("v3 serves blue, but its upstream_healthy is %q", got)
	}
}

// TestDeployRefusedMovesNothing: a new upstream that never passes its
// checks (exit 3) or fails the smoke test (exit 1) moves no traffic.
func TestDeployRefusedMovesNothing(t *testing.T) {
	v1, bad := smokeBackend(t, "v1", false), smokeBackend(t, "bad", true)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadAddr := addrOf(dead)
	dead.Close()
	in := startRun(t, fmt.Sprintf(deployConfig, t.TempDir(), addrOf(v1)))
	waitHealthy(t, in.control, "blue")
	before := service(t, in.control)

	code, out, errs := switchctl(t, in.control, "deploy", "app", "--upstream", deadAddr)
	if code != 3 || !strings.Contains(errs, "healthy green") || !strings.Contains(errs, deadAddr) || !strings.Contains(errs, "nothing flipped") {
		t.Errorf("unhealthy deploy: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = switchctl(t, in.control, "deploy", "app", "--upstream", addrOf(bad), "--smoke", "/smoke")
	if code != 1 || !strings.Contains(errs, "smoke /smoke") || !strings.Contains(errs, "answered 500") {
		t.Errorf("smoke-failing deploy: exit %d\n%s%s", code, out, errs)
	}
	after := service(t, in.control)
	if after.Active != "blue" || after.Generation != before.Generation || served(t, in.proxy) != "v1" {
		t.Fatalf("a refused deploy moved traffic: %s generation %d → %s generation %d", before.Active, before.Generation, after.Active, after.Generation)
	}
	if !slices.Equal(poolAddrs(after, "blue"), []string{addrOf(v1)}) {
		t.Errorf("blue pool changed: %v", poolAddrs(after, "blue"))
	}
}

// TestConcurrentDeploys: two deploys started together; one wins, the other
// is refused (exit 3) by expect_pools_version, and traffic goes to the
// winner's upstream.
func TestConcurrentDeploys(t *testing.T) {
	v1, a, b := smokeBackend(t, "v1", false), smokeBackend(t, "a", false), smokeBackend(t, "b", false)
	in := startRun(t, fmt.Sprintf(deployConfig, t.TempDir(), addrOf(v1)))
	waitHealthy(t, in.control, "blue")
	var wg sync.WaitGroup
	codes := map[string]int{}
	var mu sync.Mutex
	start := make(chan struct{})
	for name, s := range map[string]*httptest.Server{"a": a, "b": b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			code, out, errs := switchctl(t, in.control, "deploy", "app", "--upstream", addrOf(s))
			t.Logf("deploy %s: exit %d\n%s%s", name, code, out, errs)
			mu.Lock()
			codes[name] = code
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	winner := ""
	switch {
	case codes["a"] == 0 && codes["b"] == 3:
		winner = "a"
	case codes["b"] == 0 && codes["a"] == 3:
		winner = "b"
	default:
		t.Fatalf("exit codes %v, want one 0 and one 3", codes)
	}
	if got := served(t, in.proxy); got != winner {
		t.Errorf("%s won, the proxy serves %q", winner, got)
	}
}

// TestActivePoolChangesUnderLoad: the active pool is replaced, grown and
// shrunk under strict POST clients (nothing resent): not one fails. A
// replacement whose upstream is down is refused and changes nothing.
func TestActivePoolChangesUnderLoad(t *testing.T) {
	v1, v2, v3 := smokeBackend(t, "v1", false), smokeBackend(t, "v2", false), smokeBackend(t, "v3", false)
	in := startRun(t, fmt.Sprintf(deployConfig, t.TempDir(), addrOf(v1)))
	waitHealthy(t, in.control, "blue")
	url := in.control + "/v1/services/app/pools/blue"
	l := startStrictLoad(in.proxy+"/", 8, 0)

	var res control.PoolResult
	if code := callAPI(t, "PUT", url, map[string]any{"upstreams": []string{addrOf(v2)}}, &res); code != 200 || !res.Changed {
		t.Fatalf("replace active pool: %d %+v", code, res)
	}
	if code := callAPI(t, "POST", url+"/upstreams", map[string]any{"address": addrOf(v3)}, &res); code != 200 {
		t.Fatalf("add: %d", code)
	}
	if code := callAPI(t, "POST", url+"/upstreams", map[string]any{"address": addrOf(v3)}, &res); code != 200 || res.Changed {
		t.Fatalf("add again (idempotent): %d changed=%v", code, res.Changed)
	}
	if code := callAPI(t, "DELETE", url+"/upstreams/"+addrOf(v2), nil, &res); code != 200 || !slices.Equal(res.To, []string{addrOf(v3)}) {
		t.Fatalf("remove: %d %v", code, res.To)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	deadAddr := addrOf(dead)
	dead.Close()
	var e control.ErrorBody
	if code := callAPI(t, "PUT", url, map[string]any{"upstreams": []string{deadAddr}}, &e); code != 409 || e.Error.Code != control.CodeTargetUnhealthy {
		t.Fatalf("replace with a dead upstream: %d %+v", code, e)
	}
	// Until the load has seen the last pool for a while.
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	ok, failed := l.end()
	t.Logf("strict POSTs: %d ok, %d failed", ok, failed)
	if failed != 0 || ok == 0 {
		t.Fatalf("%d of %d requests failed while the active pool changed", failed, ok+failed)
	}
	if s := service(t, in.control); !slices.Equal(poolAddrs(s, "blue"), []string{addrOf(v3)}) || served(t, in.proxy) != "v3" {
		t.Fatalf("blue pool %v, serving %q", poolAddrs(s, "blue"), served(t, in.proxy))
	}
}

// TestRuntimePoolsSurviveRestartAndReload: a pool set through the API is
// in state.json, so a restarted switchd routes it; a reload whose file
// changes that pool keeps the API's and says so; DELETE hands it back.
func TestRuntimePoolsSurviveRestartAndReload(t *testing.T) {
	v1, v2, v9 := smokeBackend(t, "v1", false), smokeBackend(t, "v2", false), smokeBackend(t, "v9", false)
	dir := t.TempDir()
	text := fmt.Sprintf(deployConfig, filepath.Join(dir, "state"), addrOf(v1))
	path := writeConfig(t, dir, text)
	in := startFile(t, path)
	events := subscribe(t, in.control)
	green := in.control + "/v1/services/app/pools/green"
	if code := callAPI(t, "PUT", green, map[string]any{"upstreams": []string{addrOf(v2)}, "reason": "v2"}, nil); code != 200 {
		t.Fatalf("PUT green: %d", code)
	}
	if e := events.next(t, "pool", 5*time.Second); e.Color != "green" || !strings.Contains(e.Detail, addrOf(v2)) || !strings.Contains(e.Detail, "v2") {
		t.Errorf("pool event %+v", e)
	}
	in.stop()

	in = startFile(t, path)
	s := service(t, in.control)
	if !slices.Equal(poolAddrs(s, "green"), []string{addrOf(v2)}) || s.Pools["green"].Source != "api" {
		t.Fatalf("after restart green is %v from %q", poolAddrs(s, "green"), s.Pools["green"].Source)
	}
	waitHealthy(t, in.control, "green") // its checks run after the restart

	// The file now names v9 for green: the API's pool stays.
	changed := strings.Replace(text, "[service.green]\n  upstreams = []", fmt.Sprintf("[service.green]\n  upstreams = [%q]", addrOf(v9)), 1)
	if err := os.WriteFile(path, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := callAPI(t, "POST", in.control+"/v1/reload", nil, nil); code != 200 {
		t.Fatalf("reload: %d", code)
	}
	s = service(t, in.control)
	if !slices.Equal(poolAddrs(s, "green"), []string{addrOf(v2)}) {
		t.Fatalf("reload overrode the API's green pool: %v", poolAddrs(s, "green"))
	}
	var st control.Status
	callAPI(t, "GET", in.control+"/v1/status", nil, &st)
	if w := st.Config.LastReload.Warnings; len(w) != 1 || !strings.Contains(w[0], "green pool is set through the API") {
		t.Errorf("reload warnings %q", w)
	}

	if code := callAPI(t, "DELETE", in.control+"/v1/services/app/pools/green", nil, nil); code != 200 {
		t.Fatalf("DELETE green: %d", code)
	}
	s = service(t, in.control)
	if !slices.Equal(poolAddrs(s, "green"), []string{addrOf(v9)}) || s.Pools["green"].Source != "config" {
		t.Fatalf("after reset green is %v from %q", poolAddrs(s, "green"), s.Pools["green"].Source)
	}
}

// TestDeploysUnderLoad measures 20 deploys under strict POST clients:
// none may fail, and it logs the median time from the start of a deploy to
// the first request the new pool answers.
func TestDeploysUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("20 deploys")
	}
	v0 := smokeBackend(t, "v0", false)
	in := startRun(t, fmt.Sprintf(deployConfig, t.TempDir(), addrOf(v0)))
	waitHealthy(t, in.control, "blue")
	l := startStrictLoad(in.proxy+"/", 8, time.Millisecond)
	var firsts []time.Duration
	for i := 1; i <= 20; i++ {
		name := fmt.Sprintf("v%d", i)
		b := smokeBackend(t, name, false)
		start := time.Now()
		seen := make(chan time.Duration, 1)
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if served(t, in.proxy) == name {
					seen <- time.Since(start)
					return
				}
			}
		}()
		code, out, errs := switchctl(t, in.control, "deploy", "app", "--upstream", addrOf(b), "--smoke", "/smoke")
		if code != 0 {
			close(stop)
			t.Fatalf("deploy %s: exit %d\n%s%s", name, code, out, errs)
		}
		select {
		case d := <-seen:
			firsts = append(firsts, d)
		case <-time.After(5 * time.Second):
			t.Fatalf("deploy %s: the new pool never answered", name)
		}
		close(stop)
	}
	ok, failed := l.end()
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	t.Logf("20 deploys: strict POSTs %d ok, %d failed; deploy start → first answer from the new pool: median %v (min %v, max %v)",
		ok, failed, firsts[len(firsts)/2], firsts[0], firsts[len(firsts)-1])
	if failed != 0 {
		t.Fatalf("%d requests failed during 20 deploys", failed)
	}
}
