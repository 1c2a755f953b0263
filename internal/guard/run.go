package guard

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/switchboard"
)

// Run evaluates every service each Tick until ctx is done, asking sw (the
// switchboard) for pool health and reverts.
func (g *Guard) Run(ctx context.Context, sw Switcher) {
	t := time.NewTicker(g.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.evaluate(sw)
		}
	}
}

// evaluate judges every service once.
func (g *Guard) evaluate(sw Switcher) {
	g.mu.Lock()
	names := make([]string, 0, len(g.svcs))
	for name := range g.svcs {
		names = append(names, name)
	}
	g.mu.Unlock()
	now := g.clk.wall()
	for _, name := range names {
		g.evaluateService(sw, name, now)
	}
}

// action is what a verdict comes to once its episode is booked.
type action int

const (
	doNothing action = iota
	doRevert         // ask the switchboard
	doNotice         // guard_blocked, logged at error level
	doWarn           // failover impossible: one warning
)

// evaluateService gathers one service's inputs, decides and books in one
// critical section (nothing it reads waits for a lock), then acts outside
// it, since Revert ends in Changed, which takes the lock.
func (g *Guard) evaluateService(sw Switcher, name string, now time.Time) {
	g.mu.Lock()
	st := g.svcs[name]
	if st == nil || !st.active.Valid() {
		g.mu.Unlock()
		return
	}
	in := g.gather(sw, name, st, now)
	v := decide(in)
	todo := st.book(v, now)
	gen := st.gen
	g.mu.Unlock()

	if todo == doNothing {
		return
	}
	t := Trip{At: now, Reason: v.reason, Trigger: v.trigger, From: in.active, To: in.active.Other(),
		Rate: rate(in.window.requests, in.window.errors), Requests: in.window.requests, Errors: in.window.errors,
		P99: in.window.p99, Window: windowLength(in.cfg), Detail: v.detail}
	switch todo {
	case doNotice:
		g.log.Error("automatic revert blocked: previous colour unhealthy", tripFields(name, t)...)
		if g.events != nil {
			g.events.GuardBlocked(name, t.From, t.To, t.Reason, t.Detail)
		}
	case doWarn:
		// Not a guard_blocked: failover's condition includes a healthy other
		// colour, so nothing was due. Still worth one line per episode.
		g.log.Warn("failover impossible: other colour unhealthy", tripFields(name, t)...)
	case doRevert:
		g.revert(sw, name, st, t, gen)
	}
}

// gather reads what decide needs. g.mu must be held; sw.Counts and the
// windows are lock-free.
func (g *Guard) gather(sw Switcher, name string, st *svcState, now time.Time) input {
	in := input{now: now, cfg: st.cfg, minHealthy: st.minHealthy, active: st.active,
		arming: st.arming(), latch: st.latch, exempt: st.forcedExempt}
	for _, c := range config.Colors {
		up, down, total := sw.Counts(name, c)
		in.health[c.Index()] = poolHealth{up: up, down: down, total: total}
	}
	if in.exempt && in.health[st.active.Index()].up > 0 {
		st.forcedExempt, in.exempt = false, false // healthy once: exempt no more
	}
	win := st.rec.win[st.active.Index()].Load()
	mono := g.clk.mono(now)
	in.window.requests, in.window.errors = win.Sum(mono)
	if win.Latency() && triggerArmed(in.cfg, in.arming, in.latch != nil, now) {
		in.window.p99 = win.P99(mono) // reads every histogram bin: only when it may matter
	}
	return in
}

// book keeps the episodes, so that a blocked revert is reported once, not
// every tick, and refusals are retried at most every retryAfterRefusal.
// g.mu must be held.
func (st *svcState) book(v verdict, now time.Time) action {
	switch {
	case v.kind == noVerdict:
		// An episode ends when its condition no longer holds, so that the
		// next one is reported again.
		st.blockedEp, st.failoverEp = false, false
	case v.kind == blockedVerdict && v.reason == switchboard.Failover:
		if !st.failoverEp {
			st.failoverEp = true
			return doWarn
		}
	case v.kind == blockedVerdict:
		st.failoverEp = false
		if !st.blockedEp {
			st.blockedEp, st.blocked = true, v.detail
			return doNotice
		}
	default: // revertVerdict, failoverVerdict
		st.failoverEp = false
		if !now.Before(st.retryAt) {
			return doRevert
		}
	}
	return doNothing
}

// revert asks sw, outside the lock, and books the outcome. On success
// Changed has already booked the revert from the board's change; the
// window's figures, which only the decision knows, are added to it here.
// gen is the generation the decision saw.
func (g *Guard) revert(sw Switcher, name string, st *svcState, t Trip, gen uint64) {
	ch, err := sw.Revert(name, t.From, t.To, t.Reason, t.Detail)
	now := g.clk.wall()

	var notice bool
	g.mu.Lock()
	switch {
	case g.svcs[name] != st:
		// Removed meanwhile.
	case err == nil:
		if lt := st.lastTrip; lt != nil && lt.Generation == ch.Generation {
			t.At, t.Generation = lt.At, lt.Generation
			*lt = t // shared with latch and sinceFlip
		}
	case st.gen != gen:
		// A change came first (which is why Revert refused); its own
		// watch takes over.
	default:
		st.retryAt = now.Add(retryAfterRefusal)
		if !st.blockedEp {
			t.Detail += "; revert refused: " + err.Error()
			st.blockedEp, st.blocked, notice = true, t.Detail, true
		}
	}
	g.mu.Unlock()

	switch {
	case err == nil:
		t.Generation = ch.Generation
		g.log.Error("automatic revert", tripFields(name, t)...)
	case notice:
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
	if t.Trigger != "" {
		f = append(f, zap.String("trigger", t.Trigger))
	}
	if t.P99 > 0 {
		f = append(f, zap.Duration("p99", t.P99))
	}
	if t.Generation > 0 {
		f = append(f, zap.Uint64("generation", t.Generation))
	}
	return f
}
