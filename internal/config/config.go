package config

import (
	"net/netip"
)

// Config is a whole config.toml. Parse returns it complete: every default
// filled in, every value checked and in normal form.
type Config struct {
	Server  Server  `toml:"server"`
	TLS     TLS     `toml:"tls"`
	Control Control `toml:"control"`
	Log     Log     `toml:"log"`
	State   State   `toml:"state"`
	// Services are the [[service]] tables; at least one.
	Services []Service `toml:"service"`
	// Notify are the [[notify]] webhooks. Default none.
	Notify []Notify `toml:"notify"`

	// Path is the file the config was read from ("" for an embedded one).
	Path string `toml:"-"`

	// keyLines maps key paths ("service[0].blue.upstreams") to their line,
	// for errors found after Parse (CheckActive).
	keyLines map[string]int
}

// Server configures the public listeners and the upstream transport.
type Server struct {
	// HTTPListen is the plain-HTTP address. Default ":80". "" disables it.
	HTTPListen string `toml:"http_listen"`
	// HTTPSListen is used when TLS.Mode is not "off". Default ":443".
	HTTPSListen string `toml:"https_listen"`
	// ReadHeaderTimeout bounds reading a request's headers. Default 10s.
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	// IdleTimeout closes kept-alive client connections idle this long. Default 120s.
	IdleTimeout Duration `toml:"idle_timeout"`
	// BodyReadTimeout bounds reading a request body: a body of up to 64 KiB
	// (buffered before the upstream is dialled) must arrive whole within
	// it, a larger one may pause no longer than it between two reads; past
	// it the client gets 408 and the connection is closed. Default 30s.
	BodyReadTimeout Duration `toml:"body_read_timeout"`
	// MaxHeaderBytes caps request headers; larger requests get 431. Default 65536.
	MaxHeaderBytes int `toml:"max_header_bytes"`
	// ShutdownGrace is how long SIGTERM waits for in-flight requests, and
	// how long the old process keeps upgraded connections after an
	// upgrade (a plain stop closes them at once). Default 30s.
	ShutdownGrace Duration `toml:"shutdown_grace"`
	// TrustedProxies are CIDRs whose X-Forwarded-* headers are extended
	// instead of replaced. Default none.
	TrustedProxies []string `toml:"trusted_proxies"`
	// UpstreamDialTimeout bounds connecting to an upstream. Default 3s.
	UpstreamDialTimeout Duration `toml:"upstream_dial_timeout"`
	// UpstreamResponseTimeout bounds waiting for an upstream's response
	// headers; past it the client gets 504. Default 60s. 0 means no limit.
	UpstreamResponseTimeout Duration `toml:"upstream_response_timeout"`
	// UpstreamMaxIdle is the keep-alive pool size per upstream. Default 256.
	UpstreamMaxIdle int `toml:"upstream_max_idle"`
	// UpstreamIdleTimeout closes a kept-alive upstream connection idle this
	// long, before the upstream's own keep-alive timeout can close it under
	// a request. Default DefaultUpstreamIdleTimeout (1s); must be positive.
	UpstreamIdleTimeout Duration `toml:"upstream_idle_timeout"`

	// Trusted is TrustedProxies parsed by Parse, host bits masked; a bare IP
	// is a /32 or /128. Nil: trust no one.
	Trusted []netip.Prefix `toml:"-"`
}

// TLS configures the certificates of the https listener (package tlsx).
type TLS struct {
	// Mode is off | acme | files | internal. Default "off".
	Mode string `toml:"mode"`
	// Email is the ACME account e-mail. Default "".
	Email string `toml:"email"`
	// CA is the ACME directory URL. Default "": Let's Encrypt production.
	CA string `toml:"ca"`
	// CARoot is a PEM file trusted for the ACME server. Default "": system roots.
	CARoot string `toml:"ca_root"`
	// CertFile and KeyFile are the PEM files of Mode "files". Default "".
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// MinVersion is "1.2" or "1.3". Default "1.2".
	MinVersion string `toml:"min_version"`
	// RedirectHTTP sends plain-HTTP requests to HTTPS when TLS is on. Default true.
	RedirectHTTP bool `toml:"redirect_http"`
	// HSTS is the Strict-Transport-Security value. Default "": none sent.
	HSTS string `toml:"hsts"`
	// Challenges are the ACME challenges Mode "acme" answers, of
	// ACMEChallenges: "http-01" on the plain-HTTP listener (the CA connects
	// to port 80), "tls-alpn-01" on the https listener (port 443). Default:
	// both, or only "tls-alpn-01" when server.http_listen is "".
	Challenges []string `toml:"challenges"`
}

