package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// failingSync is a real temp file whose Sync fails.
type failingSync struct{ *os.File }

func (f failingSync) Sync() error { return syscall.ENOSPC }

// TestWrite: the new contents replace the old, with the mode asked for,
// and nothing else is left in the folder.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "f")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := OS().Write(target, ".f-*.tmp", []byte("new"), 0o640); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(target)
	st, _ := os.Stat(target)
	entries, _ := os.ReadDir(dir)
	if string(b) != "new" || st.Mode().Perm() != 0o640 || len(entries) != 1 {
		t.Fatalf("contents %q mode %v, %d entries", b, st.Mode().Perm(), len(entries))
	}
}

// TestWriteFailureKeepsOld: a failure mid-way (a full disk at fsync)
// leaves the old file whole, removes the temp file and names the step.
func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "f")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := OS()
	f.CreateTemp = func(dir, pattern string) (File, error) {
		tmp, err := os.CreateTemp(dir, pattern)
		return failingSync{tmp}, err
	}
	err := f.Write(target, ".f-*.tmp", []byte("new"), 0)
	if err == nil || err.Error() != "fsync temp file: no space left on device" || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error %v", err)
	}
	b, _ := os.ReadFile(target)
	entries, _ := os.ReadDir(dir)
	if string(b) != "old" || len(entries) != 1 {
		t.Fatalf("after the failure: contents %q, %d entries", b, len(entries))
	}
}

// TestWriteLeftover: a temp file that cannot be removed is named.
func TestWriteLeftover(t *testing.T) {
	dir := t.TempDir()
	f := OS()
	f.CreateTemp = func(dir, pattern string) (File, error) {
		tmp, err := os.CreateTemp(dir, pattern)
		return failingSync{tmp}, err
	}
	f.Remove = func(name string) error { return &fs.PathError{Op: "remove", Path: name, Err: syscall.EACCES} }
	err := f.Write(filepath.Join(dir, "f"), ".f-*.tmp", []byte("x"), 0)
	if err == nil || !strings.Contains(err.Error(), "left behind: permission denied)") || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error %v", err)
	}
}

// TestWriteNotDurable: a failed folder fsync still leaves the new file,
// and says so with ErrNotDurable.
func TestWriteNotDurable(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "f")
	f := OS()
	f.SyncDir = func(string) error { return syscall.EIO }
	err := f.Write(target, ".f-*.tmp", []byte("new"), 0)
	if !errors.Is(err, ErrNotDurable) || !errors.Is(err, syscall.EIO) || err.Error() != "fsync folder: input/output error" {
		t.Fatalf("error %v", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "new" {
		t.Fatalf("contents %q", b)
	}
}
