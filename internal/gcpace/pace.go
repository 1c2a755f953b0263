package gcpace

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
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

// scanned are the runtime/metrics whose sum is what the runtime's heap goal
// grows from: the live heap its last mark found, and the goroutine stacks
// and globals it scanned.
var scanned = []string{"/gc/heap/live:bytes", "/gc/scan/stack:bytes", "/gc/scan/globals:bytes"}

// Percent is the GOGC for a heap whose last collection scanned scanned bytes
// (live heap, stacks and globals).
func Percent(scanned uint64) int {
	if scanned <= Knee {
		return DefaultPercent
	}
	p := int(uint64(Knee) * 100 / scanned)
	return max(p, MinPercent)
}

// operatorGOGC is the environment's GOGC when the runtime uses it: "off" or
// a number. The runtime takes any other value (empty, a typo) as unset and
// uses 100, and so the pacer runs.
func operatorGOGC() (string, bool) {
	v := os.Getenv("GOGC")
	if v == "off" {
		return v, true
	}
	if _, err := strconv.ParseInt(v, 10, 32); err == nil {
		return v, true
	}
	return "", false
}

// Mode says how the collector is paced, for the start log: the operator's
// "GOGC=..." when the runtime uses it, "paced" while a pacer runs,
// "default" otherwise (a process that did not start one).
func Mode() string {
	if v, ok := operatorGOGC(); ok {
		return "GOGC=" + v
	}
	mu.Lock()
	defer mu.Unlock()
	if running != nil {
		return "paced"
	}
	return "default"
}

// mu guards running, the process's pacer; it is taken before a pacer's own.
var (
	mu      sync.Mutex
	running *pacer
)

// Start paces the collector until the returned stop is called, which puts
// back the percent the process had; stop may be called more than once. It
// does nothing (and stop nothing) when the runtime uses the environment's
// GOGC, or when a pacer already runs in the process.
func Start() (stop func()) {
	if _, ok := operatorGOGC(); ok {
		return func() {}
	}
	mu.Lock()
	defer mu.Unlock()
	if running != nil {
		return func() {}
	}
	ss, err := samples()
	if err != nil {
		return func() {} // a toolchain without them: Go's own pacing (TestSamples fails first)
	}
	p := &pacer{samples: ss}
	p.orig = debug.SetGCPercent(DefaultPercent)
	p.percent = DefaultPercent
	running = p
	p.arm()
	return p.stop
}

// samples are the metrics the pacer reads. Each must be one the runtime
// has: a renamed one would read as nothing and the pacer would never see
// the heap grow.
func samples() ([]metrics.Sample, error) {
	s := make([]metrics.Sample, len(scanned))
	for i, name := range scanned {
		s[i].Name = name
	}
	metrics.Read(s)
	for _, m := range s {
		if m.Value.Kind() != metrics.KindUint64 {
			return nil, fmt.Errorf("gcpace: runtime/metrics has no %s", m.Name)
		}
	}
	return s, nil
}

type pacer struct {
	mu      sync.Mutex
	samples []metrics.Sample
	orig    int
	percent int
	stopped bool
}

// sentinel is what the collector finds unreachable after it was armed. It
// holds a pointer so that it is never a tiny allocation (whose cleanup may
// never run).
type sentinel struct{ _ *int }

// arm allocates the next sentinel.
func (p *pacer) arm() {
	s := &sentinel{}
	runtime.AddCleanup(s, (*pacer).afterGC, p)
}

// afterGC runs on the runtime's cleanup goroutine once the sweep of a cycle
// that found the last sentinel unreachable is done: at most once a cycle (a
// cycle whose mark began before the sentinel was armed keeps it). It sets the
// percent for the next cycles from the last finished one's figures and arms
// again.
func (p *pacer) afterGC() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	metrics.Read(p.samples)
	var total uint64
	for _, s := range p.samples {
		total += s.Value.Uint64()
	}
	if pc := Percent(total); pc != p.percent {
		debug.SetGCPercent(pc)
		p.percent = pc
	}
	p.arm()
}

func (p *pacer) stop() {
	mu.Lock()
	defer mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	debug.SetGCPercent(p.orig)
	if running == p {
		running = nil
	}
}
