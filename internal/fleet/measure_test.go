package fleet

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/switchboard"
	"github.com/switchd/switchd/internal/testkit"
)

// TestMeasureCommitToServing measures, over 100 flips made on one of three
// hosts, how long each host takes from the flip request (which includes
// the compare-and-swap's round trip) to serving the new colour (the
// board tells its listeners right after publishing). Run with
// SWITCHD_MEASURE=1; the bound it checks is the promise: p99 at most 100ms.
func TestMeasureCommitToServing(t *testing.T) {
	if os.Getenv("SWITCHD_MEASURE") != "1" {
		t.Skip("set SWITCHD_MEASURE=1 to measure")
	}
	e := testkit.StartEtcd(t)
	hosts := []*host{startHost(t, "a", "", e.ClientURL), startHost(t, "b", "", e.ClientURL), startHost(t, "c", "", e.ClientURL)}
	lat := make([][]time.Duration, len(hosts))
	for range 100 {
		cur, gen := hosts[0].serving()
		waitServing(t, cur, gen, hosts...)
		start := time.Now()
		ch, err := hosts[0].board.Flip("app", switchboard.Request{Expect: cur})
		if err != nil {
			t.Fatal(err)
		}
		waitServing(t, ch.To, ch.Generation, hosts...)
		for i, h := range hosts {
			c, _ := h.seen.find(ch.Generation)
			lat[i] = append(lat[i], c.at.Sub(start))
		}
	}
	for i, h := range hosts {
		slices.Sort(lat[i])
		p50, p99 := lat[i][49], lat[i][98]
		t.Logf("host %s: p50 %v, p99 %v, max %v", h.name, p50, p99, lat[i][99])
		if p99 > 100*time.Millisecond {
			t.Errorf("host %s: p99 %v, want at most 100ms", h.name, p99)
		}
	}
}
