package guard

import (
	"time"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/switchboard"
)

// svcState is the decision state of one service, guarded by Guard.mu.
type svcState struct {
	rec        *Service
	cfg        config.Guard
	minHealthy config.MinHealthy

	active config.Color
	// gen is the board's generation of the last change told, so that the
	// outcome of a Revert is booked only if nothing changed since the
	// decision.
	gen uint64
	// flipAt is the last activation that was not the guard's own revert;
	// startup marks the start-up restore.
	flipAt  time.Time
	startup bool
	armed   bool // that activation armed the trigger (watch still applies)
	// latch is the automatic revert that made the active colour active; nil
	// when a flip did. While set the trigger stays off, so that the guard
	// never flips back by itself; failover stays armed.
	latch *Trip
	// forcedExempt: the active colour was made active with force and has
	// not been seen healthy since; failover leaves it alone.
	forcedExempt bool

	retryAt time.Time // no new attempt before this after a refusal

	blockedEp  bool // inside a blocked episode (notice already sent)
	failoverEp bool // inside a failover-impossible episode (already logged)
	blocked    string
	lastTrip   *Trip
	sinceFlip  *Trip // the last automatic revert since the last flip: the Outcome's
}

func windowLength(cfg config.Guard) time.Duration {
	if d := cfg.Window.D(); d > 0 {
		return d
	}
	return config.DefaultGuardWindow
}

// arming is when the trigger is armed after the last flip: before until,
// or for ever with always. The zero value: not armed.
type arming struct {
	until  time.Time
	always bool
}

func (st *svcState) arming() arming {
	switch {
	case !st.armed || !st.active.Valid():
		return arming{}
	case st.cfg.Watch.Always:
		return arming{always: true}
	}
	return arming{until: st.flipAt.Add(st.cfg.Watch.For)}
}

// triggerArmed is the one rule for whether the triggers may revert now:
// enabled, inside the watch after a flip, and not latched by a revert.
func triggerArmed(cfg config.Guard, a arming, latched bool, now time.Time) bool {
	return cfg.Enabled && !latched && (a.always || now.Before(a.until))
}

func (st *svcState) armedAt(now time.Time) bool {
	return triggerArmed(st.cfg, st.arming(), st.latch != nil, now)
}

func (st *svcState) stableAt() time.Time {
	switch {
	case st.startup || !st.cfg.Enabled:
		return st.flipAt
	case st.cfg.Watch.Always:
		return st.flipAt.Add(windowLength(st.cfg))
	}
	return st.flipAt.Add(st.cfg.Watch.For)
}

func (st *svcState) outcome(now time.Time) Outcome {
	if !st.active.Valid() || st.flipAt.IsZero() {
		return Outcome{}
	}
	o := Outcome{Flip: st.flipAt, Startup: st.startup, Until: st.stableAt(), State: Watching}
	switch {
	case st.sinceFlip != nil:
		o.State, o.Trip = Reverted, copyTrip(st.sinceFlip)
	case !now.Before(o.Until):
		o.State = Stable
	}
	return o
}

// flip records a change that was not the guard's own revert; startup marks
// the start-up restore, which arms the trigger only with watch "always".
func (st *svcState) flip(c switchboard.Change, startup bool) {
	st.gen = c.Generation
	st.active = c.To
	st.flipAt = c.At
	st.startup = startup
	st.armed = !startup || st.cfg.Watch.Always
	st.latch = nil
	st.forcedExempt = c.Forced
	st.newColour()
	st.blocked = ""
	st.sinceFlip = nil
}

// reverted records the guard's own revert (or failover) t.
func (st *svcState) reverted(t *Trip) {
	st.gen = t.Generation
	st.active = t.To
	st.latch, st.lastTrip, st.sinceFlip = t, t, t
	st.forcedExempt = false
	st.newColour()
}

// newColour ends what belonged to the colour that was active.
func (st *svcState) newColour() {
	st.retryAt = time.Time{}
	st.blockedEp, st.failoverEp = false, false
}
