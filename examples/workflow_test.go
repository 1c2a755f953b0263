package examples

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestWorkflow parses the GitHub Actions example: test, then build (the
// image tagged with the commit), then deploy with deploy.sh over SSH.
func TestWorkflow(t *testing.T) {
	data, err := os.ReadFile("github-actions/deploy.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		On   map[string]any `yaml:"on"`
		Jobs map[string]struct {
			Needs any `yaml:"needs"`
			Steps []struct {
				Uses string            `yaml:"uses"`
				Run  string            `yaml:"run"`
				With map[string]string `yaml:"with"`
				Env  map[string]string `yaml:"env"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatal(err)
	}
	if _, ok := wf.On["push"]; !ok {
		t.Error("not run on push")
	}
	needs := map[string]string{"test": "", "build": "test", "deploy": "build"}
	if len(wf.Jobs) != len(needs) {
		t.Errorf("jobs %d, want test, build, deploy", len(wf.Jobs))
	}
	for job, want := range needs {
		j, ok := wf.Jobs[job]
		if !ok {
			t.Errorf("no job %q", job)
			continue
		}
		got, _ := j.Needs.(string)
		if got != want {
			t.Errorf("job %s needs %v, want %q", job, j.Needs, want)
		}
	}
	runs := func(job string) string {
		var b strings.Builder
		for _, s := range wf.Jobs[job].Steps {
			b.WriteString(s.Uses + " " + s.Run + " " + s.With["tags"] + " " + s.Env["DEPLOY_HOST"] + s.Env["SSH"] + "\n")
		}
		return b.String()
	}
	for job, want := range map[string][]string{
		"test":   {"go test -race ./..."},
		"build":  {"docker/build-push-action", "${{ github.sha }}"},
		"deploy": {"bash examples/deploy.sh", "${{ github.sha }}", "secrets.DEPLOY_HOST", "ssh -i"},
	} {
		for _, w := range want {
			if !strings.Contains(runs(job), w) {
				t.Errorf("job %s does not use %q:\n%s", job, w, runs(job))
			}
		}
	}
}
