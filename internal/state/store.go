package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/switchd/switchd/internal/atomicfile"
)

// FileName is the name of the state file inside the state folder.
const FileName = "state.json"

// tempPattern names temp files. The leading dot keeps them out of a plain
// ls; the fixed prefix and suffix let Open find the ones a crash left behind.
const tempPattern = ".state.json-*.tmp"

// Store writes one state folder's state.json. The zero Store is not usable;
// get one from Open. A Store is safe for concurrent use.
type Store struct {
	dir  string
	path string

	// mu serialises Saves: two writers renaming over state.json in an
	// unknown order could leave the older File on disk.
	mu sync.Mutex

	// File system operations, replaced by tests to inject faults. Set only
	// before the Store is shared.
	fs      atomicfile.FS
	readDir func(dir string) ([]os.DirEntry, error)

	// missing is set by open when state.json did not exist.
	missing bool
}

func newStore(dir string) *Store {
	return &Store{
		dir:     dir,
		path:    filepath.Join(dir, FileName),
		fs:      atomicfile.OS(),
		readDir: os.ReadDir,
	}
}

// ErrMissing is wrapped by Open's error when state.json does not exist and
// Options.RefuseMissing is set.
var ErrMissing = errors.New("state file does not exist")

// Options configure OpenWith. The zero Options is what Open does.
type Options struct {
	// RefuseMissing makes a missing state.json an error wrapping
	// ErrMissing, for hosts whose state lives on a mounted volume: there a
	// missing file means the volume is not mounted, and starting on the
	// initial colours would move traffic. false: a missing file is a first
	// start (Store.Missing reports it).
	RefuseMissing bool
}

// Open is OpenWith(dir, Options{}).
func Open(dir string) (*Store, File, error) { return OpenWith(dir, Options{}) }

