package examples

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/switchd/switchd/internal/daemon"
)

// TestComposeConfigValid: the config docker-compose.yml mounts passes
// `switchd validate`, and the compose file mounts it and starts switchd
// on it in front of a blue and a green container that the config names.
func TestComposeConfigValid(t *testing.T) {
	data, err := os.ReadFile("compose-config.toml")
	if err != nil {
		t.Fatal(err)
	}
	// The state dir of the container does not exist here: validate a copy
	// that points at an empty folder instead.
	text := strings.Replace(string(data), `dir = "/var/lib/switchd"`, `dir = "`+t.TempDir()+`"`, 1)
	path := filepath.Join(t.TempDir(), "compose-config.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := daemon.Main(context.Background(), []string{"validate", "-config", path}, &out, &errb); code != 0 {
		t.Fatalf("switchd validate: exit %d\n%s%s", code, out.String(), errb.String())
	}

	raw, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
			Volumes []string `yaml:"volumes"`
			Ports   []string `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	sw, ok := compose.Services["switchd"]
	if !ok || strings.Join(sw.Command, " ") != "-config /etc/switchd/compose-config.toml" {
		t.Fatalf("switchd service %+v", sw)
	}
	if !strings.Contains(strings.Join(sw.Volumes, " "), "./compose-config.toml:/etc/switchd/compose-config.toml") {
		t.Errorf("compose-config.toml not mounted: %v", sw.Volumes)
	}
	for _, c := range []string{"blue", "green"} {
		if _, ok := compose.Services[c]; !ok {
			t.Errorf("no %s container", c)
		}
		if !strings.Contains(text, `["`+c+`:8080"]`) {
			t.Errorf("the config does not route %s to its container", c)
		}
	}
}
