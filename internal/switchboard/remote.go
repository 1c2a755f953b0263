package switchboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap"

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
		return true // kept for when a reload adds the service
	}
	snap := e.svc.Snapshot()
	if len(snap.Pool(rec.Active).Upstreams()) == 0 {
		// The fleet's record wins even here: hosts serving different
		// colours is the split this store exists to prevent.
		b.log.Error(fmt.Sprintf("the fleet made %s active, which has no upstreams on this host", rec.Active), zap.String("service", name))
	}
	e.svc.Publish(snap.With(rec.Active, rec.Generation))
	if rec.Active != snap.Active {
		e.svc.Retire(snap.Active, snap.DrainTimeout)
	}
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

// sameRecord compares records by their JSON, which also covers fields
// added to state.Record later.
func sameRecord(a, b state.Record) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
