package switchboard

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/state"
)

// Persistence hears how the writes of state.json go, so that a full or
// broken disk is counted and told. Its methods run under the board's lock:
// they must be quick and must not call back into the board.
type Persistence interface {
	// SaveFailed reports one failed write (a change's, or a retry's).
	SaveFailed(err error)
	// SavedAgain reports that state.json holds every change again, after
	// some were kept in memory only.
	SavedAgain()
}

// save writes file and keeps the books on what state.json holds. A write
// that is in place but not fsynced (state.ErrNotDurable) counts as saved:
// it is what a restart reads. b.mu must be held (or b not shared yet).
func (b *Board) save(file state.File) error {
	return b.saved(b.opts.Store.Save(file))
}

// commit persists one change of service from prev to next (file is the
// whole state with it): a compare-and-swap where the store is shared
// (Swapper), else a save of file. b.mu must be held.
func (b *Board) commit(file state.File, service string, prev, next state.Record) error {
	s, ok := b.opts.Store.(Swapper)
	if !ok {
		return b.save(file)
	}
	err := s.Swap(file, service, prev, next)
	if errors.Is(err, ErrStoreConflict) {
		return err // not a failed write: another host's change won
	}
	return b.saved(err)
}

// saved keeps the books on the outcome err of a write. b.mu must be held.
func (b *Board) saved(err error) error {
	if errors.Is(err, state.ErrNotDurable) {
		b.log.Error("state saved, but it may not survive a power loss", zap.Error(err))
		err = nil
	}
	if err != nil {
		if b.opts.Persistence != nil {
			b.opts.Persistence.SaveFailed(err)
		}
		return err
	}
	if len(b.unsaved) > 0 {
		// file is b.file or its successor, so it holds every change that
		// was kept in memory only.
		b.log.Warn("state saved again; every change is in state.json", zap.Strings("services", slices.Sorted(maps.Keys(b.unsaved))))
		clear(b.unsaved)
		if b.opts.Persistence != nil {
			b.opts.Persistence.SavedAgain()
		}
	}
	return nil
}

// RetryPersist writes state.json every interval while some change is held
// in memory only (a revert made while the disk was full), until ctx is done.
// switchd runs it for the board's whole life; without it such a change is
// saved only by the next change that succeeds. may, when not nil, is asked
// before each try: a process that handed over to its successor must not
// write the successor's state.json.
func (b *Board) RetryPersist(ctx context.Context, every time.Duration, may func() (release func(), ok bool)) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		release := func() {}
		if may != nil {
			r, ok := may()
			if !ok {
				continue
			}
			release = r
		}
		b.mu.Lock()
		if len(b.unsaved) > 0 {
			if err := b.save(b.file); err != nil {
				b.log.Debug("state still not saved", zap.Error(err))
			}
			b.publish()
		}
		b.mu.Unlock()
		release()
	}
}
