package switchboard

import (
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
)

// TestReadersTakeNoLock: while a writer holds the board's lock (a flip
// waiting for its fsync), every reader still answers.
func TestReadersTakeNoLock(t *testing.T) {
	f := newFixture(t)
	f.board.mu.Lock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = f.board.View("app")
		_ = f.board.Names()
		_, _, _ = f.board.Counts("app", config.Blue)
		_ = f.board.Persisted()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		f.board.mu.Unlock()
		t.Fatal("a reader waited for the board's lock")
	}
	f.board.mu.Unlock()
}
