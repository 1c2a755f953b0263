package daemon

import (
	"context"
	"log"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/proxy/framing"
	"github.com/switchd/switchd/internal/tlsx"
)

// openListeners binds (or takes from systemd or the caller) the plain-HTTP,
// https and control listeners, and starts TLS when tls.mode is not "off".
func (d *daemon) openListeners(ctx context.Context, o Options) error {
	cfg := d.cfg
	passed, err := activated()
	if err != nil {
		return err
	}
	// A socket systemd passed that nothing serves would leave clients
	// hanging in its backlog: close it.
	defer func() {
		for name, ln := range passed {
			if ln != d.proxyLn && ln != d.httpsLn && ln != d.controlLn {
				d.log.Warn("closing a socket passed by systemd that this configuration does not use", zap.String("name", name))
				ln.Close()
			}
		}
	}()
	pick := func(given net.Listener, name, addr string) (net.Listener, error) {
		if given != nil {
			return given, nil
		}
		if ln := passed[name]; ln != nil && addr != "" && !sameAddr(addr, ln.Addr()) {
			// systemd's socket wins (it is already bound); say so, or an
			// operator who moved the control API to a unix socket in
			// config.toml keeps reaching it on TCP without knowing why.
			d.log.Warn("systemd passed a socket on another address than the configuration names; serving on systemd's",
				zap.String("name", name), zap.String("configured", addr), zap.Stringer("passed", ln.Addr()))
		}
		return d.handover.listener(name, addr, passed[name])
	}
	if d.proxyLn, err = pick(o.ProxyListener, "http", cfg.Server.HTTPListen); err != nil {
		return err
	}
	if d.controlLn, err = pick(o.ControlListener, "control", cfg.Control.Listen); err != nil {
		return err
	}
	if cfg.TLS.Mode == "" || cfg.TLS.Mode == "off" {
		return nil
	}
	if d.httpsLn, err = pick(o.HTTPSListener, "https", cfg.Server.HTTPSListen); err != nil {
		return err
	}
	// Bound before tlsx.New: certmagic's HTTP-01 and TLS-ALPN-01 solvers
	// then find the ports taken and leave the challenges to our own
	// plain-HTTP handler and https TLS config.
	d.tls, err = tlsx.New(ctx, d.tlsOptions(cfg))
	return err
}

func (d *daemon) tlsOptions(cfg *config.Config) tlsx.Options {
	o := tlsx.Options{TLS: cfg.TLS, Hosts: tlsx.Hosts(cfg.Services), StateDir: cfg.State.Dir,
		HTTPListen: cfg.Server.HTTPListen, HTTPSListen: cfg.Server.HTTPSListen, Logger: d.log.Named("tls")}
	if d.proxyLn != nil {
		o.HTTPListen = d.proxyLn.Addr().String()
	}
	if d.httpsLn != nil {
		o.HTTPSListen = d.httpsLn.Addr().String()
	}
	return o
}

// publicServers builds the servers in front of the proxy handler: plain
// HTTP (ACME challenges and the redirect to https first, when TLS is on)
// and https.
func (d *daemon) publicServers(errLog *log.Logger) {
	s := d.cfg.Server
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: s.ReadHeaderTimeout.D(),
			IdleTimeout:       s.IdleTimeout.D(),
			MaxHeaderBytes:    s.MaxHeaderBytes,
			ErrorLog:          errLog,
			ConnState:         framing.ConnState, // a WebSocket's bytes are not checked as HTTP
		}
	}
	plain := http.Handler(d.handler)
	if d.tls != nil {
		plain = d.tls.HTTPHandler(d.handler)
		d.httpsSrv = newServer(d.tls.WrapHTTPS(d.handler))
		d.httpsSrv.TLSConfig = d.tls.TLSConfig()
	}
	if d.proxyLn != nil {
		d.proxySrv = newServer(plain)
	}
}

// parkAfter is how long an HTTP/1 keep-alive connection waits for its
// next request with net/http before it is parked (framing.Options): about
// 17 KiB of goroutine stack and buffers freed per idle connection, for a
// re-accept when its client sends again. A client between two requests of
// one page load sends well within it.
const parkAfter = time.Second

// checkFraming wraps a public listener in the HTTP/1.1 request framing
// check (proxy/framing); with tls it also terminates TLS, which the check
// must see through, and hands HTTP/2 on unchecked. Nil stays nil.
func (d *daemon) checkFraming(ln net.Listener, srv *http.Server, tls bool) net.Listener {
	if ln == nil || srv == nil {
		return ln
	}
	log := d.log.Named("proxy")
	o := framing.Options{MaxHeaderBytes: srv.MaxHeaderBytes, HandshakeTimeout: srv.ReadHeaderTimeout, ErrorLog: srv.ErrorLog,
		// Debug: any client can send these, as many as it likes.
		Refused: func(remote net.Addr, why error) {
			if ce := log.Check(zap.DebugLevel, "request framing refused"); ce != nil {
				ce.Write(zap.Stringer("remote", remote), zap.String("reason", why.Error()))
			}
		}}
	o.ParkAfter = parkAfter
	if tls {
		return framing.NewTLSListener(ln, srv.TLSConfig, o)
	}
	return framing.NewListener(ln, o)
}