// The ACME challenge types of TLS.Challenges.
const (
	ChallengeHTTP01    = "http-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
)

// ACMEChallenges are the values TLS.Challenges may hold.
var ACMEChallenges = []string{ChallengeHTTP01, ChallengeTLSALPN01}

// Control configures the control API listener.
type Control struct {
	// Listen is host:port or "unix:/path". Default "127.0.0.1:9180".
	Listen string `toml:"listen"`
	// TokensFile holds API tokens; required when Listen is neither loopback nor
	// a unix socket, unless ClientCA is set. Default "" (no authentication on
	// loopback).
	TokensFile string `toml:"tokens_file"`
	// TLSCert and TLSKey, set together, serve the API over TLS (TCP only).
	// Default "": plain HTTP.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// ClientCA, a PEM file of CA certificates, makes every connection present
	// a client certificate signed by one of them; needs TLSCert. The
	// certificate's name (Common Name) is then the actor. Default "": none asked.
	ClientCA string `toml:"client_ca"`
	// ClientCertRole is the role of a client certificate whose name has no
	// line in TokensFile: "read", "operate" or "admin". Default "read".
	ClientCertRole string `toml:"client_cert_role"`
	// Hosts are more names (no port) that requests may carry as Host, besides
	// localhost, loopback IPs and the IP a connection arrived at: the DNS name
	// Prometheus scrapes or switchctl's --addr uses. Default none.
	Hosts []string `toml:"hosts"`
}

// Log configures logging.
type Log struct {
	// Level is debug | info | warn | error. Default "info".
	Level string `toml:"level"`
	// Format is json | console. Default "json".
	Format string `toml:"format"`
	// AccessLog logs one line per proxied request. Default true.
	AccessLog bool `toml:"access_log"`
}

// State configures where state.json lives.
type State struct {
	// Dir holds state.json. Default "/var/lib/switchd".
	Dir string `toml:"dir"`
	// OnMissing is what start-up does when state.json does not exist:
	// "start" every service on its initial colour, loudly (a first start),
	// or "refuse" to start, for hosts whose state lives on a mounted volume
	// (there a missing file means the volume is not mounted). Default
	// "start".
	OnMissing string `toml:"on_missing"`
	// Backend is where the records live: "file" (state.json in Dir, one
	// host) or "etcd" (shared by every host of a fleet, with a local copy
	// in Dir). Default "file".
	Backend string `toml:"backend"`
	// Etcd configures the etcd backend; ignored with "file".
	Etcd Etcd `toml:"etcd"`
}

// Etcd is [state.etcd]: the etcd cluster a fleet of switchd hosts shares.
type Etcd struct {
	// Endpoints are the cluster's client URLs ("https://10.0.0.5:2379");
	// required with backend "etcd".
	Endpoints []string `toml:"endpoints"`
	// Prefix is the key prefix everything switchd keeps lives under.
	// Default "/switchd/".
	Prefix string `toml:"prefix"`
	// Node is this host's name in the fleet; "" means the hostname.
	Node string `toml:"node"`
	// DialTimeout bounds connecting and each request. Default 2s.
	DialTimeout Duration `toml:"dial_timeout"`
	// CAFile verifies etcd's certificates; "" means the system roots.
	CAFile string `toml:"ca_file"`
	// CertFile and KeyFile are a client certificate; "" means none.
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// Username authenticates to etcd, with the password from
	// $SWITCHD_ETCD_PASSWORD; "" means no authentication.
	Username string `toml:"username"`
}

// Service is one application behind switchd.
type Service struct {
	// Name identifies the service in the API and metrics. Required.
	Name string `toml:"name"`
	// Hosts are exact names or "*.suffix" patterns, unique across services;
	// Parse lowercases them and strips a trailing dot. Empty: the default
	// service, for any Host no other service claims (at most one).
	Hosts []string `toml:"hosts"`
	// Initial is the active colour when state.json has none. Default blue.
	// Its pool must not be empty.
	Initial Color `toml:"initial"`
	// Blue and Green are the two pools. Default: empty.
	Blue  Pool `toml:"blue"`
	Green Pool `toml:"green"`

	// The sub-tables; each field's default is documented on its type.
	Health      Health      `toml:"health"`
	Guard       Guard       `toml:"guard"`
	Preview     Preview     `toml:"preview"`
	Drain       Drain       `toml:"drain"`
	UpstreamTLS UpstreamTLS `toml:"upstream_tls"`
}

