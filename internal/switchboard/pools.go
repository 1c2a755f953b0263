package switchboard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/health"
	"github.com/switchd/switchd/internal/proxy"
	"github.com/switchd/switchd/internal/state"
)

// PoolRequest asks for a change of one colour's pool.
type PoolRequest struct {
	// ExpectGeneration refuses the change unless the generation is this; nil: any.
	ExpectGeneration *uint64
	// ExpectPoolsVersion refuses the change unless the runtime pools are at
	// this version (two deploys racing for the idle pool); nil: any.
	ExpectPoolsVersion *uint64
	// Actor is who asks; Detail the operator's reason ("deploy 4f2a").
	Actor, Detail string
}

// PoolChange is the outcome of a pool change.
type PoolChange struct {
	Service string
	Color   config.Color
	// From and To are the colour's upstreams before and after.
	From, To []string
	Source   Source
	// Active is true when the colour was the active one (its new upstreams
	// passed their health checks first).
	Active bool
	// Changed is false when the pool already was what was asked.
	Changed      bool
	PoolsVersion uint64
	// Actor and Detail are the request's.
	Actor, Detail string
}

// SetPool makes ups colour c's pool, owned by the API from now on.
func (b *Board) SetPool(ctx context.Context, name string, c config.Color, ups []string, r PoolRequest) (PoolChange, error) {
	return b.changePool(ctx, name, c, r, func([]string, config.Service) ([]string, bool, error) { return ups, true, nil })
}

// AddUpstream adds addr to colour c's pool (nothing when it is there).
func (b *Board) AddUpstream(ctx context.Context, name string, c config.Color, addr string, r PoolRequest) (PoolChange, error) {
	return b.changePool(ctx, name, c, r, func(cur []string, _ config.Service) ([]string, bool, error) {
		canon, err := config.CanonicalUpstream(addr)
		if err != nil {
			return nil, false, refuse(ErrBadPool, err.Error())
		}
		if slices.Contains(cur, canon) {
			return cur, true, nil
		}
		return append(slices.Clone(cur), canon), true, nil
	})
}

// RemoveUpstream takes addr out of colour c's pool; it drains like the old
// colour of a flip. Removing an address the pool does not have changes
// nothing.
func (b *Board) RemoveUpstream(ctx context.Context, name string, c config.Color, addr string, r PoolRequest) (PoolChange, error) {
	return b.changePool(ctx, name, c, r, func(cur []string, _ config.Service) ([]string, bool, error) {
		canon, err := config.CanonicalUpstream(addr)
		if err != nil {
			return nil, false, refuse(ErrBadPool, err.Error())
		}
		return slices.DeleteFunc(slices.Clone(cur), func(u string) bool { return u == canon }), true, nil
	})
}

// ResetPool hands colour c's pool back to config.toml.
func (b *Board) ResetPool(ctx context.Context, name string, c config.Color, r PoolRequest) (PoolChange, error) {
	return b.changePool(ctx, name, c, r, func(_ []string, file config.Service) ([]string, bool, error) {
		return file.Pool(c).Upstreams, false, nil
	})
}

// edit returns a colour's next upstreams from its current ones and the
// service as config.toml has it, and whether the API owns them then.
type edit func(cur []string, file config.Service) (next []string, owned bool, err error)

