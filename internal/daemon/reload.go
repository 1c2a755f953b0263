package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/switchboard"
)

// reloadReq asks the reload loop to re-read the config; the answer goes to
// reply (nil when nobody waits).
type reloadReq struct {
	source string // "signal", "file", "api"
	reply  chan error
}

// reloadLoop is the only place a reload happens: SIGHUP, a change of the
// file and POST /v1/reload all feed it, so two reloads never interleave.
func (d *daemon) reloadLoop(ctx context.Context) {
	defer d.wg.Done()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_ = d.reload("signal")
		case r := <-d.reloads:
			err := d.reload(r.source)
			if r.reply != nil {
				r.reply <- err
			}
		}
	}
}

// reloadResult is the outcome of the last reload, for GET /v1/status.
type reloadResult struct {
	ok          bool
	at          time.Time // of the last attempt (start-up counts as one)
	source      string    // "start", "signal", "file", "api"
	err         string    // why it failed; "" when ok
	lastSuccess time.Time
	// warnings are what the last successful reload did not apply: pools
	// config.toml changes but the API owns.
	warnings []string
}

// setReloadWarnings keeps what a successful reload left out, for the
// reload's result.
func (d *daemon) setReloadWarnings(os []switchboard.Override) {
	var w []string
	for _, o := range os {
		w = append(w, o.String())
	}
	d.reloadMu.Lock()
	d.lastReload.warnings = w
	d.reloadMu.Unlock()
}

// routed is every service as the board routes it (runtime pools in place
// of the file's), for what must follow the pools: metric series, the
// first health round.
func (d *daemon) routed() []config.Service {
	var out []config.Service
	for _, name := range d.board.Names() {
		if v, ok := d.board.View(name); ok {
			out = append(out, v.Config)
		}
	}
	return out
}

func (d *daemon) setReloadResult(source string, err error) {
	now := time.Now().UTC()
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.lastReload.ok, d.lastReload.at, d.lastReload.source, d.lastReload.err = err == nil, now, source, ""
	if err != nil || source == "start" {
		d.lastReload.warnings = nil
	}
	if err != nil {
		d.lastReload.err = err.Error()
	} else {
		d.lastReload.lastSuccess = now
	}
}

func (d *daemon) reloadResult() reloadResult {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	return d.lastReload
}

