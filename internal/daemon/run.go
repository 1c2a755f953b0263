package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudflare/tableflip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/control"
	"github.com/switchd/switchd/internal/fleet"
	"github.com/switchd/switchd/internal/gcpace"
	"github.com/switchd/switchd/internal/guard"
	"github.com/switchd/switchd/internal/health"
	"github.com/switchd/switchd/internal/metrics"
	"github.com/switchd/switchd/internal/notify"
	"github.com/switchd/switchd/internal/proxy"
	"github.com/switchd/switchd/internal/state"
	"github.com/switchd/switchd/internal/switchboard"
	"github.com/switchd/switchd/internal/tlsx"
	"github.com/switchd/switchd/internal/zaplog"
)

// Options configure Run.
type Options struct {
	// Config is the parsed configuration; required.
	Config *config.Config
	// ConfigData is the file's bytes Config came from; with Config.Path it
	// lets a reload skip a file that did not change. Optional.
	ConfigData []byte
	// Logger is the process logger; nil: built from Config.Log.
	Logger *zap.Logger
	// Level changes the logger's level on reload; nil: fixed.
	Level *zap.AtomicLevel
	// Version is reported by /healthz, build_info and logs.
	Version string
	// ProxyListener and ControlListener, when set, are used instead of
	// listening on the configured addresses (tests). Sockets passed by
	// systemd (LISTEN_FDS) are used when these are nil.
	ProxyListener   net.Listener
	HTTPSListener   net.Listener
	ControlListener net.Listener
	// Ready, when set, is called with the bound addresses once serving.
	Ready func(Addrs)
	// Upgrader, when set, hands the sockets over to a new process on
	// SIGUSR2 and POST /v1/upgrade (handover.go); nil: no upgrades.
	Upgrader *tableflip.Upgrader
}

// Addrs are the addresses switchd serves on; HTTPS is nil with TLS off,
// Proxy nil when server.http_listen is "".
type Addrs struct {
	Proxy, HTTPS, Control net.Addr
}

func listenerAddr(ln net.Listener) net.Addr {
	if ln == nil {
		return nil
	}
	return ln.Addr()
}

