package proxy

import (
	"crypto/tls"
	"sync/atomic"
	"time"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/health"
	"github.com/switchd/switchd/internal/proxy/h1"
)

// TransportOptions size the connection pool of every upstream. Their
// zero values take config's defaults, as the daemon passes config's
// values: only tests leave them out.
type TransportOptions struct {
	// DialTimeout bounds connecting.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds waiting for response headers; past it the
	// client gets 504. Zero means no limit.
	ResponseHeaderTimeout time.Duration
	// MaxIdle is the keep-alive pool size.
	MaxIdle int
	// IdleTimeout closes a kept-alive connection idle this long: it must be
	// below the upstream's own keep-alive timeout, or the upstream closes
	// connections that switchd is about to reuse.
	IdleTimeout time.Duration
	// TLS is the client configuration for https:// upstreams. Nil means the
	// system roots.
	TLS *tls.Config
}

// Upstream is one backend address with its own transport and live health.
// It outlives flips; a config reload keeps it when its address stays.
type Upstream struct {
	address string // as configured
	scheme  string
	host    string
	health  *health.Target

	transport *h1.Transport
	inflight  atomic.Int64
}

// NewUpstream returns an Upstream for addr whose health is t (never nil).
func NewUpstream(addr string, t *health.Target, o TransportOptions) (*Upstream, error) {
	scheme, hostport, err := config.SplitUpstream(addr)
	if err != nil {
		return nil, err
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = config.DefaultUpstreamDialTimeout
	}
	if o.MaxIdle == 0 {
		o.MaxIdle = config.DefaultUpstreamMaxIdle
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = config.DefaultUpstreamIdleTimeout
	}
	ho := h1.Options{
		DialTimeout:           o.DialTimeout,
		KeepAlive:             30 * time.Second,
		HandshakeTimeout:      10 * time.Second,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		MaxIdle:               o.MaxIdle,
		IdleTimeout:           o.IdleTimeout,
		MaxHeaderBytes:        maxUpstreamHeaderBytes,
	}
	if scheme == "https" {
		ho.TLS = o.TLS
		if ho.TLS == nil {
			ho.TLS = &tls.Config{}
		}
	}
	return &Upstream{address: addr, scheme: scheme, host: hostport, health: t, transport: h1.New(hostport, ho)}, nil
}

// maxUpstreamHeaderBytes bounds an upstream's response head: an upstream
// cannot make switchd hold more than this per request.
const maxUpstreamHeaderBytes = 1 << 20

// Address returns the address as configured.
func (u *Upstream) Address() string { return u.address }

// Health returns the upstream's live health.
func (u *Upstream) Health() *health.Target { return u.health }

// Inflight returns the requests being proxied to u now.
func (u *Upstream) Inflight() int64 { return u.inflight.Load() }

// CloseIdle closes the kept-alive connections to u that are not in use.
func (u *Upstream) CloseIdle() { u.transport.CloseIdle() }
