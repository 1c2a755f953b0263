package switchboard

import (
	"errors"
	"fmt"
	"testing"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/state"
)

// swapStore is a Swapper that answers each Swap with err (nil: taken) and
// keeps what it was asked.
type swapStore struct {
	*state.Store
	err   error
	swaps []state.Record
}

func (s *swapStore) Swap(_ state.File, _ string, _, next state.Record) error {
	if s.err != nil {
		return s.err
	}
	s.swaps = append(s.swaps, next)
	return nil
}

func newSwapFixture(t *testing.T) (*fixture, *swapStore) {
	t.Helper()
	f := newFixture(t)
	store, file, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sw := &swapStore{Store: store}
	b, err := New(f.cfg, Options{Store: sw, State: file, Targets: f.targets})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	f.board, f.rec = b, &recorder{}
	b.AddListener(f.rec)
	return f, sw
}

func TestSwapperCommitsEachChange(t *testing.T) {
	f, sw := newSwapFixture(t)
	if _, err := f.board.Flip("app", Request{}); err != nil {
		t.Fatal(err)
	}
	if len(sw.swaps) != 1 || sw.swaps[0].Active != config.Green || sw.swaps[0].Generation != 1 {
		t.Fatalf("swaps %+v, want one to green generation 1", sw.swaps)
	}
}

func TestSwapperConflictChangesNothing(t *testing.T) {
	f, sw := newSwapFixture(t)
	sw.err = fmt.Errorf("%w: etcd holds generation 1", ErrStoreConflict)
	// Neither an operator's flip nor a revert wins over another host's.
	if _, err := f.board.Flip("app", Request{}); !errors.Is(err, ErrConflict) {
		t.Fatalf("flip: %v, want a conflict", err)
	}
	if _, err := f.board.Revert("app", config.Blue, config.Green, Guard, "t"); !errors.Is(err, ErrConflict) {
		t.Fatalf("revert: %v, want a conflict", err)
	}
	if v, _ := f.board.View("app"); v.Service.Snapshot().Active != config.Blue || v.Record.Generation != 0 {
		t.Fatalf("after conflicts: %+v", v.Record)
	}
}

func TestSwapperUnavailable(t *testing.T) {
	f, sw := newSwapFixture(t)
	sw.err = ErrStoreUnavailable
	if _, err := f.board.Flip("app", Request{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("flip: %v, want unavailable", err)
	}
	// The guard's revert goes ahead, held until the store takes it.
	c, err := f.board.Revert("app", config.Blue, config.Green, Guard, "t")
	if err != nil || !c.Unsaved {
		t.Fatalf("revert: %+v, %v; want it held in memory", c, err)
	}
	if v, _ := f.board.View("app"); v.Service.Snapshot().Active != config.Green || v.Persisted {
		t.Fatalf("after the revert: %+v persisted %v", v.Record, v.Persisted)
	}
}

func TestApplyRemote(t *testing.T) {
	f, _ := newSwapFixture(t)
	rec := state.Record{Active: config.Green, Previous: config.Blue, Generation: 4, ChangedBy: "other", Reason: "manual"}
	if !f.board.ApplyRemote("app", rec) {
		t.Fatal("a newer record was not applied")
	}
	v, _ := f.board.View("app")
	if snap := v.Service.Snapshot(); snap.Active != config.Green || snap.Generation != 4 {
		t.Fatalf("serving %s generation %d, want green 4", snap.Active, snap.Generation)
	}
	all := f.rec.all()
	if last := all[len(all)-1]; !last.Remote || !last.Changed || last.Actor != "other" || last.From != config.Blue {
		t.Fatalf("told %+v, want a remote change by other", last)
	}
	// The same record again (this host's own write coming back) and an
	// older one change nothing.
	if f.board.ApplyRemote("app", rec) {
		t.Error("the same record was applied twice")
	}
	if f.board.ApplyRemote("app", state.Record{Active: config.Blue, Generation: 3, Reason: "manual"}) {
		t.Error("an older record was applied")
	}
	// A different record of the same generation wins: the stored one.
	tie := rec
	tie.Active, tie.Previous, tie.ChangedBy = config.Blue, config.Green, "winner"
	if !f.board.ApplyRemote("app", tie) {
		t.Fatal("the stored record of the same generation was not applied")
	}
	if v, _ := f.board.View("app"); v.Service.Snapshot().Active != config.Blue || v.Record.ChangedBy != "winner" {
		t.Fatalf("after the tie: %+v", v.Record)
	}
}
