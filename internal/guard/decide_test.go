package guard

import (
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/switchboard"
)

// TestDecide drives the pure decision: inputs in, verdict out.
func TestDecide(t *testing.T) {
	flipAt := t0
	armed := arming{until: flipAt.Add(10 * time.Minute)}
	healthy := [2]poolHealth{{2, 0, 2}, {2, 0, 2}}
	greenDown := [2]poolHealth{{2, 0, 2}, {0, 2, 2}} // blue healthy, green down
	bothBad := [2]poolHealth{{1, 1, 2}, {0, 2, 2}}   // blue below min_healthy, green down
	revert := &Trip{At: t0, Reason: switchboard.Guard, From: config.Blue, To: config.Green, Detail: "error rate 1 >= 0.05"}
	p99 := func(c *config.Guard) { c.MaxP99 = config.Duration(500 * time.Millisecond) }
	base := func(mod ...func(*input)) input {
		in := input{now: t0.Add(time.Minute), cfg: defaultCfg(), minHealthy: allOf, active: config.Green,
			health: healthy, arming: armed}
		for _, m := range mod {
			m(&in)
		}
		return in
	}
	win := func(req, errs int64, p time.Duration) func(*input) {
		return func(in *input) { in.window = stats{requests: req, errors: errs, p99: p} }
	}
	cfg := func(f func(*config.Guard)) func(*input) { return func(in *input) { f(&in.cfg) } }
	hl := func(h [2]poolHealth) func(*input) { return func(in *input) { in.health = h } }
	latched := func(in *input) { in.latch = revert }

	tests := []struct {
		name string
		in   input
		want verdict
	}{
		{"nothing", base(), verdict{}},
		{"error rate", base(win(20, 1, 0)), verdict{revertVerdict, switchboard.Guard, "error_rate",
			"error rate 0.05 >= 0.05 over 10s (1 of 20 requests)"}},
		{"below min_requests", base(win(19, 19, 0)), verdict{}},
		{"watch over", base(win(100, 100, 0), func(in *input) { in.now = armed.until }), verdict{}},
		{"watch always", base(win(100, 100, 0), func(in *input) { in.arming, in.now = arming{always: true}, t0.Add(48*time.Hour) }),
			verdict{revertVerdict, switchboard.Guard, "error_rate", "error rate 1 >= 0.05 over 10s (100 of 100 requests)"}},
		{"not armed", base(win(100, 100, 0), func(in *input) { in.arming = arming{} }), verdict{}},
		{"disabled", base(win(100, 100, 0), cfg(func(c *config.Guard) { c.Enabled = false })), verdict{}},
		{"previous unhealthy", base(win(100, 100, 0), hl([2]poolHealth{{1, 1, 2}, {2, 0, 2}})), verdict{blockedVerdict, switchboard.Guard, "error_rate",
			"error rate 1 >= 0.05 over 10s (100 of 100 requests); blue has 1 of 2 upstreams up (needs 2)"}},
		{"p99", base(win(20, 0, 800*time.Millisecond), cfg(p99)), verdict{revertVerdict, switchboard.Guard, "p99",
			"p99 latency 800ms >= 500ms over 10s (20 requests)"}},
		{"p99 below", base(win(20, 0, 300*time.Millisecond), cfg(p99)), verdict{}},
		{"error rate before p99", base(win(20, 20, time.Second), cfg(p99)), verdict{revertVerdict, switchboard.Guard, "error_rate",
			"error rate 1 >= 0.05 over 10s (20 of 20 requests)"}},
		{"latched: no trigger", base(win(100, 100, 0), latched), verdict{}},
		{"failover", base(hl(greenDown)), verdict{failoverVerdict, switchboard.Failover, "",
			"all 2 upstreams of green are down; blue has 2 of 2 upstreams up (needs 2)"}},
		{"failover after a revert names it", base(hl(greenDown), latched, win(100, 100, 0)), verdict{failoverVerdict, switchboard.Failover, "",
			"all 2 upstreams of green are down; blue has 2 of 2 upstreams up (needs 2); " +
				"green is active since the guard revert blue → green at 2026-11-26T10:00:00Z (error rate 1 >= 0.05)"}},
		{"failover after a revert, rejected colour unhealthy", base(hl(bothBad), latched), verdict{blockedVerdict, switchboard.Failover, "",
			"all 2 upstreams of green are down; blue has 1 of 2 upstreams up (needs 2)"}},
		{"failover with the trigger off", base(hl(greenDown), cfg(func(c *config.Guard) { c.Enabled = false })),
			verdict{failoverVerdict, switchboard.Failover, "", "all 2 upstreams of green are down; blue has 2 of 2 upstreams up (needs 2)"}},
		{"failover off", base(hl(greenDown), cfg(func(c *config.Guard) { c.Failover = false })), verdict{}},
		{"forced: exempt", base(hl(greenDown), func(in *input) { in.exempt = true }), verdict{}},
		{"unknown is not down", base(hl([2]poolHealth{{2, 0, 2}, {0, 1, 2}})), verdict{}},
		{"empty pool is not down", base(hl([2]poolHealth{{2, 0, 2}, {0, 0, 0}})), verdict{}},
		{"errors and all down: the trigger first", base(hl(greenDown), win(100, 100, 0)), verdict{revertVerdict, switchboard.Guard, "error_rate",
			"error rate 1 >= 0.05 over 10s (100 of 100 requests)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.in); got != tt.want {
				t.Errorf("decide =\n%+v, want\n%+v", got, tt.want)
			}
		})
	}
}

// A new trigger is one more value in triggers; decide needs no edit.
func TestNewTriggerIsAValue(t *testing.T) {
	saved := triggers
	t.Cleanup(func() { triggers = saved })
	triggers = append(append([]trigger(nil), saved...), trigger{name: "volume",
		check: func(_ config.Guard, w stats, _ time.Duration) (string, bool) { return "too many", w.requests > 1000 }})
	in := input{now: t0, cfg: defaultCfg(), minHealthy: allOf, active: config.Green,
		health: [2]poolHealth{{2, 0, 2}, {2, 0, 2}}, arming: arming{always: true}, window: stats{requests: 2000}}
	if v := decide(in); v.kind != revertVerdict || v.trigger != "volume" || v.detail != "too many" {
		t.Errorf("decide = %+v", v)
	}
}