// Run serves until ctx is done, then drains in-flight requests for up to
// server.shutdown_grace and returns nil. It returns an error when start-up
// fails (bad state file, a port in use) without having moved any traffic.
// With Config.Path set, SIGHUP, a change of the file and POST /v1/reload
// re-read it.
func Run(ctx context.Context, o Options) error {
	cfg := o.Config
	logger := o.Logger
	var access *zap.Logger
	if logger == nil {
		l, lvl, err := NewLogger(cfg.Log)
		if err != nil {
			return err
		}
		logger, o.Level = l, &lvl
		defer func() { _ = l.Sync() }()
		var flush func()
		access, flush = stderrAccessLogger(cfg.Log, lvl)
		defer flush() // after the drain: the last requests' lines too
	} else {
		access = logger.Named("proxy")
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := &daemon{cfg: cfg, cfgPath: cfg.Path, cfgData: o.ConfigData, log: logger, access: access, level: o.Level, version: o.Version,
		reloads: make(chan reloadReq)}
	d.runCtx = runCtx
	d.handover = newHandover(o.Upgrader, logger)
	defer d.handover.stop()
	d.handover.watchSignal(runCtx, &d.wg)
	if err := d.start(runCtx, o); err != nil {
		cancel()
		d.stop()
		d.wg.Wait()
		return err
	}
	d.awaitFirstRound(runCtx)
	if ctx.Err() == nil { // a successor stopped while starting must not take over
		if err := d.handover.ready(); err != nil {
			cancel()
			d.stop()
			d.wg.Wait()
			return err
		}
	}
	d.serveAll()
	d.notifyReady()
	d.startSystemd(runCtx)
	addrs := Addrs{Proxy: listenerAddr(d.proxyLn), HTTPS: listenerAddr(d.httpsLn), Control: listenerAddr(d.controlLn)}
	logger.Info("switchd started", zap.String("version", o.Version), zap.Int("pid", os.Getpid()), zap.Any("proxy", addrs.Proxy),
		zap.Any("https", addrs.HTTPS), zap.Stringer("control", addrs.Control), zap.String("state", d.store.Path()),
		zap.String("config", d.cfgPath), zap.String("gc", gcpace.Mode()))
	if o.Ready != nil {
		o.Ready(addrs)
	}
	var err error
	handedOver := false
	select {
	case <-ctx.Done():
	case err = <-d.serveErr:
		logger.Error("listener failed", zap.Error(err))
	case <-d.handover.handedOver():
		handedOver = true
	}
	d.shutdown(ctx, cancel, handedOver)
	return err
}

type daemon struct {
	cfgMu   sync.Mutex
	cfg     *config.Config // replaced by the reload loop only; read it with running()
	cfgPath string
	log     *zap.Logger
	access  *zap.Logger // the access log's (accesslog.go)
	level   *zap.AtomicLevel
	version string

	dataMu  sync.Mutex
	cfgData []byte // the bytes of the running config file

	reloadMu   sync.Mutex
	lastReload reloadResult

	store    *state.Store // state.json; with the etcd backend its local copy
	fleet    *fleet.Store // the etcd backend; nil with "file"
	node     string       // this host's name in the fleet
	fleetRun bool         // runFleet started (and closes the client)
	metrics  *metrics.Metrics
	monitor  *health.Monitor
	board    *switchboard.Board
	guard    *guard.Guard
	broker   *control.Broker
	handler  *proxy.Handler
	api      *control.Server
	notifyMu sync.Mutex
	notifier *notify.Notifier

	reloads chan reloadReq

	tls    *tlsx.Manager // nil with tls.mode "off"
	runCtx context.Context

	proxyLn, httpsLn, controlLn    net.Listener
	proxySrv, httpsSrv, controlSrv *http.Server
	controlCancel                  context.CancelFunc
	controlCerts                   bool // the control listener requires client certificates
	serveErr                       chan error
	wg                             sync.WaitGroup

	handover *handover               // nil: no upgrades
	sd       atomic.Pointer[sdState] // nil: no $NOTIFY_SOCKET
	drainers map[*http.Server]*drainer
}

// running returns the configuration in force.
func (d *daemon) running() *config.Config {
	d.cfgMu.Lock()
	defer d.cfgMu.Unlock()
	return d.cfg
}

func (d *daemon) loadedData() []byte {
	d.dataMu.Lock()
	defer d.dataMu.Unlock()
	return d.cfgData
}

func (d *daemon) setLoadedData(b []byte) {
	d.dataMu.Lock()
	d.cfgData = b
	d.dataMu.Unlock()
}

// published sends an event to the stream and the webhooks.
func (d *daemon) published(e control.Event) {
	if d.broker == nil {
		return
	}
	e = d.broker.Publish(e)
	d.notifyMu.Lock()
	n := d.notifier
	d.notifyMu.Unlock()
	if n != nil {
		n.Notify(e)
	}
}

// setNotify replaces the webhooks; events queued for the old ones are dropped.
func (d *daemon) setNotify(targets []config.Notify) {
	var n *notify.Notifier
	if len(targets) > 0 {
		n = notify.New(targets, notify.Options{Logger: d.log.Named("notify"), Dropped: d.metrics.NotifyDropped})
	}
	d.swapNotifier(n)
}

// swapNotifier installs n (nil: none) and closes the one it replaces.
func (d *daemon) swapNotifier(n *notify.Notifier) {
	d.notifyMu.Lock()
	old := d.notifier
	d.notifier = n
	d.notifyMu.Unlock()
	old.Close() // nil-safe
}

func (d *daemon) start(ctx context.Context, o Options) error {
	cfg := d.cfg
	store, file, err := openState(cfg.State)
	if err != nil {
		return err
	}
	d.store = store
	d.broker = control.NewBroker()
	d.metrics = metrics.New(prometheus.NewRegistry(), d.version)
	d.metrics.ReloadOK.Set(1)
	d.metrics.ReloadTime.SetToCurrentTime()
	d.setReloadResult("start", nil)
	d.setNotify(cfg.Notify)
	boardStore, file, err := d.openFleet(ctx, cfg.State, store, file)
	if err != nil {
		return err
	}
	d.stateMissing()

	// The board syncs the monitor: health follows what is routed.
	d.monitor = health.NewMonitor(health.Options{Logger: d.log.Named("health"), Metrics: d.metrics, Observer: healthEvents{d}})
	// The guard comes first, for the recorders the board's observers feed;
	// it is handed the board when it runs.
	d.guard = guard.New(guard.Options{Logger: d.log.Named("guard"), Events: guardEvents{d}})
	d.configureGuard(cfg)
	d.board, err = switchboard.New(cfg, switchboard.Options{
		Store: boardStore, State: file, Targets: d.monitor, Logger: d.log.Named("switchboard"), Persistence: persistence{d}, Pools: poolEvents{d},
		Transport: proxy.TransportOptions{
			DialTimeout:           cfg.Server.UpstreamDialTimeout.D(),
			ResponseHeaderTimeout: cfg.Server.UpstreamResponseTimeout.D(),
			MaxIdle:               cfg.Server.UpstreamMaxIdle,
			IdleTimeout:           cfg.Server.UpstreamIdleTimeout.D(),
		},
		Observer: func(name string) proxy.Observer {
			return newServiceObserver(d.metrics, name, d.guard.Service(name))
		},
	})
	if err != nil {
		return err
	}
	d.metrics.Declare(d.routed()) // the pools as routed, runtime ones included
	d.board.AddListener(metricsListener{d.metrics})
	d.board.AddListener(d.guard)
	d.board.AddListener(eventsListener{d})
	d.board.Announce()
	d.wg.Add(1)
	// Gated: once this process hands over, its successor's guard acts.
	go func() { defer d.wg.Done(); d.guard.Run(ctx, d.handover.switcher(d.board)) }()
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.board.RetryPersist(ctx, time.Second, d.handover.act) }()

	if err := d.openListeners(ctx, o); err != nil {
		return err
	}
	// After the listeners: this host's fleet entry names its control address.
	if d.fleet != nil {
		d.fleetRun = true
		d.wg.Add(1)
		go d.runFleet(ctx)
	}
	d.handler = proxy.NewHandler(d.board.Router(), proxy.HandlerOptions{
		Logger: d.log.Named("proxy"), AccessLogger: d.access, AccessLog: cfg.Log.AccessLog, TrustedProxies: cfg.Server.Trusted,
		BodyTimeout: cfg.Server.BodyReadTimeout.D(),
		Misdirected: d.metrics.Misdirected.Inc,
	})
	// Scanners and clients with old TLS stacks fail handshakes all day:
	// that is noise at warn level.
	errLog := zaplog.StdLogger(d.log.Named("http"), "http server", zapcore.WarnLevel,
		func(line string) bool { return strings.Contains(line, "TLS handshake error") })
	controlTLS, err := d.controlTLS(cfg.Control)
	if err != nil {
		return err
	}
	tokens, err := d.controlTokens(cfg) // before any server exists: stop() closes bare listeners
	if err != nil {
		return err
	}
	d.publicServers(errLog)
	apiOpts := control.Options{Tokens: tokens, Level: d.level,
		Board: d.board, Guard: guardView{d.guard, d.board}, Events: d.broker, Version: d.version, Logger: d.log.Named("control"),
		Metrics: promhttp.HandlerFor(gathererWithSample(d.metrics, d.board, d.certificates), promhttp.HandlerOpts{}),
		Reload:  func(rctx context.Context) error { return d.requestReload(rctx, "api") },
		Status:  d.status,
		Fleet:   d.fleetList,
		Upgrade: d.upgradeFunc(),
	}
	if err := d.controlAccess(cfg.Control, &apiOpts); err != nil {
		return err
	}
	d.api = control.New(apiOpts)
	controlCtx, cancel := context.WithCancel(context.Background())
	d.controlCancel = cancel
	d.controlSrv = &http.Server{
		Handler:           d.handover.gateMutations(d.api.Handler()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          errLog,
		// Long-polls and event streams end when we shut down instead of
		// holding the exit.
		BaseContext: func(net.Listener) context.Context { return controlCtx },
		TLSConfig:   controlTLS,
	}
	d.wg.Add(1)
	go d.reloadLoop(ctx)
	if d.cfgPath != "" {
		if d.loadedData() == nil {
			// Bytes unknown: the first file event reloads once.
			d.setLoadedData([]byte{})
		}
		if err := d.watchFile(ctx); err != nil {
			d.log.Warn("config file not watched; reload with SIGHUP or the API", zap.Error(err))
		}
	}
	d.serveErr = make(chan error, 3)
	return nil
}

// serveAll starts serving, once start succeeded and the first health
// round is done. The public listeners check HTTP/1.1 framing, the https
// one doing its TLS itself; the control listener is served as it is.
func (d *daemon) serveAll() {
	d.serve(d.proxySrv, d.checkFraming(d.proxyLn, d.proxySrv, false), false)
	d.serve(d.httpsSrv, d.checkFraming(d.httpsLn, d.httpsSrv, true), false)
	d.serve(d.controlSrv, d.controlLn, d.controlSrv.TLSConfig != nil)
}

// controlTokens loads the tokens cfg asks for, and refuses none when the
// control listener actually bound (which a reload cannot move, and systemd
// may have passed) is reachable from other hosts.
func (d *daemon) controlTokens(cfg *config.Config) (*control.Tokens, error) {
	tokens, err := loadTokens(cfg.Control)
	if err != nil {
		return nil, err
	}
	if tokens == nil && !d.controlCerts && exposed(d.controlLn) {
		return nil, fmt.Errorf("control.tokens_file: required, because the control API listens on %s, which is neither loopback nor a unix socket (or set control.client_ca)", d.controlLn.Addr())
	}
	return tokens, nil
}

// exposed reports whether ln accepts connections from other hosts.
func exposed(ln net.Listener) bool {
	if ln == nil {
		return false
	}
	switch a := ln.Addr().(type) {
	case *net.UnixAddr:
		return false
	case *net.TCPAddr:
		return !a.IP.IsLoopback()
	}
	return true
}

// loadTokens reads [control].tokens_file; nil when there is none.
func loadTokens(c config.Control) (*control.Tokens, error) {
	if c.TokensFile == "" {
		return nil, nil
	}
	return control.LoadTokens(c.TokensFile)
}

// configureGuard adds and updates the services of cfg in the guard.
func (d *daemon) configureGuard(cfg *config.Config) {
	for _, sc := range cfg.Services {
		d.guard.Configure(sc.Name, sc.Guard, sc.Health.MinHealthy)
	}
}

// forgetGuard removes from the guard the services of from that to lacks.
func (d *daemon) forgetGuard(from, to *config.Config) {
	for _, sc := range from.Services {
		if to.ServiceByName(sc.Name) == nil {
			d.guard.Remove(sc.Name)
		}
	}
}

// serve runs srv on ln, with TLS from srv.TLSConfig when tls (the control
// listener; the https listener does its TLS itself, see checkFraming).
func (d *daemon) serve(srv *http.Server, ln net.Listener, tls bool) {
	if srv == nil {
		return
	}
	if d.drainers == nil {
		d.drainers = map[*http.Server]*drainer{}
	}
	dr := newDrainer(srv)
	d.drainers[srv] = dr
	ln = dr.listener(ln)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		var err error
		if tls {
			err = srv.ServeTLS(ln, "", "") // certificates come from srv.TLSConfig
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !dr.draining.Load() {
			d.serveErr <- fmt.Errorf("serve %s: %w", ln.Addr(), err)
		}
	}()
}

// shutdown stops accepting, lets in-flight requests finish for up to
// shutdown_grace, then closes what is left. Upgraded (WebSocket)
// connections get what is left of the grace only after a handover, where
// a successor accepts meanwhile; on a plain stop nothing can accept until
// this process exits, so they are closed at once. A SIGTERM (parent done)
// during a handover's wait closes them too.
func (d *daemon) shutdown(parent context.Context, cancel context.CancelFunc, handedOver bool) {
	grace := d.running().Server.ShutdownGrace.D()
	d.log.Info("shutting down", zap.Duration("grace", grace), zap.Bool("handed_over", handedOver))
	if handedOver {
		cancel() // guard, reload loop, file watch: the successor acts now
	} else {
		select {
		case <-d.handover.handedOver(): // the successor is systemd's main process
		default:
			_ = sdNotify("STOPPING=1")
		}
	}
	// tableflip's copies of the sockets would keep them listening.
	d.handover.stop()
	ctx, stop := context.WithTimeout(context.Background(), grace)
	defer stop()
	d.controlCancel()
	d.broker.Close()
	var wg sync.WaitGroup
	for _, srv := range []*http.Server{d.proxySrv, d.httpsSrv, d.controlSrv} {
		if srv == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.drainers[srv].drain(ctx, srv); err != nil {
				d.log.Warn("grace period over; closing the rest", zap.Error(err))
			}
		}()
	}
	wg.Wait()
	if handedOver {
		d.waitUpgraded(ctx, parent.Done())
	}
	cancel() // guard, reload loop, file watch
	d.stop()
	d.wg.Wait()
	d.log.Info("stopped")
}

