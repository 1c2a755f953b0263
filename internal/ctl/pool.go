package ctl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/switchd/switchd/control/api"
)

// poolCmd is a parsed `switchctl pool …`.
type poolCmd struct {
	verb           string // show, set, add, remove, reset
	service, color string
	addrs          []string
}

// poolArgs reads `pool SERVICE COLOR [ADDR...]`, `pool add|remove SERVICE
// COLOR ADDR` and `pool reset SERVICE COLOR`.
func poolArgs(args []string) (poolCmd, error) {
	var pc poolCmd
	switch args[0] {
	case "add", "remove":
		if len(args) != 4 {
			return pc, fmt.Errorf("%s: want SERVICE COLOR ADDR", args[0])
		}
		pc = poolCmd{verb: args[0], service: args[1], color: args[2], addrs: args[3:]}
	case "reset":
		if len(args) != 3 {
			return pc, errors.New("reset: want SERVICE COLOR")
		}
		pc = poolCmd{verb: "reset", service: args[1], color: args[2]}
	default:
		pc = poolCmd{verb: "show", service: args[0], color: args[1], addrs: args[2:]}
		if len(pc.addrs) > 0 {
			pc.verb = "set"
		}
	}
	if !isColor(pc.color) {
		return pc, fmt.Errorf("bad colour %q: want blue or green", pc.color)
	}
	return pc, nil
}

// pool shows or changes one colour's pool.
func (r *runner) pool(ctx context.Context) error {
	pc, _ := poolArgs(r.inv.args) // checked by parseArgs
	r.setService(pc.service)
	path := servicePath(pc.service, "/pools/"+pc.color)
	var (
		method = http.MethodGet
		body   any
	)
	switch pc.verb {
	case "show":
		var s api.Service
		data, err := r.fetch(ctx, http.MethodGet, servicePath(pc.service, ""), nil, &s)
		if err != nil {
			return err
		}
		if r.inv.json {
			r.printJSON(data)
			return nil
		}
		r.println(formatPool(pc.service, pc.color, s))
		return nil
	case "set":
		method, body = http.MethodPut, api.PoolRequest{Upstreams: pc.addrs, Reason: r.inv.change.reason}
	case "add":
		method, body, path = http.MethodPost, api.PoolRequest{Address: pc.addrs[0]}, path+"/upstreams"
	case "remove":
		method, path = http.MethodDelete, path+"/upstreams/"+url.PathEscape(pc.addrs[0])
	case "reset":
		method = http.MethodDelete
	}
	var res api.PoolResult
	data, err := r.fetch(ctx, method, path, body, &res)
	if err != nil {
		return err
	}
	if r.inv.json {
		r.printJSON(data)
		return nil
	}
	if !res.Changed {
		r.println(fmt.Sprintf("%s: %s unchanged: %s", pc.service, pc.color, strings.Join(res.To, " ")))
		return nil
	}
	r.println(formatPool(pc.service, pc.color, res.Service))
	return nil
}

// formatPool is one line: the colour, where its pool comes from, whether
// it is active, and each upstream with its state.
func formatPool(name, color string, s api.Service) string {
	p := s.Pools[color]
	role := "idle"
	if s.Active == color {
		role = "active"
	}
	var ups []string
	for _, u := range p.Upstreams {
		ups = append(ups, u.Address+" ("+u.State+")")
	}
	if len(ups) == 0 {
		ups = []string{"no upstreams"}
	}
	src := p.Source
	if src == "" {
		src = "config"
	}
	return fmt.Sprintf("%s: %s (%s, from %s, %d/%d healthy): %s", name, color, role, src, p.Healthy, p.Total, strings.Join(ups, ", "))
}
