package ctl

import (
	"maps"
	"slices"
)

// Commands returns the names of switchctl's commands, sorted: the keys of
// the command table parseArgs reads ("help" is not one; it only prints the
// usage). docs/ checks itself against this list.
func Commands() []string { return slices.Sorted(maps.Keys(commands)) }
