// Package guard watches the active colour of every service and asks the
// switchboard to make the other colour active when the active one fails:
// the triggers (error rate, p99 latency), armed for `watch` after each flip,
// and failover, armed all the time, also after a revert. It never flips by
// itself; the switchboard, which owns the active colour, does (the rules:
// docs/operations.md, "Guard").
//
// The request path only touches Service.RecordAt: atomics on a per-service,
// per-colour Window, no lock, no allocation. Decisions are made by Run on
// ticks of at most 100ms, so a revert follows its condition well within the
// promised second. Each decision is the pure function decide over what one
// tick gathered (decide.go); Run carries the verdict out (run.go). A new
// trigger is a new value in triggers (triggers.go), not an edit of decide.
//
// Main types: Guard (New, Configure, Remove, Service, Changed, Run, Status,
// Outcome), Service (the per-service recorder), Window, Switcher (what it
// asks of the switchboard), Events (guard_blocked), Status and Outcome.
//
// Lock order: switchboard.Board.mu, then Guard.mu. The board tells its
// listeners of a change while holding its lock, and Guard.Changed takes
// Guard.mu; the guard, in turn, never holds Guard.mu while it calls
// Switcher.Revert, and only calls the lock-free Switcher.Counts under it.
//
// guard imports control/api (the words of its watch's outcome), config and
// switchboard (for Change and Reason). It must not
// import proxy, health, metrics, control or daemon: pool health comes
// through Switcher.Counts, requests through Service.RecordAt.
package guard
