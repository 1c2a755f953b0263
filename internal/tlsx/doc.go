// Package tlsx is switchd's TLS: the listener side (certmagic for ACME and
// files, a local CA for "internal", redirects and HSTS; manager.go) and the
// client side for https:// upstreams (upstream.go).
//
// Main types: Manager (New, TLSConfig, HTTPHandler, Update on reload,
// Close), Options; UpstreamConfig and UpstreamConfigKey build the client
// configuration of a service's [upstream_tls] and a key that changes when it
// does. Manager owns certmagic's background renewals and, in mode "files",
// a goroutine watching the certificate folders; Close stops both.
//
// tlsx imports only config and atomicfile (the internal CA's files). It must
// not import health, proxy or any floor above: those ask it for *tls.Config
// values.
package tlsx
