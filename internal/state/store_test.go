package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/atomicfile"
	"github.com/switchd/switchd/internal/config"
)

// writeState puts raw contents at dir/state.json.
func writeState(t *testing.T, dir, contents string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(contents), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readState(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// onlyStateFile fails the test if dir holds anything but state.json, so a
// leaked temp file shows up whatever its name.
func onlyStateFile(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != FileName {
			t.Errorf("unexpected file %q left in %s", e.Name(), dir)
		}
	}
}

func mustOpen(t *testing.T, dir string) (*Store, File) {
	t.Helper()
	s, f, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, f
}

func TestOpenMissingFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, f := mustOpen(t, dir)

	if f.Version != 1 || f.Services == nil || len(f.Services) != 0 {
		t.Errorf("Open of a missing file = %+v, want version 1 and no services", f)
	}
	if want := filepath.Join(dir, "state.json"); s.Path() != want {
		t.Errorf("Path() = %q, want %q", s.Path(), want)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("folder mode = %v, want 0700", got)
	}
	// The writability probe must not leave anything behind, nor create
	// state.json: a first start writes it only once it knows the colours.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("Open left %d files in a new folder", len(entries))
	}
}

func TestSaveOpenRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	if err := s.Save(sample()); err != nil {
		t.Fatalf("Save: %v", err)
	}
	onlyStateFile(t, dir)
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("state.json mode = %v, want 0600", got)
	}

	_, got := mustOpen(t, dir)
	equalFile(t, got, sample())

	// A second Save replaces, not merges.
	next := File{Services: map[string]Record{"api": sample().Services["api"]}}
	if err := s.Save(next); err != nil {
		t.Fatalf("Save: %v", err)
	}
	_, got = mustOpen(t, dir)
	next.Version = 1
	equalFile(t, got, next)
}

