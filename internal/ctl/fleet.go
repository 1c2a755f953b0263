package ctl

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/switchd/switchd/control/api"
)

// fleet prints the hosts that share switchd's state (GET /v1/fleet).
func (r *runner) fleet(ctx context.Context) error {
	var f api.Fleet
	data, err := r.fetch(ctx, http.MethodGet, "/v1/fleet", nil, &f)
	if err != nil {
		return err
	}
	if r.inv.json {
		r.printJSON(data)
		return nil
	}
	writeFleet(r.stdout, f, time.Now())
	return nil
}

// writeFleet prints one row per host: name, address, last seen, and the
// generation it serves of each service.
func writeFleet(w io.Writer, f api.Fleet, now time.Time) {
	tw := newTable(w)
	fmt.Fprintln(tw, "NODE\tADDRESS\tLAST-SEEN\tSERVES")
	for _, n := range f.Nodes {
		var serves []string
		for _, s := range slices.Sorted(maps.Keys(n.Services)) {
			serves = append(serves, fmt.Sprintf("%s@%d", s, n.Services[s]))
		}
		name := n.Node
		if name == f.Self {
			name += " (this)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cell(name), cell(n.Address), cell(now.Sub(n.LastSeen).Round(time.Second).String()+" ago"),
			cell(strings.Join(serves, " ")))
	}
	tw.Flush()
	if !f.StoreUp {
		fmt.Fprintln(w, "store unreachable: every host serves what it last applied; changes are refused")
	}
}

// waitFleet polls GET /v1/fleet until every live host serves service at
// generation gen or later (--wait-fleet).
func (r *runner) waitFleet(ctx context.Context, service string, gen uint64) error {
	for {
		var f api.Fleet
		if err := r.get(ctx, "/v1/fleet", &f); err != nil {
			return err
		}
		var behind []string
		for _, n := range f.Nodes {
			if g, ok := n.Services[service]; !ok || g < gen {
				behind = append(behind, fmt.Sprintf("%s serves generation %d", n.Node, g))
			}
		}
		if len(behind) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return &exitError{exitTimeout, fmt.Sprintf("not every host serves generation %d yet: %s", gen, strings.Join(behind, ", "))}
		case <-time.After(100 * time.Millisecond):
		}
	}
}
