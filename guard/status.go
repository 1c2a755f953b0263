package guard

import (
	"context"
	"fmt"
	"time"

	"switchd/config"
)

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
