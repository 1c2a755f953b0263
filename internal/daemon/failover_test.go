package daemon

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/control"
)

// revertThenDie is one run of the revert-then-die scenario.
type revertThenDie struct {
	toFailover time.Duration // blue's death → the failover (changed_at)
	lost       int           // 502s answered between the death and the failover
}

// runRevertThenDie: the guard reverts a failing green to blue, green
// recovers, then blue dies. Failover must stay armed after the revert and
// move traffic back to green; it returns how long that took.
func runRevertThenDie(t *testing.T) revertThenDie {
	t.Helper()
	blue, green := newFailingBackend(t, "blue"), newFailingBackend(t, "green")
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue.Server), addrOf(green.Server))+
		fmt.Sprintf(guardSection, "10s", 20, "10m"))
	waitHealthy(t, in.control, "green")
	events := subscribe(t, in.control)
	flip(t, in.control)
	green.fail.Store(true)
	l := startPosts(in.proxy+"/", 200)
	defer func() {
		if l != nil {
			l.end()
		}
	}()
	if svc := waitActive(t, in.control, "blue", 5*time.Second); svc.Reason != "guard" {
		t.Fatalf("blue active with reason %q, want guard", svc.Reason)
	}
	green.fail.Store(false) // green is fixed; its checks never failed
	time.Sleep(200 * time.Millisecond)
	blue.Close()
	died := time.Now()

	svc := waitActive(t, in.control, "green", 10*time.Second)
	// The API shows green only once traffic goes there (the board
	// publishes its view after the snapshot); changed_at is taken before
	// state.json's fsync, which a loaded disk can stretch past 100 ms.
	seen := time.Now()
	if svc.Reason != "failover" || svc.ChangedBy != "guard" || !strings.Contains(svc.Detail, "guard revert green → blue") {
		t.Fatalf("green active with reason %q by %q, detail %q; want a failover naming the revert", svc.Reason, svc.ChangedBy, svc.Detail)
	}
	e := events.next(t, "failover", 2*time.Second)
	if e.From != "blue" || e.To != "green" || !strings.Contains(e.Detail, "guard revert green → blue") {
		t.Fatalf("failover event %+v", e)
	}
	time.Sleep(300 * time.Millisecond) // traffic after the failover must be fine
	results := l.end()
	l = nil

	run := revertThenDie{toFailover: svc.ChangedAt.Sub(died)}
	settled := seen.Add(100 * time.Millisecond) // requests already in flight may still hit blue
	after := 0
	for _, r := range results {
		switch {
		case r.sent.After(died) && r.at.Before(svc.ChangedAt) && r.status == 502:
			run.lost++
		case r.sent.After(settled):
			after++
			if r.status != 200 || r.body != "green" {
				t.Errorf("request sent %v after the failover: %d %q", r.sent.Sub(svc.ChangedAt), r.status, r.body)
			}
		}
	}
	if after == 0 {
		t.Fatal("no request sent after the failover")
	}
	return run
}

// TestFailoverAfterRevert: after the guard reverted green → blue, blue dies
// entirely while green is healthy: switchd fails over to green (it used to
// stay on the dead blue, every request a 502, until someone flipped).
func TestFailoverAfterRevert(t *testing.T) {
	run := runRevertThenDie(t)
	t.Logf("blue's death → failover %v; %d requests answered 502 meanwhile", run.toFailover, run.lost)
	// Three failed checks 200ms apart, plus a guard tick: well under 5s.
	if run.toFailover > 5*time.Second {
		t.Fatalf("failover %v after the death", run.toFailover)
	}
}

// TestMeasureFailoverAfterRevert reports the median time from the death of
// the colour the guard reverted to until failover, over 7 runs
// (SWITCHD_MEASURE=1; not part of CI).
func TestMeasureFailoverAfterRevert(t *testing.T) {
	if os.Getenv("SWITCHD_MEASURE") == "" {
		t.Skip("set SWITCHD_MEASURE=1 to measure")
	}
	var times []time.Duration
	var lost []int
	for range 7 {
		var run revertThenDie
		t.Run("run", func(t *testing.T) { run = runRevertThenDie(t) })
		times = append(times, run.toFailover)
		lost = append(lost, run.lost)
	}
	slices.Sort(times)
	slices.Sort(lost)
	t.Logf("death → failover median %v (min %v, max %v); 502s median %d (min %d, max %d) at 200 req/s",
		times[3], times[0], times[6], lost[3], lost[0], lost[6])
}

// TestRevertOntoADyingColour: blue is killed 5ms after the flip to a failing
// green, before any check noticed. The guard's revert may still see blue up
// and move traffic there; once blue is known down and green is healthy,
// failover must bring it back to green, for good (green's errors do not
// trip the latched guard again). Either way it ends on green.
func TestRevertOntoADyingColour(t *testing.T) {
	blue, green := newFailingBackend(t, "blue"), newFailingBackend(t, "green")
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue.Server), addrOf(green.Server))+
		fmt.Sprintf(guardSection, "10s", 20, "10m"))
	waitHealthy(t, in.control, "green")
	green.fail.Store(true)
	l := startPosts(in.proxy+"/", 200)
	defer func() {
		if l != nil {
			l.end()
		}
	}()
	flip(t, in.control)
	time.Sleep(5 * time.Millisecond)
	blue.Close()
	died := time.Now()

	var svc control.Service
	eventually(t, "green active with blue known down", 10*time.Second, func() bool {
		callAPI(t, "GET", in.control+"/v1/services/app", nil, &svc)
		return svc.Active == "green" && svc.Pools["blue"].Upstreams[0].State == "down"
	})
	settled := time.Now()
	time.Sleep(500 * time.Millisecond)
	results := l.end()
	l = nil
	var end control.Service
	callAPI(t, "GET", in.control+"/v1/services/app", nil, &end)
	if end.Active != "green" || end.Generation != svc.Generation {
		t.Fatalf("moved again after settling on green: %+v", end)
	}
	path := "revert blocked, green never left"
	if svc.Generation > 2 {
		path = fmt.Sprintf("reverted to blue, failover back %v after the death", svc.ChangedAt.Sub(died))
		if svc.Reason != "failover" {
			t.Fatalf("back on green with reason %q", svc.Reason)
		}
	}
	bad, after := 0, 0
	for _, r := range results {
		if r.sent.After(settled) {
			after++
			if !strings.HasPrefix(r.body, "green") {
				bad++
			}
		}
	}
	t.Logf("%s; %d of %d requests after settling not answered by green", path, bad, after)
	if after == 0 || bad > 0 {
		t.Fatalf("%d of %d requests after settling were not answered by green", bad, after)
	}
}
