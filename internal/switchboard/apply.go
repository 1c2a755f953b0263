package switchboard

import (
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/proxy"
	"github.com/switchd/switchd/internal/state"
)

// Check reports whether cfg could be applied: every service's active colour
// (from state, or initial for a new service) must have upstreams. The error
// cites file and line (config.CheckActive). It changes nothing.
func (b *Board) Check(cfg *config.Config) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, err := b.records(cfg)
	return err
}

// records returns the state each service of cfg would run with: state.json's
// record, or a fresh one on initial. b.mu must be held (or b not shared yet).
func (b *Board) records(cfg *config.Config) (map[string]state.Record, error) {
	// Checked as routed: a runtime-owned active pool stands in for an
	// empty one in the file.
	routed := *cfg
	routed.Services = make([]config.Service, len(cfg.Services))
	for i, sc := range cfg.Services {
		routed.Services[i] = effective(sc, b.file.Services[sc.Name])
	}
	err := routed.CheckActive(func(name string) (config.Color, bool) {
		rec, ok := b.file.Services[name]
		return rec.Active, ok
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]state.Record, len(cfg.Services))
	for _, sc := range cfg.Services {
		rec, ok := b.file.Services[sc.Name]
		if !ok {
			rec = state.Record{Active: sc.Initial, Reason: string(Initial), ChangedAt: time.Now().UTC(), ChangedBy: "config"}
		}
		out[sc.Name] = rec
	}
	return out, nil
}

// Apply makes cfg the routing configuration (config reload). A reload never
// changes an active colour or a generation: kept services keep their state,
// kept upstreams keep their connections and health, new services start on
// their state.json colour or initial, removed services stop being routed
// (their state stays in state.json should they come back). Either all of
// cfg applies or nothing does.
//
// A runtime-owned pool (set through the API) wins over config.toml: Apply
// returns one Override for each whose file pool changed, so that the
// caller can say the file's change did not take effect.
//
// The health monitor is synced from the result (Targets.Sync) before
// anything is routed, and put back when something later fails.
func (b *Board) Apply(cfg *config.Config) ([]Override, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	recs, err := b.records(cfg)
	if err != nil {
		return nil, err
	}
	var specs []config.Service
	var overrides []Override
	for _, sc := range cfg.Services {
		specs = append(specs, effective(sc, recs[sc.Name]))
		overrides = append(overrides, b.overrides(sc, recs[sc.Name])...)
	}
	before := b.routed()
	if err := b.syncTargets(specs); err != nil {
		return nil, err
	}
	undo := func() { _ = b.syncTargets(before) } // back to what is routed
	snaps := make(map[string]*proxy.Snapshot, len(cfg.Services))
	for i, sc := range cfg.Services {
		if snaps[sc.Name], err = b.snapshot(specs[i], recs[sc.Name]); err != nil {
			undo()
			return nil, err
		}
	}

	// Persist new services first: past this point nothing can fail.
	added := false
	file := state.File{Version: 1, Services: make(map[string]state.Record, len(b.file.Services))}
	for k, v := range b.file.Services {
		file.Services[k] = v
	}
	for name, rec := range recs {
		if _, ok := file.Services[name]; !ok {
			file.Services[name] = rec
			added = true
		}
	}
	if added {
		if err := b.save(file); err != nil {
			undo()
			return nil, err
		}
		b.file = file
	}

	old := b.services
	b.services = make(map[string]*entry, len(cfg.Services))
	b.order = b.order[:0]
	var routes []proxy.Route
	var fresh []string
	for _, sc := range cfg.Services {
		e := old[sc.Name]
		if e == nil {
			fresh = append(fresh, sc.Name)
			var obs proxy.Observer
			if b.opts.Observer != nil {
				obs = b.opts.Observer(sc.Name)
			}
			e = &entry{svc: proxy.NewService(sc.Name, snaps[sc.Name], obs)}
			b.log.Info("service added", zap.String("service", sc.Name), zap.Stringer("active", recs[sc.Name].Active))
		} else {
			e.svc.Publish(snaps[sc.Name])
		}
		e.cfg = sc
		b.services[sc.Name] = e
		b.order = append(b.order, sc.Name)
		routes = append(routes, proxy.Route{Hosts: sc.Hosts, Service: e.svc})
	}
	b.router.Set(routes)
	b.publish()
	for _, o := range overrides {
		b.log.Warn("config.toml changes a runtime-owned pool; the pool set through the API stays (DELETE it to hand it back)",
			zap.String("service", o.Service), zap.Stringer("color", o.Color), zap.Strings("config", o.Config), zap.Strings("kept", o.Kept))
	}
	for _, name := range fresh {
		b.announce(name) // the guard and metrics learn of it as at start-up
	}
	for name, e := range old {
		if _, kept := b.services[name]; !kept {
			b.log.Info("service removed", zap.String("service", name))
			e.svc.Close()
		}
	}
	b.pruneUpstreams()
	return overrides, nil
}

// Override is a pool that config.toml changed but the API owns: the
// change is not applied.
type Override struct {
	Service string
	Color   config.Color
	// Config is what the file now says; Kept is what stays routed.
	Config, Kept []string
}

// String describes o for a reload's result.
func (o Override) String() string {
	return fmt.Sprintf("service %q: %s pool is set through the API; config.toml's change to it is not applied", o.Service, o.Color)
}

// overrides lists the runtime-owned pools of sc whose config.toml pool
// differs from the one the board last applied. b.mu must be held.
func (b *Board) overrides(sc config.Service, rec state.Record) []Override {
	e := b.services[sc.Name]
	if e == nil {
		return nil
	}
	var out []Override
	for _, c := range config.Colors {
		kept, owned := rec.Pools[c.String()]
		if owned && !slices.Equal(e.cfg.Pool(c).Upstreams, sc.Pool(c).Upstreams) {
			out = append(out, Override{Service: sc.Name, Color: c, Config: slices.Clone(sc.Pool(c).Upstreams), Kept: slices.Clone(kept)})
		}
	}
	return out
}

// pruneUpstreams forgets upstreams no pool uses any more and closes their
// idle connections; requests still in flight to them finish.
func (b *Board) pruneUpstreams() {
	used := map[*proxy.Upstream]bool{}
	for _, e := range b.services {
		for _, p := range e.svc.Snapshot().Pools {
			for _, u := range p.Upstreams() {
				used[u] = true
			}
		}
	}
	for k, u := range b.upstreams {
		if !used[u] {
			delete(b.upstreams, k)
			u.CloseIdle()
		}
	}
}
