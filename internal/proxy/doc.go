// Package proxy is the request path: Host → service snapshot → colour →
// upstream, through forward (forward.go: the proxying itself, with the
// rules for hop-by-hop headers, 1xx answers, trailers, flushing and
// WebSocket upgrades).
//
// Routing state is an immutable Snapshot per service behind an
// atomic.Pointer, loaded once per request, so a flip changes the very next
// request while in-flight ones finish where they started; the entering and
// inflight counters of Service make "drained" exact. Each Upstream has its
// own HTTP/1.1 client (proxy/h1: the request runs on the client's
// goroutine, idle connections hold no buffer) and shares its
// health.Target with the monitor. Outcomes
// leave through the Observer interface; proxy knows nothing of guards or
// metrics.
//
// Main types: Handler (the public http.Handler), Router (Host → Service),
// Service (Publish, Retire, Drained), Snapshot, Pool (round robin over
// healthy upstreams, all of them in panic), Upstream, Outcome and Class,
// Observer.
//
// proxy imports config, health, zaplog and its own h1 and framing only. It
// must not import switchboard,
// guard, metrics, control or daemon: the switchboard publishes snapshots
// into it, and daemon's observer turns outcomes into metrics and guard
// records.
package proxy
