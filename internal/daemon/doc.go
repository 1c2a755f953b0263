// Package daemon wires switchd together: state, health, the switchboard,
// the guard, the public proxy, the control API, events and webhooks.
// cmd/switchd only parses flags and calls Main, whose Run tests call too.
//
// Run (run.go) starts everything in order, waits for the first health
// round, serves, and on ctx's end or a handover drains (drain.go) and stops
// what it started. It owns every long-lived goroutine of the process but
// the per-upstream probers (health.Monitor) and the webhook senders
// (notify.Notifier), which it stops through Close. glue.go, observer.go,
// metrics.go and state.go adapt the packages to each other's small
// interfaces; reload.go is the one reload loop (SIGHUP, the file watch of
// watch.go, POST /v1/reload); handover.go is upgrades in place with
// tableflip (SIGUSR2, POST /v1/upgrade), listen.go and listeners.go the
// sockets (systemd's, inherited, or bound here).
//
// Main types: Options, Addrs, Run, Main; DemoUpstream for -demo.
//
// daemon imports every internal package but ctl and testkit; nothing but
// cmd/switchd imports it.
package daemon
