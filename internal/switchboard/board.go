package switchboard

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/health"
	"github.com/switchd/switchd/internal/proxy"
	"github.com/switchd/switchd/internal/state"
	"github.com/switchd/switchd/internal/tlsx"
)

// Targets is the health monitor as the board drives it: the board says
// which upstreams exist (Sync, with every service as routed, runtime pools
// included) and hands out their live health (Target). Health follows the
// board, never config.toml directly, so that a reload, a deploy and a
// store's update all change the probed set through the board.
type Targets interface {
	// Target returns the health of one upstream; nil when it is not probed.
	Target(service, address string) *health.Target
	// Sync makes the probed upstreams exactly those of svcs; an error
	// changes nothing.
	Sync(svcs []config.Service) error
}

// Store keeps every service's record: state.json for a single host
// (*state.Store), or a store several hosts share (package fleet).
type Store interface {
	// Save writes the whole state (at start, on reload, and the retries of
	// changes held in memory only). A shared store writes each record
	// only where it is newer than the one it holds.
	Save(state.File) error
}

// Swapper is a Store whose records several hosts change: a change is one
// compare-and-swap of the service's record, so that of two hosts changing
// the same generation exactly one wins. A Store that is no Swapper has
// one writer and saves the whole file instead.
type Swapper interface {
	// Swap makes next the record of service if the store still holds
	// prev; file is the whole state with next in it. It fails with
	// ErrStoreConflict when another writer got there first and with
	// ErrStoreUnavailable when the store cannot be reached.
	Swap(file state.File, service string, prev, next state.Record) error
}

// Listener hears every change of an active colour, after it was persisted
// and published. Changed runs under the board's lock: it must be quick and
// must not call back into the board.
type Listener interface {
	Changed(Change)
}

// PoolListener hears every change of a pool. PoolChanged runs under the
// board's lock: it must be quick and must not call back into the board.
type PoolListener interface {
	PoolChanged(PoolChange)
}

// Change is one change of a service's active colour (or, with Startup, the
// colour restored at start).
type Change struct {
	Service    string
	From, To   config.Color
	Generation uint64
	Reason     Reason
	Actor      string
	Detail     string
	Forced     bool
	At         time.Time
	// Changed is false for an activate of the colour already active.
	Changed bool
	// Startup marks the announcement of the restored state at start-up.
	Startup bool
	// Unsaved is true for a revert that went ahead while state.json could
	// not be written: it holds in memory only, and the board keeps trying
	// to save it (RetryPersist).
	Unsaved bool
	// Remote marks a change another host made, applied here from the
	// shared store (ApplyRemote).
	Remote bool
}

// Options configure a Board.
type Options struct {
	// Store persists state.json (a *state.Store); required.
	Store Store
	// State is what Store held at start (state.Open's File).
	State state.File
	// Targets gives each upstream its health; nil gives every upstream an
	// unprobed Target (tests).
	Targets Targets
	// Transport sizes each upstream's connection pool (TLS comes from the
	// service's [upstream_tls]).
	Transport proxy.TransportOptions
	// Observer returns the observer of a service's finished requests; nil: none.
	Observer func(service string) proxy.Observer
	// Logger gets one line per change. Nil: no logs.
	Logger *zap.Logger
	// Pools hears of every pool change made through the board (API, a
	// deploy), after it was persisted and published; nil: nobody.
	Pools PoolListener
	// Persistence hears of failed writes of state.json and of the first
	// write that succeeds after them. Nil: nobody.
	Persistence Persistence
}

// Board owns the active colour of every service. Create it with New.
type Board struct {
	opts   Options
	log    *zap.Logger
	router *proxy.Router

	// read is what readers see (view.go); they never take mu, which a
	// flip holds through an fsync.
	read atomic.Pointer[readModel]

	mu        sync.Mutex
	file      state.File // as persisted
	services  map[string]*entry
	order     []string
	upstreams map[string]*proxy.Upstream // by service + "\x00" + address
	listeners []Listener
	// unsaved names the services whose record in file is not yet in
	// state.json: automatic reverts made while it could not be written.
	unsaved map[string]bool
	// pending holds upstreams being health-checked before they may join
	// an active pool (pools.go): service → address → colour. They are
	// probed, not routed.
	pending map[string]map[string]config.Color
}

type entry struct {
	cfg config.Service
	svc *proxy.Service
}

// New builds the routing state of cfg. The state file wins over initial; an
// active colour without upstreams is an error, and nothing is routed then.
func New(cfg *config.Config, o Options) (*Board, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	b := &Board{
		opts: o, log: o.Logger, router: proxy.NewRouter(nil),
		file:      state.File{Version: 1, Services: map[string]state.Record{}},
		services:  map[string]*entry{},
		upstreams: map[string]*proxy.Upstream{},
		unsaved:   map[string]bool{},
		pending:   map[string]map[string]config.Color{},
	}
	for name, rec := range o.State.Services {
		b.file.Services[name] = rec
	}
	recs, err := b.records(cfg)
	if err != nil {
		return nil, err
	}
	missing := false
	var specs []config.Service
	for _, sc := range cfg.Services {
		specs = append(specs, effective(sc, recs[sc.Name]))
	}
	if err := b.syncTargets(specs); err != nil {
		return nil, err
	}
	var routes []proxy.Route
	for _, sc := range cfg.Services {
		rec := recs[sc.Name]
		if _, ok := b.file.Services[sc.Name]; !ok {
			missing = true
			b.file.Services[sc.Name] = rec
		}
		snap, err := b.snapshot(effective(sc, rec), rec)
		if err != nil {
			return nil, err
		}
		var obs proxy.Observer
		if o.Observer != nil {
			obs = o.Observer(sc.Name)
		}
		e := &entry{cfg: sc, svc: proxy.NewService(sc.Name, snap, obs)}
		b.services[sc.Name] = e
		b.order = append(b.order, sc.Name)
		routes = append(routes, proxy.Route{Hosts: sc.Hosts, Service: e.svc})
	}
	if missing {
		// Written now so that state.json says what is routed from the first
		// request on, and a state dir that cannot be written fails at start.
		if err := b.save(b.file); err != nil {
			return nil, err
		}
	}
	b.router.Set(routes)
	b.publish()
	return b, nil
}

