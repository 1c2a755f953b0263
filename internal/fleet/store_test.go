package fleet

import (
	"sync"
	"testing"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/switchboard"
	"github.com/switchd/switchd/internal/testkit"
)

func TestFlipReachesEveryHost(t *testing.T) {
	e := testkit.StartEtcd(t)
	a := startHost(t, "a", "", e.ClientURL)
	b := startHost(t, "b", "", e.ClientURL)
	c := startHost(t, "c", "", e.ClientURL)
	waitServing(t, config.Blue, 0, a, b, c)
	ch, err := a.board.Flip("app", switchboard.Request{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	waitServing(t, config.Green, ch.Generation, a, b, c)
	got, ok := b.seen.find(ch.Generation)
	if !ok || !got.Remote || got.Actor != "test" {
		t.Errorf("b was told %+v (found %v), want a remote change by test", got.Change, ok)
	}
	// The next change is made on another host, on top of the first.
	ch, err = c.board.Flip("app", switchboard.Request{Expect: config.Green})
	if err != nil {
		t.Fatal(err)
	}
	waitServing(t, config.Blue, 2, a, b, c)
}

func TestConcurrentFlipsOneWins(t *testing.T) {
	e := testkit.StartEtcd(t)
	a := startHost(t, "a", "", e.ClientURL)
	b := startHost(t, "b", "", e.ClientURL)
	for round := range 20 {
		cur, gen := a.serving()
		waitServing(t, cur, gen, a, b)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, h := range []*host{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = h.board.Flip("app", switchboard.Request{Expect: cur})
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !isRefusal(err, switchboard.ErrConflict):
				t.Fatalf("round %d: %v, want a conflict", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d flips won (errors %v), want exactly 1", round, won, errs)
		}
		waitServing(t, cur.Other(), gen+1, a, b)
	}
}