func TestOpenCorrupt(t *testing.T) {
	tests := []struct {
		name     string
		contents string
		want     string // after "state: <path>: "
	}{
		{"empty", "", `file is empty`},
		{"truncated", `{"version":1,"services":{"app":{"active":`, `invalid JSON at offset 41: unexpected end of JSON input`},
		{"garbage", "\x7fELF\x02\x01", `invalid JSON at offset 1: invalid character '\x7f' looking for beginning of value`},
		{"wrong type", `{"version":1,"services":{"app":{"active":"blue","reason":"manual","generation":"7"}}}`,
			`service "app": field "generation": got string, want a non-negative integer`},
		{"bad colour", `{"version":1,"services":{"app":{"active":"purple","reason":"manual"}}}`,
			`service "app": bad active colour "purple"`},
		{"previous is active", `{"version":1,"services":{"app":{"active":"green","previous":"green","reason":"manual"}}}`,
			`service "app": previous colour "green" is the same as active`},
		{"future version", `{"version":2,"services":{}}`, `unsupported version 2: this switchd reads version 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeState(t, dir, tt.contents)
			s, f, err := Open(dir)
			if err == nil {
				t.Fatalf("Open = %+v, %+v, want error", s, f)
			}
			want := "state: " + filepath.Join(dir, FileName) + ": " + tt.want
			if err.Error() != want {
				t.Errorf("Open error\n got %q\nwant %q", err, want)
			}
			// Refusing to start must not "repair" the file either.
			if got := readState(t, dir); got != tt.contents {
				t.Errorf("Open changed state.json to %q", got)
			}
		})
	}
}

func TestOpenUnreadable(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, FileName), 0o700); err != nil {
		t.Fatal(err)
	}
	_, _, err := Open(dir)
	want := "state: read " + filepath.Join(dir, FileName) + ": is a directory"
	if err == nil || err.Error() != want {
		t.Errorf("Open error = %v, want %q", err, want)
	}
}

func TestOpenBadFolder(t *testing.T) {
	_, _, err := Open("")
	if err == nil || err.Error() != "state: no state folder given" {
		t.Errorf("Open(\"\") error = %v", err)
	}

	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = Open(notDir)
	want := "state: create folder " + notDir + ": not a directory"
	if err == nil || err.Error() != want {
		t.Errorf("Open error = %v, want %q", err, want)
	}
}

// TestOpenReadOnlyFolder uses a real read-only folder. Root ignores the
// permission bits, so as root the test skips after checking that really is
// the case; TestOpenFolderNotWritable covers the same path by injection.
func TestOpenReadOnlyFolder(t *testing.T) {
	dir := t.TempDir()
	writeState(t, dir, `{"version":1,"services":{}}`)
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) }) // so TempDir can clean up

	if f, err := os.CreateTemp(dir, "probe"); err == nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		t.Skipf("chmod 0500 does not stop writes here (euid %d: root bypasses permission bits)", os.Geteuid())
	}

	_, _, err := Open(dir)
	want := "state: folder " + dir + " is not writable: permission denied"
	if err == nil || err.Error() != want {
		t.Errorf("Open error = %v, want %q", err, want)
	}
}

func TestOpenFolderNotWritable(t *testing.T) {
	dir := t.TempDir()
	writeState(t, dir, `{"version":1,"services":{}}`)
	s := newStore(dir)
	s.fs.CreateTemp = func(dir, pattern string) (atomicfile.File, error) {
		return nil, &fs.PathError{Op: "open", Path: filepath.Join(dir, "x"), Err: syscall.EROFS}
	}
	_, err := s.open()
	want := "state: folder " + dir + " is not writable: read-only file system"
	if err == nil || err.Error() != want {
		t.Errorf("open error = %v, want %q", err, want)
	}
	if !errors.Is(err, syscall.EROFS) {
		t.Errorf("error %v does not wrap EROFS", err)
	}
}

func TestOpenRemovesStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	writeState(t, dir, `{"version":1,"services":{}}`)
	// What a crash between create and rename leaves behind.
	if err := os.WriteFile(filepath.Join(dir, ".state.json-123456.tmp"), []byte(`{"ver`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Not ours: must survive.
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, dir)
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "notes.txt state.json" {
		t.Errorf("folder holds %q after Open, want %q", got, "notes.txt state.json")
	}
}

// faultFile is a real temp file whose Write, Sync or Close can be made to
// fail, so the test sees both the error and whether the file is cleaned up.
type faultFile struct {
	*os.File
	writeErr, syncErr, closeErr error
}

func (f *faultFile) Write(p []byte) (int, error) {
	if f.writeErr != nil {
		// A full disk typically takes part of the data first.
		n, _ := f.File.Write(p[:len(p)/2])
		return n, &fs.PathError{Op: "write", Path: f.Name(), Err: f.writeErr}
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	if f.syncErr != nil {
		return &fs.PathError{Op: "sync", Path: f.Name(), Err: f.syncErr}
	}
	return f.File.Sync()
}

func (f *faultFile) Close() error {
	err := f.File.Close()
	if f.closeErr != nil {
		return &fs.PathError{Op: "close", Path: f.Name(), Err: f.closeErr}
	}
	return err
}

func TestSaveFaults(t *testing.T) {
	tests := []struct {
		name   string
		inject func(s *Store)
		want   string // after "state: write <path>: "
		errno  error
	}{
		{
			name: "create ENOSPC",
			inject: func(s *Store) {
				s.fs.CreateTemp = func(dir, pattern string) (atomicfile.File, error) {
					return nil, &fs.PathError{Op: "open", Path: filepath.Join(dir, pattern), Err: syscall.ENOSPC}
				}
			},
			want:  "create temp file: no space left on device",
			errno: syscall.ENOSPC,
		},
		{
			name:   "write ENOSPC",
			inject: faultTemp(func(f *faultFile) { f.writeErr = syscall.ENOSPC }),
			want:   "no space left on device",
			errno:  syscall.ENOSPC,
		},
		{
			name:   "sync ENOSPC",
			inject: faultTemp(func(f *faultFile) { f.syncErr = syscall.ENOSPC }),
			want:   "fsync temp file: no space left on device",
			errno:  syscall.ENOSPC,
		},
		{
			name:   "sync EIO",
			inject: faultTemp(func(f *faultFile) { f.syncErr = syscall.EIO }),
			want:   "fsync temp file: input/output error",
			errno:  syscall.EIO,
		},
		{
			// NFS reports a full disk as late as close.
			name:   "close EDQUOT",
			inject: faultTemp(func(f *faultFile) { f.closeErr = syscall.EDQUOT }),
			want:   "close temp file: disk quota exceeded",
			errno:  syscall.EDQUOT,
		},
		{
			name: "rename EIO",
			inject: func(s *Store) {
				s.fs.Rename = func(oldpath, newpath string) error {
					return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EIO}
				}
			},
			want:  "rename temp file: input/output error",
			errno: syscall.EIO,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := mustOpen(t, dir)
			old := sample()
			if err := s.Save(old); err != nil {
				t.Fatal(err)
			}
			before := readState(t, dir)

			tt.inject(s)
			next := sample()
			next.Services["app"] = Record{Active: config.Blue, Previous: config.Green, Generation: 8, Reason: "rollback"}
			err := s.Save(next)
			if err == nil {
				t.Fatal("Save succeeded, want error")
			}
			want := "state: write " + s.Path() + ": " + tt.want
			if err.Error() != want {
				t.Errorf("Save error\n got %q\nwant %q", err, want)
			}
			if !errors.Is(err, tt.errno) {
				t.Errorf("Save error %v does not wrap %v", err, tt.errno)
			}
			if got := readState(t, dir); got != before {
				t.Errorf("state.json changed after a failed Save:\n%s", got)
			}
			onlyStateFile(t, dir)

			// The old file still opens, and a Store with a healthy disk
			// saves again.
			_, got := mustOpen(t, dir)
			equalFile(t, got, old)
			fresh := newStore(dir)
			if err := fresh.Save(next); err != nil {
				t.Fatalf("Save after fault: %v", err)
			}
			_, got = mustOpen(t, dir)
			equalFile(t, got, next)
		})
	}
}

// faultTemp makes the Store's temp files real files with a fault set by mod.
func faultTemp(mod func(*faultFile)) func(*Store) {
	return func(s *Store) {
		s.fs.CreateTemp = func(dir, pattern string) (atomicfile.File, error) {
			f, err := os.CreateTemp(dir, pattern)
			if err != nil {
				return nil, err
			}
			ff := &faultFile{File: f}
			mod(ff)
			return ff, nil
		}
	}
}

func TestSaveDirSyncFails(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	s.fs.SyncDir = func(string) error { return &fs.PathError{Op: "sync", Path: dir, Err: syscall.EIO} }

	err := s.Save(sample())
	want := "state: write " + s.Path() + ": fsync folder: input/output error"
	if err == nil || err.Error() != want {
		t.Fatalf("Save error = %v, want %q", err, want)
	}
	if !errors.Is(err, ErrNotDurable) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Save error %v is not ErrNotDurable wrapping EIO", err)
	}
	// The rename has happened: the new contents are there (as documented),
	// and the temp file is gone because it became state.json.
	_, got := mustOpen(t, dir)
	equalFile(t, got, sample())
	onlyStateFile(t, dir)
}

