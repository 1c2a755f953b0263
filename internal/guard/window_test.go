package guard

import (
	"sync"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

func TestNewWindowGeometry(t *testing.T) {
	tests := []struct {
		length, res time.Duration
		wantRes     time.Duration
		wantN       int
	}{
		{10 * time.Second, 0, 100 * time.Millisecond, 100},
		{time.Second, 0, 100 * time.Millisecond, 10},
		{500 * time.Millisecond, 0, 50 * time.Millisecond, 10},
		{50 * time.Millisecond, 0, 10 * time.Millisecond, 5},
		{0, 0, 100 * time.Millisecond, 100}, // default 10s
		{10 * time.Second, time.Millisecond, 10 * time.Millisecond, 1000},
		{time.Hour, 0, 3 * time.Second, 1200},
		{1050 * time.Millisecond, 0, 100 * time.Millisecond, 11}, // rounded up
	}
	for _, tt := range tests {
		w := NewWindow(tt.length, tt.res, false)
		if w.Resolution() != tt.wantRes || w.Buckets() != tt.wantN {
			t.Errorf("NewWindow(%s, %s): %d buckets of %s, want %d of %s",
				tt.length, tt.res, w.Buckets(), w.Resolution(), tt.wantN, tt.wantRes)
		}
		if w.Length() < tt.length && tt.length > 0 {
			t.Errorf("NewWindow(%s): length %s is shorter than asked", tt.length, w.Length())
		}
	}
}

// A 1s window of ten 100ms buckets: a record belongs to the bucket
// [k*100ms, (k+1)*100ms) and stays visible while that bucket is one of the
// ten newest.
func TestWindowBucketBoundaries(t *testing.T) {
	w := NewWindow(time.Second, 100*time.Millisecond, false)
	w.Record(0, true, 0)
	w.Record(100*ms-1, false, 0) // last nanosecond of bucket 0
	w.Record(100*ms, false, 0)   // first nanosecond of bucket 1

	check := func(now int64, wantReq, wantErr int64) {
		t.Helper()
		req, errs := w.Sum(now)
		if req != wantReq || errs != wantErr {
			t.Errorf("Sum(%s) = %d, %d; want %d, %d", time.Duration(now), req, errs, wantReq, wantErr)
		}
	}
	check(0, 2, 1) // bucket 1 is in the future at t=0
	check(100*ms-1, 2, 1)
	check(100*ms, 3, 1)
	check(1000*ms-1, 3, 1)                // bucket 9: buckets 0..9 are in
	check(1000*ms, 1, 0)                  // bucket 10: bucket 0 slid out
	check(1100*ms-1, 1, 0)                // bucket 1 still in
	check(1100*ms, 0, 0)                  // and out
	check(5000*ms, 0, 0)                  // long after
	check(-time.Hour.Nanoseconds(), 2, 1) // negative times count as 0
}

func TestWindowRollover(t *testing.T) {
	w := NewWindow(time.Second, 100*time.Millisecond, true)
	for i := range 50 {
		w.Record(int64(i)*20*ms, i%2 == 0, 10*time.Millisecond)
	}
	if req, errs := w.Sum(999 * ms); req != 50 || errs != 25 {
		t.Fatalf("Sum = %d, %d; want 50, 25", req, errs)
	}
	// Idle for longer than the window: everything is gone, including for
	// the buckets whose slots are reused at once.
	idle := int64(3500) * ms
	if req, errs := w.Sum(idle); req != 0 || errs != 0 {
		t.Errorf("after idle: Sum = %d, %d; want 0, 0", req, errs)
	}
	if p := w.P99(idle); p != 0 {
		t.Errorf("after idle: P99 = %s; want 0", p)
	}
	// 3500ms is bucket 35, slot 5, which held bucket 5's records (5 of them).
	w.Record(idle, true, 10*time.Millisecond)
	if req, errs := w.Sum(idle); req != 1 || errs != 1 {
		t.Errorf("after reuse: Sum = %d, %d; want 1, 1", req, errs)
	}
	if req, _ := w.Sum(idle + 900*ms); req != 1 {
		t.Errorf("Sum 900ms later = %d; want 1", req)
	}
}

// A goroutine that read the clock long ago must not wipe a slot that a
// newer bucket already owns.
func TestWindowStaleWriterDropped(t *testing.T) {
	w := NewWindow(time.Second, 100*time.Millisecond, false)
	w.Record(1500*ms, false, 0) // bucket 15, slot 5
	w.Record(500*ms, true, 0)   // bucket 5, same slot, older: dropped
	if req, errs := w.Sum(1500 * ms); req != 1 || errs != 0 {
		t.Errorf("Sum = %d, %d; want 1, 0", req, errs)
	}
}

func TestWindowReset(t *testing.T) {
	w := NewWindow(time.Second, 0, true)
	for range 10 {
		w.Record(10*ms, true, time.Second)
	}
	w.Reset()
	if req, errs := w.Sum(20 * ms); req != 0 || errs != 0 {
		t.Errorf("after Reset: Sum = %d, %d", req, errs)
	}
	if p := w.P99(20 * ms); p != 0 {
		t.Errorf("after Reset: P99 = %s", p)
	}
	w.Record(20*ms, false, 0)
	if req, _ := w.Sum(20 * ms); req != 1 {
		t.Errorf("after Reset and Record: requests = %d, want 1", req)
	}
}

func TestBumpSaturates(t *testing.T) {
	w := NewWindow(time.Second, 0, false)
	w.words[wordRequests].Store(countMask) // tag 0, full
	w.Record(0, false, 0)
	if req, _ := w.Sum(0); req != countMask {
		t.Errorf("requests = %d, want %d (saturated, tag intact)", req, countMask)
	}
}

func TestNewerWraps(t *testing.T) {
	if !newer(5, 4) || newer(4, 5) || newer(4, 4) {
		t.Error("newer: plain order wrong")
	}
	if !newer(0, tagMask) || newer(tagMask, 0) {
		t.Error("newer: wrap-around wrong")
	}
}

// Many goroutines record into every bucket of the window at once; with a
// clock that stays inside one window the totals must be exact.
func TestWindowConcurrent(t *testing.T) {
	w := NewWindow(time.Second, 100*time.Millisecond, true)
	const goroutines, per = 16, 5000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				now := int64((g*per+i)%1000) * ms // every bucket of [0, 1s)
				w.Record(now, i%4 == 0, time.Duration(i%300)*time.Millisecond)
				if i%500 == 0 {
					w.Sum(now) // readers run alongside writers
					w.P99(now)
				}
			}
		}()
	}
	wg.Wait()
	req, errs := w.Sum(999 * ms)
	if req != goroutines*per || errs != goroutines*per/4 {
		t.Errorf("Sum = %d, %d; want %d, %d", req, errs, goroutines*per, goroutines*per/4)
	}
	var hist int64
	for b := range w.Buckets() {
		for i := range NumLatencyBins {
			hist += int64(w.words[b*w.stride+wordHist+i].Load() & countMask)
		}
	}
	if hist != req {
		t.Errorf("histogram holds %d, want %d", hist, req)
	}
}

