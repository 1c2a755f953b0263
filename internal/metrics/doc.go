// Package metrics defines every switchd_ series in one place, registered into
// a registry the caller passes in (never the global one).
//
// Metrics holds the collectors; Declare creates every series of the
// configured services at zero, so dashboards see them before the first
// event. Label values are bounded: service names, colours, upstream
// addresses from the config, and the fixed words listed here (Classes,
// AuthFailureReasons) or in control/api (Reasons: api.ChangeReasons).
//
// metrics imports only config and control/api. The packages that count
// (health, daemon's adapters) import it; the request path (proxy) and the
// guard do not: their outcomes reach metrics through daemon's observers and
// listeners. A new metric is a field here, registered in New, and a row in
// docs/metrics.md (docs_test.go fails without it).
package metrics
