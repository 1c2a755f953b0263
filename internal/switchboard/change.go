package switchboard

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/health"
	"github.com/switchd/switchd/internal/proxy"
	"github.com/switchd/switchd/internal/state"
)

// Request asks for a change of the active colour.
type Request struct {
	// Expect refuses the change unless this colour is active; NoColor: any.
	Expect config.Color
	// ExpectGeneration refuses the change unless the generation is this; nil: any.
	ExpectGeneration *uint64
	// ExpectPoolsVersion refuses the change unless the runtime pools are
	// at this version (a deploy flips only to the pool it set); nil: any.
	ExpectPoolsVersion *uint64
	// Force skips the health gate (an empty pool is still refused).
	Force bool
	// Actor is who asks (token name, "api", "guard").
	Actor string
	// Detail is the operator's reason, kept in state ("deploy 4f2a").
	Detail string
}

// Flip makes the idle colour active.
func (b *Board) Flip(name string, r Request) (Change, error) {
	return b.change(name, r, Manual, false, func(cur state.Record) (config.Color, error) { return cur.Active.Other(), nil })
}

// Activate makes c active; activating the active colour changes nothing.
func (b *Board) Activate(name string, c config.Color, r Request) (Change, error) {
	return b.change(name, r, Manual, false, func(state.Record) (config.Color, error) { return c, nil })
}

// Rollback makes the previous colour active again.
func (b *Board) Rollback(name string, r Request) (Change, error) {
	return b.change(name, r, Rollback, false, func(cur state.Record) (config.Color, error) {
		if !cur.Previous.Valid() {
			return config.NoColor, refuse(ErrNoPrevious, fmt.Sprintf("%s: no previous colour to roll back to", name))
		}
		return cur.Previous, nil
	})
}

// Revert is the guard's way back: it makes to active if from still is, and
// only when to passes the gate (never forced). reason is Guard or Failover.
//
// Unlike an operator's change, a revert goes ahead when state.json cannot
// be written (a full disk): it rescues traffic from a failing colour, and
// nobody is there to retry it. The change is then held in memory only
// (Change.Unsaved, View.Persisted false) until a later write succeeds;
// a restart before that comes back on the colour state.json still names.
func (b *Board) Revert(name string, from, to config.Color, reason Reason, detail string) (Change, error) {
	return b.change(name, Request{Expect: from, Actor: "guard", Detail: detail}, reason, true,
		func(state.Record) (config.Color, error) { return to, nil })
}

// change makes target's colour active. inMemory lets it go ahead when
// state.json cannot be written; otherwise nothing changes then.
func (b *Board) change(name string, r Request, reason Reason, inMemory bool, target func(state.Record) (config.Color, error)) (Change, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.services[name]
	if !ok {
		return Change{}, refuse(ErrUnknownService, fmt.Sprintf("unknown service %q", name))
	}
	cur := b.file.Services[name]
	if r.Expect.Valid() && r.Expect != cur.Active {
		return Change{}, refuse(ErrConflict, fmt.Sprintf("%s: expected %s active, but %s is (generation %d)", name, r.Expect, cur.Active, cur.Generation))
	}
	if err := expectations(name, cur, r); err != nil {
		return Change{}, err
	}
	to, err := target(cur)
	if err != nil {
		return Change{}, err
	}
	if !to.Valid() {
		return Change{}, refuse(ErrBadColor, fmt.Sprintf("%s: %q is not a colour", name, to))
	}
	if to == cur.Active {
		return Change{Service: name, From: cur.Active, To: cur.Active, Generation: cur.Generation,
			Reason: Reason(cur.Reason), Actor: cur.ChangedBy, Detail: cur.Detail, At: cur.ChangedAt}, nil
	}
	if cur.Generation >= state.MaxGeneration {
		return Change{}, refuse(ErrPersist, fmt.Sprintf("%s: generation %d is the largest state.json keeps (2^53); nothing changed", name, cur.Generation))
	}
	snap := e.svc.Snapshot()
	if err := gate(name, e.cfg, snap.Pool(to), r.Force); err != nil {
		return Change{}, err
	}
	now := time.Now().UTC()
	// From cur, so that the runtime pools stay.
	next := cur
	next.Active, next.Previous, next.Generation = to, cur.Active, cur.Generation+1
	next.ChangedAt, next.ChangedBy, next.Reason, next.Detail, next.Forced = now, r.Actor, string(reason), r.Detail, r.Force
	file := state.File{Version: 1, Services: make(map[string]state.Record, len(b.file.Services))}
	for k, v := range b.file.Services {
		file.Services[k] = v
	}
	file.Services[name] = next
	// A save that is in place but not fsynced counts as saved (b.save):
	// state.json already says `to`, so memory, traffic and what a restart
	// reads agree.
	unsaved := false
	err = b.commit(file, name, cur, next)
	switch {
	case errors.Is(err, ErrStoreConflict):
		// Another host won this generation; its record reaches this board
		// through ApplyRemote. Not even a revert goes ahead: the fleet
		// serves what the store holds.
		b.log.Warn("change lost to another host's", zap.String("service", name), zap.Stringer("to", to), zap.Error(err))
		return Change{}, refuse(ErrConflict, fmt.Sprintf("%s: another host changed it first (%v); nothing changed", name, err))
	case errors.Is(err, ErrStoreUnavailable) && !inMemory:
		b.log.Error("state store unavailable; nothing changed", zap.String("service", name), zap.Error(err))
		return Change{}, refuse(ErrUnavailable, fmt.Sprintf("%s: %v; nothing changed", name, err))
	}
	if err != nil && inMemory {
		unsaved = true
		b.unsaved[name] = true
		b.log.Error("state not saved; reverting in memory only, retrying until state.json can be written",
			zap.String("service", name), zap.Stringer("to", to), zap.Error(err))
	} else if err != nil {
		b.log.Error("state not saved; nothing changed", zap.String("service", name), zap.Error(err))
		return Change{}, refuse(ErrPersist, fmt.Sprintf("%s: %v; nothing changed", name, err))
	}
	b.file = file
	e.svc.Publish(snap.With(to, next.Generation))
	e.svc.Retire(cur.Active, snap.DrainTimeout)
	b.publish()

	c := Change{Service: name, From: cur.Active, To: to, Generation: next.Generation, Reason: reason,
		Actor: r.Actor, Detail: r.Detail, Forced: r.Force, At: now, Changed: true, Unsaved: unsaved}
	b.logChange(c)
	b.tell(c)
	return c, nil
}

