package switchboard

import "github.com/switchd/switchd/control/api"

// Reason says why the active colour changed. Its values are the API's
// (api.ReasonManual, ...), which state.json and metrics write too.
type Reason string

const (
	// Initial: the colour given by config (no change yet).
	Initial Reason = api.ReasonInitial
	// Manual: flip or activate through the API.
	Manual Reason = api.ReasonManual
	// Rollback: back to the previous colour through the API.
	Rollback Reason = api.ReasonRollback
	// Guard: the error trigger reverted.
	Guard Reason = api.ReasonGuard
	// Failover: the active pool died and the other was healthy.
	Failover Reason = api.ReasonFailover
)

// Event is the event type of a change made for r (api.ChangeEvent).
func (r Reason) Event() string { return api.ChangeEvent(string(r)) }

// String returns the reason as written in state.json and metrics.
func (r Reason) String() string { return string(r) }
