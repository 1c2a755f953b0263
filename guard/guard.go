// Package guard watches the active colour of every service and asks the
// switchboard to make the previous colour active again when the active one
// fails: the error (or latency) trigger, armed for `watch` after each flip,
// and failover, armed all the time. It never flips by itself; the
// switchboard, which owns the active colour, does (SPEC "Guard (automatic
// revert)").
//
// The request path only touches Service.Record: atomics on a per-service,
// per-colour Window, no lock, no allocation. Decisions are made by Run on
// ticks of at most 100ms, so a revert follows its condition well within the
// promised second.
package guard

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"switchd/config"
)

// Reason says why the guard asked for a revert.
type Reason string

const (
	// Trigger: the active colour's error rate (or p99 latency) reached its
	// limit while the trigger was armed.
	Trigger Reason = "guard"
	// Failover: every upstream of the active colour is known down and the
	// other colour is healthy.
	Failover Reason = "failover"
)

// String returns "guard" or "failover".
func (r Reason) String() string { return string(r) }

// ErrUnknownService is returned for a service that is not configured.
var ErrUnknownService = errors.New("unknown service")

// errNoSwitcher makes a trip without a Switcher look like a refusal, so it
// is logged and retried like one.
var errNoSwitcher = errors.New("no switcher configured")

// Defaults and limits.
const (
	// DefaultTick is how often Run evaluates every service.
	DefaultTick = 50 * time.Millisecond
	// MaxTick bounds Options.Tick: the spec promises a revert within one
	// second of the condition, and the window itself moves in 100ms steps.
	MaxTick = 100 * time.Millisecond
	// DefaultWindow is used when config.Guard.Window is zero.
	DefaultWindow = 10 * time.Second
	// retryAfterRefusal spaces out attempts after the Switcher refused a
	// revert, so that a persistent refusal does not call it every tick.
	retryAfterRefusal = time.Second
)

// Switcher is the one owner of the active colour (implemented by the
// switchboard).
type Switcher interface {
	// Revert makes `to` active if `from` is still active, for reason guard
	// or failover; detail is a human sentence such as "error rate 0.31 >=
	// 0.05 over 10s (62 of 200 requests)". It returns an error when it
	// refused (the state changed meanwhile, the target is unhealthy, …).
	//
	// When it succeeds it must call Guard.Activated(service, to, …) like
	// after any other change, before or after returning. The guard never
	// holds its lock while calling Revert, so calling back is safe.
	Revert(service string, from, to config.Color, reason Reason, detail string) error
}

// Health tells the guard about pools (implemented by the health side).
type Health interface {
	// Counts returns, for one colour of a service, the upstreams that are
	// Up, those that are known Down (Unknown ones are neither) and the total.
	Counts(service string, c config.Color) (up, down, total int)
}

// Events receives guard_blocked notices: a revert was due but the previous
// colour is unhealthy (or the Switcher refused). Sent once per episode, not
// every tick.
type Events interface {
	GuardBlocked(service string, from, to config.Color, reason Reason, detail string)
}

// Options configures New.
type Options struct {
	// Switcher performs reverts. Required: nil only logs the trips (as
	// refused reverts).
	Switcher Switcher
	// Health reports pool health. nil turns failover off and lets every
	// revert through to the Switcher, whose own health gate then decides.
	Health Health
	// Events receives guard_blocked notices. nil: none are sent.
	Events Events
	// Logger receives trips and blocked reverts at error level. nil: no logs.
	Logger *zap.Logger
	// Trips counts successful reverts made by the error/latency trigger
	// (not failover), labelled by service: switchd_guard_trips_total.
	// nil: not counted.
	Trips *prometheus.CounterVec
	// Tick is how often Run evaluates. Zero: DefaultTick; above MaxTick:
	// MaxTick.
	Tick time.Duration

	// now replaces time.Now in tests.
	now func() time.Time
}

// Guard is the decision engine. Create it with New; the zero value is
// unusable. Its methods are safe for concurrent use.
type Guard struct {
	sw     Switcher
	health Health
	events Events
	log    *zap.Logger
	trips  *prometheus.CounterVec
	tick   time.Duration
	clk    *clock

	// recs maps names to recorders; copy-on-write so that Service needs no
	// lock (it may be called per request).
	recs atomic.Pointer[map[string]*Service]

	mu   sync.Mutex
	svcs map[string]*svcState
	// changed is closed and replaced whenever an Outcome may have changed,
	// to wake Wait.
	changed chan struct{}
}

