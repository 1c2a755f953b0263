package daemon

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/switchboard"
)

// sdState keeps systemd told, after READY=1, that switchd is alive
// (WATCHDOG=1, when the unit sets WatchdogSec=) and which colours are
// active (STATUS=, shown by systemctl status). Without $NOTIFY_SOCKET it is
// not started.
type sdState struct {
	d       *daemon
	changed chan struct{} // poked on every change of a colour and every reload
}

// watchdogInterval is half of $WATCHDOG_USEC, as sd_watchdog_enabled(3)
// advises; 0 when the watchdog is off or meant for another process.
func watchdogInterval(getenv func(string) string) time.Duration {
	usec, err := strconv.ParseUint(getenv("WATCHDOG_USEC"), 10, 63)
	if err != nil || usec == 0 {
		return 0
	}
	if pid := getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// startSystemd starts the loop that sends WATCHDOG=1 and STATUS=; it ends
// with ctx or once this process handed over to a successor, which then
// speaks for the service.
func (d *daemon) startSystemd(ctx context.Context) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return
	}
	s := &sdState{d: d, changed: make(chan struct{}, 1)}
	d.sd.Store(s)
	d.board.AddListener(s)
	d.wg.Add(1)
	go func() { defer d.wg.Done(); s.run(ctx, watchdogInterval(os.Getenv)) }()
}

// Changed is the board's call on every change of an active colour. It
// only pokes the loop: the board may hold its lock while calling.
func (s *sdState) Changed(switchboard.Change) { s.poke() }

func (s *sdState) poke() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// sdPoke tells the systemd loop, if any, that the status may have changed.
func (d *daemon) sdPoke() {
	if s := d.sd.Load(); s != nil {
		s.poke()
	}
}

func (s *sdState) run(ctx context.Context, interval time.Duration) {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	last := ""
	send := func(watchdog bool) {
		// Reading every service's state takes the board's lock: a daemon
		// stuck on it sends no ping, and systemd restarts it.
		status := s.d.statusLine()
		var msg []string
		if watchdog {
			msg = append(msg, "WATCHDOG=1")
		}
		if status != last {
			msg = append(msg, "STATUS="+status)
		}
		if len(msg) == 0 {
			return
		}
		if err := sdNotify(strings.Join(msg, "\n")); err != nil {
			s.d.log.Warn("could not notify systemd", zap.Error(err))
			return
		}
		last = status
	}
	send(interval > 0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.d.handover.handedOver():
			return
		case <-tick:
			send(true)
		case <-s.changed:
			send(false)
		}
	}
}

// statusLine is "app=green gen 7, api=blue gen 2": every service's active
// colour and generation, in config order.
func (d *daemon) statusLine() string {
	var parts []string
	for _, name := range d.board.Names() {
		v, ok := d.board.View(name)
		if !ok {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%s gen %d", name, v.Record.Active, v.Record.Generation))
	}
	if len(parts) == 0 {
		return "no services"
	}
	return strings.Join(parts, ", ")
}
