package switchboard

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/proxy"
	"github.com/switchd/switchd/internal/state"
)

func TestFlipPersistsPublishesAndTells(t *testing.T) {
	f := newFixture(t)
	before := f.view(t, "app")
	if before.Record.Active != config.Blue || before.Record.Generation != 0 {
		t.Fatalf("start: %+v", before.Record)
	}

	start := time.Now().UTC()
	c, err := f.board.Flip("app", Request{Actor: "deployer", Detail: "deploy 4f2a"})
	if err != nil {
		t.Fatal(err)
	}
	want := Change{Service: "app", From: config.Blue, To: config.Green, Generation: 1, Reason: Manual,
		Actor: "deployer", Detail: "deploy 4f2a", Changed: true, At: c.At}
	if c != want {
		t.Errorf("change:\n got %+v\nwant %+v", c, want)
	}
	if c.At.Before(start) || c.At.After(time.Now()) || c.At.Location() != time.UTC {
		t.Errorf("At = %v, want a UTC time during the call", c.At)
	}

	// Persisted before Flip returned: a fresh read of state.json has it.
	rec := f.saved(t).Services["app"]
	wantRec := state.Record{Active: config.Green, Previous: config.Blue, Generation: 1,
		ChangedBy: "deployer", Reason: "manual", Detail: "deploy 4f2a"}
	if !rec.ChangedAt.Equal(c.At) {
		t.Errorf("changed_at = %v, want %v", rec.ChangedAt, c.At)
	}
	rec.ChangedAt = time.Time{}
	if !reflect.DeepEqual(rec, wantRec) {
		t.Errorf("state.json:\n got %+v\nwant %+v", rec, wantRec)
	}

	// Published: the very next request routes by the new snapshot.
	after := f.view(t, "app")
	if snap := after.Service.Snapshot(); snap.Active != config.Green || snap.Generation != 1 {
		t.Errorf("snapshot: active %v generation %d, want green 1", snap.Active, snap.Generation)
	}
	if after.Service != before.Service {
		t.Error("the service was replaced; a flip must only publish a new snapshot")
	}
	if after.Record.Generation != before.Record.Generation+1 {
		t.Errorf("generation %d, want %d", after.Record.Generation, before.Record.Generation+1)
	}
	if got := f.rec.all(); len(got) != 1 || got[0] != c {
		t.Errorf("listener calls: %+v, want exactly [%+v]", got, c)
	}

	// And back: From/To and Previous follow.
	c2, err := f.board.Flip("app", Request{Actor: "deployer"})
	if err != nil {
		t.Fatal(err)
	}
	if c2.From != config.Green || c2.To != config.Blue || c2.Generation != 2 {
		t.Errorf("second flip: %+v", c2)
	}
	if rec := f.saved(t).Services["app"]; rec.Active != config.Blue || rec.Previous != config.Green || rec.Generation != 2 || rec.Detail != "" {
		t.Errorf("state.json after second flip: %+v", rec)
	}
	if n := len(f.rec.all()); n != 2 {
		t.Errorf("listener calls: %d, want 2", n)
	}
}

func TestConflictChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(b *Board) (Change, error)
		msg  string
	}{
		{"flip expect", func(b *Board) (Change, error) { return b.Flip("app", Request{Expect: config.Green}) },
			"app: expected green active, but blue is (generation 2)"},
		{"flip expect_generation", func(b *Board) (Change, error) { return b.Flip("app", Request{ExpectGeneration: gen(0)}) },
			"app: expected generation 0, but it is 2"},
		{"flip both, generation wrong", func(b *Board) (Change, error) {
			return b.Flip("app", Request{Expect: config.Blue, ExpectGeneration: gen(7)})
		}, "app: expected generation 7, but it is 2"},
		{"activate expect", func(b *Board) (Change, error) {
			return b.Activate("app", config.Green, Request{Expect: config.Green})
		}, ""},
		{"rollback expect_generation", func(b *Board) (Change, error) {
			return b.Rollback("app", Request{ExpectGeneration: gen(3)})
		}, ""},
		{"forced flip expect", func(b *Board) (Change, error) {
			return b.Flip("app", Request{Expect: config.Green, Force: true})
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			// Generation 2, blue active, green previous: every change
			// would otherwise be possible.
			for range 2 {
				if _, err := f.board.Flip("app", Request{}); err != nil {
					t.Fatal(err)
				}
			}
			v0 := f.view(t, "app")
			if v0.Record.Active != config.Blue || v0.Record.Previous != config.Green || v0.Record.Generation != 2 {
				t.Fatalf("setup: %+v", v0.Record)
			}
			data, fi := f.raw(t)
			snap := v0.Service.Snapshot()
			calls := len(f.rec.all())

			_, err := tc.do(f.board)
			wantRefusal(t, err, ErrConflict, tc.msg)

			f.unchanged(t, data, fi)
			v1 := f.view(t, "app")
			if !reflect.DeepEqual(v1.Record, v0.Record) {
				t.Errorf("record changed: %+v -> %+v", v0.Record, v1.Record)
			}
			if v1.Service.Snapshot() != snap {
				t.Error("a new snapshot was published")
			}
			if n := len(f.rec.all()); n != calls {
				t.Errorf("listener called %d times on a conflict", n-calls)
			}
		})
	}
}

func TestExpectMatchingFlips(t *testing.T) {
	f := newFixture(t)
	c, err := f.board.Flip("app", Request{Expect: config.Blue, ExpectGeneration: gen(0)})
	if err != nil {
		t.Fatal(err)
	}
	if c.To != config.Green || c.Generation != 1 {
		t.Errorf("change %+v", c)
	}
}

