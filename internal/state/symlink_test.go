package state

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/switchd/switchd/internal/atomicfile"
)

// volume makes dir/state.json a symlink to vol/state.json, the way hosts
// keep state on a mounted volume, and returns the target's path.
func volume(t *testing.T, dir string) string {
	t.Helper()
	vol := filepath.Join(t.TempDir(), "vol")
	if err := os.Mkdir(vol, 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(vol, FileName)
	if err := os.Symlink(target, filepath.Join(dir, FileName)); err != nil {
		t.Fatal(err)
	}
	return target
}

// isLink fails the test unless path is still a symlink to target.
func isLink(t *testing.T, path, target string) {
	t.Helper()
	got, err := os.Readlink(path)
	if err != nil {
		t.Fatalf("%s is no longer a symlink: %v", path, err)
	}
	if got != target {
		t.Fatalf("%s points to %s, want %s", path, got, target)
	}
}

// TestOpenDanglingSymlink: state.json pointing to a volume that is not
// mounted stops start-up, naming both ends, and leaves the link alone.
// Before, the missing target read as a first start: traffic moved to the
// initial colours and the first save replaced the link with a file.
func TestOpenDanglingSymlink(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		dir := t.TempDir()
		target := volume(t, dir)
		_, _, err := OpenWith(dir, Options{RefuseMissing: refuse})
		want := "state: read " + filepath.Join(dir, FileName) + ": it is a symlink to " + target + ", which does not exist (is the state volume mounted?)"
		if err == nil || err.Error() != want {
			t.Fatalf("refuse=%v: Open error\n got %v\nwant %q", refuse, err, want)
		}
		isLink(t, filepath.Join(dir, FileName), target)
		if _, err := os.Stat(target); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open created the target: %v", err)
		}
	}
}

// TestSaveThroughSymlink: Save writes the link's target (temp file in the
// target's folder, renamed onto it) and the link stays a link.
func TestSaveThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target := volume(t, dir)
	if err := os.WriteFile(target, []byte(`{"version":1,"services":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, f := mustOpen(t, dir)
	if s.Missing() {
		t.Error("Missing() with a state.json behind a symlink")
	}
	if len(f.Services) != 0 {
		t.Fatalf("Open = %+v", f)
	}
	var synced []string
	s.fs.SyncDir = func(d string) error { synced = append(synced, d); return atomicfile.SyncDir(d) }
	if err := s.Save(sample()); err != nil {
		t.Fatalf("Save: %v", err)
	}
	link := filepath.Join(dir, FileName)
	isLink(t, link, target)
	onlyStateFile(t, dir)
	onlyStateFile(t, filepath.Dir(target))
	if want := filepath.Dir(target); len(synced) != 1 || synced[0] != want {
		t.Errorf("fsynced folders %q, want [%s]", synced, want)
	}
	_, got := mustOpen(t, dir)
	equalFile(t, got, sample())
	raw, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(raw); err != nil {
		t.Fatalf("target holds %q: %v", raw, err)
	}

	// The volume goes away under a running switchd: Save fails and the
	// link is not replaced by a file of its own.
	if err := os.Remove(target); err != nil {
		t.Fatal(err)
	}
	err = s.Save(sample())
	if want := "state: write " + link + ": it is a symlink to " + target + ", which does not exist (is the state volume mounted?)"; err == nil || err.Error() != want {
		t.Fatalf("Save through a dangling link: %v", err)
	}
	isLink(t, link, target)
}

// TestOpenMissing: a missing state.json opens empty and says so; with
// RefuseMissing it is an error naming the file, and the folder is not
// created (it may be the mount point of a volume that is not there).
func TestOpenMissing(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	if !s.Missing() {
		t.Error("Missing() = false for a folder without state.json")
	}
	if err := s.Save(sample()); err != nil {
		t.Fatal(err)
	}
	if s, _ = mustOpen(t, dir); s.Missing() {
		t.Error("Missing() = true after a Save")
	}

	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "unmounted")} {
		_, _, err := OpenWith(dir, Options{RefuseMissing: true})
		want := "state: " + filepath.Join(dir, FileName) + " does not exist; refusing to start every service on its initial colour (is the state volume mounted?): state file does not exist"
		if err == nil || err.Error() != want {
			t.Fatalf("OpenWith(RefuseMissing) error\n got %v\nwant %q", err, want)
		}
		if !errors.Is(err, ErrMissing) {
			t.Errorf("error %v does not wrap ErrMissing", err)
		}
		entries, err := os.ReadDir(dir)
		if strings.HasSuffix(dir, "unmounted") && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("refusing created the folder %s: %v", dir, err)
		}
		if len(entries) != 0 {
			t.Errorf("OpenWith(RefuseMissing) left %d files", len(entries))
		}
	}
}

// TestOpenUnlistableFolder: a folder that cannot be listed stops start-up
// (before, the error was ignored). Root can list anything, so the fault is
// injected.
func TestOpenUnlistableFolder(t *testing.T) {
	dir := t.TempDir()
	writeState(t, dir, `{"version":1,"services":{}}`)
	s := newStore(dir)
	s.readDir = func(d string) ([]os.DirEntry, error) {
		return nil, &fs.PathError{Op: "open", Path: d, Err: syscall.EACCES}
	}
	_, err := s.open()
	want := "state: read folder " + dir + ": permission denied"
	if err == nil || err.Error() != want {
		t.Errorf("open error = %v, want %q", err, want)
	}
}
