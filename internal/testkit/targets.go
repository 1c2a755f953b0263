package testkit

import (
	"sync"
	"time"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/health"
)

// Targets hands out health targets that tests set by hand (rise = fall = 1:
// one Record decides). It implements switchboard.Targets.
type Targets struct {
	mu     sync.Mutex
	m      map[string]*health.Target
	synced []config.Service
}

// NewTargets returns an empty set; every target starts Unknown.
func NewTargets() *Targets { return &Targets{m: map[string]*health.Target{}} }

// Target returns the target of one upstream, creating it Unknown.
func (f *Targets) Target(service, address string) *health.Target {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := service + "\x00" + address
	if f.m[k] == nil {
		f.m[k] = health.NewTarget(service, address, config.NoColor, 1, 1, nil)
	}
	return f.m[k]
}

// Sync records which upstreams the board says exist (Synced); it creates
// nothing, as Target creates on demand.
func (f *Targets) Sync(svcs []config.Service) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.synced = append([]config.Service(nil), svcs...)
	return nil
}

// Synced returns what the last Sync was given.
func (f *Targets) Synced() []config.Service {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.synced
}

// Up marks the upstreams Up.
func (f *Targets) Up(service string, addrs ...string) {
	for _, a := range addrs {
		f.Target(service, a).Record(nil, time.Millisecond, time.Now())
	}
}

// Down marks the upstreams Down with err as their last error.
func (f *Targets) Down(service string, err error, addrs ...string) {
	for _, a := range addrs {
		f.Target(service, a).Record(err, time.Millisecond, time.Now())
	}
}

// Service returns a service config as config.Parse would fill it for the
// keys the switchboard and the API read, with config's defaults but for
// test-sized values: rise = fall = 1 and a 1s drain.
func Service(name string, blue, green []string) config.Service {
	return config.Service{
		Name:    name,
		Initial: config.Blue,
		Blue:    config.Pool{Upstreams: blue},
		Green:   config.Pool{Upstreams: green},
		Health: config.Health{
			Rise: 1, Fall: 1,
			MinHealthy: config.DefaultMinHealthy,
		},
		Preview: config.Preview{Header: config.DefaultPreviewHeader},
		Drain:   config.Drain{Timeout: config.Duration(time.Second)},
	}
}
