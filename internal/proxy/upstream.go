package proxy

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/health"
)

// TransportOptions size the connection pool of every upstream.
type TransportOptions struct {
	// DialTimeout bounds connecting. Zero means 3s.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds waiting for response headers; past it the
	// client gets 504. Zero means no limit.
	ResponseHeaderTimeout time.Duration
	// MaxIdle is the keep-alive pool size. Zero means 256.
	MaxIdle int
	// IdleTimeout closes a kept-alive connection idle this long: it must be
	// below the upstream's own keep-alive timeout, or the upstream closes
	// connections that switchd is about to reuse. Zero means
	// config.DefaultUpstreamIdleTimeout (1s).
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

	transport *http.Transport
	// fresh is transport without keep-alive: a request resent because a
	// kept-alive connection turned out dead must go on a new one (idle.go).
	fresh    *http.Transport
	inflight atomic.Int64
}

// NewUpstream returns an Upstream for addr whose health is t (never nil).
func NewUpstream(addr string, t *health.Target, o TransportOptions) (*Upstream, error) {
	scheme, hostport, err := config.SplitUpstream(addr)
	if err != nil {
		return nil, err
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 3 * time.Second
	}
	if o.MaxIdle == 0 {
		o.MaxIdle = 256
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = config.DefaultUpstreamIdleTimeout
	}
	d := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 nil, // never send upstream traffic through $HTTP_PROXY
		DialContext:           d.DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   o.MaxIdle,
		IdleConnTimeout:       o.IdleTimeout,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       o.TLS,
		// The client's Accept-Encoding goes through as it is; decoding here
		// would change the bytes the upstream meant to send.
		DisableCompression: true,
	}
	fresh := tr.Clone()
	fresh.DisableKeepAlives = true
	return &Upstream{address: addr, scheme: scheme, host: hostport, health: t, transport: tr, fresh: fresh}, nil
}

// Address returns the address as configured.
func (u *Upstream) Address() string { return u.address }

// Health returns the upstream's live health.
func (u *Upstream) Health() *health.Target { return u.health }

// Inflight returns the requests being proxied to u now.
func (u *Upstream) Inflight() int64 { return u.inflight.Load() }

// CloseIdle closes the kept-alive connections to u that are not in use.
func (u *Upstream) CloseIdle() { u.transport.CloseIdleConnections() }