func TestSaveReportsLeftoverTemp(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	faultTemp(func(f *faultFile) { f.syncErr = syscall.EIO })(s)
	s.fs.Remove = func(name string) error { return &fs.PathError{Op: "remove", Path: name, Err: syscall.EACCES} }

	err := s.Save(sample())
	if err == nil {
		t.Fatal("Save succeeded, want error")
	}
	prefix := "state: write " + s.Path() + ": fsync temp file: input/output error (temp file " + dir + "/.state.json-"
	if !strings.HasPrefix(err.Error(), prefix) || !strings.HasSuffix(err.Error(), ".tmp left behind: permission denied)") {
		t.Errorf("Save error = %q, want it to name the temp file left behind", err)
	}
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("Save error %v does not wrap EIO", err)
	}
	// The next Open sweeps it up.
	mustOpen(t, dir)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("Open left %d files behind", len(entries))
	}
}

func TestSaveRejectsInvalid(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	if err := s.Save(sample()); err != nil {
		t.Fatal(err)
	}
	before := readState(t, dir)

	bad := sample()
	bad.Services["app"] = Record{Active: config.Blue, Previous: config.Blue, Reason: "manual"}
	err := s.Save(bad)
	want := "state: write " + s.Path() + `: service "app": previous colour "blue" is the same as active`
	if err == nil || err.Error() != want {
		t.Errorf("Save error = %v, want %q", err, want)
	}
	if got := readState(t, dir); got != before {
		t.Error("state.json changed after a rejected Save")
	}
	onlyStateFile(t, dir)
}

// TestConcurrentSaves runs Saves from many goroutines while readers load the
// file the whole time: every read must see one complete, valid file (never a
// partial write), and the last one must be one of the Files saved.
func TestConcurrentSaves(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	if err := s.Save(sample()); err != nil {
		t.Fatal(err)
	}

	const writers, saves = 8, 25
	var (
		wg      sync.WaitGroup
		stop    = make(chan struct{})
		readers sync.WaitGroup
	)
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				data, err := os.ReadFile(s.Path())
				if err != nil {
					t.Errorf("read during saves: %v", err)
					return
				}
				if _, err := Decode(data); err != nil {
					t.Errorf("decode during saves: %v", err)
					return
				}
			}
		})
	}
	for w := range writers {
		wg.Go(func() {
			for i := range saves {
				f := File{Services: map[string]Record{"app": {
					Active:     config.Colors[i%2],
					Previous:   config.Colors[(i+1)%2],
					Generation: uint64(w*saves + i + 1),
					ChangedAt:  time.Now(),
					ChangedBy:  fmt.Sprintf("writer-%d", w),
					Reason:     "manual",
				}}}
				if err := s.Save(f); err != nil {
					t.Errorf("Save: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()

	_, f := mustOpen(t, dir)
	r, ok := f.Services["app"]
	if !ok || r.Generation < 1 || r.Generation > writers*saves {
		t.Errorf("after concurrent saves: %+v", f)
	}
	onlyStateFile(t, dir)
}
