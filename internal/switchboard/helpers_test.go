package switchboard

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/state"
	"github.com/switchd/switchd/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Addresses of the default test service. Nothing listens there: these tests
// never send a request, health is set by hand.
var (
	blueAddrs  = []string{"127.0.0.1:11", "127.0.0.1:12"}
	greenAddrs = []string{"127.0.0.1:1", "127.0.0.1:2"}
)

// fakeTargets and service come from testkit, shared with the other
// packages' tests.
type fakeTargets = testkit.Targets

func newFakeTargets() *fakeTargets { return testkit.NewTargets() }

var service = testkit.Service

// recorder is a Listener that keeps every Change.
type recorder struct {
	mu      sync.Mutex
	changes []Change
}

func (r *recorder) Changed(c Change) {
	r.mu.Lock()
	r.changes = append(r.changes, c)
	r.mu.Unlock()
}

func (r *recorder) all() []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Change(nil), r.changes...)
}

type fixture struct {
	dir     string
	cfg     *config.Config
	targets *fakeTargets
	board   *Board
	rec     *recorder
}

// newFixture opens a fresh state folder and builds a board over services
// (default: "app" with two blue and two green upstreams, all Up).
func newFixture(t *testing.T, services ...config.Service) *fixture {
	t.Helper()
	tg := newFakeTargets()
	if len(services) == 0 {
		services = []config.Service{service("app", blueAddrs, greenAddrs)}
		tg.Up("app", blueAddrs...)
		tg.Up("app", greenAddrs...)
	}
	return newFixtureIn(t, t.TempDir(), tg, services...)
}

func newFixtureIn(t *testing.T, dir string, tg *fakeTargets, services ...config.Service) *fixture {
	t.Helper()
	store, file, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Services: services}
	b, err := New(cfg, Options{Store: store, State: file, Targets: tg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	rec := &recorder{}
	b.AddListener(rec)
	return &fixture{dir: dir, cfg: cfg, targets: tg, board: b, rec: rec}
}

// saved reads state.json back the way switchd does at start.
func (f *fixture) saved(t *testing.T) state.File {
	t.Helper()
	_, file, err := state.Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	return file
}

// raw returns the bytes and identity of state.json.
func (f *fixture) raw(t *testing.T) ([]byte, os.FileInfo) {
	t.Helper()
	p := filepath.Join(f.dir, state.FileName)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return data, fi
}

// unchanged fails unless state.json is the very same file with the same
// bytes (Save renames a new file over it, so a write changes the inode).
func (f *fixture) unchanged(t *testing.T, data []byte, fi os.FileInfo) {
	t.Helper()
	data2, fi2 := f.raw(t)
	if !bytes.Equal(data, data2) {
		t.Errorf("state.json changed:\n%s\nbecame\n%s", data, data2)
	}
	if !os.SameFile(fi, fi2) {
		t.Errorf("state.json was rewritten")
	}
}

func (f *fixture) view(t *testing.T, name string) View {
	t.Helper()
	v, ok := f.board.View(name)
	if !ok {
		t.Fatalf("no service %q", name)
	}
	return v
}

// wantRefusal checks that err is a *Refusal of kind with message msg ("":
// any message).
func wantRefusal(t *testing.T, err, kind error, msg string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("err = %v, want %v", err, kind)
	}
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("err = %T, want *Refusal", err)
	}
	if msg != "" && r.Error() != msg {
		t.Errorf("message:\n got %q\nwant %q", r.Error(), msg)
	}
}

func gen(n uint64) *uint64 { return &n }
