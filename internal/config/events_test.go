package config

import (
	"fmt"
	"testing"

	"github.com/switchd/switchd/control/api"
)

// TestNotifyAcceptsEveryEventType: [[notify]].events takes each of the
// API's event types, so that one added to api.EventTypes can be
// subscribed to without an edit here.
func TestNotifyAcceptsEveryEventType(t *testing.T) {
	for _, e := range api.EventTypes {
		c := mustParse(t, minimal+fmt.Sprintf("[[notify]]\nurl = \"https://hooks.example.com/x\"\nevents = [%q]\n", e))
		if got := c.Notify[0].Events; len(got) != 1 || got[0] != e {
			t.Errorf("events = %q, want [%q]", got, e)
		}
	}
}
