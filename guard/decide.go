package guard

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"switchd/config"
)

// svcState is the decision state of one service, guarded by Guard.mu.
type svcState struct {
	rec        *Service
	cfg        config.Guard
	minHealthy config.MinHealthy

	active config.Color
	// gen counts Activated calls other than the guard's own reverts and
	// Configure calls, so that a decision made outside the lock is dropped
	// when the state moved meanwhile.
	gen uint64
	// flipAt is the last activation that was not the guard's own revert;
	// startup marks the start-up restore.
	flipAt  time.Time
	startup bool
	armed   bool // that activation armed the trigger (watch still applies)
	// latched: an automatic revert happened; nothing automatic until the
	// next flip, so the guard never flips back by itself.
	latched bool
	// forcedExempt: the active colour was made active with force and has
	// not been seen healthy since; failover leaves it alone.
	forcedExempt bool

	pending *pendingRevert
	retryAt time.Time // no new attempt before this after a refusal

	blockedEp  bool // inside a blocked episode (notice already sent)
	failoverEp bool // inside a failover-impossible episode (already logged)
	blocked    string
	lastTrip   *Trip
	reverted   *Trip // the revert after the last flip
}

// pendingRevert is a Revert call in flight, or one that succeeded before the
// Switcher's Activated(to) reached us.
type pendingRevert struct {
	trip Trip
	gen  uint64 // svcState.gen when it was decided
	// consumed: an Activated(trip.To) arrived while Revert ran and was taken
	// for the revert's own; at and forced are its arguments, in case Revert
	// then fails and it was someone else's flip after all.
	consumed bool
	at       time.Time
	forced   bool
	done     bool // Revert returned nil
}

func windowLength(cfg config.Guard) time.Duration {
	if d := cfg.Window.D(); d > 0 {
		return d
	}
	return DefaultWindow
}

func (st *svcState) armedAt(now time.Time) bool {
	if st.latched || !st.armed || !st.cfg.Enabled || !st.active.Valid() {
		return false
	}
	return st.cfg.Watch.Always || now.Before(st.flipAt.Add(st.cfg.Watch.For))
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
	case st.reverted != nil:
		o.State, o.Trip = Reverted, copyTrip(st.reverted)
	case !now.Before(o.Until):
		o.State = Stable
	}
	return o
}

// flip records an activation that was not the guard's own revert.
func (st *svcState) flip(active config.Color, at time.Time, forced, startup bool) {
	st.gen++
	st.active = active
	st.flipAt = at
	st.startup = startup
	st.armed = !startup || st.cfg.Watch.Always
	st.latched = false
	st.forcedExempt = forced
	st.retryAt = time.Time{}
	st.blockedEp, st.failoverEp = false, false
	st.blocked = ""
	st.reverted = nil
}

// Run evaluates every service each Tick until ctx is done.
func (g *Guard) Run(ctx context.Context) {
	t := time.NewTicker(g.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.evaluate()
		}
	}
}

// evaluate judges every service once.
func (g *Guard) evaluate() {
	g.mu.Lock()
	names := make([]string, 0, len(g.svcs))
	for name := range g.svcs {
		names = append(names, name)
	}
	g.mu.Unlock()
	now := g.clk.wall()
	for _, name := range names {
		g.evaluateService(name, now)
	}
}

func rate(req, errs int64) float64 {
	if req <= 0 {
		return 0
	}
	return float64(errs) / float64(req)
}

