package switchboard

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
)

// TestSetIdlePoolAtOnce: the idle pool is replaced without a health check,
// routed at once, health is told (Sync) about the new upstream, and the
// record (state.json) owns it with a new pools version.
func TestSetIdlePoolAtOnce(t *testing.T) {
	f := newFixture(t)
	pc, err := f.board.SetPool(context.Background(), "app", config.Green, []string{"127.0.0.1:31"}, PoolRequest{Actor: "ci"})
	if err != nil || !pc.Changed || pc.Active || pc.PoolsVersion != 1 {
		t.Fatalf("SetPool: %+v %v", pc, err)
	}
	v := f.view(t, "app")
	got := v.Service.Snapshot().Pool(config.Green).Upstreams()
	if len(got) != 1 || got[0].Address() != "127.0.0.1:31" || v.Source(config.Green) != FromAPI || v.Source(config.Blue) != FromConfig {
		t.Fatalf("green routes %v from %s", got, v.Source(config.Green))
	}
	synced := f.targets.Synced()
	if len(synced) != 1 || !slices.Equal(synced[0].Green.Upstreams, []string{"127.0.0.1:31"}) {
		t.Errorf("health was told %+v", synced)
	}
	if rec := f.saved(t).Services["app"]; !slices.Equal(rec.Pools["green"], []string{"127.0.0.1:31"}) || rec.PoolsVersion != 1 {
		t.Errorf("state.json has %+v", rec)
	}
	// Handed back: config.toml's pool, and the record forgets the pool.
	if _, err := f.board.ResetPool(context.Background(), "app", config.Green, PoolRequest{}); err != nil {
		t.Fatal(err)
	}
	if v := f.view(t, "app"); v.Source(config.Green) != FromConfig || !slices.Equal(v.Config.Green.Upstreams, greenAddrs) {
		t.Errorf("after reset green is %v from %s", v.Config.Green.Upstreams, v.Source(config.Green))
	}
	if rec := f.saved(t).Services["app"]; rec.Pools != nil || rec.PoolsVersion != 2 {
		t.Errorf("state.json after reset has %+v", rec)
	}
}

// TestPoolExpectations: a stale expect_pools_version or generation is a
// conflict, and a bad address or one of the other colour is refused; none
// changes anything.
func TestPoolExpectations(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.board.SetPool(ctx, "app", config.Green, []string{"127.0.0.1:31"}, PoolRequest{ExpectPoolsVersion: gen(0)}); err != nil {
		t.Fatal(err)
	}
	_, err := f.board.SetPool(ctx, "app", config.Green, []string{"127.0.0.1:32"}, PoolRequest{ExpectPoolsVersion: gen(0)})
	wantRefusal(t, err, ErrConflict, "app: expected pools version 0, but it is 1 (another deploy changed a pool)")
	_, err = f.board.SetPool(ctx, "app", config.Green, []string{"127.0.0.1:32"}, PoolRequest{ExpectGeneration: gen(5)})
	wantRefusal(t, err, ErrConflict, "app: expected generation 5, but it is 0")
	_, err = f.board.SetPool(ctx, "app", config.Green, []string{"nope"}, PoolRequest{})
	wantRefusal(t, err, ErrBadPool, "")
	_, err = f.board.AddUpstream(ctx, "app", config.Green, blueAddrs[0], PoolRequest{})
	wantRefusal(t, err, ErrBadPool, `app: green: upstream "127.0.0.1:11" is in blue's pool`)
	_, err = f.board.SetPool(ctx, "app", config.Blue, nil, PoolRequest{})
	wantRefusal(t, err, ErrTargetEmpty, "")
	if v := f.view(t, "app"); !slices.Equal(v.Config.Green.Upstreams, []string{"127.0.0.1:31"}) || v.Record.PoolsVersion != 1 {
		t.Errorf("refusals changed the pool: %v, version %d", v.Config.Green.Upstreams, v.Record.PoolsVersion)
	}
	// A flip with the pools version it saw goes; a stale one does not.
	_, err = f.board.Flip("app", Request{ExpectPoolsVersion: gen(0)})
	wantRefusal(t, err, ErrConflict, "")
	f.targets.Up("app", "127.0.0.1:31")
	if _, err := f.board.Flip("app", Request{ExpectPoolsVersion: gen(1)}); err != nil {
		t.Fatal(err)
	}
	if rec := f.saved(t).Services["app"]; rec.Active != config.Green || !slices.Equal(rec.Pools["green"], []string{"127.0.0.1:31"}) {
		t.Errorf("the flip dropped the runtime pool: %+v", rec)
	}
}

