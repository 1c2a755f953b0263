package switchboard

import (
	"slices"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/state"
)

// Source says where a pool's upstreams come from.
type Source string

// The sources of a pool.
const (
	// FromConfig: config.toml's [service.<colour>] upstreams.
	FromConfig Source = "config"
	// FromAPI: set through the control API (runtime-owned); kept in the
	// service's state record, so it survives restarts and reloads.
	FromAPI Source = "api"
)

// effective is the service spec the board routes and health checks: sc
// with every runtime-owned pool of rec in place of config.toml's. It is the
// one place config and runtime overrides meet, so that a deploy, a reload
// and a store that hands over records all end up in the same spec.
func effective(sc config.Service, rec state.Record) config.Service {
	for _, c := range config.Colors {
		if ups, ok := rec.Pools[c.String()]; ok {
			sc.Pool(c).Upstreams = slices.Clone(ups)
		}
	}
	return sc
}

// sourceOf names where colour c of rec's service takes its pool from.
func sourceOf(rec state.Record, c config.Color) Source {
	if _, ok := rec.Pools[c.String()]; ok {
		return FromAPI
	}
	return FromConfig
}

// withPool returns rec with colour c runtime-owned by ups (nil ups: handed
// back to config.toml) and its pools version counted up. rec's own map is
// never written: records are shared by published views.
func withPool(rec state.Record, c config.Color, ups []string, owned bool) state.Record {
	pools := make(map[string][]string, len(rec.Pools)+1)
	for k, v := range rec.Pools {
		pools[k] = v
	}
	if owned {
		pools[c.String()] = append([]string{}, ups...)
	} else {
		delete(pools, c.String())
	}
	if len(pools) == 0 {
		pools = nil
	}
	rec.Pools = pools
	rec.PoolsVersion++
	return rec
}
