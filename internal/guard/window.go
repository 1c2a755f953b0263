package guard

import (
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/switchd/switchd/internal/config"
)

// Bucket geometry. Buckets are 100ms wide so that the sliding edge of the
// window moves in steps of at most 100ms; short windows get at least
// minBuckets finer buckets, long ones at most maxBuckets coarser ones.
const (
	// DefaultResolution is the bucket width the guard uses.
	DefaultResolution = 100 * time.Millisecond
	minResolution     = 10 * time.Millisecond
	minBuckets        = 10
	maxBuckets        = 1200
)

// Each counter is one uint64 that carries the epoch (bucket number) it counts
// for in its high tagBits and the count in its low countBits.
//
// Why pack instead of a per-bucket epoch beside plain counters: with separate
// words, reusing a stale bucket is "set epoch, then zero the counters", and a
// Record landing between the two steps is either lost or counted into the
// wrong epoch, and a slow goroutine can zero a bucket another one has already
// claimed. With the epoch inside every counter a counter is reset and
// incremented by one CompareAndSwap, Sum ignores any counter whose tag is not
// the epoch it expects, and no lock is needed anywhere.
//
// Even the common case (tag already current) is a CAS of old+1 rather than an
// Add: an Add after a Load can land in a newer epoch that reclaimed the slot
// in between (TestWindowConcurrentRollover caught exactly that), and CAS
// costs the same as Add when uncontended and measured no worse with every
// goroutine hammering one bucket. The only records that are not counted are
// ones older than the slot's newest epoch, i.e. already outside the window,
// and ones racing with Reset.
//
// 36 tag bits at the finest resolution (10ms) wrap after ~21 years; tags are
// compared within half that range, so a process would have to run ~10 years
// without restart before an old tag could look new. 28 count bits hold 268M
// per bucket per counter; a counter saturates rather than overflowing into
// its tag.
const (
	countBits = 28
	countMask = 1<<countBits - 1
	tagBits   = 64 - countBits
	tagMask   = 1<<tagBits - 1
)

// Latency histogram: log-spaced bins with 4 sub-bins per power of two of
// microseconds, from 2^10µs (~1ms) to 2^25µs (~33.5s), plus one bin below
// and one above. A bin is found with bits.Len64, no search and no floats,
// and is at most 25% wide, so an interpolated p99 is within a few percent of
// the true value.
const (
	histLowShift = 10 // 2^10µs ≈ 1ms: everything faster shares bin 0
	histSubBits  = 2  // 4 sub-bins per octave
	histOctaves  = 15 // up to 2^25µs ≈ 33.5s
	// NumLatencyBins is the number of latency bins kept per bucket.
	NumLatencyBins = 1 + histOctaves<<histSubBits + 1
)

const (
	wordRequests = iota
	wordErrors
	wordHist // first latency bin
)

// Window counts requests, errors and (optionally) latencies over a sliding
// window made of fine buckets. Record is O(1), lock-free and does not
// allocate; it is meant to be called on the request path from any number of
// goroutines at once. Sum and Quantile read the buckets that lie inside the
// window ending at now.
//
// Times are int64 nanoseconds on a monotonic clock chosen by the caller (for
// example time.Since of a fixed start); they must not go backwards by more
// than the window length. Negative times count as 0.
//
// The window covers between length-resolution and length of history: the
// newest bucket is still filling. Create it with NewWindow; the zero value is
// unusable.
type Window struct {
	res    int64 // bucket width in nanoseconds
	n      int64 // number of buckets
	stride int   // words per bucket: 2, or 2+NumLatencyBins with latency
	words  []atomic.Uint64
}

// NewWindow returns a window of the given length made of buckets of the
// given resolution. A resolution of 0 means DefaultResolution; below 10ms
// it counts as 10ms. The resolution is made finer when the window would have fewer than 10 buckets
// (but never below 10ms) and coarser when it would have more than 1200 (long
// windows would cost memory and Sum time for no gain: new requests count at
// once whatever the bucket width, only the expiry of old ones is coarser).
// A length of 0 means config.DefaultGuardWindow. With latency true, each bucket also keeps a
// latency histogram, so that Quantile works; otherwise Quantile returns 0.
func NewWindow(length, resolution time.Duration, latency bool) *Window {
	if length <= 0 {
		length = config.DefaultGuardWindow
	}
	if resolution <= 0 {
		resolution = DefaultResolution
	}
	resolution = max(resolution, minResolution)
	if length/resolution < minBuckets {
		resolution = max(length/minBuckets, minResolution)
	}
	if length/resolution > maxBuckets {
		resolution = (length + maxBuckets - 1) / maxBuckets
	}
	n := max(int64((length+resolution-1)/resolution), 1)
	stride := wordHist
	if latency {
		stride += NumLatencyBins
	}
	return &Window{
		res:    int64(resolution),
		n:      n,
		stride: stride,
		words:  make([]atomic.Uint64, int(n)*stride),
	}
}

// Length returns the span of the window (buckets × resolution).
func (w *Window) Length() time.Duration { return time.Duration(w.n * w.res) }

// Resolution returns the width of one bucket.
func (w *Window) Resolution() time.Duration { return time.Duration(w.res) }

// Buckets returns the number of buckets.
func (w *Window) Buckets() int { return int(w.n) }

// Latency reports whether the window keeps latency histograms.
func (w *Window) Latency() bool { return w.stride > wordHist }