// New returns a Guard with no services; add them with Configure.
func New(o Options) *Guard {
	g := &Guard{
		sw:      o.Switcher,
		health:  o.Health,
		events:  o.Events,
		log:     o.Logger,
		trips:   o.Trips,
		tick:    o.Tick,
		clk:     &clock{now: o.now},
		svcs:    make(map[string]*svcState),
		changed: make(chan struct{}),
	}
	g.clk.base = g.clk.wall()
	if g.log == nil {
		g.log = zap.NewNop()
	}
	if g.tick <= 0 {
		g.tick = DefaultTick
	}
	g.tick = min(g.tick, MaxTick)
	g.recs.Store(&map[string]*Service{})
	return g
}

// clock is the guard's time source: a monotonic base for the windows and
// wall time for deadlines. Tests replace now.
type clock struct {
	base time.Time
	now  func() time.Time
}

func (c *clock) wall() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// mono converts t to window time. t.Sub uses the monotonic readings when both
// have one, so a wall-clock step does not move the windows.
func (c *clock) mono(t time.Time) int64 { return int64(t.Sub(c.base)) }

func (c *clock) monoNow() int64 {
	if c.now != nil {
		return c.mono(c.now())
	}
	return int64(time.Since(c.base))
}

// Service records the outcome of requests of one service. Get it from
// Guard.Service and keep the pointer (for example in the routing snapshot):
// it stays valid across Configure updates. A nil *Service records nothing.
type Service struct {
	clk *clock
	win [2]atomic.Pointer[Window] // by Color.Index()

	// Geometry of the windows; written under Guard.mu only.
	length  time.Duration
	latency bool
}

// Record counts one completed request to colour c. isErr is true for a 5xx
// from the upstream and for the 502/504 switchd answered because the
// upstream could not; a 4xx or a client that went away is not an error.
// latency feeds the p99 trigger when max_p99 is set. O(1), no allocation,
// no lock shared between requests.
func (s *Service) Record(c config.Color, isErr bool, latency time.Duration) {
	if s == nil || !c.Valid() {
		return
	}
	s.win[c.Index()].Load().Record(s.clk.monoNow(), isErr, latency)
}

// RecordAt is Record for a request that completed at end. A proxy that has
// just read the clock to measure latency passes that reading, which saves
// Record's own clock read (most of its cost). end must carry a monotonic
// reading (any time.Now() does); a zero end means now.
func (s *Service) RecordAt(c config.Color, isErr bool, latency time.Duration, end time.Time) {
	if s == nil || !c.Valid() {
		return
	}
	now := s.clk.mono(end)
	if end.IsZero() {
		now = s.clk.monoNow()
	}
	s.win[c.Index()].Load().Record(now, isErr, latency)
}

// Trip describes an automatic revert.
type Trip struct {
	At     time.Time    `json:"at"`
	Reason Reason       `json:"reason"`
	From   config.Color `json:"from"`
	To     config.Color `json:"to"`
	// Rate, Requests, Errors and P99 describe From's window when it tripped.
	Rate     float64       `json:"rate"`
	Requests int64         `json:"requests"`
	Errors   int64         `json:"errors"`
	P99      time.Duration `json:"p99,omitempty"`
	Window   time.Duration `json:"window"`
	Detail   string        `json:"detail"`
}

// WatchState is the outcome of the watch that follows the last flip. The
// zero value, WatchUnknown, means the service is unknown or has had no
// Activated call yet.
type WatchState int

const (
	// WatchUnknown: no service, or no activation yet.
	WatchUnknown WatchState = iota
	// Watching: the trigger is armed after the last flip and has not tripped.
	Watching
	// Stable: the watch after the last flip ended without a revert.
	Stable
	// Reverted: the guard or failover reverted after the last flip.
	Reverted
)

