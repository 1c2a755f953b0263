package api

import "time"

// Status answers GET /v1/status: switchd itself, beside its services.
type Status struct {
	Version string       `json:"version"`
	Config  ConfigStatus `json:"config"`
	State   StateStatus  `json:"state"`
	// TLS lists the certificate the https listener would serve for each
	// configured host; empty with tls.mode "off".
	TLS []CertStatus `json:"tls"`
}

// CertStatus is the certificate served for one configured host.
type CertStatus struct {
	// Host is the configured host; "*" in tls.mode "files" when no service
	// has hosts (the pair is served for every name).
	Host string `json:"host"`
	// Issuer is the common name of the CA that issued it; "" without one.
	Issuer string `json:"issuer"`
	// NotAfter is when it expires; null while there is none (acme, before
	// the first certificate is obtained).
	NotAfter *time.Time `json:"not_after"`
	// Source is where it comes from: acme, files or internal (tls.mode).
	Source string `json:"source"`
}

// ConfigStatus is the running configuration file and its last reload.
type ConfigStatus struct {
	// Path is the config file; "" when switchd runs on an embedded one.
	Path       string       `json:"path"`
	LastReload ReloadStatus `json:"last_reload"`
}

// ReloadStatus is the outcome of the last load of the config file
// (start-up counts as the first).
type ReloadStatus struct {
	// OK is false when the last reload failed and the previous config
	// still runs.
	OK bool `json:"ok"`
	// At is when it was tried.
	At time.Time `json:"at"`
	// Source is what asked: start, signal, file or api.
	Source string `json:"source"`
	// Error says why it failed; "" when OK.
	Error string `json:"error,omitempty"`
	// LastSuccess is when a load last succeeded.
	LastSuccess *time.Time `json:"last_success"`
	// Warnings name what the last successful reload did not apply: pools
	// the file changes that are set through the API. Empty: none.
	Warnings []string `json:"warnings,omitempty"`
}

// StateStatus is state.json as switchd sees it.
type StateStatus struct {
	Path string `json:"path"`
	// Persisted is false while a change (an automatic revert made while
	// state.json could not be written) is held in memory only.
	Persisted bool `json:"persisted"`
	// MissingAtStart is true when state.json did not exist at start-up,
	// so every service started on its initial colour.
	MissingAtStart bool `json:"missing_at_start"`
}
