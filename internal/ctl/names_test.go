package ctl

import (
	"strings"
	"testing"
)

// TestCommandsAreInTheUsage checks that every command Commands lists is
// one parseArgs takes and one the usage text names, so that a command added
// to the table is also added where users look first.
func TestCommandsAreInTheUsage(t *testing.T) {
	names := Commands()
	if len(names) == 0 {
		t.Fatal("no commands")
	}
	for _, name := range names {
		if !strings.Contains(usage, "\n  "+name+" ") {
			t.Errorf("usage does not list %q", name)
		}
		if _, err := parseArgs([]string{name}); err != nil && strings.Contains(err.Error(), "unknown command") {
			t.Errorf("parseArgs refuses %q: %v", name, err)
		}
	}
}
