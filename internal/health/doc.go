// Package health probes upstreams and keeps their live health.
//
// Monitor checks every upstream of both colours of every service, the idle
// colour too, one goroutine per upstream (started by Sync, stopped by Sync
// when the upstream goes away and by Close). Target is one upstream's live
// health: the request path reads its State with one atomic load and reports
// passive failures with Fail; probes report with Record. Transitions go out
// through the Observer interface, one at a time per Target, in order.
//
// Main types: Monitor (NewMonitor, Sync, Target, Close), Target, State
// (Unknown, Up, Down), Status, Transition, Observer.
//
// health imports config, metrics and tlsx. It never imports proxy (the proxy
// imports it), nor switchboard, guard, control or daemon. A new kind of
// check belongs next to probe.go, chosen by a field of probeSpec, so that a
// reload with an equal spec leaves the prober running.
package health
