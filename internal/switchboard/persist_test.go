package switchboard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/state"
)

// fullDisk saves through a real store until full is set, then fails as a
// full disk does (state.Store's own tests check that it reports ENOSPC on
// write and fsync this way and leaves the old file intact).
type fullDisk struct {
	*state.Store
	full atomic.Bool
}

func (d *fullDisk) Save(f state.File) error {
	if d.full.Load() {
		return fmt.Errorf("state: write %s: %w", d.Path(), syscall.ENOSPC)
	}
	return d.Store.Save(f)
}

// persistLog is a Persistence that counts.
type persistLog struct {
	mu     sync.Mutex
	failed []error
	again  int
}

func (p *persistLog) SaveFailed(err error) {
	p.mu.Lock()
	p.failed = append(p.failed, err)
	p.mu.Unlock()
}
func (p *persistLog) SavedAgain() { p.mu.Lock(); p.again++; p.mu.Unlock() }
func (p *persistLog) counts() (failed, again int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.failed), p.again
}

// TestRevertWhenStateCannotBeWritten: with the disk full an operator's flip
// is refused as before, but a failover still moves traffic (in memory,
// told as Unsaved, View.Persisted false), and RetryPersist writes it once
// the disk has room again. Before, the failover was refused too: traffic
// stayed on the dead colour until space was freed.
func TestRevertWhenStateCannotBeWritten(t *testing.T) {
	f := newFixture(t)
	if _, err := f.board.Flip("app", Request{Actor: "deployer"}); err != nil {
		t.Fatal(err)
	}
	disk := &fullDisk{Store: f.board.opts.Store.(*state.Store)}
	plog := &persistLog{}
	f.board.opts.Store, f.board.opts.Persistence = disk, plog
	disk.full.Store(true)

	if _, err := f.board.Flip("app", Request{Actor: "deployer"}); !errors.Is(err, ErrPersist) {
		t.Fatalf("operator's flip on a full disk: %v, want ErrPersist", err)
	}
	if v := f.view(t, "app"); v.Record.Active != config.Green || !v.Persisted {
		t.Fatalf("a refused flip changed memory: %+v persisted=%v", v.Record, v.Persisted)
	}

	f.targets.Down("app", errors.New("connection refused"), greenAddrs...)
	c, err := f.board.Revert("app", config.Green, config.Blue, Failover, "green: 0 of 2 upstreams healthy")
	if err != nil {
		t.Fatalf("failover on a full disk: %v", err)
	}
	if !c.Changed || !c.Unsaved || c.To != config.Blue || c.Generation != 2 {
		t.Fatalf("failover change %+v, want an unsaved change to blue, generation 2", c)
	}
	v := f.view(t, "app")
	if v.Service.Snapshot().Active != config.Blue || v.Record.Active != config.Blue || v.Persisted {
		t.Fatalf("after failover: traffic on %s, record %+v, persisted=%v", v.Service.Snapshot().Active, v.Record, v.Persisted)
	}
	if f.board.Persisted() {
		t.Error("board.Persisted() with a change held in memory")
	}
	if got := f.rec.all(); len(got) == 0 || !got[len(got)-1].Unsaved {
		t.Errorf("listeners told %+v, want the unsaved failover last", got)
	}
	if rec := f.saved(t).Services["app"]; rec.Active != config.Green || rec.Generation != 1 {
		t.Fatalf("state.json on a full disk: %+v", rec)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.board.RetryPersist(ctx, 10*time.Millisecond, nil) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "retries while the disk is full", func() bool { n, _ := plog.counts(); return n >= 4 })
	if v := f.view(t, "app"); v.Persisted {
		t.Fatal("persisted while every write fails")
	}

	disk.full.Store(false)
	waitFor(t, "state saved once the disk has room", func() bool { return f.view(t, "app").Persisted })
	if rec := f.saved(t).Services["app"]; rec.Active != config.Blue || rec.Generation != 2 || rec.Reason != string(Failover) {
		t.Fatalf("state.json after the retry: %+v", rec)
	}
	if _, again := plog.counts(); again != 1 {
		t.Errorf("SavedAgain told %d times, want 1", again)
	}
	// Saved means nothing is left to retry.
	n, _ := plog.counts()
	time.Sleep(50 * time.Millisecond)
	if m, _ := plog.counts(); m != n {
		t.Errorf("%d more failed saves after recovery", m-n)
	}
}

// TestFlipSavesHeldRevert: an operator's change that can be written also
// writes a revert held in memory, so nothing is left unsaved.
func TestFlipSavesHeldRevert(t *testing.T) {
	f := newFixture(t)
	disk := &fullDisk{Store: f.board.opts.Store.(*state.Store)}
	f.board.opts.Store = disk
	if _, err := f.board.Flip("app", Request{Actor: "deployer"}); err != nil {
		t.Fatal(err)
	}
	disk.full.Store(true)
	if _, err := f.board.Revert("app", config.Green, config.Blue, Guard, "12% errors"); err != nil {
		t.Fatal(err)
	}
	disk.full.Store(false)
	if _, err := f.board.Flip("app", Request{Actor: "deployer", Force: true}); err != nil {
		t.Fatal(err)
	}
	if !f.board.Persisted() {
		t.Error("unsaved after a successful write")
	}
	if rec := f.saved(t).Services["app"]; rec.Active != config.Green || rec.Generation != 3 {
		t.Errorf("state.json: %+v, want green generation 3", rec)
	}
}

// TestGenerationLimit: a service at generation 2^53 cannot change (state
// refuses to write 2^53+1, and 2^64-1 would wrap to 0).
func TestGenerationLimit(t *testing.T) {
	dir := t.TempDir()
	store, _, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	max := state.File{Services: map[string]state.Record{"app": {Active: config.Blue, Previous: config.Green, Generation: state.MaxGeneration, Reason: "manual"}}}
	if err := store.Save(max); err != nil {
		t.Fatal(err)
	}
	tg := newFakeTargets()
	tg.Up("app", blueAddrs...)
	tg.Up("app", greenAddrs...)
	g := newFixtureIn(t, dir, tg, service("app", blueAddrs, greenAddrs))
	_, err = g.board.Flip("app", Request{})
	wantRefusal(t, err, ErrPersist, "app: generation 9007199254740992 is the largest state.json keeps (2^53); nothing changed")
	if rec := g.saved(t).Services["app"]; rec.Generation != state.MaxGeneration || rec.Active != config.Blue {
		t.Errorf("state.json: %+v", rec)
	}
}

// waitFor polls cond for up to 10 s (generous: the machine is shared).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