// Record counts one completed request at time now (monotonic nanoseconds).
// isErr marks it as an error; latency goes to the histogram when the window
// keeps one.
func (w *Window) Record(now int64, isErr bool, latency time.Duration) {
	epoch := uint64(max(now, 0) / w.res)
	base := int(epoch%uint64(w.n)) * w.stride
	tag := epoch & tagMask
	bump(&w.words[base+wordRequests], tag)
	if isErr {
		bump(&w.words[base+wordErrors], tag)
	}
	if w.stride > wordHist {
		bump(&w.words[base+wordHist+latencyBin(latency)], tag)
	}
}

// bump adds one to the counter p for epoch tag, first claiming the counter
// when it still holds an older epoch. A record older than the epoch the
// counter holds is outside the window by now and is dropped. Every change is
// a CAS from the value just read, so an increment can never land in an epoch
// other than its own.
func bump(p *atomic.Uint64, tag uint64) {
	for {
		old := p.Load()
		oldTag, count := old>>countBits, old&countMask
		if oldTag == tag {
			if count == countMask { // saturate instead of carrying into the tag
				return
			}
			if p.CompareAndSwap(old, old+1) {
				return
			}
			continue
		}
		// An empty counter (never used, or Reset) may always be claimed.
		if count != 0 && newer(oldTag, tag) {
			return
		}
		if p.CompareAndSwap(old, tag<<countBits|1) {
			return
		}
	}
}

// newer reports whether tag a is later than tag b, modulo the tag size.
func newer(a, b uint64) bool {
	d := (a - b) & tagMask
	return d != 0 && d < 1<<(tagBits-1)
}

// read returns the count of counter p if it belongs to epoch tag.
func read(p *atomic.Uint64, tag uint64) int64 {
	v := p.Load()
	if v>>countBits != tag {
		return 0
	}
	return int64(v & countMask)
}

// buckets calls f with the word offset and tag of every bucket inside the
// window that ends at now, newest first.
func (w *Window) buckets(now int64, f func(base int, tag uint64)) {
	cur := max(now, 0) / w.res
	for i := int64(0); i < w.n && cur-i >= 0; i++ {
		e := uint64(cur - i)
		f(int(e%uint64(w.n))*w.stride, e&tagMask)
	}
}

// Sum returns the requests and errors recorded inside the window ending at
// now.
//
// The two counters of a bucket are read one after the other, not together.
// Writers in the next bucket never touch the buckets being read, but a
// reader that stalls for a whole window can see a bucket's request counter
// already reclaimed by a newer epoch and its error counter not yet; errors
// are capped at requests per bucket so that a rate never exceeds 1.
func (w *Window) Sum(now int64) (requests, errors int64) {
	w.buckets(now, func(base int, tag uint64) {
		r := read(&w.words[base+wordRequests], tag)
		requests += r
		errors += min(read(&w.words[base+wordErrors], tag), r)
	})
	return requests, errors
}

// Quantile estimates the q-quantile (0 < q ≤ 1) of the latencies recorded
// inside the window ending at now, interpolating linearly inside the bin it
// falls in (as Prometheus' histogram_quantile does). It returns 0 when
// nothing was recorded or the window keeps no latencies. Latencies above
// ~33.5s are reported as ~33.5s.
func (w *Window) Quantile(now int64, q float64) time.Duration {
	if w.stride <= wordHist {
		return 0
	}
	var bins [NumLatencyBins]int64
	var total int64
	w.buckets(now, func(base int, tag uint64) {
		for i := range bins {
			c := read(&w.words[base+wordHist+i], tag)
			bins[i] += c
			total += c
		}
	})
	if total == 0 {
		return 0
	}
	rank := min(max(q, 0), 1) * float64(total)
	var cum int64
	for i, c := range bins {
		if c == 0 || float64(cum+c) < rank {
			cum += c
			continue
		}
		lo, hi := latencyBinBounds(i)
		frac := (rank - float64(cum)) / float64(c)
		return lo + time.Duration(frac*float64(hi-lo))
	}
	lo, _ := latencyBinBounds(NumLatencyBins - 1)
	return lo
}

// P99 is Quantile(now, 0.99).
func (w *Window) P99(now int64) time.Duration { return w.Quantile(now, 0.99) }

// Reset forgets everything recorded. A Record racing with Reset may survive
// it or not; nothing else is affected.
func (w *Window) Reset() {
	for i := range w.words {
		w.words[i].Store(0)
	}
}

// latencyBin maps a latency to its histogram bin.
func latencyBin(d time.Duration) int {
	us := uint64(max(d, 0) / time.Microsecond)
	if us < 1<<histLowShift {
		return 0
	}
	e := bits.Len64(us) - 1 // us is in [2^e, 2^(e+1))
	if e >= histLowShift+histOctaves {
		return NumLatencyBins - 1
	}
	sub := int(us>>(e-histSubBits)) & (1<<histSubBits - 1)
	return 1 + (e-histLowShift)<<histSubBits + sub
}

// latencyBinBounds returns the half-open range [lo, hi) of bin i. The last
// bin is open-ended; it returns lo == hi there.
func latencyBinBounds(i int) (lo, hi time.Duration) {
	switch {
	case i <= 0:
		return 0, (1 << histLowShift) * time.Microsecond
	case i >= NumLatencyBins-1:
		lo = (1 << (histLowShift + histOctaves)) * time.Microsecond
		return lo, lo
	}
	k := i - 1
	e := histLowShift + k>>histSubBits
	step := time.Duration(1) << (e - histSubBits)
	lo = (time.Duration(1)<<e + time.Duration(k&(1<<histSubBits-1))*step) * time.Microsecond
	return lo, lo + step*time.Microsecond
}
