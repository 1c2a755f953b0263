package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/cloudflare/tableflip"
	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/control"
	"github.com/switchd/switchd/internal/guard"
	"github.com/switchd/switchd/internal/switchboard"
)

// handover is an upgrade in place (SIGUSR2, POST /v1/upgrade), as nginx's
// USR2 and HAProxy's -x do it, through tableflip: this process starts the
// binary on disk with its listening sockets, keeps accepting until the new
// process says it is ready (listeners up, first health round done), then
// stops accepting and drains in the background while the new one serves.
// A new process that fails to start (a bad config) changes nothing.
//
// Two processes must not both change state.json: this one freezes (no
// control API change, no guard revert or failover) before it starts its
// successor, so that the successor reads the state as it stays, and stays
// frozen once it handed over; a successor starts frozen and thaws once the
// process it replaces has stopped acting.
//
// The zero of a *handover (nil) does nothing: Run without an Upgrader (the
// tests that run switchd in process) has no upgrades.
type handover struct {
	upg *tableflip.Upgrader
	log *zap.Logger

	// gate is held for reading by every change a process makes to its
	// state, and for writing to freeze.
	gate   sync.RWMutex
	frozen bool // under gate

	upgrading sync.Mutex // one upgrade at a time
	done      chan struct{}
	doneOnce  sync.Once
	readied   atomic.Bool // ready was called

	ownSockets []*unixListener // this process bound them; kept for a successor
}

// systemdNetwork is the tableflip network under which a socket systemd
// passed travels on to the successor: not "unix", so that tableflip never
// unlinks a socket file that is systemd's.
const systemdNetwork = "systemd"

func newHandover(upg *tableflip.Upgrader, log *zap.Logger) *handover {
	if upg == nil {
		return nil
	}
	return &handover{upg: upg, log: log.Named("upgrade"), frozen: upg.HasParent(), done: make(chan struct{})}
}

// successor reports whether this process was started by an upgrade.
func (h *handover) successor() bool { return h != nil && h.upg.HasParent() }

// handedOver is closed once a successor took over; nil (never) without
// upgrades.
func (h *handover) handedOver() <-chan struct{} {
	if h == nil {
		return nil
	}
	return h.done
}

// act returns a release func when this process may change state now, and
// false while it is frozen.
func (h *handover) act() (release func(), ok bool) {
	if h == nil {
		return func() {}, true
	}
	h.gate.RLock()
	if h.frozen {
		h.gate.RUnlock()
		return nil, false
	}
	return h.gate.RUnlock, true
}

// setFrozen waits for the changes in progress, then freezes or thaws.
func (h *handover) setFrozen(f bool) {
	h.gate.Lock()
	h.frozen = f
	h.gate.Unlock()
}

// errNoUpgrades answers an upgrade where there can be none.
var errNoUpgrades = errors.New("upgrades are not available in this process")

// upgrade starts the binary on disk and returns once it serves (nil) or
// failed to start (an error, also logged; this process then goes on as
// before).
func (h *handover) upgrade(source string) error {
	if h == nil {
		return errNoUpgrades
	}
	err := h.try(source)
	if err != nil {
		h.log.Error("upgrade failed", zap.String("from", source), zap.Error(err))
	}
	return err
}

func (h *handover) try(source string) error {
	if !h.readied.Load() {
		return errors.New("upgrade: this process is still starting")
	}
	if os.Getpid() == 1 {
		// A container's init: its exit after the handover would end the
		// container, successor and all.
		return errors.New("upgrade: switchd is PID 1 (a container); replace the container instead")
	}
	h.upgrading.Lock()
	defer h.upgrading.Unlock()
	select {
	case <-h.done:
		return errors.New("upgrade: this process has already handed over")
	default:
	}
	exe, _ := os.Executable()
	h.log.Info("upgrade: starting the new process", zap.String("from", source), zap.String("binary", os.Args[0]), zap.String("running", exe))
	h.setFrozen(true)
	if err := h.upg.Upgrade(); err != nil {
		h.setFrozen(false)
		// tableflip exports no sentinel for this one.
		if strings.Contains(err.Error(), "parent hasn't exited") {
			err = errors.New("the process this one replaced is still draining; try again once it has exited")
		}
		return fmt.Errorf("upgrade failed, the running process keeps serving: %w", err)
	}
	h.log.Info("upgrade: the new process serves; this one stops accepting and drains")
	for _, l := range h.ownSockets {
		l.handOver() // the successor serves on the same socket file now
	}
	h.doneOnce.Do(func() { close(h.done) })
	return nil
}

