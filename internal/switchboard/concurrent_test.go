package switchboard

import (
	"errors"
	"reflect"
	"sort"
	"sync"
	"testing"

	"github.com/switchd/switchd/internal/config"
)

// TestConcurrentFlipsCAS runs flips from 8 goroutines that each read the
// generation and flip only from it (expect_generation): exactly one wins
// per generation, the others get ErrConflict, and what is on disk, in
// memory, in the snapshot and told to listeners agree.
func TestConcurrentFlipsCAS(t *testing.T) {
	f := newFixture(t)
	const workers, attempts = 8, 25

	type win struct{ expected, got uint64 }
	var (
		mu        sync.Mutex
		wins      []win
		conflicts int
		wg        sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range attempts {
				v, _ := f.board.View("app")
				g := v.Record.Generation
				c, err := f.board.Flip("app", Request{ExpectGeneration: &g, Actor: "racer"})
				mu.Lock()
				switch {
				case err == nil:
					wins = append(wins, win{g, c.Generation})
				case errors.Is(err, ErrConflict):
					conflicts++
				default:
					t.Errorf("flip: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	if len(wins)+conflicts != workers*attempts {
		t.Fatalf("%d wins + %d conflicts, want %d attempts", len(wins), conflicts, workers*attempts)
	}
	sort.Slice(wins, func(i, j int) bool { return wins[i].got < wins[j].got })
	for i, w := range wins {
		// Generations 1..n, each won once, each from the one before.
		if w.got != uint64(i+1) || w.expected != w.got-1 {
			t.Fatalf("win %d: expected generation %d, got %d (wins %v)", i, w.expected, w.got, wins)
		}
	}
	n := uint64(len(wins))
	if n == 0 {
		t.Fatal("no flip won")
	}
	t.Logf("%d wins, %d conflicts", n, conflicts)

	wantActive, wantPrev := config.Blue, config.Green
	if n%2 == 1 {
		wantActive, wantPrev = config.Green, config.Blue
	}
	v := f.view(t, "app")
	if v.Record.Generation != n || v.Record.Active != wantActive || v.Record.Previous != wantPrev {
		t.Errorf("in memory %+v, want generation %d active %v", v.Record, n, wantActive)
	}
	if s := v.Service.Snapshot(); s.Generation != n || s.Active != wantActive {
		t.Errorf("snapshot generation %d active %v", s.Generation, s.Active)
	}
	if rec := f.saved(t).Services["app"]; !reflect.DeepEqual(rec, v.Record) {
		t.Errorf("state.json %+v, in memory %+v", rec, v.Record)
	}
	told := f.rec.all()
	if uint64(len(told)) != n {
		t.Fatalf("listener told %d changes, want %d", len(told), n)
	}
	for i, c := range told {
		// Listeners run under the lock: they hear changes in order.
		if c.Generation != uint64(i+1) || c.From == c.To || !c.Changed {
			t.Errorf("told #%d: %+v", i, c)
		}
	}
}

// TestConcurrentReadersAndWriters has readers (View, Counts, Names) race
// the writers; run with -race.
func TestConcurrentReadersAndWriters(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				v, _ := f.board.View("app")
				if s := v.Service.Snapshot(); !s.Active.Valid() {
					t.Error("invalid active colour in a snapshot")
					return
				}
				f.board.Counts("app", config.Green)
				f.board.Names()
			}
		}()
	}
	for i := range 50 {
		var err error
		if i%5 == 4 {
			_, err = f.board.Rollback("app", Request{})
		} else {
			_, err = f.board.Flip("app", Request{})
		}
		if err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
	if g := f.view(t, "app").Record.Generation; g != 50 {
		t.Errorf("generation %d, want 50", g)
	}
}
