package gcpace

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		scanned uint64
		want    int
	}{
		{0, 100},
		{4 << 20, 100},
		{Knee, 100},
		{Knee + 1, 99},
		{10 << 20, 80},
		{12 << 20, 66},
		{16 << 20, 50},
		{19 << 20, 50},
		{1 << 30, 50},
	} {
		if got := Percent(c.scanned); got != c.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", c.scanned>>20, got, c.want)
		}
	}
}

// gcPercent is the runtime's GOGC now, as runtime/metrics reports it (and
// the metrics endpoint, as go_gc_gogc_percent).
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// awaitPercent collects until the pacer, which runs after a collection, has
// set want; it gives up after 200 collections.
func awaitPercent(t *testing.T, want int) {
	t.Helper()
	for range 200 {
		runtime.GC()
		if gcPercent() == want {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("GOGC is %d after 200 collections, want %d", gcPercent(), want)
}

// bigHeap is 32 MiB to keep live: scanned, it is past the floor's 16 MiB.
func bigHeap() [][]byte {
	heap := make([][]byte, 32)
	for i := range heap {
		heap[i] = make([]byte, 1<<20)
	}
	return heap
}

// collect runs n collections, with a moment after each for the cleanups.
func collect(n int) {
	for range n {
		runtime.GC()
		time.Sleep(2 * time.Millisecond)
	}
}

// unsetGOGC runs the test without GOGC in the environment, whatever the
// caller's, and puts it back afterwards.
func unsetGOGC(t *testing.T) {
	t.Setenv("GOGC", "")
	if err := os.Unsetenv("GOGC"); err != nil {
		t.Fatal(err)
	}
}

// TestEmptyGOGCPaces: an empty GOGC is no setting, for the runtime and for
// the pacer.
func TestEmptyGOGCPaces(t *testing.T) {
	t.Setenv("GOGC", "")
	stop := Start()
	defer stop()
	if m := Mode(); m != "paced" {
		t.Errorf("Mode() = %q with GOGC empty, want paced", m)
	}
}

// TestPacerFollowsHeap: a 32 MiB live heap takes the percent down to the
// floor, the heap's release puts Go's 100 back, and stop restores the
// percent the process had before.
func TestPacerFollowsHeap(t *testing.T) {
	unsetGOGC(t)
	prev := debug.SetGCPercent(77)
	defer debug.SetGCPercent(prev)
	stop := Start()
	if m := Mode(); m != "paced" {
		t.Errorf("Mode() = %q while paced", m)
	}
	Start()() // a second Start, and its stop, are no-ops: the first pacer keeps running
	if m := Mode(); m != "paced" {
		t.Errorf("Mode() = %q after a second Start's stop", m)
	}
	awaitPercent(t, DefaultPercent)

	heap := bigHeap()
	awaitPercent(t, MinPercent)
	runtime.KeepAlive(heap)
	heap = nil
	awaitPercent(t, DefaultPercent)

	stop()
	if got := gcPercent(); got != 77 {
		t.Errorf("after stop GOGC = %d, want the 77 from before Start", got)
	}
	if m := Mode(); m != "default" {
		t.Errorf("Mode() = %q after stop", m)
	}
	// Stopped for good: a large heap no longer moves the percent.
	heap = bigHeap()
	collect(5)
	runtime.KeepAlive(heap)
	if got := gcPercent(); got != 77 {
		t.Errorf("a stopped pacer set GOGC to %d", got)
	}
}

// TestSamples: the metrics the pacer adds up are all the runtime's (one it
// lacked would read as 0, and the pacer would miss the heap's growth).
func TestSamples(t *testing.T) {
	s, err := samples()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range s {
		if m.Value.Uint64() == 0 && m.Name != "/gc/scan/stack:bytes" {
			t.Errorf("%s reads 0", m.Name)
		}
	}
}

// TestStopTwice: a stop called again, after another pacer started, leaves
// that one alone.
func TestStopTwice(t *testing.T) {
	unsetGOGC(t)
	prev := debug.SetGCPercent(77)
	defer debug.SetGCPercent(prev)
	stop1 := Start()
	stop1()
	debug.SetGCPercent(88)
	stop2 := Start()
	defer stop2()
	stop1()
	if m := Mode(); m != "paced" {
		t.Errorf("Mode() = %q: the first pacer's second stop ended the second's", m)
	}
	if got := gcPercent(); got != DefaultPercent {
		t.Errorf("GOGC = %d after the first pacer's second stop, want the running pacer's %d", got, DefaultPercent)
	}
	stop2()
	if got := gcPercent(); got != 88 {
		t.Errorf("GOGC = %d after the second stop, want the 88 it started on", got)
	}
}

// TestUnusableGOGCPaces: a GOGC the runtime cannot read is one it ignores
// (it uses 100), and so does the pacer: it runs.
func TestUnusableGOGCPaces(t *testing.T) {
	for _, v := range []string{"abc", " 100", "100%"} {
		t.Setenv("GOGC", v)
		stop := Start()
		if m := Mode(); m != "paced" {
			t.Errorf("Mode() = %q with GOGC=%q, want paced", m, v)
		}
		stop()
	}
}

// TestOperatorGOGCWins: with GOGC in the environment the pacer does not
// touch the percent, whatever the heap.
func TestOperatorGOGCWins(t *testing.T) {
	t.Setenv("GOGC", "off")
	if m := Mode(); m != "GOGC=off" {
		t.Errorf("Mode() = %q, want GOGC=off", m)
	}
	t.Setenv("GOGC", "100")
	prev := debug.SetGCPercent(123)
	defer debug.SetGCPercent(prev)
	stop := Start()
	defer stop()
	if m := Mode(); m != "GOGC=100" {
		t.Errorf("Mode() = %q, want GOGC=100", m)
	}
	heap := bigHeap()
	collect(10)
	runtime.KeepAlive(heap)
	if got := gcPercent(); got != 123 {
		t.Errorf("GOGC = %d with the operator's GOGC set, want it untouched (123)", got)
	}
}
