package api

// Why the active colour changed: Service.Reason, GuardTrip.Reason, the
// reason label of switchd_flips_total and the reason kept in state.json.
const (
	ReasonInitial  = "initial"  // the colour given by config (no change yet)
	ReasonManual   = "manual"   // flip or activate through the API
	ReasonRollback = "rollback" // back to the previous colour through the API
	ReasonGuard    = "guard"    // the guard reverted
	ReasonFailover = "failover" // the active pool died and the other was healthy
)

// ChangeReasons are the reasons of a change (every reason but initial).
var ChangeReasons = []string{ReasonManual, ReasonRollback, ReasonGuard, ReasonFailover}

// Event types: Event.Type, the SSE event name, and what a [[notify]]
// lists in events.
const (
	EventFlip         = "flip"          // a change by hand (reason manual)
	EventRollback     = "rollback"      // reason rollback
	EventGuard        = "guard"         // reason guard
	EventFailover     = "failover"      // reason failover
	EventGuardBlocked = "guard_blocked" // the guard would revert and cannot
	EventHealth       = "health"        // an upstream's health changed
	EventReload       = "reload"        // a config reload, with OK
	EventStartup      = "startup"       // a notice at start (a missing state file)
	EventStatePersist = "state_persist" // state.json could not hold a change, or holds every change again
	EventPool         = "pool"          // a pool set or reset through the API
)

// EventTypes are every event type, in the order configuration.md lists
// them for [[notify]].events.
var EventTypes = []string{EventFlip, EventRollback, EventGuard, EventFailover, EventGuardBlocked,
	EventHealth, EventReload, EventStartup, EventStatePersist, EventPool}

// ChangeEvent is the event type of a change of the active colour made for
// reason: a change by hand is a flip, the others are named by their
// reason.
func ChangeEvent(reason string) string {
	if reason == ReasonManual {
		return EventFlip
	}
	return reason
}

// Conditions of GET /v1/services/{name}/wait?until=: "healthy:COLOUR",
// "drained:COLOUR" or "stable"; switchctl wait takes the same words.
const (
	UntilHealthy = "healthy" // every upstream of the colour passes its checks
	UntilDrained = "drained" // the colour has no request in flight
	UntilStable  = "stable"  // the guard's watch after the last change ended
)

// How the guard's watch after the last change of a service went.
const (
	WatchUnknown  = "unknown"  // no change watched yet
	WatchWatching = "watching" // the watch is on
	WatchStable   = "stable"   // it ended without a revert
	WatchReverted = "reverted" // the guard or a failover reverted
)
