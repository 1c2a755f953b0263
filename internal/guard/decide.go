package guard

import (
	"fmt"
	"time"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/switchboard"
)

// input is everything one decision about a service depends on, gathered in
// one critical section (run.go).
type input struct {
	now        time.Time
	cfg        config.Guard
	minHealthy config.MinHealthy
	active     config.Color
	// window is the active colour's window over windowLength(cfg); p99 is
	// only read while a trigger could use it.
	window stats
	health [2]poolHealth // by Color.Index()
	arming arming
	// latch is the automatic revert that made active active; nil: a flip
	// did.
	latch *Trip
	// exempt: active was made active with force and has not been healthy
	// since; failover leaves it alone.
	exempt bool
}

// stats are a window's totals.
type stats struct {
	requests, errors int64
	p99              time.Duration
}

// poolHealth counts one colour's upstreams: Up, known Down, and all.
type poolHealth struct{ up, down, total int }

type verdictKind int

const (
	noVerdict       verdictKind = iota
	revertVerdict               // a trigger tripped and the other colour is healthy
	failoverVerdict             // the active colour is down, the other healthy
	blockedVerdict              // one of those was due, but the other colour is unhealthy
)

// verdict is what decide concludes. The zero value: nothing to do.
type verdict struct {
	kind verdictKind
	// reason is switchboard.Guard for a trigger, switchboard.Failover for
	// failover (also when blocked).
	reason switchboard.Reason
	// trigger names the trigger that tripped; "" for failover.
	trigger string
	detail  string
}

// decide applies the guard's rules (docs/operations.md, "Guard") to one
// service: the triggers first (in the order of triggers), while armed and
// with min_requests in the window, then failover, which a revert does not
// disarm. Neither moves to an unhealthy colour: that is blocked instead.
func decide(in input) verdict {
	from, to := in.active, in.active.Other()
	other := in.health[to.Index()]
	need := in.minHealthy.Need(other.total)
	otherOK := other.total > 0 && other.up >= need
	otherNote := fmt.Sprintf("%s has %d of %d upstreams up (needs %d)", to, other.up, other.total, need)

	if triggerArmed(in.cfg, in.arming, in.latch != nil, in.now) &&
		in.window.requests > 0 && in.window.requests >= int64(in.cfg.MinRequests) {
		length := windowLength(in.cfg)
		for _, t := range triggers {
			detail, ok := t.check(in.cfg, in.window, length)
			switch {
			case !ok:
				continue
			case otherOK:
				return verdict{kind: revertVerdict, reason: switchboard.Guard, trigger: t.name, detail: detail}
			}
			return verdict{kind: blockedVerdict, reason: switchboard.Guard, trigger: t.name, detail: detail + "; " + otherNote}
		}
	}

	a := in.health[from.Index()]
	if !in.cfg.Failover || in.exempt || a.total == 0 || a.down < a.total {
		return verdict{}
	}
	detail := fmt.Sprintf("all %d upstreams of %s are down; %s", a.total, from, otherNote)
	if !otherOK {
		return verdict{kind: blockedVerdict, reason: switchboard.Failover, detail: detail}
	}
	if l := in.latch; l != nil {
		// An edge serving some errors beats one serving only errors: say
		// which automatic revert is being undone.
		what := "guard revert"
		if l.Reason == switchboard.Failover {
			what = "failover"
		}
		detail += fmt.Sprintf("; %s is active since the %s %s → %s at %s", from, what, l.From, l.To, l.At.UTC().Format(time.RFC3339))
		if l.Detail != "" {
			detail += " (" + l.Detail + ")"
		}
	}
	return verdict{kind: failoverVerdict, reason: switchboard.Failover, detail: detail}
}
