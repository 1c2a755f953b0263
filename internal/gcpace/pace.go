package gcpace

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

const (
	// Knee is the headroom above which the percent goes down: the scanned
	// heap's size up to which Go's default of 100 % stays.
	Knee = 8 << 20
	// MinPercent is the lowest percent the pacer sets: twice the collections
	// of GOGC=100 at most.
	MinPercent = 50
	// DefaultPercent is Go's GOGC default, kept on a small heap.
	DefaultPercent = 100
)

// Percent is the GOGC for a heap whose last collection scanned scanned bytes
// (live heap, stacks and globals).
func Percent(scanned uint64) int {
	if scanned <= Knee {
		return DefaultPercent
	}
	p := int(uint64(Knee) * 100 / scanned)
	return max(p, MinPercent)
}

// Mode says how the collector is paced, for the start log: the operator's
// "GOGC=..." when that is set, "paced" while a pacer runs, "default"
// otherwise (a process that did not start one).
func Mode() string {
	if v := os.Getenv("GOGC"); v != "" {
		return "GOGC=" + v
	}
	mu.Lock()
	defer mu.Unlock()
	if running != nil {
		return "paced"
	}
	return "default"
}

var (
	mu      sync.Mutex
	running *pacer
)

// Start paces the collector until the returned stop is called, which puts
// back the percent the process had. It does nothing (and stop nothing) when
// GOGC is set (not empty: the runtime takes an empty one as unset too), or
// when a pacer already runs in the process.
func Start() (stop func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	mu.Lock()
	defer mu.Unlock()
	if running != nil {
		return func() {}
	}
	p := &pacer{samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
	p.orig = debug.SetGCPercent(DefaultPercent)
	p.percent = DefaultPercent
	running = p
	p.arm()
	return p.stop
}

type pacer struct {
	mu      sync.Mutex
	samples []metrics.Sample
	orig    int
	percent int
	stopped bool
}

// sentinel is what the collector finds unreachable once per cycle. It
// holds a pointer so that it is never a tiny allocation (whose cleanup may
// never run).
type sentinel struct{ _ *int }

// arm allocates the next cycle's sentinel.
func (p *pacer) arm() {
	s := &sentinel{}
	runtime.AddCleanup(s, (*pacer).afterGC, p)
}

// afterGC runs on the runtime's cleanup goroutine after a cycle in which the
// last sentinel was found unreachable: it sets the percent for the next
// cycle and arms again.
func (p *pacer) afterGC() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	metrics.Read(p.samples)
	var scanned uint64
	for _, s := range p.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			scanned += s.Value.Uint64()
		}
	}
	if pc := Percent(scanned); pc != p.percent {
		debug.SetGCPercent(pc)
		p.percent = pc
	}
	p.arm()
}

func (p *pacer) stop() {
	p.mu.Lock()
	p.stopped = true
	debug.SetGCPercent(p.orig)
	p.mu.Unlock()
	mu.Lock()
	running = nil
	mu.Unlock()
}
