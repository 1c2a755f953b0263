package daemon

import (
	"fmt"
	"net/http"
	"testing"
)

// TestMisdirectedRequestsCounted: a request for a host no service serves
// is answered 421 and counted in switchd_misdirected_requests_total.
func TestMisdirectedRequestsCounted(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	in := startRun(t, withAppHost(fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green)), "app.test"))
	const series = `switchd_misdirected_requests_total`
	if got := metric(t, in.control, series); got != "0" {
		t.Fatalf("%s before any request: %q", series, got)
	}
	for i, host := range []string{"unknown.test", "app.test", "other.test:8080"} {
		req, _ := http.NewRequest("GET", in.proxy+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{true: 200, false: http.StatusMisdirectedRequest}[i == 1]; resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
	if got := metric(t, in.control, series); got != "2" {
		t.Errorf("%s after two unknown hosts: %q, want 2", series, got)
	}
}
