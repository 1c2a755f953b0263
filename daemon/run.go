// Package daemon wires switchd together: state, health, the switchboard,
// the guard, the public proxy and the control API. cmd/switchd only parses
// flags and calls Run, which tests call too.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"switchd/config"
	"switchd/control"
	"switchd/health"
	"switchd/metrics"
	"switchd/proxy"
	"switchd/state"
	"switchd/switchboard"
)

// Options configure Run.
type Options struct {
	// Config is the parsed configuration; required.
	Config *config.Config
	// Logger is the process logger; nil: built from Config.Log.
	Logger *zap.Logger
	// Version is reported by /healthz, build_info and logs.
	Version string
	// ProxyListener and ControlListener, when set, are used instead of
	// listening on the configured addresses (tests, socket activation).
	ProxyListener   net.Listener
	ControlListener net.Listener
	// Ready, when set, is called with the bound addresses once serving.
	Ready func(proxy, control net.Addr)
}

// Run serves until ctx is done, then drains in-flight requests for up to
// server.shutdown_grace and returns nil. It returns an error when start-up
// fails (bad state file, a port in use) without having moved any traffic.
func Run(ctx context.Context, o Options) error {
	cfg := o.Config
	logger := o.Logger
	if logger == nil {
		l, _, err := NewLogger(cfg.Log)
		if err != nil {
			return err
		}
		logger = l
		defer func() { _ = l.Sync() }()
	}
	d := &daemon{cfg: cfg, log: logger, version: o.Version}
	if err := d.start(o); err != nil {
		d.stop()
		return err
	}
	logger.Info("switchd started", zap.String("version", o.Version), zap.Stringer("proxy", d.proxyLn.Addr()),
		zap.Stringer("control", d.controlLn.Addr()), zap.String("state", d.store.Path()))
	if o.Ready != nil {
		o.Ready(d.proxyLn.Addr(), d.controlLn.Addr())
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-d.serveErr:
		logger.Error("listener failed", zap.Error(err))
	}
	d.shutdown()
	return err
}

type daemon struct {
	cfg     *config.Config
	log     *zap.Logger
	version string

	store   *state.Store
	metrics *metrics.Metrics
	monitor *health.Monitor
	board   *switchboard.Board

	proxyLn, controlLn   net.Listener
	proxySrv, controlSrv *http.Server
	controlCancel        context.CancelFunc
	serveErr             chan error
	wg                   sync.WaitGroup
}

func (d *daemon) start(o Options) error {
	cfg := d.cfg
	store, file, err := state.Open(cfg.State.Dir)
	if err != nil {
		return err
	}
	d.store = store
	d.metrics = metrics.New(prometheus.NewRegistry(), d.version)
	d.metrics.Declare(cfg.Services)
	d.metrics.ReloadOK.Set(1)
	d.metrics.ReloadTime.SetToCurrentTime()

	d.monitor = health.NewMonitor(health.Options{Logger: d.log.Named("health"), Metrics: d.metrics})
	if err := d.monitor.Sync(cfg.Services); err != nil {
		return err
	}
	d.board, err = switchboard.New(cfg, switchboard.Options{
		Store: store, State: file, Targets: d.monitor, Logger: d.log.Named("switchboard"),
		Transport: proxy.TransportOptions{
			DialTimeout:           cfg.Server.UpstreamDialTimeout.D(),
			ResponseHeaderTimeout: cfg.Server.UpstreamResponseTimeout.D(),
			MaxIdle:               cfg.Server.UpstreamMaxIdle,
		},
		Observer: func(name string) proxy.Observer { return newServiceObserver(d.metrics, name, nil) },
	})
	if err != nil {
		return err
	}
	d.board.AddListener(metricsListener{d.metrics})
	d.board.Announce()

	passed, err := activated()
	if err != nil {
		return err
	}
	if o.ProxyListener == nil {
		o.ProxyListener = passed["http"]
	}
	if o.ControlListener == nil {
		o.ControlListener = passed["control"]
	}
	d.proxyLn = o.ProxyListener
	if d.proxyLn == nil {
		if d.proxyLn, err = listen(cfg.Server.HTTPListen); err != nil {
			return err
		}
	}
	d.controlLn = o.ControlListener
	if d.controlLn == nil {
		if d.controlLn, err = listen(cfg.Control.Listen); err != nil {
			return err
		}
	}
	handler := proxy.NewHandler(d.board.Router(), proxy.HandlerOptions{
		Logger: d.log.Named("proxy"), AccessLog: cfg.Log.AccessLog, TrustedProxies: cfg.Server.Trusted,
	})
	errLog := log.New(zapWriter{d.log.Named("http")}, "", 0)
	d.proxySrv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.D(),
		IdleTimeout:       cfg.Server.IdleTimeout.D(),
		MaxHeaderBytes:    cfg.Server.MaxHeaderBytes,
		ErrorLog:          errLog,
	}
	api := control.New(control.Options{
		Board: d.board, Version: d.version, Logger: d.log.Named("control"),
		Metrics: promhttp.HandlerFor(gathererWithSample(d.metrics, d.board), promhttp.HandlerOpts{}),
	})
	controlCtx, cancel := context.WithCancel(context.Background())
	d.controlCancel = cancel
	d.controlSrv = &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          errLog,
		// Long-polls end when we shut down instead of holding the exit.
		BaseContext: func(net.Listener) context.Context { return controlCtx },
	}
	d.serveErr = make(chan error, 2)
	d.serve(d.proxySrv, d.proxyLn)
	d.serve(d.controlSrv, d.controlLn)
	return nil
}

func (d *daemon) serve(srv *http.Server, ln net.Listener) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.serveErr <- fmt.Errorf("serve %s: %w", ln.Addr(), err)
		}
	}()
}

// shutdown stops accepting, lets in-flight requests finish for up to
// shutdown_grace, then closes what is left.
func (d *daemon) shutdown() {
	grace := d.cfg.Server.ShutdownGrace.D()
	d.log.Info("shutting down", zap.Duration("grace", grace))
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if d.controlCancel != nil {
		d.controlCancel()
	}
	var wg sync.WaitGroup
	for _, srv := range []*http.Server{d.proxySrv, d.controlSrv} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(ctx); err != nil {
				d.log.Warn("grace period over; closing the rest", zap.Error(err))
				_ = srv.Close()
			}
		}()
	}
	wg.Wait()
	d.stop()
	d.wg.Wait()
	d.log.Info("stopped")
}

// stop releases what start acquired; safe on a partial start.
func (d *daemon) stop() {
	if d.board != nil {
		d.board.Close()
	}
	if d.monitor != nil {
		d.monitor.Close()
	}
	if d.proxySrv == nil && d.proxyLn != nil {
		d.proxyLn.Close()
	}
	if d.controlSrv == nil && d.controlLn != nil {
		d.controlLn.Close()
	}
}

// zapWriter sends net/http's own error log lines to zap.
type zapWriter struct{ l *zap.Logger }

func (z zapWriter) Write(p []byte) (int, error) {
	z.l.Warn("http server", zap.ByteString("message", p))
	return len(p), nil
}
