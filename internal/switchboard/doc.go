// Package switchboard is the one owner of the active colours: the control
// API, the guard and config reload all ask it, none of them flips by itself.
// A change checks the gate, persists state.json, publishes the next proxy
// snapshot and then tells its listeners, all under one mutex (change.go).
//
// Main types: Board (New, Flip, Activate, Rollback, Revert, Check, Apply,
// View, Counts, RetryPersist, Close), Request, Change, Reason; the seams it
// declares for what it uses: Store (state.json), Targets (health), Listener
// (told of every change, under the board's lock), Persistence (failed and
// recovered writes). Refusals are typed errors (ErrTargetUnhealthy,
// ErrConflict, ErrPersist, …) wrapped in a Refusal.
//
// switchboard imports control/api (Reason's values), config, health, proxy,
// state and tlsx. It must not import guard, control, notify, metrics or
// daemon: those sit above it and hear of changes as Listeners. Lock order:
// Board.mu is taken before anything a Listener or Persistence takes
// (Guard.mu, the event broker); Counts is lock-free so that the guard may
// call it holding its own lock.
package switchboard
