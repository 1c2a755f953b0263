package switchboard

import (
	"fmt"
	"testing"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/state"
)

// notDurableStore saves like a real store, then reports that the folder
// fsync failed.
type notDurableStore struct{ *state.Store }

func (s notDurableStore) Save(f state.File) error {
	if err := s.Store.Save(f); err != nil {
		return err
	}
	return fmt.Errorf("state: write x: fsync folder: input/output error: %w", state.ErrNotDurable)
}

// TestFlipWhenFolderFsyncFails: state.json already holds the new colour, so
// the flip goes on (memory, traffic and a restart agree) instead of being
// reported as refused while the file says otherwise.
func TestFlipWhenFolderFsyncFails(t *testing.T) {
	dir := t.TempDir()
	st, file, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	svc := config.Service{Name: "app", Initial: config.Blue,
		Blue: config.Pool{Upstreams: []string{"127.0.0.1:1"}}, Green: config.Pool{Upstreams: []string{"127.0.0.1:2"}},
		Health: config.Health{Rise: 1, Fall: 1, MinHealthy: config.MinHealthy{Count: 1}}}
	b, err := New(&config.Config{Services: []config.Service{svc}}, Options{Store: st, State: file})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.opts.Store = notDurableStore{st}
	c, err := b.Flip("app", Request{Force: true, Actor: "t"})
	if err != nil || !c.Changed || c.To != config.Green {
		t.Fatalf("flip: %+v %v", c, err)
	}
	v, _ := b.View("app")
	if v.Record.Active != config.Green || v.Service.Snapshot().Active != config.Green {
		t.Fatalf("memory and traffic disagree with state.json: %+v", v.Record)
	}
	_, onDisk, err := state.Open(dir)
	if err != nil || onDisk.Services["app"].Active != config.Green {
		t.Fatalf("state.json: %+v %v", onDisk.Services["app"], err)
	}
}
