package health

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchd/switchd/internal/config"
)

// Target is the live health of one upstream of one service. It is shared by
// the prober and the proxy and outlives config reloads: a kept upstream keeps
// its Target. Safe for concurrent use; the zero value is not usable, use
// NewTarget (or a Monitor, which makes and probes them).
type Target struct {
	service string
	address string

	// state is read on every request: one atomic load, no lock.
	state atomic.Int32
	// confirmed: the Down state was seen by a probe, not only by a failed
	// live request.
	confirmed atomic.Bool
	color     atomic.Uint32 // config.Color; may change on reload

	obs Observer

	// emit serialises whole state changes including the Observer call, so
	// that the Observer sees transitions in the order they happened. Without
	// it a passive Fail racing a probe's Record could deliver Up after Down
	// while the state is Down, leaving metrics and the switchboard wrong.
	emit sync.Mutex

	mu          sync.Mutex
	rise, fall  int
	passes      int
	fails       int
	since       time.Time
	lastCheck   time.Time
	lastLatency time.Duration
	lastErr     string
}

// Status is a copy of a Target's health for status pages.
type Status struct {
	Address     string
	State       State
	Since       time.Time // when State began; zero while Unknown
	LastCheck   time.Time // zero before the first check
	LastLatency time.Duration
	LastError   string
	Passes      int // consecutive
	Fails       int // consecutive
}

func newTarget(service, address string, c config.Color, rise, fall int, obs Observer) *Target {
	t := &Target{service: service, address: address, obs: obs, rise: max(rise, 1), fall: max(fall, 1)}
	t.color.Store(uint32(c))
	return t
}

// NewTarget returns a Target that is not probed: its state moves only
// through Fail and Record. Useful for tests and for upstreams whose checks
// are off. rise and fall below 1 count as 1. obs may be nil.
func NewTarget(service, address string, c config.Color, rise, fall int, obs Observer) *Target {
	return newTarget(service, address, c, rise, fall, obs)
}

// Address returns the upstream address as configured.
func (t *Target) Address() string { return t.address }

// Service returns the name of the service the upstream belongs to.
func (t *Target) Service() string { return t.service }

// Color returns the colour the upstream currently belongs to.
func (t *Target) Color() config.Color { return config.Color(t.color.Load()) }

// State returns the current state with one atomic load.
func (t *Target) State() State { return State(t.state.Load()) }

// ConfirmedDown reports whether the upstream is Down and a probe, not only
// a failed live request, says so. Failover acts on this alone.
func (t *Target) ConfirmedDown() bool { return t.State() == Down && t.confirmed.Load() }

// Healthy reports whether the state is Up.
func (t *Target) Healthy() bool { return t.State() == Up }

// Status returns a copy of the current health.
func (t *Target) Status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Status{
		Address: t.address, State: t.State(), Since: t.since, LastCheck: t.lastCheck,
		LastLatency: t.lastLatency, LastError: t.lastErr, Passes: t.passes, Fails: t.fails,
	}
}

// Fail records a transport failure of a live request: the upstream is Down
// at once and must pass rise checks again before it gets traffic. The
// Observer is called (on the caller's goroutine) only when the state changes.
func (t *Target) Fail(err error) {
	now := time.Now()
	t.emit.Lock()
	defer t.emit.Unlock()
	t.mu.Lock()
	t.passes = 0
	t.fails = max(t.fails, t.fall)
	if err != nil {
		t.lastErr = err.Error()
	}
	if t.State() != Down {
		// One failed request takes the upstream out of rotation, but only
		// a failed probe makes it "known down" for failover: a single
		// timeout or stale connection must not move a whole service.
		t.confirmed.Store(false)
	}
	tr, changed := t.setLocked(Down, now, true)
	t.mu.Unlock()
	if changed && t.obs != nil {
		t.obs.HealthChanged(tr)
	}
}

// Record applies the result of one probe: err nil is a pass. Between Up and
// Down it takes rise consecutive passes or fall consecutive failures to
// change state. The first check of an Unknown target decides at once: an
// upstream is "unknown until its first check" (docs/configuration.md), as
// with nginx's "mandatory" and Envoy's start-up checks. Waiting for rise
// passes would keep a fresh colour out of the flip gate, and a dead one out
// of failover, for no gain — there is no earlier good state for the
// thresholds to protect.
func (t *Target) Record(err error, latency time.Duration, at time.Time) {
	t.emit.Lock()
	defer t.emit.Unlock()
	t.mu.Lock()
	t.lastCheck = at
	t.lastLatency = latency
	prev := t.State()
	next := prev
	if err == nil {
		t.passes++
		t.fails = 0
		t.lastErr = ""
		if t.passes >= t.rise || prev == Unknown {
			next = Up
		}
	} else {
		t.fails++
		t.passes = 0
		t.lastErr = err.Error()
		if t.fails >= t.fall || prev == Unknown {
			next = Down
		}
		if next == Down {
			t.confirmed.Store(true)
		}
	}
	tr, changed := t.setLocked(next, at, false)
	t.mu.Unlock()
	if changed && t.obs != nil {
		t.obs.HealthChanged(tr)
	}
}

// setThresholds changes rise, fall and colour (on reload); counters and
// state are kept.
func (t *Target) setThresholds(rise, fall int, c config.Color) {
	t.mu.Lock()
	t.rise, t.fall = max(rise, 1), max(fall, 1)
	t.mu.Unlock()
	t.color.Store(uint32(c))
}

func (t *Target) setLocked(next State, at time.Time, passive bool) (Transition, bool) {
	prev := t.State()
	if next == prev {
		return Transition{}, false
	}
	t.state.Store(int32(next))
	t.since = at
	tr := Transition{Service: t.service, Color: t.Color(), Address: t.address, From: prev, To: next, At: at, Passive: passive}
	if next == Down {
		tr.Err = t.lastErr
	}
	return tr, true
}
