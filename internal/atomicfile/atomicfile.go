package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is the part of *os.File that Write uses, so that tests can inject
// faults (ENOSPC on Write or Sync) a real disk will not produce on demand.
type File interface {
	io.Writer
	Sync() error
	Close() error
	Name() string
}

// FS is the file system operations of Write. Tests replace them to inject
// faults; OS returns the real ones.
type FS struct {
	CreateTemp func(dir, pattern string) (File, error)
	Rename     func(oldpath, newpath string) error
	Remove     func(name string) error
	SyncDir    func(dir string) error
}

// OS returns the operating system's operations.
func OS() FS {
	return FS{
		CreateTemp: func(dir, pattern string) (File, error) {
			f, err := os.CreateTemp(dir, pattern)
			if err != nil {
				return nil, err // not f: a nil *os.File in a File is not a nil File
			}
			return f, nil
		},
		Rename:  os.Rename,
		Remove:  os.Remove,
		SyncDir: SyncDir,
	}
}

// ErrNotDurable marks a Write whose new file is in place but whose folder
// could not be fsynced: a power loss may still bring back the old one.
var ErrNotDurable = errors.New("written but not yet durable")

// Error is a failed Write: the step that failed ("" for the write of the
// data itself) and its error with the path taken out (Bare); Leftover
// names a temp file that could not be removed.
type Error struct {
	Step     string
	Err      error
	Leftover string
	Removal  error // why Leftover is left
}

func (e *Error) Error() string {
	msg := e.Err.Error()
	if e.Step != "" {
		msg = e.Step + ": " + msg
	}
	if e.Leftover != "" {
		msg += fmt.Sprintf(" (temp file %s left behind: %v)", e.Leftover, e.Removal)
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

type notDurable struct{ e *Error }

func (n notDurable) Error() string        { return n.e.Error() }
func (n notDurable) Unwrap() error        { return n.e }
func (n notDurable) Is(target error) bool { return target == ErrNotDurable }

// Write replaces target with data through a temp file named by pattern
// (os.CreateTemp's) in target's folder; perm, when not zero, is the new
// file's mode (else CreateTemp's 0600). On any error before the rename the
// temp file is removed and target is untouched. If only the folder's
// fsync fails, target holds data and the error wraps ErrNotDurable.
func (f FS) Write(target, pattern string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(target)
	tmp, err := f.CreateTemp(dir, pattern)
	if err != nil {
		return &Error{Step: "create temp file", Err: Bare(err)}
	}
	name := tmp.Name()
	closed, renamed := false, false
	defer func() {
		if renamed {
			return
		}
		if !closed {
			_ = tmp.Close() // the write already failed; that error matters more
		}
		if rerr := f.Remove(name); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			var e *Error
			if errors.As(err, &e) {
				e.Leftover, e.Removal = name, Bare(rerr)
			}
		}
	}()
	if perm != 0 {
		if err := os.Chmod(name, perm); err != nil {
			return &Error{Step: "chmod temp file", Err: Bare(err)}
		}
	}
	n, err := tmp.Write(data)
	if err == nil && n < len(data) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return &Error{Err: Bare(err)}
	}
	// Without this fsync the rename can reach the disk before the data
	// does, and a crash leaves an empty file (the ext4 "zero-length file"
	// problem).
	if err := tmp.Sync(); err != nil {
		return &Error{Step: "fsync temp file", Err: Bare(err)}
	}
	closed = true
	if err := tmp.Close(); err != nil {
		return &Error{Step: "close temp file", Err: Bare(err)}
	}
	if err := f.Rename(name, target); err != nil {
		return &Error{Step: "rename temp file", Err: Bare(err)}
	}
	renamed = true
	// The rename lives in the folder's entry table; until that is fsynced
	// a crash can bring back the old file after success was reported.
	if err := f.SyncDir(dir); err != nil {
		return notDurable{&Error{Step: "fsync folder", Err: Bare(err)}}
	}
	return nil
}

// SyncDir fsyncs a folder.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}

// Bare drops the path from *fs.PathError and *os.LinkError: it is the temp
// file's random name or a path the message already gives, so keeping it
// only makes the message longer. The errno stays wrapped for errors.Is.
func Bare(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	if le, ok := errors.AsType[*os.LinkError](err); ok {
		return le.Err
	}
	return err
}