// expectations refuses r when its expected generation or pools version is
// not cur's (409 conflict).
func expectations(name string, cur state.Record, r Request) error {
	if r.ExpectGeneration != nil && *r.ExpectGeneration != cur.Generation {
		return refuse(ErrConflict, fmt.Sprintf("%s: expected generation %d, but it is %d", name, *r.ExpectGeneration, cur.Generation))
	}
	if r.ExpectPoolsVersion != nil && *r.ExpectPoolsVersion != cur.PoolsVersion {
		return refuse(ErrConflict, fmt.Sprintf("%s: expected pools version %d, but it is %d (another deploy changed a pool)", name, *r.ExpectPoolsVersion, cur.PoolsVersion))
	}
	return nil
}

func (b *Board) logChange(c Change) {
	fields := []zap.Field{zap.String("service", c.Service), zap.Stringer("from", c.From), zap.Stringer("to", c.To),
		zap.Uint64("generation", c.Generation), zap.String("reason", string(c.Reason)), zap.String("actor", c.Actor),
		zap.String("detail", c.Detail), zap.Bool("forced", c.Forced)}
	if c.Remote {
		fields = append(fields, zap.Bool("remote", true))
	}
	switch c.Reason {
	case Guard, Failover:
		// The guard, which decided, writes the one error line of a revert
		// with its figures (rate, requests, window) and this generation:
		// a second line here made every revert two.
		b.log.Debug("reverted", fields...)
	default:
		b.log.Info("flipped", fields...)
	}
}

// gate refuses a colour with no upstreams, and (unless forced) one with
// fewer healthy upstreams than min_healthy, naming each failing upstream.
func gate(name string, sc config.Service, pool *proxy.Pool, force bool) error {
	ups := pool.Upstreams()
	if len(ups) == 0 {
		return refuse(ErrTargetEmpty, fmt.Sprintf("%s: %s has no upstreams", name, pool.Color()))
	}
	if force {
		return nil
	}
	up, _, total := pool.Counts()
	need := sc.Health.MinHealthy.Need(total)
	if up >= need {
		return nil
	}
	var bad []string
	for _, u := range ups {
		st := u.Health().Status()
		switch {
		case st.State == health.Up:
			continue
		case st.LastError != "":
			bad = append(bad, u.Address()+": "+st.LastError)
		case st.State == health.Unknown:
			bad = append(bad, u.Address()+": not checked yet")
		default:
			bad = append(bad, u.Address()+": "+st.State.String())
		}
	}
	return refuse(ErrTargetUnhealthy, fmt.Sprintf("%s: %d of %d upstreams healthy, %d needed (%s)",
		pool.Color(), up, total, need, strings.Join(bad, ", ")))
}
