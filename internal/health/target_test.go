package health

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
)

func TestTargetThresholds(t *testing.T) {
	// steps: P a passing probe, F a failing one, X a passive failure.
	// want: the state after each step, u unknown, U up, D down.
	tests := []struct {
		name       string
		rise, fall int
		steps      string
		want       string
	}{
		{"first pass decides", 2, 2, "P", "U"},
		{"first fail decides", 2, 2, "F", "D"},
		{"fall 2 from up", 2, 2, "PFF", "UUD"},
		{"fall 3 from up", 2, 3, "PFFF", "UUUD"},
		{"broken fail streak", 2, 2, "PFPFPF", "UUUUUU"},
		{"rise 2 from down", 2, 2, "FPP", "DDU"},
		{"rise 3 from down", 3, 2, "FPPP", "DDDU"},
		{"broken pass streak", 3, 2, "FPPFPPP", "DDDDDDU"},
		{"rise 1 fall 1", 1, 1, "PFPF", "UDUD"},
		{"passive from up needs rise", 2, 2, "PXPP", "UDDU"},
		{"passive from unknown", 3, 2, "XPPP", "DDDU"},
		{"passive mid pass streak", 3, 2, "FPPXPPP", "DDDDDDU"},
		{"passive while down", 2, 2, "FXPP", "DDDU"},
		{"fail after passive stays down", 2, 3, "PXFP", "UDDD"},
		{"zero thresholds count as one", 0, 0, "PFP", "UDU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			tg := NewTarget("app", "10.0.0.1:80", config.Blue, tt.rise, tt.fall, &rec)
			at := time.Unix(1000, 0)
			prev, changes := Unknown, 0
			for i, step := range tt.steps {
				at = at.Add(time.Second)
				switch step {
				case 'P':
					tg.Record(nil, time.Millisecond, at)
				case 'F':
					tg.Record(errors.New("status 503, want 200-399"), time.Millisecond, at)
				case 'X':
					tg.Fail(errors.New("connection refused"))
				}
				got := tg.State()
				if want := map[byte]State{'u': Unknown, 'U': Up, 'D': Down}[tt.want[i]]; got != want {
					t.Fatalf("after step %d (%s): state %v, want %v", i+1, tt.steps[:i+1], got, want)
				}
				if got != prev {
					changes++
					trs := rec.all()
					if len(trs) != changes {
						t.Fatalf("after step %d: %d transitions, want %d", i+1, len(trs), changes)
					}
					last := trs[len(trs)-1]
					if last.From != prev || last.To != got || last.Passive != (step == 'X') {
						t.Fatalf("after step %d: transition %+v", i+1, last)
					}
					if got == Down && last.Err == "" {
						t.Fatalf("after step %d: down without error", i+1)
					}
				}
				prev = got
			}
			if n := len(rec.all()); n != changes {
				t.Fatalf("%d transitions, want %d (only on changes)", n, changes)
			}
		})
	}
}

func TestTargetStatus(t *testing.T) {
	tg := NewTarget("app", "10.0.0.1:80", config.Green, 2, 2, nil)
	if s := tg.Status(); s.State != Unknown || !s.Since.IsZero() || !s.LastCheck.IsZero() {
		t.Fatalf("fresh status %+v", s)
	}
	at := time.Unix(2000, 0)
	tg.Record(errors.New("connection refused"), 3*time.Millisecond, at)
	s := tg.Status()
	if s.State != Down || !s.Since.Equal(at) || !s.LastCheck.Equal(at) || s.LastLatency != 3*time.Millisecond ||
		s.LastError != "connection refused" || s.Fails != 1 || s.Passes != 0 || s.Address != "10.0.0.1:80" {
		t.Fatalf("status %+v", s)
	}
	tg.Record(nil, time.Millisecond, at.Add(time.Second))
	if s := tg.Status(); s.State != Down || s.LastError != "" || s.Passes != 1 || s.Fails != 0 || !s.Since.Equal(at) {
		t.Fatalf("status after one pass %+v", s)
	}
}

func TestTargetSetThresholdsKeepsCounters(t *testing.T) {
	tg := NewTarget("app", "10.0.0.1:80", config.Blue, 3, 2, nil)
	at := time.Unix(1000, 0)
	tg.Record(errors.New("x"), 0, at) // down at once: first check
	tg.Record(nil, 0, at)
	tg.setThresholds(2, 2, config.Green)
	tg.Record(nil, 0, at)
	if tg.State() != Up || tg.Color() != config.Green {
		t.Fatalf("state %v colour %v, want up green", tg.State(), tg.Color())
	}
}

// TestTargetObserverOrder races passive failures against probe results:
// the Observer must see a chain of transitions that ends in the state the
// Target is in, or a metric or the switchboard would be left wrong.
func TestTargetObserverOrder(t *testing.T) {
	var rec recorder
	tg := NewTarget("app", "10.0.0.1:80", config.Blue, 1, 1, &rec)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 500 {
				switch r.IntN(3) {
				case 0:
					tg.Fail(errors.New("connection reset by peer"))
				case 1:
					tg.Record(nil, 0, time.Now())
				default:
					tg.Record(errors.New("status 500, want 200-399"), 0, time.Now())
				}
			}
		})
	}
	wg.Wait()
	trs := rec.all()
	if len(trs) == 0 {
		t.Fatal("no transitions")
	}
	from := Unknown
	for i, tr := range trs {
		if tr.From != from || tr.To == tr.From {
			t.Fatalf("transition %d %v→%v does not follow %v", i, tr.From, tr.To, from)
		}
		from = tr.To
	}
	if from != tg.State() {
		t.Fatalf("last transition to %v, state %v", from, tg.State())
	}
}
