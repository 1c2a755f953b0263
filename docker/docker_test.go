// Package docker holds the container image's default configuration; its
// test checks it and the Dockerfile without a Docker engine.
package docker

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/daemon"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestContainerConfig: `switchd validate` accepts the image's config, and
// it says what a container needs: upstreams by container name, control on
// a unix socket in /run/switchd, state in /var/lib/switchd.
func TestContainerConfig(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := daemon.Main(context.Background(), []string{"validate", "-config", "config.toml"}, &stdout, &stderr); code != 0 {
		t.Fatalf("switchd validate: exit %d\n%s", code, stderr.String())
	}
	cfg, err := config.Load("config.toml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Control.Listen != "unix:/run/switchd/control.sock" || cfg.State.Dir != "/var/lib/switchd" {
		t.Errorf("control %q, state %q", cfg.Control.Listen, cfg.State.Dir)
	}
	s := cfg.Services[0]
	if b, g := strings.Join(s.Blue.Upstreams, ","), strings.Join(s.Green.Upstreams, ","); b != "blue:8080" || g != "green:8080" {
		t.Errorf("upstreams blue %q green %q", b, g)
	}
}

// TestDockerfile: every file the Dockerfile copies from the build context
// exists and is not left out by .dockerignore; the paths the HEALTHCHECK
// and the config use are the ones the image creates.
func TestDockerfile(t *testing.T) {
	root := ".."
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var ignored []string
	for _, line := range strings.Split(string(ignore), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			ignored = append(ignored, line)
		}
	}
	text := string(df)
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "COPY" || strings.HasPrefix(f[1], "--from") {
			continue
		}
		for _, src := range f[1 : len(f)-1] {
			if strings.HasPrefix(src, "--") || src == "." {
				continue
			}
			if _, err := os.Stat(filepath.Join(root, src)); err != nil {
				t.Errorf("Dockerfile copies %s: %v", src, err)
			}
			for _, ig := range ignored {
				if m, _ := filepath.Match(ig, src); m || strings.HasPrefix(src, ig+"/") {
					t.Errorf("Dockerfile copies %s, which .dockerignore leaves out (%s)", src, ig)
				}
			}
		}
	}
	for _, want := range []string{
		"COPY docker/config.toml /etc/switchd/config.toml",
		`HEALTHCHECK`, `"unix:/run/switchd/control.sock", "health"]`,
		`VOLUME ["/var/lib/switchd", "/run/switchd"]`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	for _, must := range []string{"go.mod", "go.sum", "cmd", "internal", "control", "docker"} {
		for _, ig := range ignored {
			if ig == must {
				t.Errorf(".dockerignore leaves out %s, which the build needs", must)
			}
		}
	}
}
