package switchboard

// Reason says why the active colour changed.
type Reason string

const (
	// Initial: the colour given by config (no change yet).
	Initial Reason = "initial"
	// Manual: flip or activate through the API.
	Manual Reason = "manual"
	// Rollback: back to the previous colour through the API.
	Rollback Reason = "rollback"
	// Guard: the error trigger reverted.
	Guard Reason = "guard"
	// Failover: the active pool died and the other was healthy.
	Failover Reason = "failover"
)

// String returns the reason as written in state.json and metrics.
func (r Reason) String() string { return string(r) }
