package api

import (
	"slices"
	"testing"
)

// TestChangeEvent: every change reason names an event type, a change by
// hand is a flip, and the two lists hold no duplicate.
func TestChangeEvent(t *testing.T) {
	for _, r := range ChangeReasons {
		if e := ChangeEvent(r); !slices.Contains(EventTypes, e) {
			t.Errorf("reason %q: event %q is not an event type", r, e)
		}
	}
	if ChangeEvent(ReasonManual) != EventFlip {
		t.Error("a change by hand must be a flip event")
	}
	for _, l := range [][]string{ChangeReasons, EventTypes} {
		s := slices.Clone(l)
		slices.Sort(s)
		if len(slices.Compact(s)) != len(l) {
			t.Errorf("duplicates in %v", l)
		}
	}
}

// TestWireStrings: the values are written to state.json, metric labels,
// API JSON and webhook payloads, which outlive a release: renaming a
// constant is free, changing its value is not.
func TestWireStrings(t *testing.T) {
	if want := []string{"manual", "rollback", "guard", "failover"}; !slices.Equal(ChangeReasons, want) {
		t.Errorf("ChangeReasons = %q, want %q", ChangeReasons, want)
	}
	if ReasonInitial != "initial" {
		t.Errorf("ReasonInitial = %q, want \"initial\"", ReasonInitial)
	}
	want := []string{"flip", "rollback", "guard", "failover", "guard_blocked", "health", "reload", "startup", "state_persist", "pool"}
	if !slices.Equal(EventTypes, want) {
		t.Errorf("EventTypes = %q, want %q", EventTypes, want)
	}
	until := []string{UntilHealthy, UntilDrained, UntilStable}
	if want := []string{"healthy", "drained", "stable"}; !slices.Equal(until, want) {
		t.Errorf("until conditions = %q, want %q", until, want)
	}
	watch := []string{WatchUnknown, WatchWatching, WatchStable, WatchReverted}
	if want := []string{"unknown", "watching", "stable", "reverted"}; !slices.Equal(watch, want) {
		t.Errorf("watch outcomes = %q, want %q", watch, want)
	}
}
