// Package api holds the JSON types of switchd's control API: what the
// server in package control answers and what switchctl decodes. It imports
// nothing of the daemon, so the client stays small. vocabulary.go is the
// one definition of the change reasons and event types every other
// package derives from.
package api

import "time"

// Error codes of the API (the "code" of an error body).
const (
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	// CodeForbiddenOrigin refuses what a browser may have sent on a web
	// page's behalf: a foreign Host, an Origin, a cross-site Sec-Fetch-Site.
	CodeForbiddenOrigin = "forbidden_origin"
	// CodeUnsupportedMediaType is a mutation whose Content-Type is not
	// application/json (415).
	CodeUnsupportedMediaType = "unsupported_media_type"
	// CodeTooManyRequests is a source that failed authentication too often
	// (429, with Retry-After).
	CodeTooManyRequests = "too_many_requests"
	CodeNotFound        = "not_found"
	CodeMethod          = "method_not_allowed"
	CodeConflict        = "conflict"
	CodeTargetUnhealthy = "target_unhealthy"
	CodeTargetEmpty     = "target_empty"
	CodeNoPrevious      = "no_previous"
	CodeReverted        = "reverted"
	CodeTimeout         = "timeout"
	CodePersist         = "persist_failed"
	// CodeStoreUnavailable (503): the shared state store (etcd) cannot be
	// reached; nothing changed, retry once it is back.
	CodeStoreUnavailable = "store_unavailable"
	CodeInternal         = "internal"
	CodeUpgradeFailed    = "upgrade_failed" // the new process did not start; the old one serves on
	CodeUpgrading        = "upgrading"      // 503: a handover is under way, retry
)

// ErrorBody is every error answer: {"error":{"code":…,"message":…}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ChangeRequest is the body of flip, activate and rollback; every field is
// optional except Color for activate.
type ChangeRequest struct {
	// Color is the colour to make active (activate only).
	Color string `json:"color,omitempty"`
	// Expect refuses the change (409 conflict) unless this colour is active.
	Expect string `json:"expect,omitempty"`
	// ExpectGeneration refuses the change unless the generation is this.
	ExpectGeneration *uint64 `json:"expect_generation,omitempty"`
	// ExpectPoolsVersion refuses the change unless the runtime pools are
	// at this version (Service.PoolsVersion): a deploy flips only to the
	// pool it set. nil: any.
	ExpectPoolsVersion *uint64 `json:"expect_pools_version,omitempty"`
	// Force skips the health gate; recorded in state and log.
	Force bool `json:"force,omitempty"`
	// Reason is free text kept in state ("deploy 4f2a").
	Reason string `json:"reason,omitempty"`
}

// ChangeResult answers a successful flip, activate or rollback.
type ChangeResult struct {
	// Changed is false when activate named the colour already active.
	Changed bool    `json:"changed"`
	From    string  `json:"from"`
	To      string  `json:"to"`
	Service Service `json:"service"`
}

// PoolRequest is the body of PUT /v1/services/{name}/pools/{color}
// (Upstreams), of POST …/upstreams (Address); the other fields are
// optional everywhere, DELETEs included.
type PoolRequest struct {
	// Upstreams replace the pool (PUT); may be empty for the idle colour.
	Upstreams []string `json:"upstreams,omitempty"`
	// Address is the upstream to add (POST …/upstreams).
	Address string `json:"address,omitempty"`
	// ExpectGeneration refuses the change (409 conflict) unless the
	// service's generation is this; nil: any.
	ExpectGeneration *uint64 `json:"expect_generation,omitempty"`
	// ExpectPoolsVersion refuses it unless Service.PoolsVersion is this;
	// nil: any.
	ExpectPoolsVersion *uint64 `json:"expect_pools_version,omitempty"`
	// Reason is free text for the log ("deploy 4f2a").
	Reason string `json:"reason,omitempty"`
}

// PoolResult answers a successful pool change.
type PoolResult struct {
	// Changed is false when the pool already was what was asked.
	Changed bool   `json:"changed"`
	Color   string `json:"color"`
	// From and To are the colour's upstreams before and after.
	From    []string `json:"from"`
	To      []string `json:"to"`
	Service Service  `json:"service"`
}

// ServiceList answers GET /v1/services.
type ServiceList struct {
	Services []Service `json:"services"`
	// Switchd is switchd's own state, as GET /v1/status answers it; nil
	// only from a switchd too old to send it.
	Switchd *Status `json:"switchd,omitempty"`
}

// Service is one service's state. Its field names are the API's contract
// (docs/control-api.md, "Service state"): scripts read them, so they never change.
type Service struct {
	Name   string   `json:"name"`
	Hosts  []string `json:"hosts"`
	Active string   `json:"active"`
	// Idle is the colour that is not active: where a deploy goes.
	Idle       string          `json:"idle"`
	Previous   string          `json:"previous"`
	Generation uint64          `json:"generation"`
	ChangedAt  time.Time       `json:"changed_at"`
	ChangedBy  string          `json:"changed_by"`
	Reason     string          `json:"reason"`
	Detail     string          `json:"detail,omitempty"`
	Forced     bool            `json:"forced,omitempty"`
	Pools      map[string]Pool `json:"pools"`
	// Health is how the service's upstreams are checked, for clients
	// that test new upstreams the same way (switchctl deploy --smoke).
	Health *HealthSpec `json:"health,omitempty"`
	// PoolsVersion counts changes of the pools set through the API; a
	// deploy passes it back as expect_pools_version.
	PoolsVersion uint64       `json:"pools_version"`
	Guard        *GuardStatus `json:"guard,omitempty"`
	// Persisted is false while the service's state is held in memory only
	// (an automatic revert made while state.json could not be written;
	// switchd retries every second). Always sent by switchd; nil only from
	// a switchd too old to tell.
	Persisted *bool `json:"persisted,omitempty"`
}