// Writers whose clocks advance through many windows while others read: no
// race, and the window never reports more than was recorded in it.
func TestWindowConcurrentRollover(t *testing.T) {
	w := NewWindow(200*time.Millisecond, 10*time.Millisecond, true)
	const goroutines, per = 8, 20000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				now := int64(i) * ms / 10 // 2s in 0.1ms steps: ten windows
				w.Record(now, (i+g)%3 == 0, time.Millisecond)
				if i%1000 == 0 {
					if req, errs := w.Sum(now); errs > req || req > goroutines*2000 {
						t.Errorf("Sum(%d) = %d, %d", now, req, errs)
					}
				}
			}
		}()
	}
	wg.Wait()
	// The last 200ms hold exactly 2000 records per goroutine. Goroutines
	// racing through rollovers may lose a record only to a slot reclaimed
	// by a newer bucket, and every goroutine finished the same final
	// buckets, so the final window is exact.
	req, _ := w.Sum(int64(per-1) * ms / 10)
	if req != goroutines*2000 {
		t.Errorf("final window holds %d, want %d", req, goroutines*2000)
	}
}

func TestLatencyBins(t *testing.T) {
	us := time.Microsecond
	tests := []struct {
		d    time.Duration
		want int
	}{
		{-time.Second, 0},
		{0, 0},
		{1023 * us, 0},
		{1024 * us, 1},
		{1279 * us, 1},
		{1280 * us, 2},
		{2047 * us, 4},
		{2048 * us, 5},
		{(1<<25 - 1) * us, NumLatencyBins - 2},
		{1 << 25 * us, NumLatencyBins - 1},
		{time.Hour, NumLatencyBins - 1},
	}
	for _, tt := range tests {
		if got := latencyBin(tt.d); got != tt.want {
			t.Errorf("latencyBin(%s) = %d, want %d", tt.d, got, tt.want)
		}
	}
	// Every latency lies in its bin's bounds, and the bins tile the axis.
	for d := time.Duration(0); d < 40*time.Second; d = d*9/8 + 37*us {
		i := latencyBin(d)
		lo, hi := latencyBinBounds(i)
		if d < lo || (d >= hi && i != NumLatencyBins-1) {
			t.Fatalf("latency %s in bin %d = [%s, %s)", d, i, lo, hi)
		}
	}
	for i := 1; i < NumLatencyBins; i++ {
		_, prevHi := latencyBinBounds(i - 1)
		lo, hi := latencyBinBounds(i)
		if lo != prevHi || (hi-lo)*4 > lo && i != NumLatencyBins-1 {
			t.Errorf("bin %d = [%s, %s), previous ends at %s", i, lo, hi, prevHi)
		}
	}
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		name   string
		record map[time.Duration]int
		lo, hi time.Duration // accepted p99
	}{
		{"empty", nil, 0, 0},
		{"all 300ms", map[time.Duration]int{300 * time.Millisecond: 1000}, 262 * time.Millisecond, 328 * time.Millisecond},
		{"2% slow", map[time.Duration]int{5 * time.Millisecond: 980, 800 * time.Millisecond: 20}, 768 * time.Millisecond, 1024 * time.Millisecond},
		{"1% slow is the tail", map[time.Duration]int{5 * time.Millisecond: 990, 3 * time.Second: 10}, 4 * time.Millisecond, 6 * time.Millisecond},
		{"sub-millisecond", map[time.Duration]int{200 * time.Microsecond: 100}, 0, time.Millisecond + 24*time.Microsecond},
		{"beyond range", map[time.Duration]int{time.Minute: 100}, 33 * time.Second, 34 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWindow(10*time.Second, 0, true)
			for d, n := range tt.record {
				for i := range n {
					w.Record(int64(i)*ms, false, d)
				}
			}
			got := w.P99(5 * time.Second.Nanoseconds())
			if got < tt.lo || got > tt.hi {
				t.Errorf("P99 = %s, want in [%s, %s]", got, tt.lo, tt.hi)
			}
		})
	}
	w := NewWindow(time.Second, 0, false)
	w.Record(0, false, time.Second)
	if p := w.P99(0); p != 0 {
		t.Errorf("P99 without histogram = %s, want 0", p)
	}
}

func BenchmarkWindowRecord(b *testing.B) {
	for _, latency := range []bool{false, true} {
		name := "counts"
		if latency {
			name = "latency"
		}
		b.Run(name, func(b *testing.B) {
			w := NewWindow(10*time.Second, 0, latency)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				w.Record(int64(i)*1000, i%16 == 0, 20*time.Millisecond)
			}
		})
	}
}

// The decision's read side, once per tick per service.
func BenchmarkWindowSum(b *testing.B) {
	w := NewWindow(10*time.Second, 0, true)
	for i := range 100000 {
		w.Record(int64(i)*100_000, i%16 == 0, time.Duration(i%500)*time.Millisecond)
	}
	now := int64(100000) * 100_000
	b.Run("sum", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w.Sum(now)
		}
	})
	b.Run("p99", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w.P99(now)
		}
	})
}
