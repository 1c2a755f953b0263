package daemon

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestTokenFileShared: a tokens file made by `switchd token add` (as root)
// can be read by the service's group: mode 0640, group of its folder or
// -group; an existing file keeps the mode someone gave it.
func TestTokenFileShared(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's group to any group needs root")
	}
	add := func(t *testing.T, file string, extra ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args := append([]string{"token", "add", "n" + filepath.Base(t.Name()), "read", "-file", file}, extra...)
		if code := Main(context.Background(), args, &stdout, &stderr); code != 0 {
			t.Fatalf("token add: exit %d: %s", code, stderr.String())
		}
	}
	owner := func(t *testing.T, file string) (os.FileMode, uint32) {
		t.Helper()
		st, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode().Perm(), st.Sys().(*syscall.Stat_t).Gid
	}
	t.Run("folder group", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chown(dir, -1, 4242); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, "tokens")
		add(t, file)
		if mode, gid := owner(t, file); mode != 0o640 || gid != 4242 {
			t.Fatalf("mode %o group %d, want 640 and 4242", mode, gid)
		}
	})
	t.Run("group flag", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "tokens")
		add(t, file, "-group", "4343")
		if mode, gid := owner(t, file); mode != 0o640 || gid != 4343 {
			t.Fatalf("mode %o group %d, want 640 and 4343", mode, gid)
		}
	})
	t.Run("existing file keeps its mode", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "tokens")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		add(t, file, "-group", "4444")
		if mode, gid := owner(t, file); mode != 0o600 || gid != 4444 {
			t.Fatalf("mode %o group %d, want 600 and 4444", mode, gid)
		}
	})
}