// upgradeFunc is the control API's POST /v1/upgrade; nil without upgrades.
func (d *daemon) upgradeFunc() func() error {
	if d.handover == nil {
		return nil
	}
	return func() error { return d.handover.upgrade("api") }
}

// ready tells the process this one replaces to stop accepting (tableflip's
// Ready, which first writes the PID file), then lets this one act. Called
// once listeners are up and the first health round is done, just before
// serving. A successor that could not tell its parent must not serve next
// to it: the error makes it exit, and the parent's upgrade fail.
func (h *handover) ready() error {
	if h == nil {
		return nil
	}
	if err := h.upg.Ready(); err != nil {
		if h.successor() {
			return fmt.Errorf("upgrade: %w", err)
		}
		h.log.Warn("pid file not written", zap.Error(err))
	}
	h.readied.Store(true)
	if h.successor() {
		h.setFrozen(false)
	}
	return nil
}

// stop ends tableflip, which closes its copies of the sockets (without a
// handover also removing the unix socket files among them), and waits for
// that. Idempotent. A successor that never became ready leaves them alone:
// they are still the serving process's, which must keep its socket files.
func (h *handover) stop() {
	if h == nil || (h.successor() && !h.readied.Load()) {
		return
	}
	h.upg.Stop()
	<-h.upg.Exit()
}

// watchSignal upgrades on SIGUSR2 until ctx ends. Called before start, so
// that a SIGUSR2 while starting is refused rather than fatal (its default).
func (h *handover) watchSignal(ctx context.Context, wg *sync.WaitGroup) {
	if h == nil {
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				_ = h.upgrade("SIGUSR2") // logged either way
			}
		}
	}()
}

// listener returns the socket for one listener: the one systemd passed
// (passed), the one the replaced process had, or a new one on addr ("" and
// nothing inherited: none). Each is kept for the next upgrade.
func (h *handover) listener(name, addr string, passed net.Listener) (net.Listener, error) {
	if h == nil {
		if passed != nil || addr == "" {
			return passed, nil
		}
		return listen(addr)
	}
	if passed != nil {
		return passed, h.keep(systemdNetwork, name, passed)
	}
	if ln, err := h.upg.Listener(systemdNetwork, name); ln != nil || err != nil {
		return ln, err
	}
	if addr == "" {
		return nil, nil
	}
	network, a := "tcp", addr
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, a = "unix", p
	}
	if ln, err := h.upg.Listener(network, a); ln != nil || err != nil {
		return ln, err
	}
	ln, err := listen(addr)
	if err != nil {
		return nil, err
	}
	if err := h.keep(network, a, ln); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func (h *handover) keep(network, addr string, ln net.Listener) error {
	if ul, ok := ln.(*unixListener); ok {
		h.ownSockets = append(h.ownSockets, ul)
	}
	tl, ok := ln.(tableflip.Listener)
	if !ok {
		return fmt.Errorf("listen %s: %T cannot be handed to a new process", addr, ln)
	}
	return h.upg.AddListener(network, addr, tl)
}

// gateMutations answers 503 "upgrading" (with Connection: close) to every
// control request that could change something while this process is
// frozen: switchctl retries a 503 and so reaches the process that acts.
func (h *handover) gateMutations(next http.Handler) http.Handler {
	if h == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead || r.URL.Path == "/v1/upgrade" {
			next.ServeHTTP(w, r)
			return
		}
		release, ok := h.act()
		if !ok {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(control.ErrorBody{Error: control.ErrorDetail{Code: control.CodeUpgrading,
				Message: "switchd is handing over to a new process; retry"}})
			return
		}
		defer release()
		next.ServeHTTP(w, r)
	})
}

// gatedSwitcher refuses the guard's reverts while this process is frozen;
// the guard retries a refused revert a second later, by when the process
// that acts (this one after a failed upgrade, or its successor with its own
// guard) decides.
type gatedSwitcher struct {
	guard.Switcher
	h *handover
}

func (s gatedSwitcher) Revert(service string, from, to config.Color, reason switchboard.Reason, detail string) (switchboard.Change, error) {
	release, ok := s.h.act()
	if !ok {
		return switchboard.Change{}, errors.New("switchd is handing over to a new process")
	}
	defer release()
	return s.Switcher.Revert(service, from, to, reason, detail)
}

// switcher wraps sw for the guard.
func (h *handover) switcher(sw guard.Switcher) guard.Switcher {
	if h == nil {
		return sw
	}
	return gatedSwitcher{Switcher: sw, h: h}
}
