package buildinfo

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFromBuildInfo(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	rev := "4f2a9c1be07d3e5a6b7c8d9e0f1a2b3c4d5e6f70"
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"go install @v1.2.3", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{"checkout, pseudo-version", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261202171232-4f2a9c1be07d+dirty"}, Settings: vcs(rev, "true")},
			"v0.0.0-20261202171232-4f2a9c1be07d+dirty"},
		{"checkout, no module version", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")}, "devel-4f2a9c1be07d"},
		{"checkout with changes", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "true")}, "devel-4f2a9c1be07d+dirty"},
		{"-buildvcs=false", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
	}
	for _, tt := range tests {
		if got := FromBuildInfo(&tt.bi); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := Version("v9.9.9"); got != "v9.9.9" {
		t.Errorf("an -ldflags version: %q", got)
	}
}

// TestBinaries builds both binaries from this checkout with
// -buildvcs=true (these machines set GOFLAGS=-buildvcs=false): `version`
// names the commit; -ldflags -X still wins.
func TestBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	short := strings.TrimSpace(string(head))[:12]
	dir := t.TempDir()
	for _, tc := range []struct{ name, pkg, varName string }{
		{"switchd", "github.com/switchd/switchd/cmd/switchd", "github.com/switchd/switchd/internal/daemon.Version"},
		{"switchctl", "github.com/switchd/switchd/cmd/switchctl", "github.com/switchd/switchd/internal/ctl.Version"},
	} {
		build := func(out string, extra ...string) string {
			t.Helper()
			bin := filepath.Join(dir, out)
			cmd := exec.Command("go", append(append([]string{"build", "-buildvcs=true", "-o", bin}, extra...), tc.pkg)...)
			cmd.Env = append(os.Environ(), "GOFLAGS=")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build %s: %v\n%s", tc.pkg, err, b)
			}
			v, err := exec.Command(bin, "version").Output()
			if err != nil {
				t.Fatalf("%s version: %v", out, err)
			}
			return string(v)
		}
		if v := build(tc.name); !strings.HasPrefix(v, tc.name+" ") || !strings.Contains(v, short) {
			t.Errorf("%s version %q does not name commit %s", tc.name, v, short)
		}
		if v := build(tc.name+"-release", "-ldflags", "-X "+tc.varName+"=v9.9.9"); !strings.HasPrefix(v, tc.name+" v9.9.9 (") {
			t.Errorf("%s with -ldflags: %q", tc.name, v)
		}
	}
}