// evaluateService applies the decision rules to one service. It reads the
// state under the lock, asks Health and the window outside it (Health may
// take locks of its own), then re-checks that nothing moved before acting.
func (g *Guard) evaluateService(name string, now time.Time) {
	g.mu.Lock()
	st := g.svcs[name]
	if st == nil || !st.active.Valid() || st.latched || st.pending != nil {
		g.mu.Unlock()
		return
	}
	cfg, minHealthy, gen := st.cfg, st.minHealthy, st.gen
	from := st.active
	to := from.Other()
	armed, exempt := st.armedAt(now), st.forcedExempt
	win := st.rec.win[from.Index()].Load()
	g.mu.Unlock()

	length := windowLength(cfg)
	mono := g.clk.mono(now)
	trip := Trip{At: now, From: from, To: to, Window: length}
	trip.Requests, trip.Errors = win.Sum(mono)
	trip.Rate = rate(trip.Requests, trip.Errors)

	// The error and latency trigger.
	var cond string
	if armed && trip.Requests > 0 && trip.Requests >= int64(cfg.MinRequests) {
		if trip.Errors > 0 && trip.Rate >= cfg.MaxErrorRate {
			cond = fmt.Sprintf("error rate %.3g >= %.3g over %s (%d of %d requests)",
				trip.Rate, cfg.MaxErrorRate, length, trip.Errors, trip.Requests)
		} else if limit := cfg.MaxP99.D(); limit > 0 {
			if trip.P99 = win.P99(mono); trip.P99 >= limit {
				cond = fmt.Sprintf("p99 latency %s >= %s over %s (%d requests)",
					trip.P99.Round(time.Millisecond), limit, length, trip.Requests)
			}
		}
	}

	// Failover: every upstream of the active colour known down.
	var upA, downA, totalA int
	if g.health != nil && (cfg.Failover || exempt) {
		upA, downA, totalA = g.health.Counts(name, from)
	}
	allDown := cfg.Failover && totalA > 0 && downA == totalA && !exempt

	otherOK, otherNote := true, ""
	if g.health != nil && (cond != "" || allDown) {
		up, _, total := g.health.Counts(name, to)
		need := minHealthy.Need(total)
		otherOK = total > 0 && up >= need
		otherNote = fmt.Sprintf("%s has %d of %d upstreams up (needs %d)", to, up, total, need)
	}

	var revert *pendingRevert
	var blocked, impossible bool
	g.mu.Lock()
	if g.svcs[name] != st || st.gen != gen || st.latched || st.pending != nil {
		g.mu.Unlock() // the state moved meanwhile; the next tick judges afresh
		return
	}
	if exempt && upA > 0 {
		st.forcedExempt = false
	}
	waiting := now.Before(st.retryAt)
	switch {
	case cond != "" && otherOK:
		trip.Reason, trip.Detail = Trigger, cond
		if !waiting {
			revert = &pendingRevert{trip: trip, gen: gen}
		}
	case cond != "":
		trip.Reason, trip.Detail = Trigger, cond+"; "+otherNote
		if !st.blockedEp {
			st.blockedEp, st.blocked, blocked = true, trip.Detail, true
		}
	case allDown && otherOK:
		trip.Reason = Failover
		trip.Detail = fmt.Sprintf("all %d upstreams of %s are down", totalA, from)
		if otherNote != "" {
			trip.Detail += "; " + otherNote
		}
		if !waiting {
			revert = &pendingRevert{trip: trip, gen: gen}
		}
	case allDown:
		trip.Reason = Failover
		trip.Detail = fmt.Sprintf("all %d upstreams of %s are down; %s", totalA, from, otherNote)
		if !st.failoverEp {
			st.failoverEp, impossible = true, true
		}
	}
	// An episode ends when its condition no longer holds, so that the next
	// one is reported again.
	if cond == "" && !allDown {
		st.blockedEp = false
	}
	if !allDown {
		st.failoverEp = false
	}
	if revert != nil {
		st.pending = revert
	}
	g.mu.Unlock()

	switch {
	case blocked:
		g.log.Error("automatic revert blocked: previous colour unhealthy", tripFields(name, trip)...)
		if g.events != nil {
			g.events.GuardBlocked(name, from, to, trip.Reason, trip.Detail)
		}
	case impossible:
		// Not a guard_blocked: failover's condition includes a healthy other
		// colour, so nothing was due. Still worth one line per episode.
		g.log.Warn("failover impossible: other colour unhealthy", tripFields(name, trip)...)
	case revert != nil:
		g.revert(name, revert)
	}
}

// revert calls the Switcher, outside the lock, and records the result.
func (g *Guard) revert(name string, p *pendingRevert) {
	t := p.trip
	err := errNoSwitcher
	if g.sw != nil {
		err = g.sw.Revert(name, t.From, t.To, t.Reason, t.Detail)
	}
	now := g.clk.wall()

	var blocked bool
	g.mu.Lock()
	st := g.svcs[name]
	if st == nil || st.pending != p {
		g.mu.Unlock() // removed meanwhile
		if err == nil {
			g.log.Error("automatic revert", tripFields(name, t)...)
		}
		return
	}
	if err == nil {
		st.lastTrip, st.reverted = &t, &t
		st.latched = true
		if p.consumed {
			st.pending = nil
		} else {
			// Activated(to) has not come yet: act as if it had, and let it
			// find p.done when it does.
			p.done = true
			st.active = t.To
			st.rec.win[t.To.Index()].Load().Reset()
		}
	} else {
		st.pending = nil
		switch {
		case p.consumed:
			// The Activated(to) taken for ours was someone's flip to the
			// same colour, which is why Revert found `from` inactive.
			st.flip(t.To, p.at, p.forced, false)
		case st.gen != p.gen:
			// A flip happened meanwhile; its own watch takes over.
		default:
			st.retryAt = now.Add(retryAfterRefusal)
			if !st.blockedEp {
				t.Detail += "; revert refused: " + err.Error()
				st.blockedEp, st.blocked, blocked = true, t.Detail, true
			}
		}
	}
	g.notifyLocked()
	g.mu.Unlock()

	switch {
	case err == nil:
		g.log.Error("automatic revert", tripFields(name, t)...)
		if g.trips != nil && t.Reason == Trigger {
			g.trips.WithLabelValues(name).Inc()
		}
	case blocked:
		g.log.Error("automatic revert refused", append(tripFields(name, t), zap.Error(err))...)
		if g.events != nil {
			g.events.GuardBlocked(name, t.From, t.To, t.Reason, t.Detail)
		}
	default:
		g.log.Warn("automatic revert refused", append(tripFields(name, t), zap.Error(err))...)
	}
}

func tripFields(name string, t Trip) []zap.Field {
	f := []zap.Field{
		zap.String("service", name),
		zap.Stringer("reason", t.Reason),
		zap.Stringer("from", t.From),
		zap.Stringer("to", t.To),
		zap.Float64("rate", t.Rate),
		zap.Int64("requests", t.Requests),
		zap.Int64("errors", t.Errors),
		zap.Duration("window", t.Window),
		zap.String("detail", t.Detail),
	}
	if t.P99 > 0 {
		f = append(f, zap.Duration("p99", t.P99))
	}
	return f
}
