package fleet

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/state"
	"github.com/switchd/switchd/internal/switchboard"
	"github.com/switchd/switchd/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	blueAddrs  = []string{"127.0.0.1:11"}
	greenAddrs = []string{"127.0.0.1:12"}
)

// host is one switchd of a fleet as far as the store goes: a Store on the
// shared etcd, a board over it, and Run keeping them in step.
type host struct {
	name  string
	dir   string
	store *Store
	board *switchboard.Board
	cfg   *config.Config
	stop  func()
	seen  *changes
}

// changes records every change a board tells, with when it was told (the
// board tells after publishing: from then on the host serves it).
type changes struct {
	mu  sync.Mutex
	all []timedChange
}

type timedChange struct {
	switchboard.Change
	at time.Time
}

func (c *changes) Changed(ch switchboard.Change) {
	c.mu.Lock()
	c.all = append(c.all, timedChange{ch, time.Now()})
	c.mu.Unlock()
}

func (c *changes) find(gen uint64) (timedChange, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.all {
		if ch.Generation == gen && ch.Changed {
			return ch, true
		}
	}
	return timedChange{}, false
}

// startHost opens a host on dir (a new one when dir is "").
func startHost(t *testing.T, name, dir string, endpoints ...string) *host {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	local, file, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := NewClient(config.Etcd{Endpoints: endpoints, DialTimeout: config.Duration(time.Second)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, file, err := Open(context.Background(), Options{Client: cli, Prefix: "/test/", Node: name, Timeout: time.Second, Local: local, LocalFile: file})
	if err != nil {
		t.Fatal(err)
	}
	tg := testkit.NewTargets()
	tg.Up("app", blueAddrs...)
	tg.Up("app", greenAddrs...)
	cfg := &config.Config{Services: []config.Service{testkit.Service("app", blueAddrs, greenAddrs)}}
	b, err := switchboard.New(cfg, switchboard.Options{Store: s, State: file, Targets: tg})
	if err != nil {
		t.Fatal(err)
	}
	seen := &changes{}
	b.AddListener(seen)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	retried := make(chan struct{})
	// As switchd does: reverts held locally are saved again until they are.
	go func() { defer close(retried); b.RetryPersist(ctx, 50*time.Millisecond, nil) }()
	go func() {
		defer close(done)
		s.Run(ctx, b.ApplyRemote, func() Node { return Node{Address: "127.0.0.1:0", Services: served(b)} })
	}()
	h := &host{name: name, dir: dir, store: s, board: b, cfg: cfg, seen: seen}
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			<-retried
			b.Close()
			_ = s.Close()
		})
	}
	t.Cleanup(h.stop)
	return h
}

func served(b *switchboard.Board) map[string]uint64 {
	out := map[string]uint64{}
	for _, n := range b.Names() {
		if v, ok := b.View(n); ok {
			out[n] = v.Service.Snapshot().Generation
		}
	}
	return out
}

// serving returns the colour and generation host routes app with.
func (h *host) serving() (config.Color, uint64) {
	v, _ := h.board.View("app")
	snap := v.Service.Snapshot()
	return snap.Active, snap.Generation
}

// waitServing waits until every host serves c at generation gen.
func waitServing(t *testing.T, c config.Color, gen uint64, hosts ...*host) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, h := range hosts {
		for {
			got, g := h.serving()
			if got == c && g == gen {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s serves %s generation %d, want %s generation %d", h.name, got, g, c, gen)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// waitUp waits until the host's store reports etcd reachable (or not).
func waitUp(t *testing.T, h *host, up bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for h.store.Up() != up {
		if time.Now().After(deadline) {
			t.Fatalf("%s: store up = %v after 20s, want %v", h.name, !up, up)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isRefusal(err, kind error) bool { return errors.Is(err, kind) }