// Pool returns the pool of colour c.
func (s *Service) Pool(c Color) *Pool {
	if c == Green {
		return &s.Green
	}
	return &s.Blue
}

// Pool is the upstreams of one colour.
type Pool struct {
	// Upstreams are "host:port" or "http(s)://host:port". May be empty for
	// the idle colour. Parse rewrites them to one form per address:
	// "host:port" for HTTP, "https://host:port" for TLS, host lowercased.
	Upstreams []string `toml:"upstreams"`
}

// Health configures active health checks.
type Health struct {
	// Path is requested on every upstream. Default "/healthz".
	Path string `toml:"path"`
	// Interval between checks (±10% jitter). Default 1s.
	Interval Duration `toml:"interval"`
	// Timeout of one check. Default 500ms.
	Timeout Duration `toml:"timeout"`
	// Rise is the consecutive passes to become healthy. Default 2.
	Rise int `toml:"rise"`
	// Fall is the consecutive failures to become unhealthy. Default 2.
	Fall int `toml:"fall"`
	// ExpectStatus is an inclusive status range "200-399" or one code. Default "200-399".
	ExpectStatus StatusRange `toml:"expect_status"`
	// Host is the Host header of checks. Default (also when written as ""):
	// the service's first host that is not a "*." pattern, else "" (the
	// upstream's address).
	Host string `toml:"host"`
	// MinHealthy gates flips: healthy upstreams a colour needs to become
	// active, "2" or "50%". Default "100%".
	MinHealthy MinHealthy `toml:"min_healthy"`
}

// Guard configures the automatic revert.
type Guard struct {
	// Enabled turns the error-rate trigger on. Default true.
	Enabled bool `toml:"enabled"`
	// Window is the sliding window of the error rate. Default 10s.
	Window Duration `toml:"window"`
	// MaxErrorRate trips the guard at or above it. Default 0.05.
	MaxErrorRate float64 `toml:"max_error_rate"`
	// MinRequests in the window before any verdict. Default 20.
	MinRequests int `toml:"min_requests"`
	// Watch is how long the trigger stays armed after a flip. Default 10m.
	Watch Watch `toml:"watch"`
	// Failover switches when every active upstream is down. Default true.
	Failover bool `toml:"failover"`
	// MaxP99 trips the guard when the window's p99 latency reaches it. 0: off.
	MaxP99 Duration `toml:"max_p99"`
}

// Preview configures the preview header.
type Preview struct {
	// Header is the request header that selects the idle colour. Default "X-Switchd-Preview".
	Header string `toml:"header"`
	// Secret is the value the header must carry. "" turns preview off.
	Secret string `toml:"secret"`
}

// Drain configures how long the old colour's upgraded connections may stay.
type Drain struct {
	// Timeout after a flip before the old colour's upgraded connections are
	// closed. Default 30s.
	Timeout Duration `toml:"timeout"`
}

// UpstreamTLS configures connections to https:// upstreams.
type UpstreamTLS struct {
	// CAFile is a PEM bundle to trust instead of the system roots. Default "".
	CAFile string `toml:"ca_file"`
	// InsecureSkipVerify turns certificate verification off. Default false.
	InsecureSkipVerify bool `toml:"insecure_skip_verify"`
	// CertFile and KeyFile are a client certificate (PEM chain) and its key
	// that switchd presents to upstreams asking for one (mutual TLS), in
	// requests and health checks. Both or neither; default "": none.
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// ServerName is sent as SNI and verified against the upstream's
	// certificate, for upstreams addressed by IP whose certificates name a
	// DNS name. Default "": the host of each upstream's address.
	ServerName string `toml:"server_name"`
}

// Notify is one webhook: every matching event is POSTed as JSON, retried
// with backoff; a slow or dead webhook never holds up switchd.
type Notify struct {
	// URL receives each event as a JSON POST; absolute http(s). Required.
	URL string `toml:"url"`
	// Events are names from NotifyEvents. Empty: all of them.
	Events []string `toml:"events"`
}
