// Package notify delivers switchd's events to the [[notify]] webhooks: each
// event is POSTed as JSON, retried with backoff a bounded number of times.
//
// Delivery is off the caller's path. Notify only appends to a bounded
// in-memory queue per webhook and returns; one goroutine per webhook drains
// its queue (started by New, stopped by Close). A webhook that is down or
// hangs delays nobody but itself: its queue fills, the oldest events are
// dropped and counted, and every other webhook, the request path and the
// guard carry on.
//
// Delivery is at most once per event and webhook, in order per webhook.
// Events are not persisted: what is queued when switchd stops is lost (and
// counted as dropped).
//
// Main types: Notifier (New, Notify, Close), Options.
//
// notify imports config, and control/api for the Event type. It must not import
// switchboard, guard, proxy, health or daemon: daemon hands it every event
// it publishes.
package notify