// changePool is the one path of a pool change. The idle colour changes at
// once. The active colour, when new upstreams join it, is changed the way
// kamal-proxy deploys: the new upstreams are health-checked with b.mu
// released (a flip or a reader never waits for that), then, under b.mu,
// the expectations are checked again, the pool must pass the flip's gate
// (min_healthy), and one snapshot is published; removed upstreams drain
// after b.mu is released.
func (b *Board) changePool(ctx context.Context, name string, c config.Color, r PoolRequest, ed edit) (PoolChange, error) {
	if !c.Valid() {
		return PoolChange{}, refuse(ErrBadColor, fmt.Sprintf("%s: %q is not a colour", name, c))
	}
	b.mu.Lock()
	e, rec, next, owned, err := b.planPool(name, c, r, ed)
	if err != nil {
		b.mu.Unlock()
		return PoolChange{}, err
	}
	spec := effective(e.cfg, rec)
	cur := spec.Pool(c).Upstreams
	if slices.Equal(cur, next) && owned == (sourceOf(rec, c) == FromAPI) {
		b.mu.Unlock()
		return PoolChange{Service: name, Color: c, From: cur, To: cur, Source: sourceOf(rec, c),
			Active: c == rec.Active, PoolsVersion: rec.PoolsVersion}, nil
	}
	fresh := slices.DeleteFunc(slices.Clone(next), func(u string) bool { return slices.Contains(cur, u) })
	if c == rec.Active && len(fresh) > 0 {
		// Probe the newcomers (and route nothing to them) while unlocked.
		pend := b.pending[name]
		if pend == nil {
			pend = map[string]config.Color{}
			b.pending[name] = pend
		}
		for _, u := range fresh {
			pend[u] = c
		}
		err := b.syncTargets(b.routed())
		b.mu.Unlock()
		if err == nil {
			b.awaitHealthy(ctx, name, e.cfg.Health, next)
		}
		b.mu.Lock()
		for _, u := range fresh {
			delete(b.pending[name], u)
		}
		if len(b.pending[name]) == 0 {
			delete(b.pending, name)
		}
		if err != nil {
			_ = b.syncTargets(b.routed())
			b.mu.Unlock()
			return PoolChange{}, err
		}
		// Against the record the plan was made from: whoever changed it
		// meanwhile (a flip, another deploy) wins, this change does not.
		pinned := r
		gen, pv := rec.Generation, rec.PoolsVersion
		pinned.ExpectGeneration, pinned.ExpectPoolsVersion = &gen, &pv
		if _, _, _, _, err := b.planPool(name, c, pinned, ed); err != nil {
			_ = b.syncTargets(b.routed())
			b.mu.Unlock()
			return PoolChange{}, err
		}
	}
	pc, gone, drain, err := b.commitPool(e, rec, c, cur, next, owned, r)
	b.mu.Unlock()
	if err == nil {
		e.svc.RetireUpstreams(gone, drain)
	}
	return pc, err
}

// planPool checks r against the service's record and computes the next
// upstreams of colour c. b.mu must be held.
func (b *Board) planPool(name string, c config.Color, r PoolRequest, ed edit) (*entry, state.Record, []string, bool, error) {
	e, ok := b.services[name]
	if !ok {
		return nil, state.Record{}, nil, false, refuse(ErrUnknownService, fmt.Sprintf("unknown service %q", name))
	}
	rec := b.file.Services[name]
	if err := expectations(name, rec, Request{ExpectGeneration: r.ExpectGeneration, ExpectPoolsVersion: r.ExpectPoolsVersion}); err != nil {
		return nil, rec, nil, false, err
	}
	spec := effective(e.cfg, rec)
	next, owned, err := ed(spec.Pool(c).Upstreams, e.cfg)
	if err != nil {
		return nil, rec, nil, false, err
	}
	next, err = checkPool(name, c, next, spec.Pool(c.Other()).Upstreams)
	if err != nil {
		return nil, rec, nil, false, err
	}
	if c == rec.Active && len(next) == 0 {
		return nil, rec, nil, false, refuse(ErrTargetEmpty, fmt.Sprintf("%s: %s is active and would have no upstreams", name, c))
	}
	return e, rec, next, owned, nil
}

// checkPool canonicalises ups and refuses what config.toml refuses: bad
// addresses, duplicates, addresses of the other colour.
func checkPool(name string, c config.Color, ups, other []string) ([]string, error) {
	out := make([]string, 0, len(ups))
	for _, u := range ups {
		canon, err := config.CanonicalUpstream(u)
		if err != nil {
			return nil, refuse(ErrBadPool, fmt.Sprintf("%s: %s: %v", name, c, err))
		}
		if slices.Contains(out, canon) {
			return nil, refuse(ErrBadPool, fmt.Sprintf("%s: %s: duplicate upstream %q", name, c, canon))
		}
		if slices.Contains(other, canon) {
			return nil, refuse(ErrBadPool, fmt.Sprintf("%s: %s: upstream %q is in %s's pool", name, c, canon, c.Other()))
		}
		out = append(out, canon)
	}
	return out, nil
}

