// Package config holds switchd's configuration types and parses config.toml.
//
// The types here describe what the operator wrote; live state (health,
// active colour, counters) lives elsewhere. Parse fills every default, so a
// Config returned without error is complete and valid; every problem is an
// Error that names the file, the line and the key, with a did-you-mean for
// unknown keys. The vocabulary every floor above shares is defined here
// once: Color (blue, green), Duration, StatusRange, MinHealthy, the
// normal form of upstream addresses and hosts, and the defaults.
//
// Main types: Config and its tables (Server, TLS, Control, Log, State,
// Service with Pool, Health, Guard, Preview, Drain, UpstreamTLS; Notify),
// Color, Duration, Error. Entry points: Parse, Load, Demo (the -demo
// config), Config.CheckActive (the active colour must have upstreams).
//
// config imports only control/api (the event types [[notify]].events may
// name, api.EventTypes), and must not import any other package of switchd. A
// new key is a field here (with its toml tag and doc comment), its default
// in defaults.go, its check in validate.go, a line in the repository's
// config.toml and a row in docs/configuration.md (docs_test.go fails without
// it); a key a reload cannot apply is also listed in daemon's restartOnly.
package config
