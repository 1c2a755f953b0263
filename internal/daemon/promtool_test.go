package daemon

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"testing"
)

// TestMetricsPassPromtool scrapes /metrics of a running switchd and has
// `promtool check metrics` lint it (names, units, help texts, types).
func TestMetricsPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("no promtool on PATH: /metrics not linted (apt-get install prometheus)")
	}
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green)))
	waitHealthy(t, in.control, "green")
	if code := callAPI(t, "GET", in.proxy+"/", nil, nil); code != 200 {
		t.Fatalf("proxy: %d", code)
	}
	resp, err := http.Get(in.control + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
