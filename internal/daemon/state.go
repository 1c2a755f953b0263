package daemon

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/control/api"
	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/control"
	"github.com/switchd/switchd/internal/state"
	"github.com/switchd/switchd/internal/switchboard"
	"github.com/switchd/switchd/internal/tlsx"
)

// openState opens the state folder as [state] asks.
func openState(c config.State) (*state.Store, state.File, error) {
	store, file, err := state.OpenWith(c.Dir, state.Options{RefuseMissing: c.OnMissing == "refuse"})
	if errors.Is(err, state.ErrMissing) {
		err = fmt.Errorf("%w; state.on_missing is \"refuse\" (for a first start, create it as {\"version\":1,\"services\":{}} or set on_missing = \"start\" once)", err)
	}
	return store, file, err
}

// stateMissing says loudly that state.json was missing at start: on a host
// whose state lives on a volume that is not mounted, every service has just
// gone back to its initial colour.
func (d *daemon) stateMissing() {
	if !d.store.Missing() || d.fleet != nil && d.fleet.Up() {
		return // with etcd answering, the local copy is not what starts
	}
	msg := fmt.Sprintf("state file %s did not exist: every service starts on its configured initial colour", d.store.Path())
	d.log.Warn("state file missing; every service starts on its initial colour (first start, or a state volume that is not mounted; set [state] on_missing = \"refuse\" to stop instead)",
		zap.String("path", d.store.Path()))
	d.published(control.Event{Type: api.EventStartup, Detail: msg})
}

// persistence counts failed writes of state.json and tells when one
// succeeds again. The board logs both.
type persistence struct{ d *daemon }

func (p persistence) SaveFailed(error) { p.d.metrics.StatePersistFailures.Inc() }

func (p persistence) SavedAgain() {
	ok := true
	p.d.published(control.Event{Type: api.EventStatePersist, OK: &ok, Detail: "state.json holds every change again"})
}

// unsavedEvent is the event for a revert held in memory only.
func unsavedEvent(c switchboard.Change) control.Event {
	ok := false
	return control.Event{Type: api.EventStatePersist, Service: c.Service, OK: &ok, To: c.To.String(), Generation: c.Generation,
		Detail: fmt.Sprintf("%s to %s holds in memory only: state.json could not be written; retrying every second (a restart before then comes back on the colour state.json names)", c.Reason, c.To)}
}

// status answers GET /v1/status.
func (d *daemon) status() control.Status {
	r := d.reloadResult()
	out := control.Status{
		Version: d.version,
		Config: control.ConfigStatus{Path: d.cfgPath, LastReload: control.ReloadStatus{
			OK: r.ok, At: r.at, Source: r.source, Error: r.err, LastSuccess: timeOrNil(r.lastSuccess), Warnings: r.warnings}},
		State: control.StateStatus{Path: d.store.Path(), Persisted: d.board.Persisted(), MissingAtStart: d.store.Missing()},
		TLS:   []control.CertStatus{},
	}
	for _, c := range d.certificates() {
		out.TLS = append(out.TLS, control.CertStatus{Host: c.Host, Issuer: c.Issuer, NotAfter: timeOrNil(c.NotAfter.UTC()), Source: c.Source})
	}
	return out
}

// certificates are the https listener's, per configured host; none with
// TLS off.
func (d *daemon) certificates() []tlsx.Certificate {
	if d.tls == nil {
		return nil
	}
	return d.tls.Certificates()
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