// HealthSpec is a service's [service.health] as the checks apply it.
type HealthSpec struct {
	Path string `json:"path"`
	// Host is the Host header checks send; "" sends the address.
	Host         string  `json:"host"`
	ExpectStatus string  `json:"expect_status"`
	IntervalMS   float64 `json:"interval_ms"`
	TimeoutMS    float64 `json:"timeout_ms"`
	Rise         int     `json:"rise"`
	Fall         int     `json:"fall"`
	MinHealthy   string  `json:"min_healthy"`
}

// Pool is one colour's upstreams.
type Pool struct {
	// Source is "api" for a pool set through the API (kept in state.json,
	// winning over config.toml), "config" for config.toml's.
	Source    string     `json:"source"`
	Upstreams []Upstream `json:"upstreams"`
	Healthy   int        `json:"healthy"`
	Total     int        `json:"total"`
	Inflight  int64      `json:"inflight"`
	Upgraded  int        `json:"upgraded"`
	// Panic is true when this is the active colour and none of its
	// upstreams is healthy, so its traffic goes to all of them; an idle
	// colour, which gets no traffic, is never in panic.
	Panic bool `json:"panic"`
}

// Upstream is one upstream's live state.
type Upstream struct {
	Address       string     `json:"address"`
	Healthy       bool       `json:"healthy"`
	State         string     `json:"state"` // unknown | up | down
	Since         *time.Time `json:"since"`
	LastCheck     *time.Time `json:"last_check"`
	LastLatencyMS float64    `json:"last_latency_ms"`
	LastError     string     `json:"last_error"`
	Passes        int        `json:"passes"`
	Fails         int        `json:"fails"`
	Inflight      int64      `json:"inflight"`
}

// GuardStatus is the guard's view of a service.
type GuardStatus struct {
	Enabled         bool                   `json:"enabled"`
	ArmedUntil      *time.Time             `json:"armed_until"`
	ArmedAlways     bool                   `json:"armed_always,omitempty"`
	WindowRequests  int64                  `json:"window_requests"`
	WindowErrorRate float64                `json:"window_error_rate"`
	Colors          map[string]GuardWindow `json:"colors,omitempty"`
	LastTrip        *GuardTrip             `json:"last_trip"`
	// Latched is true after an automatic revert: nothing automatic happens
	// until the next flip.
	Latched bool `json:"latched"`
	// Blocked says why a due revert did not happen (the previous colour
	// was unhealthy); "" if none since the last flip.
	Blocked string `json:"blocked,omitempty"`
	// Stability is the watch after the last flip: watching, stable or
	// reverted.
	Stability string `json:"stability"`
}

// GuardWindow is one colour's counts in the guard's window.
type GuardWindow struct {
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	ErrorRate float64 `json:"error_rate"`
	P99MS     float64 `json:"p99_ms"`
}

// GuardTrip describes the guard's last revert.
type GuardTrip struct {
	At       time.Time `json:"at"`
	Reason   string    `json:"reason"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Detail   string    `json:"detail"`
	Rate     float64   `json:"rate,omitempty"`
	Requests int64     `json:"requests,omitempty"`
}

// WaitResult answers a wait that was reached.
type WaitResult struct {
	Reached string  `json:"reached"` // the condition, e.g. "drained:blue"
	Service Service `json:"service"`
}

// Health answers GET /healthz.
type Health struct {
	Status  string `json:"status"` // "ok"
	Version string `json:"version"`
	// PID is the answering process: after an upgrade, the new one's.
	PID int `json:"pid"`
}

// Event is one entry of GET /v1/events (server-sent events: "id: N",
// "event: TYPE", "data: <this as JSON>") and of webhooks.
type Event struct {
	ID      uint64    `json:"id"`
	Time    time.Time `json:"time"`
	Type    string    `json:"type"` // one of EventTypes
	Service string    `json:"service,omitempty"`
	// Changes of the active colour.
	From       string `json:"from,omitempty"`
	To         string `json:"to,omitempty"`
	Generation uint64 `json:"generation,omitempty"`
	Actor      string `json:"actor,omitempty"`
	Forced     bool   `json:"forced,omitempty"`
	// Remote marks a change another host of the fleet made, applied here
	// from the shared store; false: made on this host.
	Remote bool `json:"remote,omitempty"`
	// Health transitions.
	Color    string `json:"color,omitempty"`
	Upstream string `json:"upstream,omitempty"`
	State    string `json:"state,omitempty"`
	// Detail is a human sentence: the operator's reason, the guard's
	// verdict, a health error, a reload error.
	Detail string `json:"detail,omitempty"`
	// OK is false for a failed reload.
	OK *bool `json:"ok,omitempty"`
}

// LogLevel is the body of GET and PUT /v1/log/level.
type LogLevel struct {
	Level string `json:"level"` // debug | info | warn | error
}
