package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
)

// awaitFirstRound waits until every configured upstream has been checked
// once, so that the first requests (and, in an upgrade, the first ones the
// successor takes over) go to upstreams known up rather than to all of
// them. It gives up after the longest check timeout plus a second: a probe
// that cannot finish must not keep switchd from serving.
func (d *daemon) awaitFirstRound(ctx context.Context) {
	cfg := d.running()
	limit := time.Second
	for _, s := range cfg.Services {
		limit = max(limit, s.Health.Timeout.D()+time.Second)
	}
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !d.checkedOnce() {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			d.log.Warn("serving before the first health round ended", zap.Duration("waited", limit))
			return
		case <-tick.C:
		}
	}
}

func (d *daemon) checkedOnce() bool {
	routed := d.routed()
	for i := range routed {
		s := &routed[i]
		for _, c := range config.Colors {
			for _, addr := range s.Pool(c).Upstreams {
				if t := d.monitor.Target(s.Name, addr); t != nil && t.Status().LastCheck.IsZero() {
					return false
				}
			}
		}
	}
	return true
}

// notifyReady tells systemd (Type=notify) that switchd serves. A successor
// of an upgrade also names itself the main process, which systemd accepts
// from it with NotifyAccess=all.
func (d *daemon) notifyReady() {
	msg := "READY=1"
	if d.handover.successor() {
		msg = fmt.Sprintf("MAINPID=%d\nREADY=1", os.Getpid())
	}
	if err := sdNotify(msg); err != nil {
		d.log.Warn("could not notify systemd", zap.Error(err))
	}
}

// sdNotify sends state to the service manager's socket ($NOTIFY_SOCKET), as
// sd_notify(3) does; without one it does nothing. The variable stays set:
// a successor started by an upgrade needs it too.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:] // abstract namespace
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
