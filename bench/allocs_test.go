package bench

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// maxServeAllocs bounds the allocations of one proxied request in the
// handler and its upstream client (BenchmarkSwitchdServeHTTP): 23 since
// the proxy forwards without httputil.ReverseProxy, 35 before, 58 with
// http.Transport. Raise it only with a reason in docs/benchmarks.md.
const maxServeAllocs = 26

// TestServeHTTPAllocs guards the request path's allocations. Under the
// race detector sync.Pool drops a quarter of what it is given, so the
// count is only meaningful without it (.ci/run runs this test so too).
func TestServeHTTPAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	h := switchdHandler(t, newCannedBackend(t).addr)
	req := httptest.NewRequest(http.MethodGet, "http://bench.example/", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	w := &discardWriter{h: http.Header{}}
	n := testing.AllocsPerRun(2000, func() {
		w.reset()
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			t.Fatalf("status %d", w.status)
		}
	})
	t.Logf("%.1f allocs per request (bound %d)", n, maxServeAllocs)
	if n > maxServeAllocs {
		t.Fatalf("%.1f allocations per proxied request, bound %d", n, maxServeAllocs)
	}
}