// syncTargets tells the health monitor which upstreams exist: those of
// specs (services as routed) and the pending ones. b.mu must be held (or b
// not shared yet).
func (b *Board) syncTargets(specs []config.Service) error {
	if b.opts.Targets == nil {
		return nil
	}
	out := make([]config.Service, len(specs))
	for i, sc := range specs {
		for _, c := range config.Colors {
			sc.Pool(c).Upstreams = slices.Clone(sc.Pool(c).Upstreams)
		}
		for _, addr := range slices.Sorted(maps.Keys(b.pending[sc.Name])) {
			p := sc.Pool(b.pending[sc.Name][addr])
			if !slices.Contains(sc.Blue.Upstreams, addr) && !slices.Contains(sc.Green.Upstreams, addr) {
				p.Upstreams = append(p.Upstreams, addr)
			}
		}
		out[i] = sc
	}
	return b.opts.Targets.Sync(out)
}

// routed returns every service as routed now, in config order. b.mu must
// be held.
func (b *Board) routed() []config.Service {
	out := make([]config.Service, 0, len(b.order))
	for _, name := range b.order {
		out = append(out, effective(b.services[name].cfg, b.file.Services[name]))
	}
	return out
}

// snapshot builds the routing state of sc (as routed: effective) with the
// colour of rec, reusing the upstreams (connections, health) the board
// already has.
func (b *Board) snapshot(sc config.Service, rec state.Record) (*proxy.Snapshot, error) {
	tlsConf, tlsKey, err := tlsx.UpstreamConfig(sc.UpstreamTLS)
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", sc.Name, err)
	}
	topts := b.opts.Transport
	topts.TLS = tlsConf
	snap := &proxy.Snapshot{
		Active: rec.Active, Generation: rec.Generation,
		// Canonical here, not only in Publish: proxy.NewService stores the
		// first snapshot as it is, and the handler looks the header up by
		// its canonical key. A config's "x-switchd-preview" would otherwise
		// neither select the idle colour nor be stripped (the secret would
		// reach the upstream) until the first flip.
		PreviewHeader: http.CanonicalHeaderKey(sc.Preview.Header), PreviewSecret: sc.Preview.Secret,
		DrainTimeout: sc.Drain.Timeout.D(),
	}
	for _, c := range config.Colors {
		var ups []*proxy.Upstream
		for _, addr := range sc.Pool(c).Upstreams {
			// The client TLS settings are part of the key: a reload that
			// rotates the CA or the client certificate gets upstreams with
			// a new transport (and the same health target), as the health
			// checks do.
			key := sc.Name + "\x00" + addr + "\x00" + tlsKey
			u := b.upstreams[key]
			if u == nil {
				var t *health.Target
				if b.opts.Targets != nil {
					t = b.opts.Targets.Target(sc.Name, addr)
				}
				if t == nil {
					t = health.NewTarget(sc.Name, addr, c, sc.Health.Rise, sc.Health.Fall, nil)
				}
				if u, err = proxy.NewUpstream(addr, t, topts); err != nil {
					return nil, fmt.Errorf("service %q: %w", sc.Name, err)
				}
				b.upstreams[key] = u
			}
			ups = append(ups, u)
		}
		snap.Pools[c.Index()] = proxy.NewPool(c, ups)
	}
	return snap, nil
}

// Router returns the router the public handler uses.
func (b *Board) Router() *proxy.Router { return b.router }

// AddListener adds l to those told of every change.
func (b *Board) AddListener(l Listener) {
	b.mu.Lock()
	b.listeners = append(b.listeners, l)
	b.mu.Unlock()
}

// Announce tells the listeners the state every service starts with.
func (b *Board) Announce() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, name := range b.order {
		b.announce(name)
	}
}

// announce tells the listeners the state a service starts with (at start-up
// or when a reload adds it). b.mu must be held.
func (b *Board) announce(name string) {
	rec := b.file.Services[name]
	b.tell(Change{Service: name, To: rec.Active, From: rec.Previous, Generation: rec.Generation,
		Reason: Reason(rec.Reason), Actor: rec.ChangedBy, Forced: rec.Forced, At: rec.ChangedAt, Startup: true})
}

func (b *Board) tell(c Change) {
	for _, l := range b.listeners {
		l.Changed(c)
	}
}

// Close stops drain timers and closes upstream connections.
func (b *Board) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.services {
		e.svc.Close()
	}
}