// TestActivePoolCheckedOutsideTheLock: new upstreams of the active pool are
// waited for with the board's lock free (a flip, a view, a reload go on
// meanwhile), and join only once healthy; a pool that never gets healthy
// enough is refused and nothing changes.
func TestActivePoolCheckedOutsideTheLock(t *testing.T) {
	f := newFixture(t)
	done := make(chan error, 1)
	go func() {
		_, err := f.board.AddUpstream(context.Background(), "app", config.Blue, "127.0.0.1:13", PoolRequest{})
		done <- err
	}()
	// While it waits, the lock is free.
	deadline := time.Now().Add(5 * time.Second)
	for {
		p := f.board.pendingFor("app")
		if len(p) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new upstream was never checked")
		}
		time.Sleep(time.Millisecond)
	}
	if !f.board.mu.TryLock() {
		t.Fatal("the board's lock is held while new upstreams are checked")
	}
	f.board.mu.Unlock()
	if got := f.view(t, "app").Service.Snapshot().Pool(config.Blue).Upstreams(); len(got) != 2 {
		t.Fatalf("the unchecked upstream is routed already: %d upstreams", len(got))
	}
	f.targets.Up("app", "127.0.0.1:13")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := f.view(t, "app").Config.Blue.Upstreams; !slices.Equal(got, append(slices.Clone(blueAddrs), "127.0.0.1:13")) {
		t.Fatalf("blue is %v", got)
	}

	// Never healthy: refused, nothing changed, health no longer told of it.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := f.board.SetPool(ctx, "app", config.Blue, []string{"127.0.0.1:14"}, PoolRequest{})
	wantRefusal(t, err, ErrTargetUnhealthy, "")
	if got := f.view(t, "app").Config.Blue.Upstreams; len(got) != 3 {
		t.Fatalf("a refused change changed blue: %v", got)
	}
	for _, s := range f.targets.Synced() {
		if slices.Contains(s.Blue.Upstreams, "127.0.0.1:14") {
			t.Errorf("health still checks the refused upstream: %v", s.Blue.Upstreams)
		}
	}
	if !errors.Is(err, ErrTargetUnhealthy) {
		t.Fatal(err)
	}
}

// TestReloadKeepsRuntimePools: a reload whose file changes a pool the API
// owns keeps the API's, and says so.
func TestReloadKeepsRuntimePools(t *testing.T) {
	f := newFixture(t)
	if _, err := f.board.SetPool(context.Background(), "app", config.Green, []string{"127.0.0.1:31"}, PoolRequest{}); err != nil {
		t.Fatal(err)
	}
	sc := service("app", blueAddrs, []string{"127.0.0.1:99"})
	over, err := f.board.Apply(&config.Config{Services: []config.Service{sc}})
	if err != nil {
		t.Fatal(err)
	}
	if len(over) != 1 || over[0].Color != config.Green || !slices.Equal(over[0].Kept, []string{"127.0.0.1:31"}) {
		t.Fatalf("overrides %+v", over)
	}
	if got := f.view(t, "app").Config.Green.Upstreams; !slices.Equal(got, []string{"127.0.0.1:31"}) {
		t.Fatalf("reload overrode the API's pool: %v", got)
	}
}

// pendingFor lists the upstreams of name being checked before they may
// join its active pool.
func (b *Board) pendingFor(name string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Sorted(maps.Keys(b.pending[name]))
}