// String returns "unknown", "watching", "stable" or "reverted".
func (s WatchState) String() string {
	switch s {
	case Watching:
		return "watching"
	case Stable:
		return "stable"
	case Reverted:
		return "reverted"
	}
	return "unknown"
}

// MarshalText writes the state as String does.
func (s WatchState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Outcome is what a waiter on `wait?until=stable` needs to know about the
// last flip (the last Activated that was not the guard's own revert).
//
// The watch after a flip is Stable once `watch` has passed without a revert.
// With watch = "always" the trigger never disarms, so Stable means: no revert
// within one window length after the flip (enough requests have been judged
// on the new colour alone); a later revert still turns the Outcome into
// Reverted. With the guard disabled, or for the start-up restore, it is
// Stable at once. A failover after the flip also makes it Reverted.
type Outcome struct {
	// Flip is when the watched activation happened.
	Flip time.Time `json:"flip"`
	// Startup is true when the watched activation is the start-up restore.
	Startup bool       `json:"startup,omitempty"`
	State   WatchState `json:"state"`
	// Until is when Watching turns into Stable if nothing trips.
	Until time.Time `json:"until"`
	// Trip is the revert, when State is Reverted.
	Trip *Trip `json:"trip,omitempty"`
}

// ColorStatus is one colour's window.
type ColorStatus struct {
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Rate     float64 `json:"rate"` // Errors/Requests; 0 without requests
	// P99 is the estimated p99 latency; 0 without requests or when max_p99
	// is off (no histogram is kept then).
	P99 time.Duration `json:"p99"`
}

// Status is a copy of a service's guard state for the control API.
type Status struct {
	// Active is the colour the guard watches; NoColor before the first
	// Activated.
	Active config.Color `json:"active"`
	// Armed reports whether the error/latency trigger is armed now.
	Armed bool `json:"armed"`
	// ArmedUntil is when the trigger disarms; zero when not armed or armed
	// for ever (ArmedAlways).
	ArmedUntil  time.Time `json:"armed_until"`
	ArmedAlways bool      `json:"armed_always"`
	// Latched is true after an automatic revert: nothing automatic happens
	// until the next flip.
	Latched bool `json:"latched"`
	// Window is the configured window length.
	Window time.Duration `json:"window"`
	// Colors holds each colour's window, by Color.Index().
	Colors [2]ColorStatus `json:"colors"`
	// LastTrip is the last automatic revert; nil if none since start-up.
	LastTrip *Trip `json:"last_trip"`
	// Blocked is the detail of the last guard_blocked notice since the last
	// flip; "" if none.
	Blocked string  `json:"blocked,omitempty"`
	Outcome Outcome `json:"outcome"`
}

// Color returns the window of colour c (zero for NoColor).
func (s Status) Color(c config.Color) ColorStatus {
	if !c.Valid() {
		return ColorStatus{}
	}
	return s.Colors[c.Index()]
}

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

func copyTrip(t *Trip) *Trip {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// notifyLocked wakes every Wait. g.mu must be held.
func (g *Guard) notifyLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// Configure adds a service or updates its configuration. An update keeps
// the service's windows, state and Service pointer; only a change of the
// window length or switching max_p99 on or off starts the counting afresh
// (the buckets are laid out differently).
func (g *Guard) Configure(name string, cfg config.Guard, minHealthy config.MinHealthy) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.svcs[name]
	if st == nil {
		st = &svcState{rec: &Service{clk: g.clk}}
		g.svcs[name] = st
		m := maps.Clone(*g.recs.Load())
		m[name] = st.rec
		g.recs.Store(&m)
	}
	st.cfg, st.minHealthy = cfg, minHealthy
	st.gen++
	length, latency := windowLength(cfg), cfg.MaxP99 > 0
	if st.rec.length != length || st.rec.latency != latency {
		for i := range st.rec.win {
			st.rec.win[i].Store(NewWindow(length, DefaultResolution, latency))
		}
		st.rec.length, st.rec.latency = length, latency
	}
	g.notifyLocked()
}

// Remove forgets a service. Its Service keeps working but is no longer
// judged.
func (g *Guard) Remove(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.svcs[name]; !ok {
		return
	}
	delete(g.svcs, name)
	m := maps.Clone(*g.recs.Load())
	delete(m, name)
	g.recs.Store(&m)
	g.notifyLocked()
}

// Service returns the recorder of a service, or nil for an unknown one
// (whose Record does nothing). Lock-free.
func (g *Guard) Service(name string) *Service {
	return (*g.recs.Load())[name]
}

// Activated is called by the switchboard after every change of the active
// colour, including its own reverts for the guard, and once at start-up for
// the restored state (startup true). It starts the new colour's counting
// afresh. A flip arms the trigger for `watch`; the start-up restore arms it
// only with watch = "always". forced marks a colour made active with force:
// failover leaves it alone until it has been seen healthy. Unknown services
// and NoColor are ignored.
func (g *Guard) Activated(name string, active config.Color, at time.Time, forced, startup bool) {
	if !active.Valid() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.svcs[name]
	if st == nil {
		return
	}
	if at.IsZero() {
		at = g.clk.wall() // a zero time would read as "never activated"
	}
	st.rec.win[active.Index()].Load().Reset()
	defer g.notifyLocked()
	if p := st.pending; p != nil && !startup && !p.consumed && active == p.trip.To {
		// Our own revert (or, rarely, a manual flip to the same colour at
		// the same moment: revert sorts that out when Revert fails).
		p.consumed, p.at, p.forced = true, at, forced
		st.active = active
		st.latched = true
		if p.done {
			st.pending = nil
		}
		return
	}
	if st.pending != nil && st.pending.done {
		st.pending = nil // its Activated never came; this flip supersedes it
	}
	st.flip(active, at, forced, startup)
}

// Status returns a copy of a service's guard state; zero for an unknown
// service.
func (g *Guard) Status(name string) Status {
	now := g.clk.wall()
	g.mu.Lock()
	st := g.svcs[name]
	if st == nil {
		g.mu.Unlock()
		return Status{}
	}
	s := Status{
		Active:   st.active,
		Armed:    st.armedAt(now),
		Latched:  st.latched,
		Window:   windowLength(st.cfg),
		LastTrip: copyTrip(st.lastTrip),
		Blocked:  st.blocked,
		Outcome:  st.outcome(now),
	}
	if s.Armed {
		if st.cfg.Watch.Always {
			s.ArmedAlways = true
		} else {
			s.ArmedUntil = st.flipAt.Add(st.cfg.Watch.For)
		}
	}
	wins := [2]*Window{st.rec.win[0].Load(), st.rec.win[1].Load()}
	g.mu.Unlock()

	mono := g.clk.mono(now)
	for i, w := range wins {
		req, errs := w.Sum(mono)
		s.Colors[i] = ColorStatus{Requests: req, Errors: errs, Rate: rate(req, errs), P99: w.P99(mono)}
	}
	return s
}

// Outcome returns the outcome of the watch after the last flip of a
// service; the zero Outcome (WatchUnknown) for an unknown service.
func (g *Guard) Outcome(name string) Outcome {
	now := g.clk.wall()
	g.mu.Lock()
	defer g.mu.Unlock()
	if st := g.svcs[name]; st != nil {
		return st.outcome(now)
	}
	return Outcome{}
}

// Wait blocks until the watch after the last flip of a service is Stable or
// Reverted, and returns that Outcome. It returns ctx.Err() (with the
// current Outcome) when ctx ends first, and ErrUnknownService for a service
// that is not (or no longer) configured.
func (g *Guard) Wait(ctx context.Context, name string) (Outcome, error) {
	for {
		now := g.clk.wall()
		g.mu.Lock()
		st := g.svcs[name]
		if st == nil {
			g.mu.Unlock()
			return Outcome{}, fmt.Errorf("service %q: %w", name, ErrUnknownService)
		}
		o := st.outcome(now)
		ch := g.changed
		g.mu.Unlock()
		if o.State == Stable || o.State == Reverted {
			return o, nil
		}
		var timer *time.Timer
		var timeout <-chan time.Time
		if o.State == Watching {
			timer = time.NewTimer(o.Until.Sub(now))
			timeout = timer.C
		}
		select {
		case <-ctx.Done():
			return o, ctx.Err()
		case <-ch:
		case <-timeout:
		}
		if timer != nil {
			timer.Stop()
		}
	}
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
