package health

import (
	"time"

	"github.com/switchd/switchd/internal/config"
)

// State is the health of one upstream. The zero value is Unknown.
type State int32

const (
	// Unknown: not checked yet.
	Unknown State = iota
	// Up: passed rise consecutive checks.
	Up
	// Down: failed fall consecutive checks, or a live request failed.
	Down
)

// String returns "unknown", "up" or "down".
func (s State) String() string {
	switch s {
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return "unknown"
}

// MarshalText writes the state as String does.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Transition is a change of an upstream's State.
type Transition struct {
	Service string
	Color   config.Color
	Address string
	From    State
	To      State
	// Err is the last error that caused a move to Down ("" otherwise).
	Err string
	At  time.Time
	// Passive is true when a live request, not a probe, caused it.
	Passive bool
}

// Observer receives transitions. HealthChanged is called from the checker's
// goroutines (or a request's, for passive failures): it must not block. The
// calls for one Target come one at a time, in the order the changes
// happened; so HealthChanged must not call Fail or Record on that Target
// (reading it, e.g. Status, is fine), nor Monitor.Sync or Monitor.Close.
type Observer interface {
	HealthChanged(Transition)
}
