package switchboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/proxy"
	"github.com/switchd/switchd/internal/state"
)

// ApplyRemote applies a record another host committed to the shared store:
// it goes through the same publish path and listeners as a local change,
// with Change.Remote set. It skips the gate (the writer's gate passed and
// the fleet must serve one colour), and it persists nothing (the record is
// already stored). A record older than the one served, or the one served
// (this host's own change coming back), is ignored; a different one of the
// same generation wins: two hosts changed that generation while the store
// was away, and the stored one is what the fleet serves. It reports whether
// the record was applied.
func (b *Board) ApplyRemote(name string, rec state.Record) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, known := b.file.Services[name]
	if known && (rec.Generation < cur.Generation || rec.Generation == cur.Generation && sameRecord(rec, cur)) {
		return false
	}
	if known && rec.Generation == cur.Generation {
		b.log.Warn("a change made while the store was away lost to the stored one of the same generation",
			zap.String("service", name), zap.Uint64("generation", cur.Generation), zap.Stringer("ours", cur.Active),
			zap.Stringer("stored", rec.Active), zap.Uint64("stored_generation", rec.Generation))
	}
	delete(b.unsaved, name)
	file := state.File{Version: 1, Services: make(map[string]state.Record, len(b.file.Services)+1)}
	for k, v := range b.file.Services {
		file.Services[k] = v
	}
	file.Services[name] = rec
	b.file = file
	e, routed := b.services[name]
	if !routed {
		b.publish()
		return true // kept for when a reload adds the service
	}
	snap := e.svc.Snapshot()
	next := snap
	var gone []*proxy.Upstream
	if known && !samePools(cur, rec) {
		// Another host changed a runtime pool (a deploy there): route
		// and check the pools as the record has them, like a local one.
		if err := b.syncTargets(b.routedWith(name, rec)); err != nil {
			b.log.Error("health checks of the fleet's pools", zap.String("service", name), zap.Error(err))
		}
		if s2, err := b.snapshot(effective(e.cfg, rec), rec); err != nil {
			b.log.Error("the fleet's pools cannot be routed on this host", zap.String("service", name), zap.Error(err))
		} else {
			next = s2
			for _, c := range config.Colors {
				kept := s2.Pool(c).Upstreams()
				for _, u := range snap.Pool(c).Upstreams() {
					if !slices.Contains(kept, u) {
						gone = append(gone, u)
					}
				}
			}
		}
	}
	if len(next.Pool(rec.Active).Upstreams()) == 0 {
		// The fleet's record wins even here: hosts serving different
		// colours is the split this store exists to prevent.
		b.log.Error(fmt.Sprintf("the fleet made %s active, which has no upstreams on this host", rec.Active), zap.String("service", name))
	}
	e.svc.Publish(next.With(rec.Active, rec.Generation))
	if rec.Active != snap.Active {
		e.svc.Retire(snap.Active, snap.DrainTimeout)
	}
	if len(gone) > 0 {
		e.svc.RetireUpstreams(gone, next.DrainTimeout)
		b.pruneUpstreams()
	}
	b.publish() // readers load the published view: they see it now
	at := rec.ChangedAt
	if at.IsZero() {
		at = time.Now().UTC()
	}
	c := Change{Service: name, From: snap.Active, To: rec.Active, Generation: rec.Generation, Reason: Reason(rec.Reason),
		Actor: rec.ChangedBy, Detail: rec.Detail, Forced: rec.Forced, At: at, Changed: rec.Active != snap.Active, Remote: true}
	b.logChange(c)
	b.tell(c)
	return true
}

// samePools reports whether a and b route the same runtime pools.
func samePools(a, b state.Record) bool {
	return a.PoolsVersion == b.PoolsVersion && reflect.DeepEqual(a.Pools, b.Pools)
}

// sameRecord compares records by their JSON, which also covers fields
// added to state.Record later.
func sameRecord(a, b state.Record) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