// requestReload hands a reload to the loop and waits for its outcome.
func (d *daemon) requestReload(ctx context.Context, source string) error {
	reply := make(chan error, 1)
	select {
	case d.reloads <- reloadReq{source: source, reply: reply}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reload re-reads the config file and applies it. A bad file changes
// nothing: the running config stays, and the failure is logged, counted in
// config_last_reload_successful and published as an event.
func (d *daemon) reload(source string) error {
	err := d.applyFile()
	ok := err == nil
	d.setReloadResult(source, err)
	if ok {
		d.metrics.ReloadOK.Set(1)
		d.metrics.ReloadTime.SetToCurrentTime()
		d.log.Info("config reloaded", zap.String("source", source), zap.String("path", d.cfgPath))
	} else {
		d.metrics.ReloadOK.Set(0)
		d.log.Error("config reload failed; keeping the running config", zap.String("source", source),
			zap.String("path", d.cfgPath), zap.Error(err))
	}
	d.published(reloadEvent(ok, source, err))
	d.sdPoke() // services may have come or gone
	return err
}

func (d *daemon) applyFile() error {
	if d.cfgPath == "" {
		return errors.New("no config file to reload (switchd runs on an embedded config)")
	}
	data, err := os.ReadFile(d.cfgPath)
	if err != nil {
		return fmt.Errorf("reading %s: %w", d.cfgPath, err)
	}
	cfg, err := config.Parse(data, d.cfgPath)
	if err != nil {
		return err
	}
	if err := d.apply(cfg); err != nil {
		return err
	}
	d.setLoadedData(data)
	return nil
}

// apply makes cfg the running configuration, or changes nothing.
func (d *daemon) apply(cfg *config.Config) error {
	old := d.running()
	tokens, err := d.controlTokens(cfg)
	if err != nil {
		return err
	}
	if err := d.board.Check(cfg); err != nil { // before anything changes
		return err
	}
	if err := d.updateTLS(cfg); err != nil {
		return err
	}
	// New services need their guard recorder before the board builds them.
	// The board syncs the health checks from what it routes (runtime pools
	// included) and puts them back itself when it fails.
	d.configureGuard(cfg)
	overrides, err := d.board.Apply(cfg)
	if err != nil {
		d.configureGuard(old)
		d.forgetGuard(cfg, old)
		return err
	}
	d.setReloadWarnings(overrides)
	d.forgetGuard(old, cfg)
	d.api.SetTokens(tokens)
	d.cfgMu.Lock()
	d.cfg = cfg
	d.cfgMu.Unlock()
	d.metrics.Declare(d.routed())
	d.handler.SetTrustedProxies(cfg.Server.Trusted)
	d.handler.SetAccessLog(cfg.Log.AccessLog)
	d.handler.SetBodyTimeout(cfg.Server.BodyReadTimeout.D())
	if lvl, err := zap.ParseAtomicLevel(cfg.Log.Level); err == nil && d.level != nil && cfg.Log.Level != old.Log.Level {
		// Only a changed file sets it: a reload must not undo a level an
		// operator set through the API.
		d.level.SetLevel(lvl.Level())
	}
	if !slices.EqualFunc(old.Notify, cfg.Notify, func(a, b config.Notify) bool {
		return a.URL == b.URL && slices.Equal(a.Events, b.Events)
	}) {
		// Only then: rebuilding drops what the old queues still hold.
		d.setNotify(cfg.Notify)
	}
	for _, w := range restartOnly(old, cfg) {
		d.log.Warn("changed setting needs a restart to take effect", zap.String("key", w))
	}
	return nil
}

// updateTLS hands new hosts and settings to the certificate manager. What
// only a restart can change (tls.mode, the ACME account and CA, state.dir)
// keeps its running value and is logged, like a changed listen address.
func (d *daemon) updateTLS(cfg *config.Config) error {
	off := cfg.TLS.Mode == "" || cfg.TLS.Mode == "off"
	switch {
	case d.tls == nil && off:
		return nil
	case d.tls == nil:
		d.log.Warn("changed setting needs a restart to take effect", zap.String("key", "tls.mode"))
		return nil
	}
	o, keys := d.tls.Reloadable(d.tlsOptions(cfg))
	for _, k := range keys {
		d.log.Warn("changed setting needs a restart to take effect", zap.String("key", k))
	}
	return d.tls.Update(d.runCtx, o)
}

// restartOnly lists changed settings that a reload cannot apply.
func restartOnly(a, b *config.Config) []string {
	var out []string
	check := func(key string, changed bool) {
		if changed {
			out = append(out, key)
		}
	}
	check("server.http_listen", a.Server.HTTPListen != b.Server.HTTPListen)
	check("server.https_listen", a.Server.HTTPSListen != b.Server.HTTPSListen)
	check("server.read_header_timeout", a.Server.ReadHeaderTimeout != b.Server.ReadHeaderTimeout)
	check("server.idle_timeout", a.Server.IdleTimeout != b.Server.IdleTimeout)
	check("server.max_header_bytes", a.Server.MaxHeaderBytes != b.Server.MaxHeaderBytes)
	check("server.upstream_* (for upstreams that stay)", a.Server.UpstreamDialTimeout != b.Server.UpstreamDialTimeout ||
		a.Server.UpstreamResponseTimeout != b.Server.UpstreamResponseTimeout || a.Server.UpstreamMaxIdle != b.Server.UpstreamMaxIdle ||
		a.Server.UpstreamIdleTimeout != b.Server.UpstreamIdleTimeout)
	check("control.listen", a.Control.Listen != b.Control.Listen)
	check("control.tls_cert, tls_key, client_ca, client_cert_role, hosts", a.Control.TLSCert != b.Control.TLSCert ||
		a.Control.TLSKey != b.Control.TLSKey || a.Control.ClientCA != b.Control.ClientCA ||
		a.Control.ClientCertRole != b.Control.ClientCertRole || !slices.Equal(a.Control.Hosts, b.Control.Hosts))
	check("state.dir", a.State.Dir != b.State.Dir)
	check("state.on_missing", a.State.OnMissing != b.State.OnMissing)
	check("log.format", a.Log.Format != b.Log.Format)
	return out
}