// OpenWith prepares the state folder dir and loads its state.json.
//
// It creates dir (mode 0700) if it is missing. A missing state.json gives an
// empty File (Version 1, no services) and no error, unless o.RefuseMissing:
// that is a first start, or a lost state volume, so the caller should say so
// loudly (Store.Missing). A state.json that cannot be read, a symlink to
// nothing, a folder that cannot be listed, or a file that Decode rejects is
// an error naming the path and the problem ("state: /x/state.json: service
// \"app\": bad active colour \"purple\""); switchd must not start then,
// because starting empty would move traffic back to the configured initial
// colours.
//
// A state.json that is a symlink is read and written through: Save puts
// its temp file next to the link's target and renames it onto the target,
// so the link stays.
//
// OpenWith also creates and removes a temp file where Save will write, so
// that a folder switchd cannot write fails at start-up rather than at the
// first flip, and removes temp files a crash during Save left behind.
func OpenWith(dir string, o Options) (*Store, File, error) {
	if dir == "" {
		return nil, File{}, errors.New("state: no state folder given")
	}
	s := newStore(dir)
	if o.RefuseMissing {
		// Before MkdirAll: the folder of an unmounted volume may be
		// missing too, and creating it would only hide that.
		if _, err := os.Lstat(s.path); errors.Is(err, fs.ErrNotExist) {
			return nil, File{}, s.missingError()
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, File{}, fmt.Errorf("state: create folder %s: %w", dir, atomicfile.Bare(err))
	}
	f, err := s.open()
	if err != nil {
		return nil, File{}, err
	}
	if s.missing && o.RefuseMissing {
		// Gone between the check above and the read.
		return nil, File{}, s.missingError()
	}
	return s, f, nil
}

func (s *Store) missingError() error {
	return fmt.Errorf("state: %s does not exist; refusing to start every service on its initial colour (is the state volume mounted?): %w", s.path, ErrMissing)
}

// Missing reports whether state.json did not exist when the Store was
// opened: every service started on its configured initial colour.
func (s *Store) Missing() bool { return s.missing }

// open is OpenWith after the folder exists, split out so tests can set the
// file system hooks first.
func (s *Store) open() (File, error) {
	f, err := s.load()
	if err != nil {
		return File{}, err
	}
	target, err := s.target("read")
	if err != nil {
		return File{}, err
	}

	// Leftovers of a crash between create and rename. Failing to remove one
	// is not fatal: the writability probe below reports a folder we cannot
	// change, and a stray temp file is otherwise harmless. A folder that
	// cannot be listed is fatal, though: something is wrong with it (a
	// failed mount, wrong permissions) that the next Save would meet.
	// ReadDir rather than Glob: the folder's own name may hold glob
	// metacharacters.
	dirs := []string{s.dir}
	if td := filepath.Dir(target); td != filepath.Clean(s.dir) {
		dirs = append(dirs, td)
	}
	for _, dir := range dirs {
		entries, err := s.readDir(dir)
		if err != nil {
			return File{}, fmt.Errorf("state: read folder %s: %w", dir, atomicfile.Bare(err))
		}
		for _, e := range entries {
			if ok, _ := filepath.Match(tempPattern, e.Name()); ok && e.Type().IsRegular() {
				_ = s.fs.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}

	if err := s.probe(filepath.Dir(target)); err != nil {
		return File{}, err
	}
	return f, nil
}

// target is the file Save replaces: state.json itself, or, when it is a
// symlink, the file it points to. A symlink to nothing is an error: writing
// a new state.json in its place would break the link to the state volume
// and hide, until the next restart, that the volume was missing.
// op ("read", "write") leads the error, as in the other errors of the step.
func (s *Store) target(op string) (string, error) {
	fi, err := os.Lstat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s.path, nil
	case err != nil:
		return "", fmt.Errorf("state: %s %s: %w", op, s.path, atomicfile.Bare(err))
	case fi.Mode()&fs.ModeSymlink == 0:
		return s.path, nil
	}
	real, err := filepath.EvalSymlinks(s.path)
	if err == nil {
		return real, nil
	}
	link, _ := os.Readlink(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("state: %s %s: it is a symlink to %s, which does not exist (is the state volume mounted?)", op, s.path, link)
	}
	return "", fmt.Errorf("state: %s %s: it is a symlink to %s, which cannot be followed: %w", op, s.path, link, atomicfile.Bare(err))
}

func (s *Store) load() (File, error) {
	target, err := s.target("read")
	if err != nil {
		return File{}, err
	}
	data, err := os.ReadFile(target)
	if errors.Is(err, fs.ErrNotExist) {
		s.missing = true
		return File{Version: Version, Services: map[string]Record{}}, nil
	}
	if err != nil {
		return File{}, fmt.Errorf("state: read %s: %w", s.path, atomicfile.Bare(err))
	}
	f, err := Decode(data)
	if err != nil {
		return File{}, fmt.Errorf("state: %s: %w", s.path, err)
	}
	return f, nil
}

// probe checks that Save will be able to create files in dir.
func (s *Store) probe(dir string) error {
	tmp, err := s.fs.CreateTemp(dir, tempPattern)
	if err != nil {
		return fmt.Errorf("state: folder %s is not writable: %w", dir, atomicfile.Bare(err))
	}
	name := tmp.Name()
	cerr := tmp.Close()
	if err := s.fs.Remove(name); err != nil {
		return fmt.Errorf("state: folder %s: remove probe file: %w", dir, atomicfile.Bare(err))
	}
	if cerr != nil {
		return fmt.Errorf("state: folder %s: close probe file: %w", dir, atomicfile.Bare(cerr))
	}
	return nil
}

// Path returns the state file's path, <dir>/state.json (the symlink, when
// it is one).
func (s *Store) Path() string { return s.path }

// Save replaces state.json with f. It returns only once the new contents are
// durable: written to a temp file in the same folder, fsynced, renamed over
// state.json and the folder fsynced, so that a crash at any point leaves
// either the old file or the new one, never a mix or nothing. A symlinked
// state.json is written through: the temp file goes into the target's
// folder and is renamed onto the target, and that folder is fsynced; a
// symlink to nothing is an error and is left as it is.
//
// Save refuses a File that Decode would refuse, since switchd could not
// start from it. On any error before the rename the temp file is removed and
// the previous state.json is untouched; the error names the state file and
// the failing step ("state: write /x/state.json: no space left on device").
// If only the final fsync of the folder fails, state.json already holds f
// but may not survive a power loss: the error then wraps ErrNotDurable, and
// the caller should go on as if f were saved (it is what a restart reads)
// and warn.
func (s *Store) Save(f File) error {
	data, err := Encode(f)
	if err != nil {
		return fmt.Errorf("state: write %s: %w", s.path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.write(data)
}

func (s *Store) write(data []byte) error {
	// Resolved on every Save, not once: an operator may repoint the link.
	target, err := s.target("write")
	if err != nil {
		return err
	}
	if err := s.fs.Write(target, tempPattern, data, 0); err != nil {
		return fmt.Errorf("state: write %s: %w", s.path, err)
	}
	return nil
}

// ErrNotDurable marks a Save whose new state.json is in place but whose
// folder could not be fsynced.
var ErrNotDurable = atomicfile.ErrNotDurable
