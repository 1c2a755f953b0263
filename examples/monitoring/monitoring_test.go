// Package monitoring_test checks the example alert rules and Grafana
// dashboard against switchd: promtool accepts the rules, the dashboard is
// valid JSON, and every metric either names is one switchd exports.
package monitoring_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// elsewhere are metrics the alert rules watch that other parts of switchd
// export when they are configured (the fleet store, certificates switchd
// manages); they are not in a bare registry.
var elsewhere = map[string]bool{
	"switchd_store_up":                          true,
	"switchd_tls_cert_expiry_timestamp_seconds": true,
}

var metricName = regexp.MustCompile(`\bswitchd_[a-z0-9_]+`)

// exported returns the names of switchd's series as PromQL sees them: a
// histogram's _bucket, _sum and _count too.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	m := metrics.New(prometheus.NewRegistry(), "test")
	m.Declare([]config.Service{{Name: "app", Blue: config.Pool{Upstreams: []string{"127.0.0.1:1"}}}})
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, f := range fams {
		out[f.GetName()] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				out[f.GetName()+s] = true
			}
		}
	}
	return out
}

// TestAlertRules: promtool accepts alerts.yml, and its rules watch
// metrics switchd exports.
func TestAlertRules(t *testing.T) {
	data, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	have := exported(t)
	for _, name := range metricName.FindAllString(string(data), -1) {
		if !have[name] && !elsewhere[name] {
			t.Errorf("alerts.yml: %s is no metric of switchd", name)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("no promtool on PATH: rules not checked (apt-get install prometheus)")
	}
	out, err := exec.Command(promtool, "check", "rules", "alerts.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestDashboard: grafana-dashboard.json parses, and every query in it
// reads switchd's metrics only.
func TestDashboard(t *testing.T) {
	data, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "definition") {
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(dash)
	if len(exprs) < 10 {
		t.Fatalf("%d queries in the dashboard", len(exprs))
	}
	have := exported(t)
	for _, e := range exprs {
		names := metricName.FindAllString(e, -1)
		if len(names) == 0 {
			t.Errorf("query %q reads no switchd metric", e)
		}
		for _, n := range names {
			if !have[n] {
				t.Errorf("query %q: %s is no metric of switchd", e, n)
			}
		}
		if strings.Count(e, "(") != strings.Count(e, ")") || strings.Count(e, "{") != strings.Count(e, "}") {
			t.Errorf("query %q: unbalanced brackets", e)
		}
	}
	for _, want := range []string{"switchd_active_color", "switchd_requests_total", "switchd_upstream_healthy", "switchd_guard_trips_total"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
}