func TestActivateSameColourChangesNothing(t *testing.T) {
	f := newFixture(t)
	if _, err := f.board.Activate("app", config.Green, Request{Actor: "a", Detail: "first"}); err != nil {
		t.Fatal(err)
	}
	v0 := f.view(t, "app")
	data, fi := f.raw(t)
	snap := v0.Service.Snapshot()

	c, err := f.board.Activate("app", config.Green, Request{Actor: "b", Detail: "again", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.Changed || c.From != config.Green || c.To != config.Green || c.Generation != 1 {
		t.Errorf("change %+v, want unchanged green at generation 1", c)
	}
	// It describes the state as it is, not the request.
	if c.Actor != "a" || c.Detail != "first" || c.Reason != Manual {
		t.Errorf("change %+v, want the recorded actor, detail and reason", c)
	}
	f.unchanged(t, data, fi)
	if v1 := f.view(t, "app"); !reflect.DeepEqual(v1.Record, v0.Record) || v1.Service.Snapshot() != snap {
		t.Error("state or snapshot changed")
	}
	if n := len(f.rec.all()); n != 1 {
		t.Errorf("listener calls %d, want 1 (the first activate only)", n)
	}
}

func TestActivateOtherColour(t *testing.T) {
	f := newFixture(t)
	c, err := f.board.Activate("app", config.Green, Request{Actor: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Changed || c.To != config.Green || c.Reason != Manual || c.Generation != 1 {
		t.Errorf("change %+v", c)
	}
}

func TestRollback(t *testing.T) {
	f := newFixture(t)
	data, fi := f.raw(t)
	_, err := f.board.Rollback("app", Request{})
	wantRefusal(t, err, ErrNoPrevious, "app: no previous colour to roll back to")
	f.unchanged(t, data, fi)
	if n := len(f.rec.all()); n != 0 {
		t.Errorf("listener called on a refused rollback")
	}

	if _, err := f.board.Flip("app", Request{Actor: "deployer", Detail: "deploy"}); err != nil {
		t.Fatal(err)
	}
	c, err := f.board.Rollback("app", Request{Actor: "oncall", Detail: "500s"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Changed || c.From != config.Green || c.To != config.Blue || c.Reason != Rollback || c.Generation != 2 || c.Actor != "oncall" {
		t.Errorf("change %+v", c)
	}
	rec := f.saved(t).Services["app"]
	if rec.Active != config.Blue || rec.Previous != config.Green || rec.Reason != "rollback" || rec.Generation != 2 || rec.ChangedBy != "oncall" || rec.Detail != "500s" {
		t.Errorf("state.json: %+v", rec)
	}
	if got := f.view(t, "app").Service.Snapshot().Active; got != config.Blue {
		t.Errorf("snapshot active %v, want blue", got)
	}
	// A rollback of the rollback goes forward again.
	if c, err := f.board.Rollback("app", Request{}); err != nil || c.To != config.Green {
		t.Errorf("second rollback: %+v, %v", c, err)
	}
}

func TestRollbackGated(t *testing.T) {
	f := newFixture(t)
	if _, err := f.board.Flip("app", Request{}); err != nil {
		t.Fatal(err)
	}
	f.targets.Down("app", errors.New("connection refused"), blueAddrs[0])
	_, err := f.board.Rollback("app", Request{})
	wantRefusal(t, err, ErrTargetUnhealthy,
		"blue: 1 of 2 upstreams healthy, 2 needed (127.0.0.1:11: connection refused)")
	if _, err := f.board.Rollback("app", Request{Force: true}); err != nil {
		t.Errorf("forced rollback: %v", err)
	}
}

func TestGate(t *testing.T) {
	refused := errors.New("connection refused")
	for _, tc := range []struct {
		name  string
		green []string
		min   *config.MinHealthy // nil: the default, 100%
		set   func(tg *fakeTargets)
		force bool
		kind  error // nil: passes
		msg   string
	}{
		{name: "none healthy", green: greenAddrs, set: func(tg *fakeTargets) {
			tg.Down("app", refused, "127.0.0.1:1")
		}, kind: ErrTargetUnhealthy,
			msg: "green: 0 of 2 upstreams healthy, 2 needed (127.0.0.1:1: connection refused, 127.0.0.1:2: not checked yet)"},
		{name: "one of two, 100%", green: greenAddrs, set: func(tg *fakeTargets) {
			tg.Up("app", "127.0.0.1:2")
			tg.Down("app", refused, "127.0.0.1:1")
		}, kind: ErrTargetUnhealthy,
			msg: "green: 1 of 2 upstreams healthy, 2 needed (127.0.0.1:1: connection refused)"},
		{name: "down without an error", green: greenAddrs, set: func(tg *fakeTargets) {
			tg.Up("app", "127.0.0.1:1")
			tg.Target("app", "127.0.0.1:2").Fail(nil)
		}, kind: ErrTargetUnhealthy,
			msg: "green: 1 of 2 upstreams healthy, 2 needed (127.0.0.1:2: down)"},
		{name: "one of two, 50%", green: greenAddrs, min: &config.MinHealthy{Percent: true, Pct: 50}, set: func(tg *fakeTargets) {
			tg.Up("app", "127.0.0.1:1")
			tg.Down("app", refused, "127.0.0.1:2")
		}},
		{name: "none of two, 50%", green: greenAddrs, min: &config.MinHealthy{Percent: true, Pct: 50},
			kind: ErrTargetUnhealthy,
			msg:  "green: 0 of 2 upstreams healthy, 1 needed (127.0.0.1:1: not checked yet, 127.0.0.1:2: not checked yet)"},
		{name: "count 1 of 2", green: greenAddrs, min: &config.MinHealthy{Count: 1}, set: func(tg *fakeTargets) {
			tg.Up("app", "127.0.0.1:2")
		}},
		{name: "count 0 still needs one", green: greenAddrs, min: &config.MinHealthy{Count: 0},
			kind: ErrTargetUnhealthy,
			msg:  "green: 0 of 2 upstreams healthy, 1 needed (127.0.0.1:1: not checked yet, 127.0.0.1:2: not checked yet)"},
		{name: "recovered clears the error", green: greenAddrs, set: func(tg *fakeTargets) {
			tg.Down("app", refused, greenAddrs...)
			tg.Up("app", greenAddrs...)
		}},
		{name: "forced", green: greenAddrs, force: true, set: func(tg *fakeTargets) {
			tg.Down("app", refused, greenAddrs...)
		}},
		{name: "empty", kind: ErrTargetEmpty, msg: "app: green has no upstreams"},
		{name: "empty, forced", force: true, kind: ErrTargetEmpty, msg: "app: green has no upstreams"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := service("app", blueAddrs, tc.green)
			if tc.min != nil {
				sc.Health.MinHealthy = *tc.min
			}
			tg := newFakeTargets()
			tg.Up("app", blueAddrs...)
			if tc.set != nil {
				tc.set(tg)
			}
			f := newFixtureIn(t, t.TempDir(), tg, sc)
			data, fi := f.raw(t)
			snap := f.view(t, "app").Service.Snapshot()

			c, err := f.board.Flip("app", Request{Force: tc.force, Actor: "ops"})
			if tc.kind != nil {
				wantRefusal(t, err, tc.kind, tc.msg)
				f.unchanged(t, data, fi)
				if f.view(t, "app").Service.Snapshot() != snap {
					t.Error("refused, but a snapshot was published")
				}
				if len(f.rec.all()) != 0 {
					t.Error("refused, but the listener was told")
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if c.To != config.Green || c.Forced != tc.force {
				t.Errorf("change %+v, want green forced=%v", c, tc.force)
			}
			rec := f.saved(t).Services["app"]
			if rec.Active != config.Green || rec.Forced != tc.force {
				t.Errorf("state.json %+v, want green forced=%v", rec, tc.force)
			}
			if got := f.rec.all(); len(got) != 1 || got[0].Forced != tc.force {
				t.Errorf("listener got %+v", got)
			}
		})
	}
}

// breakDir makes Save fail in a way root cannot write through either: the
// state folder is moved away and a plain file put in its place, so creating
// the temp file fails with ENOTDIR. The returned func puts the folder back.
func breakDir(t *testing.T, dir string) (repair func()) {
	t.Helper()
	moved := dir + ".moved"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a folder\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(moved, dir); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPersistFailure(t *testing.T) {
	f := newFixture(t)
	// Use a sub-folder so that breaking it leaves t.TempDir intact.
	dir := filepath.Join(t.TempDir(), "state")
	f = newFixtureIn(t, dir, f.targets, f.cfg.Services...)
	v0 := f.view(t, "app")
	snap := v0.Service.Snapshot()
	data, _ := f.raw(t)

	repair := breakDir(t, dir)
	c, err := f.board.Flip("app", Request{Actor: "deployer"})
	if !errors.Is(err, ErrPersist) {
		t.Fatalf("flip with an unwritable state folder: %+v, %v; want ErrPersist", c, err)
	}
	if !strings.HasPrefix(err.Error(), "app: state: write ") || !strings.HasSuffix(err.Error(), "; nothing changed") {
		t.Errorf("message %q", err)
	}
	v1 := f.view(t, "app")
	if !reflect.DeepEqual(v1.Record, v0.Record) {
		t.Errorf("in-memory state changed: %+v -> %+v", v0.Record, v1.Record)
	}
	if v1.Service.Snapshot() != snap || snap.Active != config.Blue {
		t.Error("a snapshot was published although nothing was saved")
	}
	if len(f.rec.all()) != 0 {
		t.Error("listener told of a change that did not happen")
	}
	// Rollback and Activate fail the same way; nothing has a previous yet.
	if _, err := f.board.Activate("app", config.Green, Request{}); !errors.Is(err, ErrPersist) {
		t.Errorf("activate: %v, want ErrPersist", err)
	}

	repair()
	if got, _ := f.raw(t); string(got) != string(data) {
		t.Fatal("state.json changed while the folder was broken")
	}
	c, err = f.board.Flip("app", Request{Actor: "deployer"})
	if err != nil {
		t.Fatalf("flip after repair: %v", err)
	}
	if c.Generation != 1 || c.To != config.Green {
		t.Errorf("change after repair %+v, want generation 1 to green", c)
	}
	if rec := f.saved(t).Services["app"]; rec.Generation != 1 || rec.Active != config.Green {
		t.Errorf("state.json after repair: %+v", rec)
	}
}

func TestNewStateWinsOverInitial(t *testing.T) {
	dir := t.TempDir()
	store, _, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	rec := state.Record{Active: config.Green, Previous: config.Blue, Generation: 7, ChangedAt: at,
		ChangedBy: "deployer", Reason: "manual", Detail: "deploy 4f2a"}
	other := state.Record{Active: config.Blue, Generation: 3, Reason: "manual", ChangedAt: at}
	if err := store.Save(state.File{Services: map[string]state.Record{"app": rec, "gone": other}}); err != nil {
		t.Fatal(err)
	}

	tg := newFakeTargets()
	tg.Up("app", blueAddrs...)
	tg.Up("app", greenAddrs...)
	sc := service("app", blueAddrs, greenAddrs)
	sc.Initial = config.Blue
	data, fi := (&fixture{dir: dir}).raw(t)
	f := newFixtureIn(t, dir, tg, sc)
	// Every configured service had a record: nothing to write at start.
	f.unchanged(t, data, fi)

	v := f.view(t, "app")
	if !reflect.DeepEqual(v.Record, rec) {
		t.Errorf("record %+v, want the state's %+v", v.Record, rec)
	}
	if s := v.Service.Snapshot(); s.Active != config.Green || s.Generation != 7 {
		t.Errorf("snapshot active %v generation %d, want green 7", s.Active, s.Generation)
	}
	// A flip continues the generation and keeps other services' records.
	c, err := f.board.Flip("app", Request{})
	if err != nil {
		t.Fatal(err)
	}
	if c.From != config.Green || c.To != config.Blue || c.Generation != 8 {
		t.Errorf("change %+v", c)
	}
	file := f.saved(t)
	if !reflect.DeepEqual(file.Services["gone"], other) {
		t.Errorf("record of an unconfigured service lost: %+v", file.Services["gone"])
	}
}

func TestNewWritesInitialState(t *testing.T) {
	f := newFixture(t)
	file := f.saved(t)
	rec, ok := file.Services["app"]
	if !ok {
		t.Fatal("state.json has no record of the new service")
	}
	if rec.Active != config.Blue || rec.Previous != config.NoColor || rec.Generation != 0 || rec.Reason != "initial" || rec.ChangedBy != "config" {
		t.Errorf("initial record %+v", rec)
	}
	if v := f.view(t, "app"); !reflect.DeepEqual(v.Record, rec) {
		t.Errorf("in memory %+v, on disk %+v", v.Record, rec)
	}

	// Starting again over that file writes nothing.
	data, fi := f.raw(t)
	g := newFixtureIn(t, f.dir, f.targets, f.cfg.Services...)
	g.unchanged(t, data, fi)
}

func TestNewActiveWithoutUpstreams(t *testing.T) {
	t.Run("from state.json", func(t *testing.T) {
		dir := t.TempDir()
		store, _, err := state.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Save(state.File{Services: map[string]state.Record{
			"app": {Active: config.Green, Previous: config.Blue, Generation: 2, Reason: "manual"},
		}}); err != nil {
			t.Fatal(err)
		}
		store, file, err := state.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(&config.Config{Services: []config.Service{service("app", blueAddrs, nil)}},
			Options{Store: store, State: file, Targets: newFakeTargets()})
		want := `config.toml: service "app": green.upstreams: the active colour green (from state.json) has no upstreams`
		if err == nil || err.Error() != want {
			t.Errorf("New: %v\nwant %s", err, want)
		}
	})
	t.Run("from initial", func(t *testing.T) {
		dir := t.TempDir()
		store, file, err := state.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		sc := service("app", blueAddrs, nil)
		sc.Initial = config.Green
		_, err = New(&config.Config{Services: []config.Service{sc}}, Options{Store: store, State: file})
		want := `config.toml: service "app": green.upstreams: the active colour green (from initial) has no upstreams`
		if err == nil || err.Error() != want {
			t.Errorf("New: %v\nwant %s", err, want)
		}
		if _, err := os.Stat(filepath.Join(dir, state.FileName)); !os.IsNotExist(err) {
			t.Errorf("state.json written although New failed: %v", err)
		}
	})
}

func TestNewUnwritableState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	store, file, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	repair := breakDir(t, dir)
	defer repair()
	_, err = New(&config.Config{Services: []config.Service{service("app", blueAddrs, greenAddrs)}},
		Options{Store: store, State: file})
	if err == nil {
		t.Fatal("New succeeded although the initial state could not be written")
	}
}

func TestRevert(t *testing.T) {
	refused := errors.New("connection refused")
	t.Run("guard", func(t *testing.T) {
		f := newFixture(t)
		if _, err := f.board.Flip("app", Request{Actor: "deployer"}); err != nil {
			t.Fatal(err)
		}
		c, err := f.board.Revert("app", config.Green, config.Blue, Guard, "error rate 50% over 40 requests")
		if err != nil {
			t.Fatal(err)
		}
		want := Change{Service: "app", From: config.Green, To: config.Blue, Generation: 2, Reason: Guard,
			Actor: "guard", Detail: "error rate 50% over 40 requests", Changed: true, At: c.At}
		if c != want {
			t.Errorf("change\n got %+v\nwant %+v", c, want)
		}
		rec := f.saved(t).Services["app"]
		if rec.Reason != "guard" || rec.ChangedBy != "guard" || rec.Active != config.Blue || rec.Forced {
			t.Errorf("state.json %+v", rec)
		}
	})
	t.Run("failover", func(t *testing.T) {
		f := newFixture(t)
		f.targets.Down("app", refused, blueAddrs...)
		c, err := f.board.Revert("app", config.Blue, config.Green, Failover, "blue: every upstream down")
		if err != nil {
			t.Fatal(err)
		}
		if c.Reason != Failover || c.Actor != "guard" || c.To != config.Green {
			t.Errorf("change %+v", c)
		}
		if rec := f.saved(t).Services["app"]; rec.Reason != "failover" {
			t.Errorf("state.json %+v", rec)
		}
	})
	t.Run("from no longer active", func(t *testing.T) {
		f := newFixture(t)
		data, fi := f.raw(t)
		// Blue is active; a revert decided while green was active is stale.
		_, err := f.board.Revert("app", config.Green, config.Blue, Guard, "stale")
		wantRefusal(t, err, ErrConflict, "app: expected green active, but blue is (generation 0)")
		f.unchanged(t, data, fi)
		if len(f.rec.all()) != 0 {
			t.Error("listener told")
		}
	})
	t.Run("to unhealthy", func(t *testing.T) {
		f := newFixture(t)
		f.targets.Down("app", refused, greenAddrs...)
		f.targets.Down("app", refused, blueAddrs...)
		data, fi := f.raw(t)
		_, err := f.board.Revert("app", config.Blue, config.Green, Failover, "blue down")
		wantRefusal(t, err, ErrTargetUnhealthy,
			"green: 0 of 2 upstreams healthy, 2 needed (127.0.0.1:1: connection refused, 127.0.0.1:2: connection refused)")
		f.unchanged(t, data, fi)
		if got := f.view(t, "app").Service.Snapshot().Active; got != config.Blue {
			t.Errorf("active %v", got)
		}
	})
}

func TestUnknownService(t *testing.T) {
	f := newFixture(t)
	for name, do := range map[string]func() (Change, error){
		"flip":     func() (Change, error) { return f.board.Flip("nope", Request{}) },
		"activate": func() (Change, error) { return f.board.Activate("nope", config.Green, Request{}) },
		"rollback": func() (Change, error) { return f.board.Rollback("nope", Request{}) },
		"revert":   func() (Change, error) { return f.board.Revert("nope", config.Blue, config.Green, Guard, "") },
	} {
		_, err := do()
		if !errors.Is(err, ErrUnknownService) || err.Error() != `unknown service "nope"` {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, ok := f.board.View("nope"); ok {
		t.Error("View of an unknown service")
	}
	if up, down, total := f.board.Counts("nope", config.Blue); up+down+total != 0 {
		t.Error("Counts of an unknown service")
	}
}

func TestNamesCountsAnnounce(t *testing.T) {
	tg := newFakeTargets()
	b := service("b", []string{"127.0.0.1:21"}, nil)
	b.Hosts = []string{"b.example.com"}
	a := service("a", []string{"127.0.0.1:31", "127.0.0.1:32", "127.0.0.1:33"}, []string{"127.0.0.1:41"})
	a.Hosts = []string{"a.example.com"}
	tg.Up("a", "127.0.0.1:31")
	tg.Down("a", errors.New("x"), "127.0.0.1:32")
	f := newFixtureIn(t, t.TempDir(), tg, b, a)

	if got := f.board.Names(); fmt.Sprint(got) != "[b a]" {
		t.Errorf("Names %v, want config order [b a]", got)
	}
	if up, down, total := f.board.Counts("a", config.Blue); up != 1 || down != 1 || total != 3 {
		t.Errorf("Counts(a, blue) = %d %d %d, want 1 1 3", up, down, total)
	}
	if up, down, total := f.board.Counts("b", config.Green); up != 0 || down != 0 || total != 0 {
		t.Errorf("Counts(b, green) = %d %d %d", up, down, total)
	}
	if _, _, total := f.board.Counts("a", config.NoColor); total != 0 {
		t.Errorf("Counts with NoColor = %d", total)
	}

	f.board.Announce()
	got := f.rec.all()
	if len(got) != 2 || got[0].Service != "b" || got[1].Service != "a" {
		t.Fatalf("Announce told %+v", got)
	}
	for _, c := range got {
		if !c.Startup || c.Changed || c.To != config.Blue || c.Reason != Initial || c.Actor != "config" {
			t.Errorf("announced %+v", c)
		}
	}
}

// TestRoutesEndToEnd sends real requests through proxy.Handler over the
// board's router: the very next request after Flip goes to the new colour,
// also on a kept-alive connection, and the preview header reaches the idle
// colour.
func TestRoutesEndToEnd(t *testing.T) {
	backend := func(name string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Backend", name)
			w.Header().Set("X-Seen-Preview", r.Header.Get("X-Switchd-Preview"))
		}))
		t.Cleanup(s.Close)
		return strings.TrimPrefix(s.URL, "http://")
	}
	blue, green := backend("blue"), backend("green")
	tg := newFakeTargets()
	tg.Up("app", blue, green)
	sc := service("app", []string{blue}, []string{green})
	// Header names in config.toml are case-insensitive; the proxy compares
	// canonical keys.
	sc.Preview = config.Preview{Header: "x-switchd-preview", Secret: "s3cret"}
	f := newFixtureIn(t, t.TempDir(), tg, sc)

	front := httptest.NewServer(proxy.NewHandler(f.board.Router(), proxy.HandlerOptions{}))
	t.Cleanup(front.Close)
	cl := front.Client()

	get := func(preview string) (string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", front.URL, nil)
		if preview != "" {
			req.Header.Set("X-Switchd-Preview", preview)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Backend"), resp.Header.Get("X-Seen-Preview")
	}
	if got, _ := get(""); got != "blue" {
		t.Errorf("before the flip: %s", got)
	}
	if got, seen := get("s3cret"); got != "green" || seen != "" {
		t.Errorf("preview before the flip: went to %s, upstream saw header %q; want green and no header", got, seen)
	}
	if _, err := f.board.Flip("app", Request{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := get(""); got != "green" {
		t.Errorf("after the flip: %s", got)
	}
	if got, seen := get("s3cret"); got != "blue" || seen != "" {
		t.Errorf("preview after the flip: went to %s, upstream saw header %q", got, seen)
	}
}

func TestRefusalError(t *testing.T) {
	var err error = refuse(ErrTargetEmpty, "app: green has no upstreams")
	if !errors.Is(err, ErrTargetEmpty) || errors.Is(err, ErrConflict) {
		t.Error("errors.Is does not follow Kind")
	}
	wrapped := fmt.Errorf("api: %w", err)
	var r *Refusal
	if !errors.As(wrapped, &r) || r.Msg != "app: green has no upstreams" {
		t.Errorf("errors.As: %+v", r)
	}
}