// awaitHealthy waits until enough of ups pass their health checks for
// min_healthy, or until the checks had their chance: the first probe and
// rise−1 more, plus a timeout and a margin. It only waits; the gate decides.
func (b *Board) awaitHealthy(ctx context.Context, name string, h config.Health, ups []string) {
	if b.opts.Targets == nil {
		return
	}
	interval, timeout := max(h.Interval.D(), 10*time.Millisecond), max(h.Timeout.D(), 10*time.Millisecond)
	limit := time.Duration(max(h.Rise, 1))*interval + timeout + time.Second
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(min(interval/4, 50*time.Millisecond) + time.Millisecond)
	defer tick.Stop()
	need := h.MinHealthy.Need(len(ups))
	for {
		up := 0
		for _, u := range ups {
			if t := b.opts.Targets.Target(name, u); t != nil && t.State() == health.Up {
				up++
			}
		}
		if up >= need {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// commitPool makes next colour c's pool: it builds the snapshot, gates an
// active colour, persists, publishes and re-syncs health. It returns the
// upstreams that left, for the caller to drain once b.mu is released. b.mu
// must be held.
func (b *Board) commitPool(e *entry, rec state.Record, c config.Color, cur, next []string, owned bool, r PoolRequest) (PoolChange, []*proxy.Upstream, time.Duration, error) {
	name := e.cfg.Name
	nrec := withPool(rec, c, next, owned)
	if err := b.syncTargets(b.routedWith(name, nrec)); err != nil {
		_ = b.syncTargets(b.routed())
		return PoolChange{}, nil, 0, err
	}
	snap, err := b.snapshot(effective(e.cfg, nrec), nrec)
	if err == nil && c == rec.Active {
		err = gate(name, e.cfg, snap.Pool(c), false)
	}
	if err == nil {
		file := state.File{Version: 1, Services: make(map[string]state.Record, len(b.file.Services))}
		for k, v := range b.file.Services {
			file.Services[k] = v
		}
		file.Services[name] = nrec
		// One compare-and-swap where the store is shared, as a flip: two
		// hosts' deploys cannot both win.
		switch err = b.commit(file, name, rec, nrec); {
		case err == nil:
			b.file = file
		case errors.Is(err, ErrStoreConflict):
			b.log.Warn("pool change lost to another host's", zap.String("service", name), zap.Error(err))
			err = refuse(ErrConflict, fmt.Sprintf("%s: another host changed it first (%v); nothing changed", name, err))
		case errors.Is(err, ErrStoreUnavailable):
			b.log.Error("state store unavailable; pool not changed", zap.String("service", name), zap.Error(err))
			err = refuse(ErrUnavailable, fmt.Sprintf("%s: %v; nothing changed", name, err))
		default:
			b.log.Error("state not saved; pool not changed", zap.String("service", name), zap.Error(err))
			err = refuse(ErrPersist, fmt.Sprintf("%s: %v; nothing changed", name, err))
		}
	}
	if err != nil {
		_ = b.syncTargets(b.routed())
		b.pruneUpstreams()
		return PoolChange{}, nil, 0, err
	}
	old := e.svc.Snapshot().Pool(c).Upstreams()
	e.svc.Publish(snap)
	var gone []*proxy.Upstream
	kept := snap.Pool(c).Upstreams()
	for _, u := range old {
		if !slices.Contains(kept, u) {
			gone = append(gone, u)
		}
	}
	b.pruneUpstreams()
	b.publish()
	pc := PoolChange{Service: name, Color: c, From: cur, To: next, Source: sourceOf(nrec, c), Active: c == rec.Active,
		Changed: true, PoolsVersion: nrec.PoolsVersion, Actor: r.Actor, Detail: r.Detail}
	if b.opts.Pools != nil {
		b.opts.Pools.PoolChanged(pc)
	}
	b.log.Info("pool changed", zap.String("service", name), zap.Stringer("color", c), zap.Strings("from", cur),
		zap.Strings("to", next), zap.String("source", string(pc.Source)), zap.Bool("active", pc.Active),
		zap.String("actor", r.Actor), zap.String("detail", r.Detail))
	return pc, gone, snap.DrainTimeout, nil
}

// routedWith is routed with name's record replaced by rec. b.mu must be held.
func (b *Board) routedWith(name string, rec state.Record) []config.Service {
	out := b.routed()
	for i := range out {
		if out[i].Name == name {
			out[i] = effective(b.services[name].cfg, rec)
		}
	}
	return out
}
