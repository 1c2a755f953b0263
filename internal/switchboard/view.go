package switchboard

import (
	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/proxy"
	"github.com/switchd/switchd/internal/state"
)

// View is a read-only copy of one service's configuration and state.
type View struct {
	// Config is the service as routed: config.toml's, with the
	// runtime-owned pools in place of the file's.
	Config config.Service
	Record state.Record
	// Sources says, per colour (by Color.Index), where its pool comes from.
	Sources [2]Source
	Service *proxy.Service
	// Persisted is false while Record is held in memory only: an automatic
	// revert made while state.json could not be written (the board keeps
	// trying, see RetryPersist).
	Persisted bool
}

// Source returns where colour c's pool comes from.
func (v View) Source(c config.Color) Source { return v.Sources[c.Index()] }

// readModel is everything readers ask the board, built by each writer
// under b.mu and published whole: readers (API views, wait polls, metric
// scrapes, the guard's tick) load one pointer and never wait for a change
// that holds b.mu through an fsync. It is never modified once published.
type readModel struct {
	order     []string
	views     map[string]View
	persisted bool
}

// publish builds the read model from the board's state. b.mu must be held
// (or b not shared yet), and every writer calls it before unlocking.
func (b *Board) publish() {
	rm := &readModel{order: append([]string(nil), b.order...), views: make(map[string]View, len(b.services)),
		persisted: len(b.unsaved) == 0}
	for name, e := range b.services {
		rec := b.file.Services[name]
		v := View{Config: effective(e.cfg, rec), Record: rec, Service: e.svc, Persisted: !b.unsaved[name]}
		for _, c := range config.Colors {
			v.Sources[c.Index()] = sourceOf(rec, c)
		}
		rm.views[name] = v
	}
	b.read.Store(rm)
}

// View returns the service called name. It takes no lock.
func (b *Board) View(name string) (View, bool) {
	v, ok := b.read.Load().views[name]
	return v, ok
}

// Names returns the configured services in config order. It takes no lock.
func (b *Board) Names() []string { return append([]string(nil), b.read.Load().order...) }

// Counts returns the Up, known-Down and total upstreams of one colour.
// It takes no lock, so the guard may call it while holding its own.
func (b *Board) Counts(service string, c config.Color) (up, down, total int) {
	v, ok := b.View(service)
	if !ok || !c.Valid() {
		return 0, 0, 0
	}
	return v.Service.Snapshot().Pool(c).Counts()
}

// Persisted reports whether state.json holds every service's current state;
// false while a change is held in memory only. It takes no lock.
func (b *Board) Persisted() bool { return b.read.Load().persisted }
