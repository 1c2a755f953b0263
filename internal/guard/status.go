package guard

import (
	"time"

	"github.com/switchd/switchd/control/api"
	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/switchboard"
)

// Trip describes an automatic revert: the guard's (reason
// switchboard.Guard) or failover (switchboard.Failover).
type Trip struct {
	At     time.Time
	Reason switchboard.Reason
	// Trigger names the trigger that tripped ("error_rate", "p99"); "" for
	// failover.
	Trigger  string
	From, To config.Color
	// Rate, Requests, Errors and P99 describe From's window when it tripped;
	// zero for a revert restored at start-up. P99 is 0 when max_p99 is off.
	Rate     float64
	Requests int64
	Errors   int64
	P99      time.Duration
	Window   time.Duration
	Detail   string
	// Generation is the one the revert made.
	Generation uint64
}

// WatchState is the outcome of the watch that follows the last flip. The
// zero value, WatchUnknown, means the service is unknown or no change has
// been told yet.
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
		return api.WatchWatching
	case Stable:
		return api.WatchStable
	case Reverted:
		return api.WatchReverted
	}
	return api.WatchUnknown
}

// Outcome is what a waiter on `wait?until=stable` needs to know about the
// last flip (the last change that was not the guard's own revert).
//
// The watch after a flip is Stable once `watch` has passed without a revert.
// With watch = "always" the trigger never disarms, so Stable means: no revert
// within one window length after the flip (enough requests have been judged
// on the new colour alone); a later revert still turns the Outcome into
// Reverted. With the guard disabled, or for the start-up restore, it is
// Stable at once. A failover after the flip also makes it Reverted.
type Outcome struct {
	// Flip is when the watched activation happened.
	Flip time.Time
	// Startup is true when the watched activation is the start-up restore.
	Startup bool
	State   WatchState
	// Until is when Watching turns into Stable if nothing trips.
	Until time.Time
	// Trip is the revert, when State is Reverted.
	Trip *Trip
}

// ColorStatus is one colour's window.
type ColorStatus struct {
	Requests int64
	Errors   int64
	Rate     float64 // Errors/Requests; 0 without requests
	// P99 is the estimated p99 latency; 0 without requests or when max_p99
	// is off (no histogram is kept then).
	P99 time.Duration
}

// Status is a copy of a service's guard state for the control API.
type Status struct {
	// Active is the colour the guard watches; NoColor before the first
	// change was told.
	Active config.Color
	// Armed reports whether the error/latency trigger is armed now.
	Armed bool
	// ArmedUntil is when the trigger disarms; zero when not armed or armed
	// for ever (ArmedAlways).
	ArmedUntil  time.Time
	ArmedAlways bool
	// Latched is true after an automatic revert: the triggers stay off
	// until the next flip (failover does not).
	Latched bool
	// Window is the configured window length.
	Window time.Duration
	// Colors holds each colour's window, by Color.Index().
	Colors [2]ColorStatus
	// LastTrip is the last automatic revert; nil if none since start-up.
	LastTrip *Trip
	// Blocked is the detail of the last guard_blocked notice since the last
	// flip; "" if none.
	Blocked string
	Outcome Outcome
}

// Color returns the window of colour c (zero for NoColor).
func (s Status) Color(c config.Color) ColorStatus {
	if !c.Valid() {
		return ColorStatus{}
	}
	return s.Colors[c.Index()]
}

func copyTrip(t *Trip) *Trip {
	if t == nil {
		return nil
	}
	c := *t
	return &c
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
		Latched:  st.latch != nil,
		Window:   windowLength(st.cfg),
		LastTrip: copyTrip(st.lastTrip),
		Blocked:  st.blocked,
		Outcome:  st.outcome(now),
	}
	if s.Armed {
		a := st.arming()
		s.ArmedUntil, s.ArmedAlways = a.until, a.always
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
