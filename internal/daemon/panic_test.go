package daemon

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/control"
)

// TestPanicIsAboutTheServingColour: an idle colour with no healthy upstream
// gets no traffic, so it is not in panic (status and switchd_pool_panic);
// the active colour with none is.
func TestPanicIsAboutTheServingColour(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green))+
		"  [service.guard]\n  failover = false\n")
	waitHealthy(t, in.control, "green")
	panics := func(colour string) (bool, string) {
		var svc control.Service
		callAPI(t, "GET", in.control+"/v1/services/app", nil, &svc)
		return svc.Pools[colour].Panic, metric(t, in.control, fmt.Sprintf(`switchd_pool_panic{color=%q,service="app"}`, colour))
	}

	green.Close() // idle green dies
	eventually(t, "green down", 5*time.Second, func() bool {
		var svc control.Service
		callAPI(t, "GET", in.control+"/v1/services/app", nil, &svc)
		return svc.Pools["green"].Healthy == 0 && svc.Pools["green"].Upstreams[0].State == "down"
	})
	if p, m := panics("green"); p || m != "0" {
		t.Errorf("idle green with no healthy upstream: panic %v, switchd_pool_panic %s; want false, 0", p, m)
	}

	blue.Close() // active blue dies; failover is off, so it stays active
	eventually(t, "blue down", 5*time.Second, func() bool {
		var svc control.Service
		callAPI(t, "GET", in.control+"/v1/services/app", nil, &svc)
		return svc.Active == "blue" && svc.Pools["blue"].Healthy == 0 && svc.Pools["blue"].Upstreams[0].State == "down"
	})
	if p, m := panics("blue"); !p || m != "1" {
		t.Errorf("active blue with no healthy upstream: panic %v, switchd_pool_panic %s; want true, 1", p, m)
	}
	if p, m := panics("green"); p || m != "0" {
		t.Errorf("idle green: panic %v, switchd_pool_panic %s; want false, 0", p, m)
	}
}