// waitUpgraded gives upgraded (WebSocket) connections, which Shutdown does
// not track, what is left of the grace period to end by themselves; stop
// then closes the rest.
func (d *daemon) waitUpgraded(ctx context.Context, stop <-chan struct{}) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		open := 0
		for _, name := range d.board.Names() {
			if v, ok := d.board.View(name); ok {
				for _, c := range config.Colors {
					open += v.Service.Upgraded(c)
				}
			}
		}
		if open == 0 {
			return
		}
		select {
		case <-ctx.Done():
			d.log.Warn("grace period over; closing upgraded connections", zap.Int("open", open))
			return
		case <-stop:
			d.log.Info("stopping; closing upgraded connections", zap.Int("open", open))
			return
		case <-tick.C:
		}
	}
}

// stop releases what start acquired; safe on a partial start.
func (d *daemon) stop() {
	if d.fleet != nil && !d.fleetRun {
		_ = d.fleet.Close()
	}
	if d.board != nil {
		d.board.Close()
	}
	if d.monitor != nil {
		d.monitor.Close()
	}
	d.swapNotifier(nil)
	if d.tls != nil {
		d.tls.Close()
	}
	for _, p := range []struct {
		srv *http.Server
		ln  net.Listener
	}{{d.proxySrv, d.proxyLn}, {d.httpsSrv, d.httpsLn}, {d.controlSrv, d.controlLn}} {
		if p.srv == nil && p.ln != nil {
			p.ln.Close() // opened, never served
		}
	}
}
