package config

import (
	"slices"
	"strings"
	"time"
)

// Defaults that other packages may want to show or compare against.
const (
	// DefaultStateDir is the default [state].dir.
	DefaultStateDir = "/var/lib/switchd"
	// DefaultControlListen is the default [control].listen.
	DefaultControlListen = "127.0.0.1:9180"
	// DefaultPreviewHeader is the default [service.preview].header.
	DefaultPreviewHeader = "X-Switchd-Preview"
	// DefaultUpstreamIdleTimeout is the default [server].upstream_idle_timeout:
	// below the shortest keep-alive timeout of common app servers (gunicorn
	// 2s; Node, uvicorn and Apache 5s), so that switchd drops an idle
	// connection before the upstream does and never sends a request into one
	// the upstream is closing.
	DefaultUpstreamIdleTimeout = time.Second
	// DefaultUpstreamDialTimeout is the default [server].upstream_dial_timeout.
	DefaultUpstreamDialTimeout = 3 * time.Second
	// DefaultUpstreamMaxIdle is the default [server].upstream_max_idle.
	DefaultUpstreamMaxIdle = 256

	// The defaults of [service.health]: health.Monitor falls back on them
	// for a hand-built Service (tests, -demo) that leaves a field zero.
	DefaultHealthPath     = "/healthz"
	DefaultHealthInterval = time.Second
	DefaultHealthTimeout  = 500 * time.Millisecond
	DefaultHealthRise     = 2
	DefaultHealthFall     = 2

	// DefaultGuardWindow is the default [service.guard].window; the guard
	// falls back on it for a hand-built Service that leaves it zero.
	DefaultGuardWindow = 10 * time.Second
)

var (
	// DefaultHealthExpect is the default [service.health].expect_status.
	DefaultHealthExpect = StatusRange{200, 399}
	// DefaultMinHealthy is the default [service.health].min_healthy.
	DefaultMinHealthy = MinHealthy{Percent: true, Pct: 100}
)

func dur(d time.Duration) Duration { return Duration(d) }

// applyDefaults fills every key the file did not set. It asks set rather
// than looking for zero values, so that an explicit false, 0 or "" stays.
func applyDefaults(c *Config, set func(path string) bool) {
	def := func(path string, apply func()) {
		if !set(path) {
			apply()
		}
	}

	s := &c.Server
	def("server.http_listen", func() { s.HTTPListen = ":80" })
	def("server.https_listen", func() { s.HTTPSListen = ":443" })
	def("server.read_header_timeout", func() { s.ReadHeaderTimeout = dur(10 * time.Second) })
	def("server.idle_timeout", func() { s.IdleTimeout = dur(120 * time.Second) })
	def("server.body_read_timeout", func() { s.BodyReadTimeout = dur(30 * time.Second) })
	def("server.max_header_bytes", func() { s.MaxHeaderBytes = 65536 })
	def("server.shutdown_grace", func() { s.ShutdownGrace = dur(30 * time.Second) })
	def("server.upstream_dial_timeout", func() { s.UpstreamDialTimeout = dur(DefaultUpstreamDialTimeout) })
	def("server.upstream_response_timeout", func() { s.UpstreamResponseTimeout = dur(60 * time.Second) })
	def("server.upstream_max_idle", func() { s.UpstreamMaxIdle = DefaultUpstreamMaxIdle })
	def("server.upstream_idle_timeout", func() { s.UpstreamIdleTimeout = dur(DefaultUpstreamIdleTimeout) })

	def("tls.mode", func() { c.TLS.Mode = "off" })
	def("tls.min_version", func() { c.TLS.MinVersion = "1.2" })
	def("tls.redirect_http", func() { c.TLS.RedirectHTTP = true })
	def("tls.challenges", func() {
		// Without a plain listener no HTTP-01 challenge can arrive.
		if c.TLS.Challenges = []string{ChallengeTLSALPN01}; s.HTTPListen != "" {
			c.TLS.Challenges = slices.Clone(ACMEChallenges)
		}
	})

	def("control.listen", func() { c.Control.Listen = DefaultControlListen })
	def("control.client_cert_role", func() { c.Control.ClientCertRole = "read" })

	def("log.level", func() { c.Log.Level = "info" })
	def("log.format", func() { c.Log.Format = "json" })
	def("log.access_log", func() { c.Log.AccessLog = true })

	def("state.dir", func() { c.State.Dir = DefaultStateDir })
	def("state.on_missing", func() { c.State.OnMissing = "start" })
	def("state.backend", func() { c.State.Backend = "file" })
	def("state.etcd.prefix", func() { c.State.Etcd.Prefix = "/switchd/" })
	def("state.etcd.dial_timeout", func() { c.State.Etcd.DialTimeout = dur(2 * time.Second) })

	for i := range c.Services {
		sv, p := &c.Services[i], elem("service", i)+"."
		def(p+"initial", func() { sv.Initial = Blue })

		h := &sv.Health
		def(p+"health.path", func() { h.Path = DefaultHealthPath })
		def(p+"health.interval", func() { h.Interval = dur(DefaultHealthInterval) })
		def(p+"health.timeout", func() { h.Timeout = dur(DefaultHealthTimeout) })
		def(p+"health.rise", func() { h.Rise = DefaultHealthRise })
		def(p+"health.fall", func() { h.Fall = DefaultHealthFall })
		def(p+"health.expect_status", func() { h.ExpectStatus = DefaultHealthExpect })
		// host = "" is what the shipped example writes, and it means the
		// default too.
		if h.Host == "" {
			h.Host = firstExactHost(sv.Hosts)
		}
		def(p+"health.min_healthy", func() { h.MinHealthy = DefaultMinHealthy })

		g := &sv.Guard
		def(p+"guard.enabled", func() { g.Enabled = true })
		def(p+"guard.window", func() { g.Window = dur(DefaultGuardWindow) })
		def(p+"guard.max_error_rate", func() { g.MaxErrorRate = 0.05 })
		def(p+"guard.min_requests", func() { g.MinRequests = 20 })
		def(p+"guard.watch", func() { g.Watch = Watch{For: 10 * time.Minute} })
		def(p+"guard.failover", func() { g.Failover = true })

		def(p+"preview.header", func() { sv.Preview.Header = DefaultPreviewHeader })
		def(p+"drain.timeout", func() { sv.Drain.Timeout = dur(30 * time.Second) })
	}
}

// firstExactHost is the default Host header of health checks: the first
// host that is not a "*.suffix" pattern, which is no name a request can
// carry. "" when there is none; the checker then sends the upstream's
// address.
func firstExactHost(hosts []string) string {
	for _, h := range hosts {
		if !strings.HasPrefix(h, "*") {
			return normalizeHost(h)
		}
	}
	return ""
}

// normalizeHost lowercases a host and strips a trailing dot: request
// matching compares exact strings.
func normalizeHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }
