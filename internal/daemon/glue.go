package daemon

import (
	"fmt"
	"strings"
	"time"

	"github.com/switchd/switchd/control/api"
	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/control"
	"github.com/switchd/switchd/internal/guard"
	"github.com/switchd/switchd/internal/health"
	"github.com/switchd/switchd/internal/switchboard"
)

// This file adapts the packages to each other's small interfaces, so none
// of them imports a floor above it.

// eventsListener turns changes into events.
type eventsListener struct{ d *daemon }

func (l eventsListener) Changed(c switchboard.Change) {
	if !c.Changed || c.Startup {
		return
	}
	l.d.published(control.Event{Type: c.Reason.Event(), Service: c.Service, From: c.From.String(), To: c.To.String(),
		Generation: c.Generation, Actor: c.Actor, Forced: c.Forced, Detail: c.Detail, Time: c.At, Remote: c.Remote})
	if c.Unsaved {
		l.d.published(unsavedEvent(c))
	}
}

// guardEvents publishes guard_blocked notices.
type guardEvents struct{ d *daemon }

func (e guardEvents) GuardBlocked(service string, from, to config.Color, reason switchboard.Reason, detail string) {
	e.d.published(control.Event{Type: api.EventGuardBlocked, Service: service, From: from.String(), To: to.String(),
		Detail: fmt.Sprintf("%s: %s", reason, detail)})
}

// poolEvents publishes pool changes (API, switchctl deploy) as "pool" events.
type poolEvents struct{ d *daemon }

func (p poolEvents) PoolChanged(c switchboard.PoolChange) {
	detail := fmt.Sprintf("%s: %s (was %s), from %s", c.Color, strings.Join(c.To, " "), strings.Join(c.From, " "), c.Source)
	if c.Detail != "" {
		detail += ": " + c.Detail
	}
	p.d.published(control.Event{Type: api.EventPool, Service: c.Service, Color: c.Color.String(), Actor: c.Actor, Detail: detail})
}

// healthEvents publishes health transitions.
type healthEvents struct{ d *daemon }

func (h healthEvents) HealthChanged(t health.Transition) {
	h.d.published(control.Event{Type: api.EventHealth, Service: t.Service, Color: t.Color.String(), Upstream: t.Address,
		State: t.To.String(), Detail: t.Err, Time: t.At.UTC()})
}

func reloadEvent(ok bool, source string, err error) control.Event {
	e := control.Event{Type: api.EventReload, OK: &ok, Detail: "from " + source}
	if err != nil {
		e.Detail = err.Error()
	}
	return e
}

// guardView shows the guard through the control API.
type guardView struct {
	g *guard.Guard
	b *switchboard.Board
}

func (v guardView) Status(name string) *control.GuardStatus {
	st := v.g.Status(name)
	if !st.Active.Valid() {
		return nil
	}
	a := st.Color(st.Active)
	out := &control.GuardStatus{
		ArmedAlways: st.ArmedAlways, WindowRequests: a.Requests, WindowErrorRate: a.Rate,
		Colors: map[string]control.GuardWindow{},
	}
	if !st.ArmedUntil.IsZero() {
		t := st.ArmedUntil.UTC()
		out.ArmedUntil = &t
	}
	for _, c := range config.Colors {
		w := st.Color(c)
		out.Colors[c.String()] = control.GuardWindow{Requests: w.Requests, Errors: w.Errors, ErrorRate: w.Rate,
			P99MS: float64(w.P99) / float64(time.Millisecond)}
	}
	if t := st.LastTrip; t != nil {
		out.LastTrip = &control.GuardTrip{At: t.At.UTC(), Reason: string(t.Reason), From: t.From.String(), To: t.To.String(),
			Detail: t.Detail, Rate: t.Rate, Requests: t.Requests}
	}
	if sv, ok := v.b.View(name); ok {
		out.Enabled = sv.Config.Guard.Enabled
	}
	out.Blocked = st.Blocked
	out.Latched = st.Latched
	out.Stability = st.Outcome.State.String()
	return out
}

func (v guardView) Stability(name string) string { return v.g.Outcome(name).State.String() }
